// Package test holds the small helpers that the tests of several packages share: a log buffer
// for concurrent writers, waiting for a condition, and reading and decoding H.264 streams.
package test
