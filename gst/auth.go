package gst

// #include <gst/gst.h>
//
// /* gstv_error_not_authorized reports whether m is an error message carrying GStreamer's
//  * RESOURCE/NOT_AUTHORIZED error, which rtspsrc posts when the camera answers 401. */
// static int gstv_error_not_authorized(GstMessage *m) {
// 	GError *err = NULL;
// 	int res;
// 	if (GST_MESSAGE_TYPE(m) != GST_MESSAGE_ERROR) return 0;
// 	gst_message_parse_error(m, &err, NULL);
// 	res = g_error_matches(err, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_AUTHORIZED);
// 	g_clear_error(&err);
// 	return res;
// }
import "C"

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	gogst "github.com/go-gst/go-gst/gst"
)

// ErrUnauthorized marks a pipeline error that is the camera refusing the credentials (RTSP
// 401): retrying soon cannot help, and every retry counts towards the camera's lockout.
var ErrUnauthorized = errors.New("camera refused the credentials")

// markUnauthorized returns err wrapped in ErrUnauthorized when msg (an error message whose
// text is text) is the camera refusing the credentials, else err as it is.
func markUnauthorized(msg *gogst.Message, text string, err error) error {
	if !isUnauthorized(notAuthorizedCode(msg), text) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnauthorized, err)
}

// notAuthorizedCode reads the error's domain and code, which go-gst's ParseError drops.
func notAuthorizedCode(msg *gogst.Message) bool {
	if msg == nil {
		return false
	}
	return C.gstv_error_not_authorized((*C.GstMessage)(unsafe.Pointer(msg.Instance()))) != 0
}

// isUnauthorized classifies a pipeline error. The domain and code (notAuthorized) decide when
// the element set them; the text is the fallback for elements that post a generic error with
// the server's reason phrase ("401 Unauthorized") or GStreamer's default text for
// NOT_AUTHORIZED ("Not authorized to access resource.").
func isUnauthorized(notAuthorized bool, text string) bool {
	if notAuthorized {
		return true
	}
	t := strings.ToLower(text)
	return strings.Contains(t, "unauthorized") || strings.Contains(t, "not authorized")
}
