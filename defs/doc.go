// Package defs holds the value types and sentinel errors that gstvision's layers share: decoded
// frames, detections, camera status and state, and the errors callers test with errors.Is. It
// imports nothing from the project and uses no cgo, so every layer may import it.
package defs
