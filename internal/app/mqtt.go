package app

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/mqtt"
	"github.com/gstvision/gstvision/internal/results"
)

// MQTTSources are what RunMQTT feeds an MQTT publisher from. Every field but Events may be nil.
type MQTTSources struct {
	// Events are the tracker's and zones' events, e.g. the C() of an events.Store
	// subscription to every camera.
	Events <-chan defs.Event
	// Results are the processed frames, e.g. the C() of a results.Hub subscription to every
	// camera; only needed when the publisher wants detections (Publisher.WantsDetections).
	Results <-chan results.Result
	// Statuses lists the cameras' states (CameraAPI.List): running is online, anything
	// else offline.
	Statuses func() []defs.Status
	// Cameras lists the configured cameras (CameraAPI.Cameras), for Home Assistant
	// discovery; a change to them or their zones is announced within Every.
	Cameras func() []config.Camera
	// Occupancy returns a camera's zones' counts per label (events.Store.Occupancy), to set
	// the zones' state at start; nil starts them empty.
	Occupancy func(camera string) map[string]map[string]int
	// Every is how often Statuses and Cameras are read; 0 means 1 s.
	Every time.Duration
}

// RunMQTT feeds pub until ctx ends (or src.Events is closed): every event (zone events also
// update the zone's retained occupancy), the detections pub wants, each camera's availability,
// and the cameras' zones for discovery whenever they change. It does not close pub.
func RunMQTT(ctx context.Context, pub *mqtt.Publisher, src MQTTSources) {
	every := src.Every
	if every <= 0 {
		every = time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	var lastCams []mqtt.CameraInfo
	online := map[string]bool{}
	poll := func() {
		if src.Cameras != nil {
			cams := MQTTCameras(src.Cameras())
			if lastCams == nil || !reflect.DeepEqual(cams, lastCams) {
				pub.SetCameras(cams)
				if lastCams == nil && src.Occupancy != nil {
					for _, c := range cams {
						for zone, counts := range src.Occupancy(c.ID) {
							pub.SetOccupancy(c.ID, zone, counts)
						}
					}
				}
				lastCams = cams
			}
		}
		if src.Statuses != nil {
			seen := map[string]bool{}
			for _, st := range src.Statuses() {
				up := st.State == defs.StateRunning
				seen[st.ID] = true
				if was, ok := online[st.ID]; !ok || was != up {
					pub.SetAvailability(st.ID, up)
					online[st.ID] = up
				}
			}
			for id := range online {
				if !seen[id] {
					delete(online, id) // removed: SetCameras deleted its availability topic
				}
			}
		}
	}
	poll()
	resultsCh := src.Results
	if !pub.WantsDetections() {
		resultsCh = nil // a nil channel: never selected
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-src.Events:
			if !ok {
				return
			}
			pub.Publish(ev)
		case r, ok := <-resultsCh:
			if !ok {
				resultsCh = nil
				continue
			}
			pub.PublishDetections(r)
		case <-tick.C:
			poll()
		}
	}
}

// MQTTCameras describes the cameras and their zones for Home Assistant discovery. Disabled
// cameras are kept (their entities show unavailable), so that disabling one for a while does
// not break the automations that use its zones.
func MQTTCameras(cams []config.Camera) []mqtt.CameraInfo {
	out := make([]mqtt.CameraInfo, 0, len(cams))
	for _, c := range cams {
		ci := mqtt.CameraInfo{ID: c.ID, Name: c.DisplayName(), Zones: make([]mqtt.ZoneInfo, 0, len(c.Zones))}
		for _, z := range c.Zones {
			ci.Zones = append(ci.Zones, mqtt.ZoneInfo{Name: z.Name, Classes: append([]string(nil), z.Classes...)})
		}
		out = append(out, ci)
	}
	return out
}

// initMQTT makes the MQTT publisher when mqtt.url is set; a bad mqtt section fails start-up
// as a config error (exit 2). Its counters join /metrics.
func (a *App) initMQTT() error {
	if !a.cfg.MQTT.Enabled() {
		return nil
	}
	pub, err := mqtt.New(a.cfg.MQTT, mqtt.Options{Logger: a.log, Version: a.version})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := a.ops.metrics.Register(pub.Collector()); err != nil {
		return fmt.Errorf("mqtt metrics: %w", err)
	}
	a.mqttPub = pub
	return nil
}

// startMQTT connects the publisher (in the background: a broker that is down is retried
// while events queue, bounded) and feeds it events, detections when configured, camera
// availability and the zones for Home Assistant, until ctx ends.
func (a *App) startMQTT(ctx context.Context) {
	pub := a.mqttPub
	if pub == nil {
		return
	}
	if err := pub.Start(ctx); err != nil {
		a.log.Error("mqtt: not started", "err", err)
		return
	}
	evSub := a.events.Subscribe("", a.cfg.MQTT.Effective("").QueueSize)
	var resSub *results.Subscription
	var resC <-chan results.Result
	if pub.WantsDetections() {
		resSub = a.hub.Subscribe("", 64)
		resC = resSub.C()
	}
	go func() {
		defer evSub.Close()
		if resSub != nil {
			defer resSub.Close()
		}
		RunMQTT(ctx, pub, MQTTSources{Events: evSub.C(), Results: resC, Statuses: a.ops.api.List,
			Cameras: a.ops.api.Cameras, Occupancy: a.events.Occupancy})
	}()
}
