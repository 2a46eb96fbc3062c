package onnxgen_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/gstvision/gstvision/internal/onnxgen"
	"github.com/gstvision/gstvision/internal/onnxgen/ortest"
)

const opset = 17

func near(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-5 }

func checkData(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d: %v", what, len(got), len(want), got)
	}
	for i := range got {
		if !near(got[i], want[i]) {
			t.Fatalf("%s[%d] = %v, want %v (all: %v)", what, i, got[i], want[i], got)
		}
	}
}

func model(t *testing.T, g *onnxgen.Graph) []byte {
	t.Helper()
	b, err := g.Model(opset)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fields decodes one protobuf message into field number -> raw values (varints as uint64,
// length-delimited fields as []byte).
func fields(t *testing.T, b []byte) map[protowire.Number][]any {
	t.Helper()
	m := map[protowire.Number][]any{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				t.Fatal(protowire.ParseError(n))
			}
			m[num] = append(m[num], v)
			b = b[n:]
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				t.Fatal(protowire.ParseError(n))
			}
			m[num] = append(m[num], v)
			b = b[n:]
		case protowire.Fixed32Type:
			v, n := protowire.ConsumeFixed32(b)
			if n < 0 {
				t.Fatal(protowire.ParseError(n))
			}
			m[num] = append(m[num], v)
			b = b[n:]
		default:
			t.Fatalf("unexpected wire type %v", typ)
		}
	}
	return m
}

func addGraph() *onnxgen.Graph {
	g := onnxgen.NewGraph("add")
	g.Input("x", onnxgen.Float, -1, 3)
	g.Initializer("b", []int64{3}, []float32{1, 2, 3})
	g.Node("Add", []string{"x", "b"}, []string{"y"})
	g.Output("y", onnxgen.Float, -1, 3)
	g.Metadata("names", "{0: 'a'}")
	return g
}

func TestModelProtoFields(t *testing.T) {
	b := model(t, addGraph())
	top := fields(t, b)
	if got := top[1]; len(got) != 1 || got[0].(uint64) != onnxgen.IRVersion {
		t.Errorf("ir_version = %v, want %d", got, onnxgen.IRVersion)
	}
	if got := top[2]; len(got) != 1 || string(got[0].([]byte)) != "gstvision" {
		t.Errorf("producer_name = %q", got)
	}
	ops := top[8]
	if len(ops) != 1 {
		t.Fatalf("opset_import: %d entries", len(ops))
	}
	if v := fields(t, ops[0].([]byte))[2]; len(v) != 1 || v[0].(uint64) != opset {
		t.Errorf("opset version = %v", v)
	}
	meta := top[14]
	if len(meta) != 1 {
		t.Fatalf("metadata_props: %d entries", len(meta))
	}
	kv := fields(t, meta[0].([]byte))
	if string(kv[1][0].([]byte)) != "names" || string(kv[2][0].([]byte)) != "{0: 'a'}" {
		t.Errorf("metadata entry = %q", kv)
	}
	graph := fields(t, top[7][0].([]byte))
	if len(graph[1]) != 1 || len(graph[5]) != 1 || len(graph[11]) != 1 || len(graph[12]) != 1 {
		t.Errorf("graph: %d nodes, %d initializers, %d inputs, %d outputs; want 1 each",
			len(graph[1]), len(graph[5]), len(graph[11]), len(graph[12]))
	}
	node := fields(t, graph[1][0].([]byte))
	if string(node[4][0].([]byte)) != "Add" || string(node[3][0].([]byte)) != "Add_0" {
		t.Errorf("node op/name = %q/%q", node[4], node[3])
	}
}

// dimParams returns the dim_param names of a graph's first output, "" for fixed dimensions.
func dimParams(t *testing.T, b []byte) []string {
	t.Helper()
	graph := fields(t, fields(t, b)[7][0].([]byte))
	vi := fields(t, graph[12][0].([]byte))
	tt := fields(t, fields(t, vi[2][0].([]byte))[1][0].([]byte))
	var names []string
	for _, d := range fields(t, tt[2][0].([]byte))[1] {
		df := fields(t, d.([]byte))
		if p := df[2]; len(p) > 0 {
			names = append(names, string(p[0].([]byte)))
		} else {
			names = append(names, "")
		}
	}
	return names
}

func TestDynamicDimNames(t *testing.T) {
	g := onnxgen.NewGraph("reshape")
	g.Input("x", onnxgen.Float, -1, 3, 4)
	g.InitializerInt64("shape", []int64{3}, []int64{0, 2, -1})
	g.Node("Reshape", []string{"x", "shape"}, []string{"y"})
	g.Output("y", onnxgen.Float, -1, 2, -1)
	m := model(t, g)
	if got := dimParams(t, m); !slices.Equal(got, []string{"N", "", "dyn2"}) {
		t.Fatalf("dim_params %q", got)
	}
	out := ortest.Run(t, m, []string{"y"}, ortest.Tensor{Name: "x", Shape: []int64{2, 3, 4}, Data: make([]float32, 24)})
	if !slices.Equal(out[0].Shape, []int64{2, 2, 6}) {
		t.Fatalf("shape %v", out[0].Shape)
	}
}

func TestDeterministic(t *testing.T) {
	a, b := model(t, addGraph()), model(t, addGraph())
	if !bytes.Equal(a, b) {
		t.Fatal("two builds of the same graph differ")
	}
}

func TestErrors(t *testing.T) {
	cases := map[string]func(g *onnxgen.Graph){
		"not defined yet": func(g *onnxgen.Graph) {
			g.Node("Relu", []string{"nope"}, []string{"y"})
			g.Output("y", onnxgen.Float, 1)
		},
		"already defined": func(g *onnxgen.Graph) {
			g.Input("x", onnxgen.Float, 1)
			g.Initializer("x", []int64{1}, []float32{1})
			g.Output("x", onnxgen.Float, 1)
		},
		"hold 6 elements": func(g *onnxgen.Graph) {
			g.Initializer("w", []int64{2, 3}, []float32{1, 2})
			g.Output("w", onnxgen.Float, 2, 3)
		},
		"not produced": func(g *onnxgen.Graph) {
			g.Input("x", onnxgen.Float, 1)
			g.Output("y", onnxgen.Float, 1)
		},
		"no outputs": func(g *onnxgen.Graph) {
			g.Input("x", onnxgen.Float, 1)
		},
	}
	for want, build := range cases {
		g := onnxgen.NewGraph("bad")
		build(g)
		if _, err := g.Model(opset); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v", want, err)
		}
	}
	g := addGraph()
	if _, err := g.Model(0); err == nil {
		t.Error("opset 0 accepted")
	}
	if err := g.WriteFile(filepath.Join(t.TempDir(), "missing", "x.onnx"), opset); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
}

func TestWriteFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "add.onnx")
	if err := addGraph().WriteFile(p, opset); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, model(t, addGraph())) {
		t.Fatal("file differs from Model's bytes")
	}
}

func TestRunAddDynamicBatch(t *testing.T) {
	m := model(t, addGraph())
	for _, n := range []int64{1, 3} {
		x := make([]float32, n*3)
		want := make([]float32, n*3)
		for i := range x {
			x[i] = float32(i) * 0.5
			want[i] = x[i] + float32(i%3+1)
		}
		out := ortest.Run(t, m, []string{"y"}, ortest.Tensor{Name: "x", Shape: []int64{n, 3}, Data: x})
		if !slices.Equal(out[0].Shape, []int64{n, 3}) {
			t.Fatalf("shape %v", out[0].Shape)
		}
		checkData(t, "y", out[0].Data, want)
	}
}

func TestRunConv(t *testing.T) {
	// 1x1 input channel 3x3 image, 2 output channels 2x2 kernels with bias, pads 0 stride 1.
	g := onnxgen.NewGraph("conv")
	g.Input("x", onnxgen.Float, -1, 1, 3, 3)
	g.Initializer("w", []int64{2, 1, 2, 2}, []float32{1, 0, 0, 1, 0.5, 0.5, 0.5, 0.5})
	g.Initializer("b", []int64{2}, []float32{0, -1})
	g.Node("Conv", []string{"x", "w", "b"}, []string{"y"},
		onnxgen.AttrInts("kernel_shape", 2, 2), onnxgen.AttrInts("strides", 1, 1),
		onnxgen.AttrInts("pads", 0, 0, 0, 0), onnxgen.AttrInt("group", 1))
	g.Output("y", onnxgen.Float, -1, 2, 2, 2)
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
	out := ortest.Run(t, model(t, g), []string{"y"}, ortest.Tensor{Name: "x", Shape: []int64{1, 1, 3, 3}, Data: x})
	want := []float32{
		1 + 5, 2 + 6, 4 + 8, 5 + 9, // diagonal
		0.5*(1+2+4+5) - 1, 0.5*(2+3+5+6) - 1, 0.5*(4+5+7+8) - 1, 0.5*(5+6+8+9) - 1,
	}
	checkData(t, "y", out[0].Data, want)
}

func TestRunMaxPoolReshapeConcat(t *testing.T) {
	g := onnxgen.NewGraph("pool")
	g.Input("x", onnxgen.Float, -1, 1, 4, 4)
	g.Node("MaxPool", []string{"x"}, []string{"p"},
		onnxgen.AttrInts("kernel_shape", 2, 2), onnxgen.AttrInts("strides", 2, 2))
	g.Node("AveragePool", []string{"x"}, []string{"a"},
		onnxgen.AttrInts("kernel_shape", 2, 2), onnxgen.AttrInts("strides", 2, 2))
	g.Node("Concat", []string{"p", "a"}, []string{"c"}, onnxgen.AttrInt("axis", 1))
	g.InitializerInt64("shape", []int64{3}, []int64{0, 2, -1})
	g.Node("Reshape", []string{"c", "shape"}, []string{"y"})
	g.Output("y", onnxgen.Float, -1, 2, 4)
	x := make([]float32, 32)
	for i := range x {
		x[i] = float32(i % 16)
	}
	out := ortest.Run(t, model(t, g), []string{"y"}, ortest.Tensor{Name: "x", Shape: []int64{2, 1, 4, 4}, Data: x})
	if !slices.Equal(out[0].Shape, []int64{2, 2, 4}) {
		t.Fatalf("shape %v", out[0].Shape)
	}
	one := []float32{5, 7, 13, 15, 2.5, 4.5, 10.5, 12.5}
	checkData(t, "y", out[0].Data, append(slices.Clone(one), one...))
}

func TestRunAttrTypes(t *testing.T) {
	// FLOAT (LeakyRelu alpha), FLOATS (Constant value_floats), STRING (Pad mode) and INT64
	// initializers (Pad pads).
	g := onnxgen.NewGraph("attrs")
	g.Input("x", onnxgen.Float, 4)
	g.Node("LeakyRelu", []string{"x"}, []string{"l"}, onnxgen.AttrFloat("alpha", 0.25))
	g.Node("Constant", nil, []string{"k"}, onnxgen.AttrFloats("value_floats", 10, 20, 30, 40))
	g.Node("Add", []string{"l", "k"}, []string{"s"})
	g.InitializerInt64("pads", []int64{2}, []int64{1, 2})
	g.Node("Pad", []string{"s", "pads"}, []string{"y"}, onnxgen.AttrString("mode", "edge"))
	g.Output("y", onnxgen.Float, 7)
	out := ortest.Run(t, model(t, g), []string{"y"}, ortest.Tensor{Name: "x", Shape: []int64{4}, Data: []float32{-4, 1, -8, 2}})
	checkData(t, "y", out[0].Data, []float32{9, 9, 21, 28, 42, 42, 42})
}
