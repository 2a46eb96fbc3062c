package mqtt

import (
	"encoding/json"
	"fmt"
)

// CameraInfo describes one camera for Home Assistant discovery.
type CameraInfo struct {
	// ID is the camera's id, as in the config and in defs.Event.Camera.
	ID string
	// Name is the display name of the camera's Home Assistant device; "" means ID.
	Name string
	// Zones are the camera's zones; a camera without zones gets no entity.
	Zones []ZoneInfo
}

// ZoneInfo describes one zone of a camera.
type ZoneInfo struct {
	// Name is the zone's name, as in defs.Event.Zone.
	Name string
	// Classes are the labels counted separately (one count sensor each, and a 0 in the
	// occupancy JSON while none is there); empty gives the zone's total count only.
	Classes []string
}

// Discovery component names and the payloads gstvision publishes.
const (
	componentBinarySensor = "binary_sensor"
	componentSensor       = "sensor"

	payloadOnline  = "online"
	payloadOffline = "offline"

	manufacturer = "gstvision"
	model        = "gstvision camera"
	supportURL   = "https://github.com/gstvision/gstvision"
)

// haAvailability is one entry of an entity's availability list.
type haAvailability struct {
	Topic               string `json:"topic"`
	PayloadAvailable    string `json:"payload_available"`
	PayloadNotAvailable string `json:"payload_not_available"`
}

// haDevice ties the entities of one camera into one Home Assistant device.
type haDevice struct {
	Identifiers  []string `json:"identifiers"`
	Name         string   `json:"name"`
	Manufacturer string   `json:"manufacturer"`
	Model        string   `json:"model"`
	SWVersion    string   `json:"sw_version,omitempty"`
}

// haOrigin says which application published a discovery config (shown in Home Assistant's
// logs).
type haOrigin struct {
	Name       string `json:"name"`
	SWVersion  string `json:"sw_version,omitempty"`
	SupportURL string `json:"support_url,omitempty"`
}

// haEntity is the discovery config of one binary_sensor or sensor, with the field names of
// Home Assistant's MQTT discovery documentation (long forms, no abbreviations).
type haEntity struct {
	Name                   string           `json:"name"`
	UniqueID               string           `json:"unique_id"`
	StateTopic             string           `json:"state_topic"`
	ValueTemplate          string           `json:"value_template"`
	JSONAttributesTopic    string           `json:"json_attributes_topic,omitempty"`
	JSONAttributesTemplate string           `json:"json_attributes_template,omitempty"`
	DeviceClass            string           `json:"device_class,omitempty"`
	PayloadOn              string           `json:"payload_on,omitempty"`
	PayloadOff             string           `json:"payload_off,omitempty"`
	StateClass             string           `json:"state_class,omitempty"`
	UnitOfMeasurement      string           `json:"unit_of_measurement,omitempty"`
	Icon                   string           `json:"icon,omitempty"`
	Availability           []haAvailability `json:"availability"`
	AvailabilityMode       string           `json:"availability_mode"`
	Device                 haDevice         `json:"device"`
	Origin                 haOrigin         `json:"origin"`
}

// zoneState is the retained JSON on <prefix>/<camera>/zones/<zone>, read by the discovered
// entities' value templates.
type zoneState struct {
	Total    int            `json:"total"`
	Occupied bool           `json:"occupied"`
	Counts   map[string]int `json:"counts"`
}

// discoveryConfigs returns the discovery topics and configs of one camera: per zone an
// occupancy binary_sensor, a total count sensor and a count sensor per class. Each entity is
// available while both the bridge and the camera are online.
func discoveryConfigs(t topics, cam CameraInfo, version string) (map[string][]byte, error) {
	node := t.nodeID(cam.ID)
	name := cam.Name
	if name == "" {
		name = cam.ID
	}
	dev := haDevice{Identifiers: []string{node}, Name: name, Manufacturer: manufacturer, Model: model, SWVersion: version}
	origin := haOrigin{Name: manufacturer, SWVersion: version, SupportURL: supportURL}
	avail := []haAvailability{
		{Topic: t.bridgeAvailability(), PayloadAvailable: payloadOnline, PayloadNotAvailable: payloadOffline},
		{Topic: t.cameraAvailability(cam.ID), PayloadAvailable: payloadOnline, PayloadNotAvailable: payloadOffline},
	}
	out := make(map[string][]byte)
	add := func(component, object string, e haEntity) error {
		e.UniqueID = node + "-" + object
		e.Availability = avail
		e.AvailabilityMode = "all"
		e.Device = dev
		e.Origin = origin
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("mqtt: discovery config of camera %q: %w", cam.ID, err)
		}
		out[t.discoveryConfig(component, node, object)] = b
		return nil
	}
	for _, z := range cam.Zones {
		zid := "zone-" + idPart(z.Name)
		state := t.zone(cam.ID, z.Name)
		err := add(componentBinarySensor, zid+"-occupancy", haEntity{
			Name:                   z.Name + " occupancy",
			StateTopic:             state,
			ValueTemplate:          "{{ 'ON' if value_json.occupied else 'OFF' }}",
			JSONAttributesTopic:    state,
			JSONAttributesTemplate: "{{ value_json.counts | tojson }}",
			DeviceClass:            "occupancy",
			PayloadOn:              "ON",
			PayloadOff:             "OFF",
		})
		if err != nil {
			return nil, err
		}
		err = add(componentSensor, zid+"-count", haEntity{
			Name:              z.Name + " count",
			StateTopic:        state,
			ValueTemplate:     "{{ value_json.total }}",
			StateClass:        "measurement",
			UnitOfMeasurement: "objects",
			Icon:              "mdi:counter",
		})
		if err != nil {
			return nil, err
		}
		seen := make(map[string]bool, len(z.Classes))
		for _, c := range z.Classes {
			if seen[c] {
				continue
			}
			seen[c] = true
			err := add(componentSensor, zid+"-count-"+idPart(c), haEntity{
				Name:              z.Name + " " + c + " count",
				StateTopic:        state,
				ValueTemplate:     "{{ value_json.counts[" + jinjaString(c) + "] | default(0) }}",
				StateClass:        "measurement",
				UnitOfMeasurement: "objects",
				Icon:              "mdi:counter",
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// jinjaString quotes s as a Jinja string literal. JSON's escapes (\" \\ \n \uXXXX) are ones
// Jinja's string literals understand too.
func jinjaString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}
