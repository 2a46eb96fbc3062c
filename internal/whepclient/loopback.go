package whepclient

import (
	"fmt"
	"net"

	"github.com/pion/ice/v4"
	pion "github.com/pion/webrtc/v4"
)

// loopbackAPI returns a pion API whose peer connections gather only loopback UDP candidates:
// UDP over 127.0.0.1, no mDNS.
func loopbackAPI() (*pion.API, error) {
	var se pion.SettingEngine
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	me := &pion.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("pion codecs: %w", err)
	}
	return pion.NewAPI(pion.WithMediaEngine(me), pion.WithSettingEngine(se)), nil
}
