package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// clientRequest and clientResponse are the line protocol between a procPool and ClientsMain:
// one JSON object per line each way.
type clientRequest struct {
	Op     string `json:"op"` // add, begin, end, close
	Base   string `json:"base,omitempty"`
	Camera string `json:"camera,omitempty"`
	View   string `json:"view,omitempty"`
	N      int    `json:"n,omitempty"`
}

type clientResponse struct {
	Error string          `json:"error,omitempty"`
	Stats *poolStats      `json:"stats,omitempty"`
	Joins []time.Duration `json:"joins,omitempty"` // add: each viewer's time to its first picture
}

// ClientsMain runs WHEP viewers for a viewer benchmark in another process: it reads requests
// from in, one JSON object a line, and answers each on out, until in ends or a close request.
func ClientsMain(ctx context.Context, in io.Reader, out io.Writer) error {
	pool := newLocalPool(true)
	defer pool.close()
	dec, enc := json.NewDecoder(bufio.NewReader(in)), json.NewEncoder(out)
	for {
		var req clientRequest
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("%w: clients: reading request: %w", ErrViewerBench, err)
		}
		var resp clientResponse
		var err error
		switch req.Op {
		case "add":
			resp.Joins, err = pool.add(ctx, req.Base, req.Camera, req.View, req.N)
		case "begin":
			err = pool.begin(ctx)
		case "end":
			resp.Stats, err = pool.end(ctx)
		case "close":
			err = pool.close()
		default:
			err = fmt.Errorf("%w: clients: unknown op %q", ErrViewerBench, req.Op)
		}
		if err != nil {
			resp.Error = err.Error()
		}
		if err := enc.Encode(&resp); err != nil {
			return fmt.Errorf("%w: clients: writing response: %w", ErrViewerBench, err)
		}
		if req.Op == "close" {
			return nil
		}
	}
}

// procPool drives ClientsMain in a child process.
type procPool struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	enc    *json.Encoder
	dec    *json.Decoder
	closed bool
}

func startProcPool(_ context.Context, o *ViewerOptions) (*procPool, error) {
	cmd := exec.Command(o.ClientCommand[0], o.ClientCommand[1:]...)
	cmd.Env = append(os.Environ(), o.ClientEnv...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: viewer process: %w", ErrViewerBench, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: viewer process: %w", ErrViewerBench, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: starting the viewer process %s: %w", ErrViewerBench, o.ClientCommand[0], err)
	}
	return &procPool{cmd: cmd, stdin: stdin, enc: json.NewEncoder(stdin), dec: json.NewDecoder(stdout)}, nil
}

func (p *procPool) call(req clientRequest) (*clientResponse, error) {
	if p.closed {
		return nil, fmt.Errorf("%w: viewer process already closed", ErrViewerBench)
	}
	if err := p.enc.Encode(&req); err != nil {
		return nil, fmt.Errorf("%w: viewer process: sending %s: %w", ErrViewerBench, req.Op, err)
	}
	var resp clientResponse
	if err := p.dec.Decode(&resp); err != nil {
		return nil, fmt.Errorf("%w: viewer process: answer to %s: %w", ErrViewerBench, req.Op, err)
	}
	if resp.Error != "" {
		return nil, fmt.Errorf("%w: viewer process: %s", ErrViewerBench, resp.Error)
	}
	return &resp, nil
}

func (p *procPool) add(_ context.Context, base, cam, view string, n int) ([]time.Duration, error) {
	resp, err := p.call(clientRequest{Op: "add", Base: base, Camera: cam, View: view, N: n})
	if err != nil {
		return nil, err
	}
	if len(resp.Joins) != n {
		return nil, fmt.Errorf("%w: viewer process: %d join times for %d viewers", ErrViewerBench, len(resp.Joins), n)
	}
	return resp.Joins, nil
}

func (p *procPool) begin(context.Context) error {
	_, err := p.call(clientRequest{Op: "begin"})
	return err
}

func (p *procPool) end(context.Context) (*poolStats, error) {
	resp, err := p.call(clientRequest{Op: "end"})
	if err != nil {
		return nil, err
	}
	if resp.Stats == nil {
		return nil, fmt.Errorf("%w: viewer process: end without stats", ErrViewerBench)
	}
	return resp.Stats, nil
}

func (p *procPool) close() error {
	if p.closed {
		return nil
	}
	_, err := p.call(clientRequest{Op: "close"})
	p.closed = true
	p.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case werr := <-done:
		if werr != nil && err == nil {
			err = fmt.Errorf("%w: viewer process: %w", ErrViewerBench, werr)
		}
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
		if err == nil {
			err = fmt.Errorf("%w: viewer process did not exit within 15 s; killed", ErrViewerBench)
		}
	}
	return err
}
