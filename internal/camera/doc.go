// Package camera owns one camera's life: its state machine, reconnect backoff and counters.
package camera
