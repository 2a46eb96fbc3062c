package webrtc_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/gstvision/gstvision/webrtc"
)

// Example wires a manager the way gstvision's server does: the WHEP handler mounted on Go 1.22
// patterns, a broadcaster per camera with its callbacks, and the encoder feeding it.
func Example() {
	m, err := webrtc.NewManager(webrtc.Options{
		ICEServers: []webrtc.ICEServer{{URLs: []string{"stun:stun.example.net:3478"}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	cameras := map[string]bool{"cam1": true}
	whep := m.Handler(func(id string) bool { return cameras[id] })
	mux := http.NewServeMux()
	mux.Handle("POST /whep/{camera}", whep)
	mux.Handle("OPTIONS /whep/{camera}", whep)
	mux.Handle("DELETE /whep/{camera}/{session}", whep)
	mux.Handle("PATCH /whep/{camera}/{session}", whep)

	b := m.Broadcaster("cam1")
	b.OnViewersChanged(func(n int) {
		// n > 0: link the overlay → encoder → appsink branch; 0: unlink it.
	})
	b.OnKeyframeRequest(func() {
		// Send a force-key-unit event upstream of the encoder.
	})
	// The appsink's callback hands each access unit over:
	//	b.WriteAccessUnit(au, pts)

	srv := httptest.NewServer(mux) // 127.0.0.1
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/whep/cam9", "application/sdp", strings.NewReader("v=0\r\n"))
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))

	req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/whep/cam1", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Link"))
	// Output:
	// 404 {"error":"camera \"cam9\": unknown camera"}
	// 204 <stun:stun.example.net:3478>; rel="ice-server"
}

// ExampleSplitAccessUnits plays an H.264 elementary stream file to a broadcaster's viewers at
// 30 fps for ten seconds, looping the file.
func ExampleSplitAccessUnits() {
	m, err := webrtc.NewManager(webrtc.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	data, err := os.ReadFile("testdata/clip.h264")
	if err != nil {
		return // no clip here
	}
	b := m.Broadcaster("file")
	aus := webrtc.SplitAccessUnits(data)
	for i := range 300 {
		b.WriteAccessUnit(aus[i%len(aus)], time.Duration(i)*time.Second/30)
		time.Sleep(time.Second / 30)
	}
}
