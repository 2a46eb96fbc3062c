// Package test holds the small helpers that the tests of several packages share: a log buffer
// for concurrent writers, waiting for a condition, writing and loading a config file, and reading
// and decoding H.264 streams.
package test
