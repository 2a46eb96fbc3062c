package gst

import (
	"fmt"
	"strings"
	"sync"

	gogst "github.com/go-gst/go-gst/gst"
)

// GStreamer's nvcodec plugin registers one NVDEC decoder per GPU and codec: nvh264dec for the
// first GPU that decodes H.264, nvh264device1dec, nvh264device2dec, ... for the others, each
// bound to its GPU (read-only property cuda-device-id). A pipeline on GPU N must use GPU N's
// element: another GPU's decoder refuses the context shared with it.

// maxNVDECDevices bounds the search for per-GPU element names.
const maxNVDECDevices = 32

var nvdecByDevice sync.Map // "H264/3" → factory name

// NVDecoderFor names the NVDEC element factory that decodes codec (CodecH264, CodecH265) on
// CUDA device ordinal device. It fails, wrapping ErrMissingElement, when no registered NVDEC
// element of that codec is bound to device.
func NVDecoderFor(codec string, device int) (string, error) {
	key := fmt.Sprintf("%s/%d", codec, device)
	if f, ok := nvdecByDevice.Load(key); ok {
		return f.(string), nil
	}
	req, ok := Decoder(codec, true)
	if !ok || len(req.Elements) == 0 {
		return "", fmt.Errorf("%w: no NVDEC decoder for %s", ErrCodec, codec)
	}
	base := req.Elements[0] // nvh264dec
	stem := strings.TrimSuffix(base, "dec")
	var seen []string
	for i := 0; i < maxNVDECDevices; i++ {
		name := base
		if i > 0 {
			name = fmt.Sprintf("%sdevice%ddec", stem, i)
		}
		if !HasElement(name) {
			continue
		}
		id, known := nvdecDevice(name)
		if !known {
			id = i // no cuda-device-id property: the registration order is the device order
		}
		seen = append(seen, fmt.Sprintf("%s (GPU %d)", name, id))
		if id == device {
			nvdecByDevice.Store(key, name)
			return name, nil
		}
	}
	if len(seen) == 0 {
		return "", fmt.Errorf("%w: %s for GPU %d: no NVDEC %s decoder registered (run gstvision doctor)", ErrMissingElement, base, device, codec)
	}
	return "", fmt.Errorf("%w: no NVDEC %s decoder for GPU %d; GStreamer has %s", ErrMissingElement, codec, device, strings.Join(seen, ", "))
}

// nvdecDevice reads the cuda-device-id of an instance of factory.
func nvdecDevice(factory string) (int, bool) {
	e, err := gogst.NewElement(factory)
	if err != nil || e == nil {
		return 0, false
	}
	v, err := e.GetProperty("cuda-device-id")
	if err != nil {
		return 0, false
	}
	switch id := v.(type) {
	case uint:
		return int(id), true
	case int:
		return id, true
	case uint32:
		return int(id), true
	case int32:
		return int(id), true
	}
	return 0, false
}
