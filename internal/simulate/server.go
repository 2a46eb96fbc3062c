package simulate

// #include <stdlib.h>
// #include "csim.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/go-gst/go-gst/gst"

	"github.com/gstvision/gstvision/defs"
)

// errServerClosed is returned by the methods of a closed Server; it wraps [defs.ErrClosed].
var errServerClosed = fmt.Errorf("simulate: server %w", defs.ErrClosed)

// Server is a running RTSP server of simulated cameras. Every client of rtsp://…/camN gets
// its own pipeline, which starts at frame 0 of Scene(N), so a client's k-th decoded picture
// is frame k of the scene's ground truth.
//
// Threads: the RTSP server (connections, requests) runs on a GLib main loop on one locked OS
// thread; each client's pipeline runs on GStreamer's threads; one goroutine per client
// renders and pushes its frames in real time.
type Server struct {
	o      Options
	log    *slog.Logger
	id     uintptr
	cs     *C.SimServer
	host   string
	port   int
	scenes []*Scene
	launch *C.char

	opMu    sync.Mutex // serialises StopCamera, StartCamera and Close
	running []bool     // guarded by opMu
	closed  bool       // guarded by opMu

	mu      sync.Mutex
	feeders map[uintptr]*feeder // live medias, guarded by mu
	closing bool                // guarded by mu: no new feeders

	loopDone chan struct{}
	done     chan struct{}
	closeErr error

	clip   *Clip // the clip mode's recording (clip.go), else nil
	clipT0 int64 // the clip mode's start, g_get_monotonic_time
}

// registry maps the ids C holds to Go objects, so that no Go pointer is handed to C.
var (
	regMu      sync.Mutex
	regNext    uintptr
	regServers = map[uintptr]*Server{}
	regFeeders = map[uintptr]*feeder{}
)

func regID() uintptr {
	regNext++
	return regNext
}

var initOnce sync.Once

// Start initialises GStreamer (once per process), checks that the encoder and payloader
// exist, binds o.Listen and serves o.Cameras cameras. It returns once the server is
// listening and its main loop runs. Cancelling ctx closes the server, as Close does.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Clip != "" {
		return startClip(ctx, o)
	}
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	initOnce.Do(func() { gst.Init(nil) })
	for _, name := range requiredElements(o) {
		if gst.Find(name) == nil {
			return nil, fmt.Errorf("simulate: element %s not found (Debian package %s): %w",
				name, elementPackages[name], ErrElementMissing)
		}
	}
	launch := o.launch()
	if err := checkLaunch(launch); err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(o.Listen) // validated by withDefaults
	s := &Server{
		o:        o,
		log:      o.Logger.With("component", "simulate"),
		host:     host,
		scenes:   make([]*Scene, o.Cameras),
		running:  make([]bool, o.Cameras),
		feeders:  map[uintptr]*feeder{},
		loopDone: make(chan struct{}),
		done:     make(chan struct{}),
	}
	for i := range s.scenes {
		s.scenes[i] = NewScene(o.Width, o.Height, o.FPS, i)
		s.scenes[i].Script = o.Script
	}
	if err := s.listen(port, o.JumpEverySec*o.FPS); err != nil {
		return nil, err
	}
	C.sim_server_set_skip(s.cs, C.int(o.SkipFrames))
	s.launch = C.CString(launch)
	s.serve()
	s.log.Info("simulated cameras listening", "url", s.URL(1), "cameras", o.Cameras,
		"size", fmt.Sprintf("%dx%d", o.Width, o.Height), "fps", o.FPS, "codec", o.Codec,
		"bframes", o.BFrames)

	go s.closeOnCancel(ctx)
	return s, nil
}

// listen registers the server and starts the RTSP server on port (of s.host; every address
// when empty), with the camera credentials when the options have them. jumpFrames makes the
// scene's timestamps jump every that many frames (0: never).
func (s *Server) listen(port string, jumpFrames int) error {
	bindHost := s.host
	if bindHost == "" {
		bindHost = "0.0.0.0"
	}
	regMu.Lock()
	s.id = regID()
	regServers[s.id] = s
	regMu.Unlock()
	caddr, cport := C.CString(bindHost), C.CString(port)
	defer C.free(unsafe.Pointer(caddr))
	defer C.free(unsafe.Pointer(cport))
	var cmsg *C.char
	var code C.int
	s.cs = C.sim_server_new(caddr, cport, C.guintptr(s.id), C.int(s.o.FPS), C.int(jumpFrames), &cmsg, &code)
	if s.cs == nil {
		s.unregister()
		msg := C.GoString(cmsg)
		C.g_free(C.gpointer(cmsg))
		if code == C.G_IO_ERROR_ADDRESS_IN_USE {
			return fmt.Errorf("simulate: listen %s: %w", s.o.Listen, syscall.EADDRINUSE)
		}
		return fmt.Errorf("simulate: listen %s: %s", s.o.Listen, msg)
	}
	s.port = int(C.sim_server_port(s.cs))
	if s.o.User != "" {
		s.requireAuth(s.o.User, s.o.Password)
	}
	return nil
}

// serve starts the server's main loop and mounts every camera.
func (s *Server) serve() {
	go s.loop()
	C.sim_server_sync(s.cs) // the loop is running
	s.opMu.Lock()
	for i := 1; i <= s.o.Cameras; i++ {
		s.mount(i)
	}
	s.opMu.Unlock()
}

// closeOnCancel closes the server when ctx ends (unless it closed first).
func (s *Server) closeOnCancel(ctx context.Context) {
	select {
	case <-ctx.Done():
		if err := s.Close(); err != nil {
			s.log.Warn("close after context cancel", "err", err)
		}
	case <-s.done:
	}
}

// requireAuth makes the cameras demand user and password (before any mount).
func (s *Server) requireAuth(user, password string) {
	cu, cp := C.CString(user), C.CString(password)
	defer C.free(unsafe.Pointer(cu))
	defer C.free(unsafe.Pointer(cp))
	C.sim_server_set_auth(s.cs, cu, cp)
}

// loop runs the GLib main loop of the RTSP server on a locked OS thread until Close.
func (s *Server) loop() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	C.sim_server_run(s.cs)
	close(s.loopDone)
}

func (s *Server) unregister() {
	regMu.Lock()
	delete(regServers, s.id)
	regMu.Unlock()
}

func (s *Server) path(i int) string { return "/cam" + strconv.Itoa(i) }

// mount publishes camera i. Call with opMu held.
func (s *Server) mount(i int) {
	if s.clip != nil {
		s.mountClip(i)
		return
	}
	p := C.CString(s.path(i))
	defer C.free(unsafe.Pointer(p))
	C.sim_server_mount(s.cs, C.int(i), p, s.launch)
	s.running[i-1] = true
}

// Addr is the host:port the server listens on (the real port when Listen asked for 0).
func (s *Server) Addr() string {
	return net.JoinHostPort(s.host, strconv.Itoa(s.port))
}

// URL returns the RTSP URL of camera i (1-based: rtsp://host:port/cam<i>). A wildcard listen
// host is replaced by the loopback address.
func (s *Server) URL(i int) string {
	host := s.host
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "rtsp://" + net.JoinHostPort(host, strconv.Itoa(s.port)) + s.path(i)
}

// Scene returns the ground truth of camera i (1-based), or nil when there is no such camera.
func (s *Server) Scene(i int) *Scene {
	if i < 1 || i > len(s.scenes) {
		return nil
	}
	return s.scenes[i-1]
}

// Done is closed once the server is closed (by Close or by the cancellation of Start's
// context).
func (s *Server) Done() <-chan struct{} { return s.done }

// Options returns the options in effect, defaults filled in.
func (s *Server) Options() Options { return s.o }

func (s *Server) checkCam(i int) error {
	if i < 1 || i > len(s.scenes) {
		return fmt.Errorf("simulate: no camera %d (have 1..%d)", i, len(s.scenes))
	}
	return nil
}

// StopCamera makes camera i go away, like a camera that is unplugged: its mount is removed
// (new requests get 404 Not Found) and the connections of its clients are closed, so they
// see the stream end. It returns once the camera's pipelines have stopped (or after 3 s).
// Stopping a stopped camera does nothing.
func (s *Server) StopCamera(i int) error {
	if err := s.checkCam(i); err != nil {
		return err
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if s.closed {
		return errServerClosed
	}
	if !s.running[i-1] {
		return nil
	}
	s.running[i-1] = false
	n := s.haltFeeders(i)
	p := C.CString(s.path(i))
	defer C.free(unsafe.Pointer(p))
	C.sim_server_unmount(s.cs, C.int(i), p)
	if !s.waitFeeders(i, 3*time.Second, false) {
		s.log.Warn("camera stopped, but some of its pipelines are still winding down", "camera", i)
	}
	s.log.Info("camera stopped", "camera", i, "client_pipelines", n)
	return nil
}

// StartCamera brings camera i back after StopCamera; new clients start at frame 0 again.
// Starting a running camera does nothing.
func (s *Server) StartCamera(i int) error {
	if err := s.checkCam(i); err != nil {
		return err
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if s.closed {
		return errServerClosed
	}
	if s.running[i-1] {
		return nil
	}
	s.mount(i)
	s.log.Info("camera started", "camera", i)
	return nil
}

// haltFeeders asks the feeders of camera cam (all when cam == 0) to stop and returns how
// many there were.
func (s *Server) haltFeeders(cam int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.feeders {
		if cam == 0 || f.cam == cam {
			f.halt()
			n++
		}
	}
	return n
}

// waitFeeders waits until camera cam (all when 0) has no running feeder or, with gone,
// no client pipeline at all, or until timeout. It reports whether that happened.
func (s *Server) waitFeeders(cam int, timeout time.Duration, gone bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		busy := 0
		for _, f := range s.feeders {
			if (cam == 0 || f.cam == cam) && (gone || !f.exited) {
				busy++
			}
		}
		s.mu.Unlock()
		if busy == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitMedias waits until every client pipeline has been destroyed, or timeout.
func (s *Server) waitMedias(timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		n := len(s.feeders)
		s.mu.Unlock()
		if n == 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Close closes every client connection, stops every pipeline and releases the port. It
// returns once all of it is torn down; closing twice returns the first result.
func (s *Server) Close() error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if s.closed {
		return s.closeErr
	}
	s.closed = true
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()

	for i := 1; i <= len(s.running); i++ {
		if s.running[i-1] {
			p := C.CString(s.path(i))
			C.sim_server_unmount(s.cs, C.int(i), p)
			C.free(unsafe.Pointer(p))
			s.running[i-1] = false
		}
	}
	s.haltFeeders(0)
	C.sim_server_shutdown(s.cs) // closes clients and the listening socket, quits the loop
	<-s.loopDone

	var errs []error
	if !s.waitFeeders(0, 5*time.Second, false) {
		// a push still blocked on a pipeline that was never torn down: force it out
		s.mu.Lock()
		for _, f := range s.feeders {
			f.forceUnblock()
		}
		s.mu.Unlock()
		if !s.waitFeeders(0, 2*time.Second, false) {
			errs = append(errs, errors.New("simulate: close: frame feeders did not stop"))
		}
	}
	if n := s.waitMedias(5 * time.Second); n > 0 {
		errs = append(errs, fmt.Errorf("simulate: close: %d client pipelines still alive", n))
		// forget them: a late destruction must not reach this closed server
		s.mu.Lock()
		regMu.Lock()
		for id := range s.feeders {
			delete(s.feeders, id)
			delete(regFeeders, id)
		}
		regMu.Unlock()
		s.mu.Unlock()
	}
	C.sim_server_free(s.cs)
	s.cs = nil
	C.free(unsafe.Pointer(s.launch))
	s.launch = nil
	if s.clip != nil {
		s.clip.Close() // medias still alive hold their own reference
	}
	s.unregister()
	close(s.done)
	s.closeErr = errors.Join(errs...)
	s.log.Info("simulated cameras closed", "addr", s.Addr())
	return s.closeErr
}

//export goSimMediaConfigure
func goSimMediaConfigure(serverID C.guintptr, cam C.int, appsrc *C.GstElement) C.guintptr {
	regMu.Lock()
	s := regServers[uintptr(serverID)]
	regMu.Unlock()
	if s == nil {
		return 0
	}
	src, err := newFrameSource(unsafe.Pointer(appsrc), s.o.Width, s.o.Height)
	if err != nil {
		s.log.Error("client media", "camera", int(cam), "err", err)
		return 0
	}
	f := newFeeder(s, int(cam), src)
	regMu.Lock()
	f.id = regID()
	regFeeders[f.id] = f
	regMu.Unlock()

	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		regMu.Lock()
		delete(regFeeders, f.id)
		regMu.Unlock()
		src.close()
		return 0
	}
	s.feeders[f.id] = f
	s.mu.Unlock()
	go f.run()
	s.log.Debug("client media created", "camera", int(cam), "media", f.id, "videometa", src.usesMeta())
	return C.guintptr(f.id)
}

func lookupFeeder(id C.guintptr) *feeder {
	regMu.Lock()
	defer regMu.Unlock()
	return regFeeders[uintptr(id)]
}

//export goSimNeedData
func goSimNeedData(id C.guintptr) {
	if f := lookupFeeder(id); f != nil {
		f.kick()
	}
}

//export goSimMediaUnprepared
func goSimMediaUnprepared(id C.guintptr) {
	if f := lookupFeeder(id); f != nil {
		f.halt()
	}
}

//export goSimMediaFinalized
func goSimMediaFinalized(id C.guintptr) {
	regMu.Lock()
	f := regFeeders[uintptr(id)]
	delete(regFeeders, uintptr(id))
	regMu.Unlock()
	if f == nil {
		return
	}
	f.halt()
	// log first: once the feeder leaves srv.feeders, Close may return
	f.srv.log.Debug("client media destroyed", "camera", f.cam, "media", f.id)
	f.srv.mu.Lock()
	f.finalized = true
	if f.exited {
		delete(f.srv.feeders, f.id)
	}
	f.srv.mu.Unlock()
}
