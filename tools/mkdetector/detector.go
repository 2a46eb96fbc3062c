package main

import "github.com/gstvision/gstvision/tools/mkdetector/blocks"

// Params are the knobs of the generated detector (package blocks builds it).
type Params = blocks.Params

// DefaultParams returns the parameters of the shipped models/blocks.onnx.
func DefaultParams() Params { return blocks.DefaultParams() }

// Build returns the serialized detector (YOLOv8 layout).
func Build(p Params) ([]byte, error) { return blocks.Build(p) }
