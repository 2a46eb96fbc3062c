package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gstvision/gstvision/internal/app"
	"github.com/gstvision/gstvision/internal/procstat"
	"github.com/gstvision/gstvision/internal/simulate"
)

// ErrRTSPSource wraps the failures of the RTSP sources of a run (Options.RTSP, RTSPURL).
var ErrRTSPSource = errors.New("bench: rtsp source")

// rtspSource is where a run's cameras come from over RTSP: the clip simulator in a child
// process (its CPU measured apart), in this process, or external URLs.
type rtspSource struct {
	urls   []string
	desc   string
	child  *exec.Cmd
	pid    string
	inProc *simulate.Server
	wait   chan error
}

// startRTSPSource starts what o asks for: o.RTSPURL's cameras as they are, or o.Clip served
// by `gstvision simulate --clip` (o.SimCommand), or in this process when o.SimCommand is empty.
func startRTSPSource(ctx context.Context, o Options) (*rtspSource, error) {
	if o.RTSPURL != "" {
		if !strings.Contains(o.RTSPURL, "%d") {
			return nil, fmt.Errorf("%w: --rtsp-url %q: want a template with %%d for the camera number (1..N)", ErrRTSPSource, o.RTSPURL)
		}
		src := &rtspSource{desc: "RTSP " + o.RTSPURL}
		for i := 1; i <= o.Cameras; i++ {
			src.urls = append(src.urls, fmt.Sprintf(o.RTSPURL, i))
		}
		return src, nil
	}
	abs, err := filepath.Abs(o.Clip)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRTSPSource, err)
	}
	if len(o.SimCommand) == 0 {
		sim, err := simulate.Start(ctx, simulate.Options{Clip: abs, Cameras: o.Cameras, Listen: "127.0.0.1:0", Logger: o.Logger})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRTSPSource, err)
		}
		src := &rtspSource{inProc: sim, desc: clipDesc(sim.Clip(), abs) + ", simulator in this process (its CPU counted)"}
		for i := 1; i <= o.Cameras; i++ {
			src.urls = append(src.urls, sim.URL(i))
		}
		return src, nil
	}
	return startSimChild(ctx, o, abs)
}

func clipDesc(c *simulate.Clip, path string) string {
	return fmt.Sprintf("RTSP from clip %s (%s, %d frames, %.2f fps, GOP %d)", filepath.Base(path), c.Codec, c.Frames, c.FPS(), c.GOP)
}

// startSimChild runs the simulator as a child process on a free loopback port and waits for
// it to print its URLs (one a line, once it listens).
func startSimChild(ctx context.Context, o Options, clip string) (*rtspSource, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRTSPSource, err)
	}
	args := append(o.SimCommand[1:len(o.SimCommand):len(o.SimCommand)], "--clip", clip,
		"--cameras", strconv.Itoa(o.Cameras), "--listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	cmd := exec.Command(o.SimCommand[0], args...)
	cmd.Env = append(os.Environ(), o.SimEnv...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRTSPSource, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: starting %s: %w", ErrRTSPSource, o.SimCommand[0], err)
	}
	src := &rtspSource{child: cmd, pid: strconv.Itoa(cmd.Process.Pid), wait: make(chan error, 1),
		desc: fmt.Sprintf("RTSP from clip %s, simulator in a child process (pid %d, its CPU apart)", filepath.Base(clip), cmd.Process.Pid)}
	lines := make(chan string, o.Cameras)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		_, _ = io.Copy(io.Discard, out)
		src.wait <- cmd.Wait()
	}()
	timeout := time.After(60 * time.Second)
	for len(src.urls) < o.Cameras {
		select {
		case l := <-lines:
			if strings.HasPrefix(l, "rtsp://") {
				src.urls = append(src.urls, l)
			}
		case err := <-src.wait:
			src.wait <- err
			return nil, fmt.Errorf("%w: the simulator exited before serving: %v", ErrRTSPSource, err)
		case <-timeout:
			src.close()
			return nil, fmt.Errorf("%w: the simulator printed %d of %d URLs within 60 s", ErrRTSPSource, len(src.urls), o.Cameras)
		case <-ctx.Done():
			src.close()
			return nil, ctx.Err()
		}
	}
	return src, nil
}

// freePort asks the kernel for a loopback port that nobody listens on now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// childCPU is the child simulator's CPU time so far (false without a child).
func (s *rtspSource) childCPU() (time.Duration, bool) {
	if s == nil || s.child == nil {
		return 0, false
	}
	return procstat.ProcessCPU(s.pid)
}

var errSimKilled = errors.New("killed after 10 s")

// close stops the simulator: SIGINT to the child (it closes its server), killed after 10 s.
func (s *rtspSource) close() error {
	if s == nil {
		return nil
	}
	if s.inProc != nil {
		return s.inProc.Close()
	}
	if s.child == nil {
		return nil
	}
	var err error
	_ = s.child.Process.Signal(os.Interrupt)
	select {
	case <-s.wait:
	case <-time.After(10 * time.Second):
		_ = s.child.Process.Kill()
		<-s.wait
		err = fmt.Errorf("%w: simulator: %w", ErrRTSPSource, errSimKilled)
	}
	s.child = nil
	return err
}

// decodedFrames is each camera's decoded-frame counter, by camera.
func decodedFrames(a *app.App) map[string]uint64 {
	out := map[string]uint64{}
	for _, st := range a.Cameras().List() {
		out[st.ID] = st.Frames
	}
	return out
}

// minDecodedFPS is the slowest camera's decoded frames/s between two counts.
func minDecodedFPS(before, after map[string]uint64, secs float64) float64 {
	lo := -1.0
	for id, n := range after {
		fps := float64(n-before[id]) / secs
		if lo < 0 || fps < lo {
			lo = fps
		}
	}
	return max(lo, 0)
}

// startCPUProfile writes a Go CPU profile to path until stop.
// writeAllocProfile writes the Go allocation profile to path.
func writeAllocProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: memory profile: %w", err)
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("bench: memory profile: %w", err)
	}
	return f.Close()
}

func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("bench: cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("bench: cpu profile: %w", err)
	}
	var once sync.Once
	return func() { once.Do(func() { pprof.StopCPUProfile(); f.Close() }) }, nil
}
