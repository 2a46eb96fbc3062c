package app

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/mqtt"
)

// TestRunMQTTFeedsPublisher runs the loop against a broker that is not there: the events are
// queued (the broker tests are internal/mqtt's), availability and cameras are read, and the
// loop ends when the events channel closes.
func TestRunMQTTFeedsPublisher(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	pub, err := mqtt.New(config.MQTT{URL: "mqtt://" + addr}, mqtt.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	evs := make(chan defs.Event, 3)
	for i := range 3 {
		evs <- defs.Event{ID: uint64(i + 1), Type: defs.EventObjectAppeared, Camera: "door"}
	}
	close(evs)
	polled := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		RunMQTT(context.Background(), pub, MQTTSources{
			Events:   evs,
			Statuses: func() []defs.Status { polled++; return []defs.Status{{ID: "door", State: defs.StateRunning}} },
			Cameras: func() []config.Camera {
				return []config.Camera{{ID: "door", Zones: []config.Zone{{Name: "porch", Classes: []string{"person"}}}}}
			},
		})
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("RunMQTT did not return after the events channel closed")
	}
	if st := pub.Stats(); st.Queued != 3 || st.Dropped != 0 {
		t.Errorf("stats = %+v, want 3 events queued", st)
	}
	if polled == 0 {
		t.Error("statuses never read")
	}
	cams := MQTTCameras([]config.Camera{{ID: "a", Name: "A", Zones: []config.Zone{{Name: "z", Classes: []string{"car"}}}}})
	if len(cams) != 1 || cams[0].Name != "A" || cams[0].Zones[0].Name != "z" || cams[0].Zones[0].Classes[0] != "car" {
		t.Errorf("MQTTCameras = %+v", cams)
	}
}
