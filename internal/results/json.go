package results

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends r's JSON encoding to dst and returns the extended slice:
//
//	{"camera":"cam1","frame":123,"pts":4100000000,"ts":"2026-11-25T21:03:04.123456789Z",
//	 "width":640,"height":360,"detections":[{"class_id":0,"label":"red block","score":0.93,
//	 "track_id":12,"box":[x1,y1,x2,y2]}]}
//
// track_id is left out when 0 (not tracked), as encoding/json's omitempty does.
//
// pts is in integer nanoseconds, ts is RFC 3339 with nanoseconds in UTC (trailing zeros of the
// fraction trimmed, as time.RFC3339Nano does), detections is always an array. Strings are
// escaped as encoding/json does (without HTML escaping; invalid UTF-8 becomes U+FFFD) and floats
// are formatted as encoding/json formats float32, except that NaN and ±Inf, which JSON cannot
// express, are written as null. The output is always valid JSON and, for finite floats and
// years 0-9999, decodes with encoding/json back into an equal Result.
//
// It allocates only when dst must grow; reuse dst across calls.
func AppendJSON(dst []byte, r *Result) []byte {
	dst = append(dst, `{"camera":`...)
	dst = appendString(dst, r.Camera)
	dst = append(dst, `,"frame":`...)
	dst = strconv.AppendUint(dst, r.Frame, 10)
	dst = append(dst, `,"pts":`...)
	dst = strconv.AppendInt(dst, int64(r.PTS), 10)
	dst = append(dst, `,"ts":"`...)
	dst = r.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","width":`...)
	dst = strconv.AppendInt(dst, int64(r.Width), 10)
	dst = append(dst, `,"height":`...)
	dst = strconv.AppendInt(dst, int64(r.Height), 10)
	dst = append(dst, `,"detections":[`...)
	for i := range r.Detections {
		d := &r.Detections[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"class_id":`...)
		dst = strconv.AppendInt(dst, int64(d.ClassID), 10)
		dst = append(dst, `,"label":`...)
		dst = appendString(dst, d.Label)
		dst = append(dst, `,"score":`...)
		dst = appendFloat32(dst, d.Score)
		if d.TrackID != 0 { // omitempty, as encoding/json writes it
			dst = append(dst, `,"track_id":`...)
			dst = strconv.AppendUint(dst, d.TrackID, 10)
		}
		dst = append(dst, `,"box":[`...)
		for j, v := range d.Box {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendFloat32(dst, v)
		}
		dst = append(dst, "]}"...)
	}
	return append(dst, "]}"...)
}

// MarshalJSON encodes r as [AppendJSON] does, so encoding/json users get the same bytes.
func (r Result) MarshalJSON() ([]byte, error) {
	return AppendJSON(make([]byte, 0, 160+96*len(r.Detections)), &r), nil
}

// appendFloat32 formats f as encoding/json formats a float32; NaN and ±Inf become null.
func appendFloat32(dst []byte, f float32) []byte {
	f64 := float64(f)
	if math.IsNaN(f64) || math.IsInf(f64, 0) {
		return append(dst, "null"...)
	}
	format := byte('f')
	if abs := float32(math.Abs(f64)); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f64, format, -1, 32)
	if format == 'e' {
		// Shorten e-09 to e-9, as encoding/json does.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as encoding/json does with HTML escaping off.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript string literals.
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
