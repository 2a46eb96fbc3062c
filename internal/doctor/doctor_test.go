package doctor

import (
	"strings"
	"testing"

	"github.com/gstvision/gstvision/gst"
)

// Every capability of gst's table gets a line, in its order, saying what was found or, when
// nothing was, how to install it; only what the device needs can fail the report.
func TestElementChecksFollowTheTable(t *testing.T) {
	gst.Init("", "")
	for _, cuda := range []bool{false, true} {
		r := &Report{OK: true}
		r.checkElements(cuda)
		reqs := gst.Requirements(cuda)
		if len(r.Checks) != len(reqs) {
			t.Fatalf("cuda %v: %d element lines for %d requirements", cuda, len(r.Checks), len(reqs))
		}
		for i, req := range reqs {
			c := r.Checks[i]
			if c.Name != "element "+req.Elements[0] || !strings.HasPrefix(c.Detail, req.Label()+": ") {
				t.Errorf("cuda %v: line %d is %q %q, want element %s and %q", cuda, i, c.Name, c.Detail, req.Elements[0], req.Label())
			}
			switch found := req.Found(); {
			case found != "" && (c.Status != OK || c.Detail != req.Label()+": "+found):
				t.Errorf("cuda %v: %s is registered (%s) but reads %s %q", cuda, c.Name, found, c.Status, c.Detail)
			case found == "" && (c.Status != needOrWarn(req.Required) || c.Fix != req.Hint):
				t.Errorf("cuda %v: %s is missing and reads %s, fix %q; want %s and the hint", cuda, c.Name, c.Status, c.Fix, needOrWarn(req.Required))
			}
		}
	}
}

// A missing capability fails the report only where the device needs it.
func TestMissingElementStatus(t *testing.T) {
	gst.Init("", "")
	for _, cuda := range []bool{false, true} {
		r := &Report{OK: true}
		r.checkElements(cuda)
		for i, req := range gst.Requirements(cuda) {
			if req.Found() == "" && req.Required && r.OK {
				t.Errorf("cuda %v: required %s is missing but the report is OK", cuda, r.Checks[i].Name)
			}
		}
	}
	if needOrWarn(true) != Fail || needOrWarn(false) != Warn {
		t.Error("needOrWarn does not fail what is needed and warn about the rest")
	}
}
