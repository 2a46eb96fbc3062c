package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/camera"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/server"
)

// ErrConfigWrite wraps a failure to write a camera change to the config file. The change is
// then not applied: the running cameras and the file stay as they were.
var ErrConfigWrite = errors.New("writing the config file")

// maxSpecBytes bounds a camera object. A real one is a few hundred bytes; the bound keeps a
// hostile body (thousands of duplicate keys) from making the strict decoder, whose error
// positions cost O(size) each, spend seconds on one request.
const maxSpecBytes = 16 << 10

// maxErrors is how many field errors a 400 lists; the rest are counted.
const maxErrors = 10

// cameraRunner is what CameraAPI needs of *camera.Manager; tests pass a fake.
type cameraRunner interface {
	Add(cfg camera.Config) error
	Remove(id string) error
	Get(id string) (defs.Status, bool)
	List() []defs.Status
}

// CameraAPI manages cameras at run time for the HTTP API (it implements server.Cameras,
// server.CameraManager and server.CameraPatcher). Every change is validated like the config
// file, written to the config file atomically, and only then applied to the running cameras;
// it touches only the camera it names. Disabled cameras stay listed, with state "disabled".
type CameraAPI struct {
	run      cameraRunner
	cfg      *config.Config // the App's config; Cameras is replaced (never edited in place) under mu
	path     string         // the config file; "" keeps changes in memory only
	log      *slog.Logger
	save     func(path string, c *config.Config) error
	toCamera func(config.Camera) (camera.Config, error)
	forget   func(id string) // releases what a stopped camera leaves behind (detector, latest result, series)
	// labels are the model's classes, which zones' and lines' classes must name (nil: any).
	labels []string
	// gpus are the GPUs in use (cuda mode), which a camera's gpu must name (nil: any).
	gpus []int
	// reconfigure, when set, is told of a camera whose zones or lines changed.
	reconfigure func(config.Camera)

	ops chan struct{} // one change at a time; a channel so that waiting honours the request's context

	// viewOf tells a camera's view and why (webrtc.Manager.CameraView); nil: no WebRTC.
	viewOf atomic.Pointer[func(id string) (view, reason string)]

	mu            sync.RWMutex
	cams          []config.Camera      // the configured cameras, in file order
	disabledSince map[string]time.Time // when each disabled camera was disabled
}

// newCameraAPI returns the API over run for cfg's cameras, writing changes to cfg.Path().
func newCameraAPI(cfg *config.Config, run cameraRunner, log *slog.Logger,
	toCamera func(config.Camera) (camera.Config, error), forget func(id string)) *CameraAPI {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if forget == nil {
		forget = func(string) {}
	}
	c := &CameraAPI{
		run: run, cfg: cfg, path: cfg.Path(), log: log, save: config.Save,
		toCamera: toCamera, forget: forget, ops: make(chan struct{}, 1),
		cams: cloneCameras(cfg.Cameras), disabledSince: map[string]time.Time{},
	}
	now := time.Now()
	for _, cam := range c.cams {
		if !cam.IsEnabled() {
			c.disabledSince[cam.ID] = now
		}
	}
	return c
}

// newCameraAPI builds the App's camera API over its manager.
func (a *App) newCameraAPI() *CameraAPI {
	a.ops.api = newCameraAPI(a.cfg, a.cameras, a.log,
		a.cameraConfig, a.forgetCamera)
	a.ops.api.labels = a.engine.Labels
	a.ops.api.gpus = a.engine.GPUs()
	a.ops.api.reconfigure = a.track.configure
	return a.ops.api
}

// CameraAPI is the run-time camera management behind /api/cameras.
func (a *App) CameraAPI() *CameraAPI { return a.ops.api }

// forgetCamera releases a stopped camera's inline detector, latest result and metric series.
func (a *App) forgetCamera(id string) {
	a.unplace(id)
	a.hub.Forget(id)
	a.track.forget(id)
	if a.ops.metrics != nil {
		a.ops.metrics.Forget(id)
	}
}

// Camera returns a copy of camera id's configuration.
func (c *CameraAPI) Camera(id string) (config.Camera, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if i := indexOf(c.cams, id); i >= 0 {
		return c.cams[i].Clone(), true
	}
	return config.Camera{}, false
}

// checkClasses checks the classes of cam (at index) against the model's labels, and its gpu
// against the device and the GPUs in use.
func (c *CameraAPI) checkClasses(cam config.Camera, index int) error {
	if err := c.checkGPU(cam, index); err != nil {
		return err
	}
	if c.labels == nil {
		return nil
	}
	return config.CheckClasses([]config.Camera{cam}, index, c.labels)
}

// checkGPU refuses a gpu outside cuda mode or not among the GPUs in use, naming the field.
func (c *CameraAPI) checkGPU(cam config.Camera, index int) error {
	if cam.GPU == nil {
		return nil
	}
	path := fmt.Sprintf("cameras[%d].gpu", index)
	if c.cfg.Device != config.DeviceCUDA {
		return fmt.Errorf("%s: needs \"device\": \"cuda\", got %q", path, c.cfg.Device)
	}
	if c.gpus != nil && !slices.Contains(c.gpus, *cam.GPU) {
		return fmt.Errorf("%s: GPU %d is not among the GPUs in use %v", path, *cam.GPU, c.gpus)
	}
	return nil
}

// Cameras returns a copy of the configured cameras, as the config file holds them.
func (c *CameraAPI) Cameras() []config.Camera {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return cloneCameras(c.cams)
}

// setViewOf installs the function that fills in each status's view and view_reason.
func (c *CameraAPI) setViewOf(f func(id string) (view, reason string)) { c.viewOf.Store(&f) }

// withView fills in st's view and view_reason.
func (c *CameraAPI) withView(st defs.Status) defs.Status {
	if f := c.viewOf.Load(); f != nil {
		st.View, st.ViewReason = (*f)(st.ID)
	}
	return st
}

// List returns every configured camera's status in config order (disabled ones included),
// then any camera the manager runs that the config does not name.
func (c *CameraAPI) List() []defs.Status {
	out := c.list()
	for i := range out {
		out[i] = c.withView(out[i])
	}
	return out
}

func (c *CameraAPI) list() []defs.Status {
	running := c.run.List()
	byID := make(map[string]int, len(running))
	for i, st := range running {
		byID[st.ID] = i
	}
	c.mu.RLock()
	out := make([]defs.Status, 0, len(c.cams)+len(running))
	for _, cam := range c.cams {
		if i, ok := byID[cam.ID]; ok {
			out = append(out, running[i])
			delete(byID, cam.ID)
			continue
		}
		out = append(out, c.idleStatus(cam))
	}
	c.mu.RUnlock()
	for _, st := range running {
		if _, ok := byID[st.ID]; ok {
			out = append(out, st)
		}
	}
	return out
}

// Get returns one camera's status, disabled ones included.
func (c *CameraAPI) Get(id string) (defs.Status, bool) {
	st, ok := c.get(id)
	if ok {
		st = c.withView(st)
	}
	return st, ok
}

func (c *CameraAPI) get(id string) (defs.Status, bool) {
	if st, ok := c.run.Get(id); ok {
		return st, true
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, cam := range c.cams {
		if cam.ID == id {
			return c.idleStatus(cam), true
		}
	}
	return defs.Status{}, false
}

// idleStatus is the status of a configured camera the manager does not run: disabled, or
// enabled but not started yet (between a change's stop and start). Call with mu held.
func (c *CameraAPI) idleStatus(cam config.Camera) defs.Status {
	st := defs.Status{ID: cam.ID, URL: config.RedactURL(cam.URL), State: defs.StateStarting}
	if !cam.IsEnabled() {
		st.State, st.Since = defs.StateDisabled, c.disabledSince[cam.ID]
	}
	return st
}

// AddCamera adds the camera spec describes (one camera object, as in the config file) and
// starts it unless it is disabled. Errors wrap server.ErrBadRequest (naming the field),
// server.ErrConflict (duplicate id) or ErrConfigWrite.
func (c *CameraAPI) AddCamera(ctx context.Context, spec json.RawMessage) (defs.Status, error) {
	if err := checkSpecSize(spec); err != nil {
		return defs.Status{}, err
	}
	cam, err := config.ParseCamera(spec)
	if err != nil {
		return defs.Status{}, badRequest(err)
	}
	if err := c.lock(ctx); err != nil {
		return defs.Status{}, err
	}
	defer c.unlock()
	prev := c.Cameras()
	if _, ok := c.run.Get(cam.ID); ok || indexOf(prev, cam.ID) >= 0 {
		return defs.Status{}, fmt.Errorf("%w: camera %q already exists", server.ErrConflict, cam.ID)
	}
	if err := config.ValidateCamera(cam, len(prev), prev); err != nil {
		return defs.Status{}, badRequest(err)
	}
	if err := c.checkClasses(cam, len(prev)); err != nil {
		return defs.Status{}, badRequest(err)
	}
	next := append(cloneCameras(prev), cam)
	if err := c.persist(next); err != nil {
		return defs.Status{}, err
	}
	c.commit(next, cam.ID)
	if c.reconfigure != nil {
		c.reconfigure(cam)
	}
	if cam.IsEnabled() {
		if err := c.start(cam); err != nil {
			return defs.Status{}, c.rollback(prev, cam.ID, fmt.Errorf("starting camera %q: %w", cam.ID, err))
		}
	}
	c.log.Info("camera added", "camera", cam.ID, "url", config.RedactURL(cam.URL), "enabled", cam.IsEnabled())
	st, _ := c.Get(cam.ID)
	return st, nil
}

// UpdateCamera replaces camera id by spec (a whole camera object; "id" may be left out but
// not changed). Absent fields take their defaults.
func (c *CameraAPI) UpdateCamera(ctx context.Context, id string, spec json.RawMessage) (defs.Status, error) {
	return c.update(ctx, id, spec, false)
}

// PatchCamera merges patch, a partial camera object, onto camera id (JSON merge patch,
// RFC 7396: a member set to null returns that field to its default).
func (c *CameraAPI) PatchCamera(ctx context.Context, id string, patch json.RawMessage) (defs.Status, error) {
	return c.update(ctx, id, patch, true)
}

// update applies a PUT (merge=false) or PATCH (merge=true) to camera id. Only that camera is
// touched: it restarts when its URL, transport or latency changed, stops when disabled, and
// starts when enabled; a name change restarts nothing.
func (c *CameraAPI) update(ctx context.Context, id string, spec json.RawMessage, merge bool) (defs.Status, error) {
	if err := checkSpecSize(spec); err != nil {
		return defs.Status{}, err
	}
	// Check the body on its own first, so that error positions refer to what the client sent.
	if _, err := config.ParseCamera(spec); err != nil {
		return defs.Status{}, badRequest(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(spec, &fields); err != nil {
		return defs.Status{}, badRequest(err)
	}
	if err := c.lock(ctx); err != nil {
		return defs.Status{}, err
	}
	defer c.unlock()
	prev := c.Cameras()
	idx := indexOf(prev, id)
	if idx < 0 {
		return defs.Status{}, fmt.Errorf("camera %q %w", id, server.ErrNotFound)
	}
	old := prev[idx]
	cam, err := mergeCamera(old, fields, merge, idx)
	if err != nil {
		return defs.Status{}, badRequest(err)
	}
	if err := config.ValidateCamera(cam, idx, prev); err != nil {
		return defs.Status{}, badRequest(err)
	}
	if err := c.checkClasses(cam, idx); err != nil {
		return defs.Status{}, badRequest(err)
	}
	next := cloneCameras(prev)
	next[idx] = cam
	if err := c.persist(next); err != nil {
		return defs.Status{}, err
	}
	c.commit(next, id)
	if c.reconfigure != nil && !sameGeometry(old, cam) {
		c.reconfigure(cam)
	}

	_, running := c.run.Get(id)
	changed := old.URL != cam.URL || old.Transport != cam.Transport || old.Latency() != cam.Latency() || !sameGPU(old.GPU, cam.GPU)
	if running && (!cam.IsEnabled() || changed) {
		if err := c.run.Remove(id); err != nil && !errors.Is(err, defs.ErrUnknownCamera) {
			return defs.Status{}, c.rollback(prev, id, fmt.Errorf("stopping camera %q: %w", id, err))
		}
		if !cam.IsEnabled() {
			c.forget(id)
		}
	}
	if cam.IsEnabled() && (!running || changed) {
		if err := c.start(cam); err != nil {
			return defs.Status{}, c.rollback(prev, id, fmt.Errorf("starting camera %q: %w", id, err))
		}
	}
	c.log.Info("camera updated", "camera", id, "url", config.RedactURL(cam.URL), "enabled", cam.IsEnabled(),
		"transport", cam.Transport, "latency_ms", cam.Latency().Milliseconds(), "restarted", cam.IsEnabled() && (!running || changed))
	st, _ := c.Get(id)
	return st, nil
}

// start places and starts cam.
func (c *CameraAPI) start(cam config.Camera) error {
	cc, err := c.toCamera(cam)
	if err != nil {
		return err
	}
	return c.run.Add(cc)
}

func sameGPU(a, b *int) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

// mergeCamera builds the camera a PUT or PATCH asks for: fields over nothing (PUT) or over
// old (PATCH, where null removes a member), with the id kept.
func mergeCamera(old config.Camera, fields map[string]json.RawMessage, merge bool, idx int) (config.Camera, error) {
	doc := map[string]json.RawMessage{}
	if merge {
		b, err := json.Marshal(old)
		if err != nil {
			return config.Camera{}, fmt.Errorf("encoding camera %q: %w", old.ID, err)
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return config.Camera{}, fmt.Errorf("encoding camera %q: %w", old.ID, err)
		}
	}
	for k, v := range fields {
		if merge && bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			delete(doc, k)
			continue
		}
		doc[k] = v
	}
	if raw, ok := doc["id"]; ok {
		var id string
		// ParseCamera already checked that a present id is a string or null.
		if err := json.Unmarshal(raw, &id); err == nil && id != "" && id != old.ID {
			return config.Camera{}, fmt.Errorf("cameras[%d].id: cannot change the id of camera %q to %q (delete it and add a new one)",
				idx, old.ID, id)
		}
	}
	idJSON, err := json.Marshal(old.ID)
	if err != nil {
		return config.Camera{}, fmt.Errorf("encoding camera id: %w", err)
	}
	doc["id"] = idJSON
	merged, err := json.Marshal(doc)
	if err != nil {
		return config.Camera{}, fmt.Errorf("encoding camera %q: %w", old.ID, err)
	}
	return config.ParseCamera(merged)
}

// RemoveCamera stops camera id and removes it from the config file.
func (c *CameraAPI) RemoveCamera(ctx context.Context, id string) error {
	if err := c.lock(ctx); err != nil {
		return err
	}
	defer c.unlock()
	prev := c.Cameras()
	idx := indexOf(prev, id)
	if idx < 0 {
		// A camera started directly on the manager (not configured) can still be stopped.
		if _, ok := c.run.Get(id); !ok {
			return fmt.Errorf("camera %q %w", id, server.ErrNotFound)
		}
	} else {
		next := slices.Delete(cloneCameras(prev), idx, idx+1)
		if err := c.persist(next); err != nil {
			return err
		}
		c.commit(next, id)
	}
	if err := c.run.Remove(id); err != nil && !errors.Is(err, defs.ErrUnknownCamera) {
		return c.rollback(prev, id, fmt.Errorf("stopping camera %q: %w", id, err))
	}
	c.forget(id)
	c.log.Info("camera removed", "camera", id)
	return nil
}

// persist writes the config with cams as its cameras. The file is replaced atomically, so on
// failure it is unchanged.
func (c *CameraAPI) persist(cams []config.Camera) error {
	if c.path == "" {
		return nil
	}
	next := c.cfg.Clone() // only this goroutine (holding ops) changes cfg.Cameras
	next.Cameras = cams
	if err := c.save(c.path, next); err != nil {
		return fmt.Errorf("%w: %w", ErrConfigWrite, err)
	}
	return nil
}

// commit makes cams the current camera list; id is the camera that changed.
func (c *CameraAPI) commit(cams []config.Camera, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cams = cams
	c.cfg.Cameras = cloneCameras(cams)
	i := indexOf(cams, id)
	switch {
	case i < 0:
		delete(c.disabledSince, id)
	case !cams[i].IsEnabled():
		if _, ok := c.disabledSince[id]; !ok {
			c.disabledSince[id] = time.Now()
		}
	default:
		delete(c.disabledSince, id)
	}
}

// rollback restores prev after a change was saved but could not be applied, and returns
// cause (with the rollback's own failure, if any).
func (c *CameraAPI) rollback(prev []config.Camera, id string, cause error) error {
	c.commit(prev, id)
	if err := c.persist(prev); err != nil {
		return errors.Join(cause, fmt.Errorf("rolling the config file back: %w", err))
	}
	if i := indexOf(prev, id); i >= 0 && prev[i].IsEnabled() {
		if _, ok := c.run.Get(id); !ok {
			if err := c.start(prev[i]); err != nil {
				return errors.Join(cause, fmt.Errorf("restarting camera %q: %w", id, err))
			}
		}
	}
	return cause
}

func (c *CameraAPI) lock(ctx context.Context) error {
	select {
	case c.ops <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting for another camera change: %w", server.ErrUnavailable, ctx.Err())
	}
}

func (c *CameraAPI) unlock() { <-c.ops }

func checkSpecSize(spec json.RawMessage) error {
	if len(spec) > maxSpecBytes {
		return fmt.Errorf("%w: a camera object is at most %d bytes, got %d", server.ErrBadRequest, maxSpecBytes, len(spec))
	}
	return nil
}

// badRequest marks a validation error as the client's (400); its text names the field. A long
// list of field errors is cut to its first maxErrors.
func badRequest(err error) error {
	var ve *config.ValidationError
	if errors.As(err, &ve) && len(ve.Errors) > maxErrors {
		short := &config.ValidationError{Errors: ve.Errors[:maxErrors]}
		return fmt.Errorf("%w: %w\n(and %d more problems)", server.ErrBadRequest, short, len(ve.Errors)-maxErrors)
	}
	return fmt.Errorf("%w: %w", server.ErrBadRequest, err)
}

// sameGeometry reports whether two versions of a camera have the same zones and lines.
func sameGeometry(a, b config.Camera) bool {
	ja, errA := json.Marshal([2]any{a.Zones, a.Lines})
	jb, errB := json.Marshal([2]any{b.Zones, b.Lines})
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

func indexOf(cams []config.Camera, id string) int {
	return slices.IndexFunc(cams, func(c config.Camera) bool { return c.ID == id })
}

func cloneCameras(cams []config.Camera) []config.Camera {
	out := make([]config.Camera, len(cams))
	for i, c := range cams {
		out[i] = c.Clone()
	}
	return out
}

var (
	_ server.Cameras       = (*CameraAPI)(nil)
	_ server.CameraManager = (*CameraAPI)(nil)
	_ server.CameraPatcher = (*CameraAPI)(nil)
)
