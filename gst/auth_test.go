package gst

import (
	"errors"
	"testing"

	gogst "github.com/go-gst/go-gst/gst"
)

func TestIsUnauthorized(t *testing.T) {
	for _, c := range []struct {
		code bool
		text string
		want bool
	}{
		{true, "Unauthorized", true},                        // rtspsrc on 401: NOT_AUTHORIZED with the reason phrase
		{true, "", true},                                    // the code alone decides
		{false, "401 Unauthorized", true},                   // a generic error carrying the status line
		{false, "Not authorized to access resource.", true}, // GStreamer's default NOT_AUTHORIZED text
		{false, "Could not open resource for reading and writing.", false},
		{false, "Not Found", false},
		{false, "Could not read from resource.", false},
		{false, "", false},
	} {
		if got := isUnauthorized(c.code, c.text); got != c.want {
			t.Errorf("isUnauthorized(%v, %q) = %v, want %v", c.code, c.text, got, c.want)
		}
	}
}

// TestMarkUnauthorizedReadsTheCode: the error's domain and code, posted on a real bus, decide
// whatever the text says.
func TestMarkUnauthorizedReadsTheCode(t *testing.T) {
	Init("", "")
	for _, c := range []struct {
		code gogst.ErrorCode
		want bool
	}{
		{gogst.ResourceErrorNotAuthorized, true},
		{gogst.ResourceErrorNotFound, false},
		{gogst.ResourceErrorOpenReadWrite, false},
	} {
		msg := postError(t, c.code)
		base := errors.New("pipeline error: src: some text")
		err := markUnauthorized(msg, "some text", base)
		if errors.Is(err, ErrUnauthorized) != c.want || !errors.Is(err, base) {
			t.Errorf("code %d: %v; want unauthorized %v, wrapping the pipeline error", c.code, err, c.want)
		}
	}
	if err := markUnauthorized(nil, "", ErrEOS); err != ErrEOS {
		t.Errorf("no message: %v, want ErrEOS unchanged", err)
	}
}

// postError has an element post a RESOURCE error with code (GStreamer's default text) and
// returns the message from its pipeline's bus.
func postError(t *testing.T, code gogst.ErrorCode) *gogst.Message {
	t.Helper()
	pl, err := gogst.NewPipeline("")
	if err != nil {
		t.Fatal(err)
	}
	e, err := makeElement("fakesink", "src")
	if err != nil {
		t.Fatal(err)
	}
	if err := pl.Add(e); err != nil {
		t.Fatal(err)
	}
	e.ErrorMessage(gogst.DomainResource, code, "", "")
	msg := pl.GetPipelineBus().Pop()
	if msg == nil || msg.Type() != gogst.MessageError {
		t.Fatalf("code %d: no error message on the bus", code)
	}
	return msg
}
