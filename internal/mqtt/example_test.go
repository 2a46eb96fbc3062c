package mqtt_test

import (
	"context"
	"log/slog"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/mqtt"
)

// The publisher's life in the app: create it from the config's mqtt section, start it,
// declare the cameras for Home Assistant, then feed it. No call blocks.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub, err := mqtt.New(config.MQTT{URL: "mqtt://broker.lan:1883"}, mqtt.Options{Logger: slog.Default(), Version: "1.0.0"})
	if err != nil {
		return // errors.Is(err, mqtt.ErrDisabled) when the config has no mqtt.url
	}
	if err := pub.Start(ctx); err != nil {
		return
	}
	defer pub.Close()

	pub.SetCameras([]mqtt.CameraInfo{{ID: "door", Name: "Front door",
		Zones: []mqtt.ZoneInfo{{Name: "porch", Classes: []string{"person"}}}}})
	pub.SetAvailability("door", true) // the camera runs
	pub.Publish(defs.Event{ID: 1, Type: defs.EventZoneEntered, Camera: "door", Zone: "porch",
		Label: "person", Occupancy: map[string]int{"person": 1}}) // also sets the porch's occupancy
	_ = pub.Stats() // Published, Queued, Dropped, Connected, Connects
}
