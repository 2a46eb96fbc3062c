package viewer

import (
	"time"

	"github.com/gstvision/gstvision/elements"
	"github.com/gstvision/gstvision/gst"
	"github.com/gstvision/gstvision/webrtc"
)

// passthrough feeds a camera's own access units (the pipeline's passthrough branch) to its
// passthrough broadcaster: no decode, no encode. The broadcaster keeps the GOP for joining
// viewers and payloads each access unit once for all of them; without viewers it only keeps
// the GOP (bounded).
type passthrough struct {
	b *webrtc.Broadcaster
}

var _ elements.AccessUnitHandler = (*passthrough)(nil)

// SetCodec implements elements.AccessUnitHandler.
func (p *passthrough) SetCodec(codec string) {
	if codec == gst.CodecH265 {
		p.b.SetCodec(webrtc.CodecH265)
		return
	}
	p.b.SetCodec(webrtc.CodecH264)
}

// HandleAccessUnit implements elements.AccessUnitHandler.
func (p *passthrough) HandleAccessUnit(au []byte, pts time.Duration) {
	p.b.WriteOwnedAccessUnit(au, pts) // au is the sink's copy, ours to give
}

// AddPassthrough creates the camera's passthrough source and returns the handler-id for its
// pipeline's access-unit sink, or 0 (no passthrough branch) without WebRTC. Remove drops it.
func (m *Manager) AddPassthrough(camera string) uint64 {
	if m.rtc == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if id, ok := m.passIDs[camera]; ok {
		return id
	}
	id := elements.AddAccessUnitHandler(&passthrough{b: m.rtc.Passthrough(camera)})
	m.passIDs[camera] = id
	return id
}
