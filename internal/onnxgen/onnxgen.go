// Package onnxgen writes small ONNX models from Go. It encodes the ModelProto wire format by hand
// with protowire, so the project can build and ship its own models without Python or generated
// protobuf code.
//
// A model is described as a Graph: inputs, outputs, initializers (constant tensors) and nodes in
// topological order. Graph.Model serializes it deterministically: the same calls always produce the
// same bytes.
package onnxgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"

	"google.golang.org/protobuf/encoding/protowire"
)

// TensorProto data types (onnx.TensorProto.DataType).
const (
	Float   = 1
	Int64   = 7
	Float16 = 10
)

// IRVersion is the ONNX IR version written into every model.
const IRVersion = 8

// Producer is the producer_name written into every model.
const Producer = "gstvision"

// AttributeProto.AttributeType values.
const (
	attrFloat   = 1
	attrInt     = 2
	attrString  = 3
	attrFloats  = 6
	attrInts    = 7
	attrStrings = 8
)

// Attr is one node attribute. Build it with AttrInt, AttrInts, AttrFloat, AttrFloats or
// AttrString.
type Attr struct {
	name   string
	typ    int32
	i      int64
	f      float32
	s      string
	ints   []int64
	floats []float32
}

// AttrInt returns an INT attribute.
func AttrInt(name string, v int64) Attr { return Attr{name: name, typ: attrInt, i: v} }

// AttrInts returns an INTS attribute.
func AttrInts(name string, v ...int64) Attr {
	return Attr{name: name, typ: attrInts, ints: append([]int64(nil), v...)}
}

// AttrFloat returns a FLOAT attribute.
func AttrFloat(name string, v float32) Attr { return Attr{name: name, typ: attrFloat, f: v} }

// AttrFloats returns a FLOATS attribute.
func AttrFloats(name string, v ...float32) Attr {
	return Attr{name: name, typ: attrFloats, floats: append([]float32(nil), v...)}
}

// AttrString returns a STRING attribute.
func AttrString(name, v string) Attr { return Attr{name: name, typ: attrString, s: v} }

type valueInfo struct {
	name     string
	elemType int32
	dims     []int64
}

type tensor struct {
	name     string
	dims     []int64
	dataType int32
	raw      []byte
}

type node struct {
	opType  string
	name    string
	domain  string
	inputs  []string
	outputs []string
	attrs   []Attr
}

type metaEntry struct{ key, value string }

// Graph collects the parts of one ONNX graph. The zero value is not usable; call NewGraph.
// Graph methods record the first error they meet (bad dimensions, duplicate names); Model reports
// it.
type Graph struct {
	name         string
	doc          string
	inputs       []valueInfo
	outputs      []valueInfo
	initializers []tensor
	nodes        []node
	meta         []metaEntry
	names        map[string]bool // every value name defined so far (inputs, initializers, node outputs)
	nodeCount    map[string]int  // per op type, for node names
	err          error
}

// NewGraph returns an empty graph with the given name.
func NewGraph(name string) *Graph {
	return &Graph{name: name, names: map[string]bool{}, nodeCount: map[string]int{}}
}

func (g *Graph) fail(err error) {
	if g.err == nil {
		g.err = err
	}
}

func (g *Graph) define(name, what string) {
	if name == "" {
		g.fail(fmt.Errorf("onnxgen: %s with an empty name", what))
		return
	}
	if g.names[name] {
		g.fail(fmt.Errorf("onnxgen: %s %q: name already defined", what, name))
		return
	}
	g.names[name] = true
}

// Doc sets the graph's doc_string.
func (g *Graph) Doc(s string) { g.doc = s }

// Metadata adds a key/value pair to the model's metadata_props (for example "names" or
// "stride", as YOLO exports carry). Keys are written in the order they were added.
func (g *Graph) Metadata(key, value string) { g.meta = append(g.meta, metaEntry{key, value}) }

// Input declares a graph input. A negative dimension is dynamic: the first one is named "N" (the
// batch, shared by every input and output), any later one "dyn<axis>".
func (g *Graph) Input(name string, elemType int32, dims ...int64) {
	g.define(name, "input")
	g.inputs = append(g.inputs, valueInfo{name, elemType, append([]int64(nil), dims...)})
}

// Output declares a graph output, which some node must produce. Negative dimensions are dynamic,
// named as for Input.
func (g *Graph) Output(name string, elemType int32, dims ...int64) {
	if name == "" {
		g.fail(errors.New("onnxgen: output with an empty name"))
	}
	g.outputs = append(g.outputs, valueInfo{name, elemType, append([]int64(nil), dims...)})
}

// checkElements reports an error unless dims are non-negative and hold exactly n elements.
func checkElements(what, name string, dims []int64, n int) error {
	count := int64(1)
	for _, d := range dims {
		if d < 0 {
			return fmt.Errorf("onnxgen: %s %q: negative dimension %d", what, name, d)
		}
		count *= d
	}
	if count != int64(n) {
		return fmt.Errorf("onnxgen: %s %q: dims %v hold %d elements, got %d values", what, name, dims, count, n)
	}
	return nil
}

// Initializer adds a float32 constant tensor with the given dimensions (row-major data).
func (g *Graph) Initializer(name string, dims []int64, data []float32) {
	g.define(name, "initializer")
	if err := checkElements("initializer", name, dims, len(data)); err != nil {
		g.fail(err)
		return
	}
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	g.initializers = append(g.initializers, tensor{name, append([]int64(nil), dims...), Float, raw})
}

// InitializerInt64 adds an int64 constant tensor with the given dimensions (row-major data).
func (g *Graph) InitializerInt64(name string, dims []int64, data []int64) {
	g.define(name, "initializer")
	if err := checkElements("initializer", name, dims, len(data)); err != nil {
		g.fail(err)
		return
	}
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	g.initializers = append(g.initializers, tensor{name, append([]int64(nil), dims...), Int64, raw})
}

// Node appends a node of the default ONNX domain. Inputs must already be defined (graph inputs,
// initializers or outputs of earlier nodes), except "" which marks an omitted optional input.
// Nodes are named after their op type and a counter ("Conv_0", "Conv_1", ...).
func (g *Graph) Node(opType string, inputs, outputs []string, attrs ...Attr) {
	if opType == "" {
		g.fail(errors.New("onnxgen: node with an empty op type"))
		return
	}
	for _, in := range inputs {
		if in != "" && !g.names[in] {
			g.fail(fmt.Errorf("onnxgen: %s node: input %q is not defined yet", opType, in))
		}
	}
	for _, out := range outputs {
		g.define(out, opType+" output")
	}
	n := g.nodeCount[opType]
	g.nodeCount[opType] = n + 1
	g.nodes = append(g.nodes, node{
		opType:  opType,
		name:    fmt.Sprintf("%s_%d", opType, n),
		inputs:  append([]string(nil), inputs...),
		outputs: append([]string(nil), outputs...),
		attrs:   append([]Attr(nil), attrs...),
	})
}

// Model serializes the graph as an ONNX ModelProto (IR version 8, producer "gstvision") that
// imports the default domain at the given opset version.
func (g *Graph) Model(opset int64) ([]byte, error) {
	if g.err != nil {
		return nil, g.err
	}
	if opset < 1 {
		return nil, fmt.Errorf("onnxgen: opset %d: must be positive", opset)
	}
	if len(g.outputs) == 0 {
		return nil, errors.New("onnxgen: graph has no outputs")
	}
	for _, o := range g.outputs {
		if !g.names[o.name] {
			return nil, fmt.Errorf("onnxgen: output %q is not produced by any node", o.name)
		}
	}
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType) // ir_version
	b = protowire.AppendVarint(b, IRVersion)
	b = appendString(b, 2, Producer) // producer_name
	b = protowire.AppendTag(b, 7, protowire.BytesType)
	b = protowire.AppendBytes(b, g.encodeGraph())
	var op []byte
	op = appendString(op, 1, "") // domain: "" is ai.onnx
	op = protowire.AppendTag(op, 2, protowire.VarintType)
	op = protowire.AppendVarint(op, uint64(opset))
	b = protowire.AppendTag(b, 8, protowire.BytesType) // opset_import
	b = protowire.AppendBytes(b, op)
	for _, m := range g.meta {
		var e []byte
		e = appendString(e, 1, m.key)
		e = appendString(e, 2, m.value)
		b = protowire.AppendTag(b, 14, protowire.BytesType) // metadata_props
		b = protowire.AppendBytes(b, e)
	}
	return b, nil
}

// WriteFile serializes the model (see Model) and writes it to path.
func (g *Graph) WriteFile(path string, opset int64) error {
	b, err := g.Model(opset)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("onnxgen: write model: %w", err)
	}
	return nil
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendMessage(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

func (g *Graph) encodeGraph() []byte {
	var b []byte
	for _, n := range g.nodes {
		b = appendMessage(b, 1, encodeNode(n))
	}
	b = appendString(b, 2, g.name)
	for _, t := range g.initializers {
		b = appendMessage(b, 5, encodeTensor(t))
	}
	if g.doc != "" {
		b = appendString(b, 10, g.doc)
	}
	for _, v := range g.inputs {
		b = appendMessage(b, 11, encodeValueInfo(v))
	}
	for _, v := range g.outputs {
		b = appendMessage(b, 12, encodeValueInfo(v))
	}
	return b
}

func encodeNode(n node) []byte {
	var b []byte
	for _, in := range n.inputs {
		b = appendString(b, 1, in)
	}
	for _, out := range n.outputs {
		b = appendString(b, 2, out)
	}
	b = appendString(b, 3, n.name)
	b = appendString(b, 4, n.opType)
	for _, a := range n.attrs {
		b = appendMessage(b, 5, encodeAttr(a))
	}
	if n.domain != "" {
		b = appendString(b, 7, n.domain)
	}
	return b
}

func encodeAttr(a Attr) []byte {
	var b []byte
	b = appendString(b, 1, a.name)
	switch a.typ {
	case attrFloat:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.f))
	case attrInt:
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(a.i))
	case attrString:
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendString(b, a.s)
	case attrFloats:
		var p []byte
		for _, f := range a.floats {
			p = protowire.AppendFixed32(p, math.Float32bits(f))
		}
		b = appendMessage(b, 7, p) // packed
	case attrInts:
		var p []byte
		for _, v := range a.ints {
			p = protowire.AppendVarint(p, uint64(v))
		}
		b = appendMessage(b, 8, p) // packed
	}
	b = protowire.AppendTag(b, 20, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(a.typ))
	return b
}

func encodeTensor(t tensor) []byte {
	var b []byte
	if len(t.dims) > 0 {
		var p []byte
		for _, d := range t.dims {
			p = protowire.AppendVarint(p, uint64(d))
		}
		b = appendMessage(b, 1, p)
	}
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(t.dataType))
	b = appendString(b, 8, t.name)
	b = appendMessage(b, 9, t.raw)
	return b
}

func encodeValueInfo(v valueInfo) []byte {
	var shape []byte
	dynamic := 0
	for axis, d := range v.dims {
		var dim []byte
		if d < 0 {
			// dim_param: the first dynamic dimension is the batch "N"; later ones get their own
			// names, since equal names would declare equal sizes.
			name := "N"
			if dynamic > 0 {
				name = fmt.Sprintf("dyn%d", axis)
			}
			dynamic++
			dim = appendString(dim, 2, name)
		} else {
			dim = protowire.AppendTag(dim, 1, protowire.VarintType) // dim_value
			dim = protowire.AppendVarint(dim, uint64(d))
		}
		shape = appendMessage(shape, 1, dim)
	}
	var tt []byte
	tt = protowire.AppendTag(tt, 1, protowire.VarintType) // elem_type
	tt = protowire.AppendVarint(tt, uint64(v.elemType))
	tt = appendMessage(tt, 2, shape)
	var typ []byte
	typ = appendMessage(typ, 1, tt) // tensor_type
	var b []byte
	b = appendString(b, 1, v.name)
	b = appendMessage(b, 2, typ)
	return b
}
