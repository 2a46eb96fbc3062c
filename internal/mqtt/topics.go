package mqtt

import (
	"fmt"
	"hash/fnv"
	"strings"
)

// Topic layout (prefix is mqtt.topic_prefix, default "gstvision"):
//
//	<prefix>/availability                 online|offline, retained; the Last Will says offline
//	<prefix>/<camera>/availability        online|offline, retained
//	<prefix>/<camera>/events              defs.Event JSON, QoS 1
//	<prefix>/<camera>/detections          results.Result JSON, QoS 0, rate-limited
//	<prefix>/<camera>/zones/<zone>        {"total":N,"occupied":bool,"counts":{label:N}}, retained
//
// Zones sit under "zones/" so that a zone named "events" cannot collide with the camera's
// own topics.
type topics struct {
	prefix    string // mqtt.topic_prefix
	discovery string // mqtt.discovery_prefix
}

func (t topics) bridgeAvailability() string { return t.prefix + "/availability" }

func (t topics) cameraAvailability(camera string) string {
	return t.prefix + "/" + segment(camera) + "/availability"
}

func (t topics) events(camera string) string { return t.prefix + "/" + segment(camera) + "/events" }

func (t topics) detections(camera string) string {
	return t.prefix + "/" + segment(camera) + "/detections"
}

func (t topics) zone(camera, zone string) string {
	return t.prefix + "/" + segment(camera) + "/zones/" + segment(zone)
}

// discoveryConfig is <discovery_prefix>/<component>/<node_id>/<object_id>/config, the topic
// Home Assistant reads an entity's config from.
func (t topics) discoveryConfig(component, node, object string) string {
	return t.discovery + "/" + component + "/" + node + "/" + object + "/config"
}

// discoveryStatus is where Home Assistant announces itself (its birth message, "online").
func (t topics) discoveryStatus() string { return t.discovery + "/status" }

// nodeID names a camera in discovery topics and unique IDs: the topic prefix (two gstvision
// instances with their own prefixes stay apart) and the camera ID.
func (t topics) nodeID(camera string) string {
	return idPart(strings.ReplaceAll(t.prefix, "/", "_")) + "-" + idPart(camera)
}

// segment makes s one topic level: '/', the wildcards '+' and '#', and control characters
// become '_'; an empty s becomes "_".
func segment(s string) string {
	if s == "" {
		return "_"
	}
	clean := true
	for _, r := range s {
		if r == '/' || r == '+' || r == '#' || r < 0x20 || r == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '+' || r == '#' || r < 0x20 || r == 0x7f {
			return '_'
		}
		return r
	}, s)
}

// idPart makes s fit Home Assistant's node_id and object_id ([a-zA-Z0-9_-]) while keeping it
// unique: it keeps letters, digits and '_', and a name that needed any change gets a hash of
// the original appended. '-' never appears in the result, so callers join parts with '-'
// without ambiguity.
func idPart(s string) string {
	var b strings.Builder
	changed := s == ""
	for _, r := range s {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
			changed = true
		}
	}
	if !changed {
		return s
	}
	h := fnv.New32a()
	h.Write([]byte(s))
	return fmt.Sprintf("%s_%08x", b.String(), h.Sum32())
}
