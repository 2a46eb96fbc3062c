package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gstvision/gstvision/defs"
)

// CameraPatcher may also be implemented by the Cameras dependency to update cameras partially:
//
//	PATCH  /api/cameras/{id}   merge a partial camera object onto camera id (501 without it)
//
// patch is the request body, a JSON object whose members replace the camera's (JSON merge
// patch, RFC 7396: a member set to null returns that field to its default). Errors follow the
// rules of [CameraManager].
type CameraPatcher interface {
	PatchCamera(ctx context.Context, id string, patch json.RawMessage) (defs.Status, error)
}

func (s *Server) handlePatchCamera(w http.ResponseWriter, r *http.Request) {
	p, ok := s.cams.(CameraPatcher)
	if !ok {
		WriteErr(w, fmt.Errorf("partial camera updates are %w", ErrNotImplemented))
		return
	}
	spec, err := readSpec(r)
	if err != nil {
		WriteErr(w, err)
		return
	}
	st, err := p.PatchCamera(r.Context(), r.PathValue("id"), spec)
	if err != nil {
		s.writeManagerErr(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, st)
}
