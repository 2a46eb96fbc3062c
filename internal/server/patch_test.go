package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/gstvision/gstvision/defs"
)

// fakePatcher adds PATCH to fakeManager: it applies "url" when the patch has it.
type fakePatcher struct{ fakeManager }

func (p fakePatcher) PatchCamera(ctx context.Context, id string, raw json.RawMessage) (defs.Status, error) {
	var sp map[string]any
	if err := json.Unmarshal(raw, &sp); err != nil || sp == nil {
		return defs.Status{}, fmt.Errorf("%w: body must be a JSON object", ErrBadRequest)
	}
	st, ok := p.Get(id)
	if !ok {
		return defs.Status{}, fmt.Errorf("camera %q %w", id, ErrNotFound)
	}
	if u, ok := sp["url"].(string); ok {
		return p.UpdateCamera(ctx, id, json.RawMessage(fmt.Sprintf(`{"url":%q}`, u)))
	}
	return st, nil
}

func TestPatchCamera(t *testing.T) {
	e := newEnv(t, Options{Token: "tok"}, fakePatcher{fakeManager{newFakeCameras(defs.StateRunning)}})
	auth := []string{"Authorization", "Bearer tok"}
	e.do(t, "PATCH", "/api/cameras/cam1", strings.NewReader(`{"url":"rtsp://h/x"}`)).expect(t, 401, `{"error":"missing or invalid token"}`)
	r := e.do(t, "PATCH", "/api/cameras/cam1", strings.NewReader(`{"url":"rtsp://h/x"}`), auth...)
	if r.status != 200 || !strings.Contains(r.body, `"url":"rtsp://h/x"`) {
		t.Errorf("PATCH: %d %s", r.status, r.body)
	}
	e.do(t, "PATCH", "/api/cameras/nope", strings.NewReader(`{}`), auth...).expect(t, 404, `{"error":"camera \"nope\" not found"}`)
	e.do(t, "PATCH", "/api/cameras/cam1", strings.NewReader(`[1]`), auth...).expect(t, 400, `{"error":"bad request: body must be a JSON object"}`)
	e.do(t, "PATCH", "/api/cameras/cam1", strings.NewReader(`{`), auth...).expect(t, 400, `{"error":"bad request: invalid JSON: unexpected EOF"}`)
}

func TestPatchCameraNotImplemented(t *testing.T) {
	e := newEnv(t, Options{}, fakeManager{newFakeCameras(defs.StateRunning)})
	e.do(t, "PATCH", "/api/cameras/cam1", strings.NewReader(`{}`)).expect(t, 501, `{"error":"partial camera updates are not implemented"}`)
}
