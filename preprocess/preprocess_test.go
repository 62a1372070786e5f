package preprocess_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.uber.org/goleak"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/preprocess"
)

// TestMain fails the package if a test leaves a goroutine behind: every
// test and example runs on a runtime it closes.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type testEnv struct {
	rt  *exec.Local
	mem *memory.CheckedAllocator
	ctx context.Context
}

// setup returns a runtime, closed when the test ends, whose Arrow memory
// must all be freed by then.
func setup(t *testing.T) *testEnv {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	rt := exec.NewLocal(exec.WithAllocator(mem), exec.WithWorkers(2), exec.WithSpillDir(t.TempDir()))
	t.Cleanup(func() {
		rt.Close()
		mem.AssertSize(t, 0)
	})
	return &testEnv{rt: rt, mem: mem, ctx: context.Background()}
}

// ds is a dataset of items in n blocks.
func (e *testEnv) ds(items []dataset.Item, n int) *dataset.Dataset {
	return dataset.FromItems(items, dataset.WithRuntime(e.rt), dataset.WithParallelism(n))
}

// batch is items as one record batch (Go memory, released at cleanup).
func batch(t *testing.T, items []dataset.Item) arrow.RecordBatch {
	t.Helper()
	b, err := blocks.FromItems(memory.NewGoAllocator(), items)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Release)
	return b
}

// collect runs d and returns its rows as one batch (released at cleanup).
func collect(t *testing.T, e *testEnv, d *dataset.Dataset) arrow.RecordBatch {
	t.Helper()
	recs, err := d.ToRecords(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	out, err := blocks.Concat(memory.NewGoAllocator(), recs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(out.Release)
	return out
}

func transformBatch(t *testing.T, p preprocess.Preprocessor, b arrow.RecordBatch) arrow.RecordBatch {
	t.Helper()
	out, err := p.TransformBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(out.Release)
	return out
}

// floats reads a float64 column, NaN for null.
func floats(t *testing.T, b arrow.RecordBatch, col string) []float64 {
	t.Helper()
	arr, err := blocks.Column(b, col)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := arr.(*array.Float64)
	if !ok {
		t.Fatalf("column %q is %s, want float64", col, arr.DataType())
	}
	out := make([]float64, f.Len())
	for i := range out {
		out[i] = math.NaN()
		if f.IsValid(i) {
			out[i] = f.Value(i)
		}
	}
	return out
}

func near(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-12*max(1, math.Abs(b))
}

func wantFloats(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !near(got[i], want[i]) {
			t.Errorf("%s[%d] = %v, want %v (all: %v)", what, i, got[i], want[i], got)
			return
		}
	}
}

// twoPass is the reference mean and sample (ddof=1) standard deviation.
func twoPass(xs []float64) (mean, std float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	var m2 float64
	for _, x := range xs {
		m2 += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(m2 / float64(len(xs)-1))
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

// checkConsistent checks that Transform over d (in any number of blocks)
// gives the same rows as TransformBatch over all of d at once, and that a
// saved and loaded copy of p gives the same TransformBatch output.
func checkConsistent(t *testing.T, e *testEnv, p preprocess.Preprocessor, items []dataset.Item) {
	t.Helper()
	in := batch(t, items)
	want := transformBatch(t, p, in)
	for _, n := range []int{1, 3} {
		got := collect(t, e, p.Transform(e.ds(items, n)))
		if !got.Schema().Equal(want.Schema()) || !array.RecordEqual(got, want) {
			t.Errorf("%d blocks: Transform gives\n%v\nTransformBatch gives\n%v", n, got, want)
		}
	}
	data, err := preprocess.Save(p)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := preprocess.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	again := transformBatch(t, loaded, in)
	if !again.Schema().Equal(want.Schema()) || !array.RecordEqual(again, want) {
		t.Errorf("after Save/Load (%s):\n%v\nwant\n%v", data, again, want)
	}
	// Saving the loaded copy gives the same bytes.
	if data2, err := preprocess.Save(loaded); err != nil || string(data2) != string(data) {
		t.Errorf("Save(Load(%s)) = %s, %v", data, data2, err)
	}
}

// ---------------------------------------------------------------------------

var xs = []any{2.5, nil, -1.0, 4.0, 10.25, 0.5, nil, 3.0}
var ys = []any{int64(3), int64(7), nil, int64(1), int64(1), int64(-4), int64(9), int64(0)}

func numericItems() []dataset.Item {
	items := make([]dataset.Item, len(xs))
	for i := range xs {
		items[i] = dataset.Item{"id": int64(i), "x": xs[i], "y": ys[i], "s": "a"}
	}
	return items
}

// present is the non-null values of vs as float64.
func present(vs []any) []float64 {
	var out []float64
	for _, v := range vs {
		switch v := v.(type) {
		case float64:
			out = append(out, v)
		case int64:
			out = append(out, float64(v))
		}
	}
	return out
}

func mapNonNull(vs []any, f func(float64) float64) []float64 {
	out := make([]float64, len(vs))
	for i, v := range vs {
		out[i] = math.NaN()
		switch v := v.(type) {
		case float64:
			out[i] = f(v)
		case int64:
			out[i] = f(float64(v))
		}
	}
	return out
}

func TestStandardScaler(t *testing.T) {
	e := setup(t)
	for _, n := range []int{1, 3, 8} {
		s := &preprocess.StandardScaler{Columns: []string{"x", "y"}}
		if err := s.Fit(e.ctx, e.ds(numericItems(), n)); err != nil {
			t.Fatal(err)
		}
		out := collect(t, e, s.Transform(e.ds(numericItems(), n)))
		for col, vs := range map[string][]any{"x": xs, "y": ys} {
			mean, std := twoPass(present(vs))
			st := s.Stats[col]
			if !near(float64(st.Mean), mean) || !near(float64(st.Std), std) {
				t.Errorf("%d blocks: %s: mean, std = %v, %v; want %v, %v", n, col, st.Mean, st.Std, mean, std)
			}
			wantFloats(t, col, floats(t, out, col), mapNonNull(vs, func(v float64) float64 { return (v - mean) / std }))
		}
		// Other columns pass through, in place.
		if got := out.Schema().Field(0).Name + out.Schema().Field(1).Name; got != "ids" {
			t.Errorf("schema %v", out.Schema())
		}
	}
	s := &preprocess.StandardScaler{Columns: []string{"x", "y"}}
	if err := s.Fit(e.ctx, e.ds(numericItems(), 2)); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, e, s, numericItems())
}

func TestStandardScalerDegenerate(t *testing.T) {
	e := setup(t)
	items := []dataset.Item{{"c": 5.0, "one": 1.0, "none": nil}, {"c": 5.0, "one": nil, "none": nil}, {"c": nil, "one": nil, "none": nil}}
	// "none" is inferred as a null column; make it float64 with a value
	// that a filter removes before Fit.
	items = append(items, dataset.Item{"c": 1e9, "one": 1e9, "none": 1e9})
	d := e.ds(items, 2).Filter(func(r dataset.Row) (bool, error) { return r.IsNull("none") || r.Float64("none") < 1e9, nil })
	s := &preprocess.StandardScaler{Columns: []string{"c", "one", "none"}}
	if err := s.Fit(e.ctx, d); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats["c"]; st.Mean != 5 || st.Std != 0 {
		t.Errorf("c: %+v, want mean 5 std 0", st)
	}
	if st := s.Stats["one"]; st.Mean != 1 || !math.IsNaN(float64(st.Std)) {
		t.Errorf("one: %+v, want mean 1 std NaN", st)
	}
	if st := s.Stats["none"]; !math.IsNaN(float64(st.Mean)) || !math.IsNaN(float64(st.Std)) {
		t.Errorf("none: %+v, want NaN", st)
	}
	// std 0 or undefined: every non-null value maps to 0, nulls stay null.
	out := transformBatch(t, s, batch(t, []dataset.Item{{"c": 5.0, "one": 3.0, "none": 2.0}, {"c": nil, "one": -7.0, "none": nil}}))
	wantFloats(t, "c", floats(t, out, "c"), []float64{0, math.NaN()})
	wantFloats(t, "one", floats(t, out, "one"), []float64{0, 0})
	wantFloats(t, "none", floats(t, out, "none"), []float64{0, math.NaN()})
	// NaN state survives JSON as null.
	data, err := preprocess.Save(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"none":{"mean":null,"std":null}`) {
		t.Errorf("saved %s", data)
	}
	checkConsistent(t, e, s, []dataset.Item{{"c": 5.0, "one": 3.0, "none": 2.0}, {"c": nil, "one": -7.0, "none": nil}})
}

func TestScalersEmptyDataset(t *testing.T) {
	e := setup(t)
	empty := dataset.Range(10, dataset.WithRuntime(e.rt)).Filter(func(dataset.Row) (bool, error) { return false, nil })
	s := &preprocess.StandardScaler{Columns: []string{"id"}}
	if err := s.Fit(e.ctx, empty); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats["id"]; !math.IsNaN(float64(st.Mean)) || !math.IsNaN(float64(st.Std)) {
		t.Errorf("empty: %+v", st)
	}
	m := &preprocess.MinMaxScaler{Columns: []string{"id"}}
	if err := m.Fit(e.ctx, empty); err != nil {
		t.Fatal(err)
	}
	if st := m.Stats["id"]; !math.IsNaN(float64(st.Min)) || !math.IsNaN(float64(st.Max)) {
		t.Errorf("empty: %+v", st)
	}
	for _, p := range []preprocess.Preprocessor{s, m} {
		// Transforming the empty dataset gives no rows; other data maps to 0.
		if n, err := p.Transform(empty).Count(e.ctx); err != nil || n != 0 {
			t.Errorf("%T: Count = %d, %v", p, n, err)
		}
		out := collect(t, e, p.Transform(dataset.Range(3, dataset.WithRuntime(e.rt))))
		wantFloats(t, "id", floats(t, out, "id"), []float64{0, 0, 0})
	}
}

func TestMinMaxScaler(t *testing.T) {
	e := setup(t)
	for _, n := range []int{1, 4} {
		m := &preprocess.MinMaxScaler{Columns: []string{"y", "x"}}
		if err := m.Fit(e.ctx, e.ds(numericItems(), n)); err != nil {
			t.Fatal(err)
		}
		out := collect(t, e, m.Transform(e.ds(numericItems(), n)))
		for col, vs := range map[string][]any{"x": xs, "y": ys} {
			p := present(vs)
			lo, hi := p[0], p[0]
			for _, v := range p {
				lo, hi = min(lo, v), max(hi, v)
			}
			if st := m.Stats[col]; float64(st.Min) != lo || float64(st.Max) != hi {
				t.Errorf("%s: %+v, want %v..%v", col, st, lo, hi)
			}
			wantFloats(t, col, floats(t, out, col), mapNonNull(vs, func(v float64) float64 { return (v - lo) / (hi - lo) }))
		}
	}
	m := &preprocess.MinMaxScaler{Columns: []string{"x", "y"}}
	if err := m.Fit(e.ctx, e.ds(numericItems(), 2)); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, e, m, numericItems())
	// A constant column maps to 0; values beyond the fitted range beyond [0, 1].
	c := &preprocess.MinMaxScaler{Columns: []string{"v"}}
	if err := c.Fit(e.ctx, e.ds([]dataset.Item{{"v": int64(4)}, {"v": int64(4)}}, 2)); err != nil {
		t.Fatal(err)
	}
	out := transformBatch(t, c, batch(t, []dataset.Item{{"v": int64(4)}, {"v": int64(9)}}))
	wantFloats(t, "constant", floats(t, out, "v"), []float64{0, 0})
	out = transformBatch(t, m, batch(t, []dataset.Item{{"x": 20.5, "y": int64(-13)}}))
	wantFloats(t, "x beyond", floats(t, out, "x"), []float64{(20.5 + 1) / 11.25})
	wantFloats(t, "y beyond", floats(t, out, "y"), []float64{-9.0 / 13})
}

func TestScalerErrors(t *testing.T) {
	e := setup(t)
	d := e.ds(numericItems(), 2)
	for _, tc := range []struct {
		cols  []string
		parts []string
	}{
		{[]string{"x", "nope"}, []string{`"nope"`, "unknown column"}},
		{[]string{"s"}, []string{`"s"`, "not numeric"}},
		{nil, []string{"no columns"}},
		{[]string{"x", "x"}, []string{`"x"`, "twice"}},
	} {
		wantErr(t, (&preprocess.StandardScaler{Columns: tc.cols}).Fit(e.ctx, d), append(tc.parts, "StandardScaler")...)
		wantErr(t, (&preprocess.MinMaxScaler{Columns: tc.cols}).Fit(e.ctx, d), append(tc.parts, "MinMaxScaler")...)
	}
	// Transform before Fit: an error when consumed, or at once from
	// TransformBatch.
	for _, p := range []preprocess.Preprocessor{
		&preprocess.StandardScaler{Columns: []string{"x"}},
		&preprocess.MinMaxScaler{Columns: []string{"x"}},
		&preprocess.LabelEncoder{Column: "s"},
		&preprocess.OneHotEncoder{Columns: []string{"s"}},
	} {
		tr := p.Transform(d)
		if _, err := tr.TakeAll(e.ctx); !errors.Is(err, preprocess.ErrNotFitted) {
			t.Errorf("%T: Transform before Fit: %v", p, err)
		}
		if _, err := p.TransformBatch(batch(t, numericItems())); !errors.Is(err, preprocess.ErrNotFitted) {
			t.Errorf("%T: TransformBatch before Fit: %v", p, err)
		}
	}
	// A fitted scaler given a batch without the column, or with a
	// non-numeric one.
	s := &preprocess.StandardScaler{Columns: []string{"x"}}
	if err := s.Fit(e.ctx, d); err != nil {
		t.Fatal(err)
	}
	_, err := s.TransformBatch(batch(t, []dataset.Item{{"y": 1.0}}))
	wantErr(t, err, `"x"`)
	_, err = s.TransformBatch(batch(t, []dataset.Item{{"x": "text"}}))
	wantErr(t, err, `"x"`, "not numeric")
}

// ---------------------------------------------------------------------------

func colorItems(colors ...any) []dataset.Item {
	items := make([]dataset.Item, len(colors))
	for i, c := range colors {
		items[i] = dataset.Item{"id": int64(i), "color": c}
	}
	return items
}

func int64s(t *testing.T, b arrow.RecordBatch, col string) []any {
	t.Helper()
	arr, err := blocks.Column(b, col)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := arr.(*array.Int64)
	if !ok {
		t.Fatalf("column %q is %s, want int64", col, arr.DataType())
	}
	out := make([]any, a.Len())
	for i := range out {
		if a.IsValid(i) {
			out[i] = a.Value(i)
		}
	}
	return out
}

func wantAny(t *testing.T, what string, got, want []any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s = %v, want %v", what, got, want)
		}
	}
}

func TestLabelEncoderStrings(t *testing.T) {
	e := setup(t)
	items := colorItems("red", "blue", nil, "green", "red", "blue")
	for _, n := range []int{1, 3} {
		l := &preprocess.LabelEncoder{Column: "color"}
		if err := l.Fit(e.ctx, e.ds(items, n)); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(l.Classes.Strings, ","); got != "blue,green,red" || l.Classes.Kind != preprocess.KindString {
			t.Errorf("classes %+v", l.Classes)
		}
		out := collect(t, e, l.Transform(e.ds(items, n)))
		wantAny(t, "codes", int64s(t, out, "color"), []any{int64(2), int64(0), nil, int64(1), int64(2), int64(0)})
		checkConsistent(t, e, l, items)
	}
	// Unseen: an error naming value and column, or -1.
	l := &preprocess.LabelEncoder{Column: "color"}
	if err := l.Fit(e.ctx, e.ds(items, 2)); err != nil {
		t.Fatal(err)
	}
	unseen := colorItems("red", "mauve")
	_, err := l.TransformBatch(batch(t, unseen))
	wantErr(t, err, `"mauve"`, `"color"`, "not seen")
	_, err = l.Transform(e.ds(unseen, 2)).TakeAll(e.ctx)
	wantErr(t, err, `"mauve"`, `"color"`)
	l.UnknownAsMinusOne = true
	out := transformBatch(t, l, batch(t, unseen))
	wantAny(t, "codes", int64s(t, out, "color"), []any{int64(2), int64(-1)})
	checkConsistent(t, e, l, unseen)
}

func TestLabelEncoderInts(t *testing.T) {
	e := setup(t)
	items := colorItems(int64(30), int64(-2), int64(30), nil, int64(100), int64(7))
	l := &preprocess.LabelEncoder{Column: "color"}
	if err := l.Fit(e.ctx, e.ds(items, 3)); err != nil {
		t.Fatal(err)
	}
	if l.Classes.Kind != preprocess.KindInt || len(l.Classes.Ints) != 4 || l.Classes.Ints[0] != -2 || l.Classes.Ints[3] != 100 {
		t.Errorf("classes %+v", l.Classes)
	}
	out := transformBatch(t, l, batch(t, items))
	wantAny(t, "codes", int64s(t, out, "color"), []any{int64(2), int64(0), int64(2), nil, int64(3), int64(1)})
	checkConsistent(t, e, l, items)
	_, err := l.TransformBatch(batch(t, colorItems(int64(5))))
	wantErr(t, err, "value 5", `"color"`)
	// Fitted on ints, given strings.
	_, err = l.TransformBatch(batch(t, colorItems("red")))
	wantErr(t, err, `"color"`, "fitted on int")
}

func TestEncoderErrors(t *testing.T) {
	e := setup(t)
	d := e.ds(numericItems(), 2)
	wantErr(t, (&preprocess.LabelEncoder{Column: "nope"}).Fit(e.ctx, d), "LabelEncoder", `"nope"`)
	wantErr(t, (&preprocess.LabelEncoder{Column: "x"}).Fit(e.ctx, d), "LabelEncoder", `"x"`, "not a string or integer")
	wantErr(t, (&preprocess.OneHotEncoder{Columns: []string{"s", "nope"}}).Fit(e.ctx, d), "OneHotEncoder", `"nope"`)
	wantErr(t, (&preprocess.OneHotEncoder{}).Fit(e.ctx, d), "OneHotEncoder", "no columns")
	if _, err := preprocess.Load([]byte(`{"type":"Bogus","state":{}}`)); err == nil || !strings.Contains(err.Error(), "Bogus") {
		t.Errorf("Load of unknown type: %v", err)
	}
}

func TestOneHotEncoder(t *testing.T) {
	e := setup(t)
	items := make([]dataset.Item, 5)
	colors := []any{"red", "blue", nil, "red", "green"}
	sizes := []any{int64(3), int64(1), int64(3), nil, int64(1)}
	for i := range items {
		items[i] = dataset.Item{"id": int64(i), "color": colors[i], "size": sizes[i], "w": 1.5}
	}
	o := &preprocess.OneHotEncoder{Columns: []string{"color", "size"}}
	if err := o.Fit(e.ctx, e.ds(items, 3)); err != nil {
		t.Fatal(err)
	}
	out := collect(t, e, o.Transform(e.ds(items, 3)))
	var names []string
	for _, f := range out.Schema().Fields() {
		names = append(names, f.Name)
	}
	// Schema order of FromItems is sorted by name: color, id, size, w.
	if got := strings.Join(names, ","); got != "color_blue,color_green,color_red,id,size_1,size_3,w" {
		t.Errorf("columns %s", got)
	}
	want := map[string][]int8{
		"color_blue":  {0, 1, 0, 0, 0},
		"color_green": {0, 0, 0, 0, 1},
		"color_red":   {1, 0, 0, 1, 0},
		"size_1":      {0, 1, 0, 0, 1},
		"size_3":      {1, 0, 1, 0, 0},
	}
	for col, w := range want {
		arr, err := blocks.Column(out, col)
		if err != nil {
			t.Fatal(err)
		}
		got, err := blocks.Values[int8](arr)
		if err != nil {
			t.Fatal(err)
		}
		for i := range w {
			if got[i] != w[i] {
				t.Errorf("%s = %v, want %v", col, got, w)
				break
			}
		}
	}
	checkConsistent(t, e, o, items)
	// An output name that clashes with a column.
	_, err := o.TransformBatch(batch(t, []dataset.Item{{"color": "red", "size": int64(1), "color_red": 1.0}}))
	wantErr(t, err, `"color_red"`, "already exists")
	// Unseen values: all zeros.
	unseen := transformBatch(t, o, batch(t, []dataset.Item{{"id": int64(0), "color": "mauve", "size": int64(99), "w": 0.0}}))
	for col := range want {
		arr, _ := blocks.Column(unseen, col)
		if v, _ := blocks.Values[int8](arr); v[0] != 0 {
			t.Errorf("unseen: %s = %v", col, v)
		}
	}
}

func TestConcatenator(t *testing.T) {
	e := setup(t)
	items := []dataset.Item{
		{"a": 1.5, "b": int64(2), "label": "x"},
		{"a": nil, "b": int64(-3), "label": "y"},
		{"a": 4.0, "b": nil, "label": "z"},
	}
	c := &preprocess.Concatenator{Columns: []string{"b", "a"}}
	if err := c.Fit(e.ctx, e.ds(items, 2)); err != nil {
		t.Fatal(err)
	}
	out := collect(t, e, c.Transform(e.ds(items, 2)))
	if s := out.Schema(); s.NumFields() != 2 || s.Field(0).Name != "label" || s.Field(1).Name != preprocess.DefaultConcatOutput {
		t.Errorf("schema %v", out.Schema())
	}
	list := out.Column(1).(*array.FixedSizeList)
	if w := list.DataType().(*arrow.FixedSizeListType).Len(); w != 2 {
		t.Errorf("width %d", w)
	}
	vals := list.ListValues().(*array.Float64)
	want := []float64{2, 1.5, -3, math.NaN(), math.NaN(), 4}
	for i, w := range want {
		got := math.NaN()
		if vals.IsValid(i) {
			got = vals.Value(i)
		}
		if !near(got, w) {
			t.Errorf("value %d = %v, want %v", i, got, w)
		}
	}
	checkConsistent(t, e, c, items)
	named := &preprocess.Concatenator{Columns: []string{"a", "b"}, Output: "features"}
	if got := transformBatch(t, named, batch(t, items)); got.Schema().Field(1).Name != "features" {
		t.Errorf("schema %v", got.Schema())
	}
	_, err := (&preprocess.Concatenator{Columns: []string{"a", "label"}}).TransformBatch(batch(t, items))
	wantErr(t, err, `"label"`, "not numeric")
	_, err = (&preprocess.Concatenator{Columns: []string{"a", "nope"}}).TransformBatch(batch(t, items))
	wantErr(t, err, `"nope"`)
	_, err = (&preprocess.Concatenator{Columns: []string{"a"}, Output: "label"}).TransformBatch(batch(t, items))
	wantErr(t, err, `"label"`, "already exists")
}

func TestChain(t *testing.T) {
	e := setup(t)
	items := numericItems()
	scaler := &preprocess.StandardScaler{Columns: []string{"x", "y"}}
	// The MinMaxScaler is fitted on the StandardScaler's output: its range
	// is that of the standardized values.
	mm := &preprocess.MinMaxScaler{Columns: []string{"x"}}
	ch := preprocess.Chain(scaler, mm, &preprocess.Concatenator{Columns: []string{"x", "y"}, Output: "f"})
	if err := ch.Fit(e.ctx, e.ds(items, 3)); err != nil {
		t.Fatal(err)
	}
	mean, std := twoPass(present(xs))
	lo, hi := (-1-mean)/std, (10.25-mean)/std
	if !near(float64(mm.Stats["x"].Min), lo) || !near(float64(mm.Stats["x"].Max), hi) {
		t.Errorf("chained MinMax stats %+v, want %v..%v", mm.Stats["x"], lo, hi)
	}
	out := collect(t, e, ch.Transform(e.ds(items, 3)))
	if out.Schema().NumFields() != 3 || out.Schema().Field(2).Name != "f" {
		t.Errorf("schema %v", out.Schema())
	}
	vals := out.Column(2).(*array.FixedSizeList).ListValues().(*array.Float64)
	if !near(vals.Value(0), ((2.5-mean)/std-lo)/(hi-lo)) {
		t.Errorf("f[0][0] = %v", vals.Value(0))
	}
	checkConsistent(t, e, ch, items)
	// Fitted, the chain can run on a cluster: its state travels as JSON.
	// Unfitted, it cannot, and the error names the stage.
	if err := dataset.CheckShippable(ch.Transform(e.ds(items, 3))); err != nil {
		t.Errorf("a fitted chain cannot ship: %v", err)
	}
	unfitted := &preprocess.StandardScaler{Columns: []string{"x"}}
	if err := dataset.CheckShippable(unfitted.Transform(e.ds(items, 3))); err == nil || !strings.Contains(err.Error(), "StandardScaler") {
		t.Errorf("an unfitted scaler: %v, want an error naming the StandardScaler stage", err)
	}
	// The chain's JSON nests its stages' tagged JSON.
	data, err := preprocess.Save(ch)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Type  string
		State struct{ Stages []struct{ Type string } }
	}
	if err := json.Unmarshal(data, &env); err != nil || env.Type != "Chain" || len(env.State.Stages) != 3 || env.State.Stages[1].Type != "MinMaxScaler" {
		t.Errorf("saved chain %s: %v", data, err)
	}
	// A failing stage is named.
	bad := preprocess.Chain(scaler, &preprocess.LabelEncoder{Column: "x"})
	wantErr(t, bad.Fit(e.ctx, e.ds(items, 2)), "stage 1", "not a string or integer")
	// An empty chain passes batches through.
	in := batch(t, items)
	if got := transformBatch(t, preprocess.Chain(), in); !array.RecordEqual(got, in) {
		t.Errorf("empty chain changed the batch")
	}
}

func TestTransformStagesAreNamed(t *testing.T) {
	s := &preprocess.StandardScaler{Columns: []string{"id"}}
	c := &preprocess.Concatenator{Columns: []string{"id"}, Output: "v"}
	e := setup(t)
	plan := c.Transform(s.Transform(dataset.Range(10, dataset.WithRuntime(e.rt)))).Explain()
	for _, want := range []string{"MapBatches(StandardScaler)", "MapBatches(Concatenator)"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan does not name %s:\n%s", want, plan)
		}
	}
}
