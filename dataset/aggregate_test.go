package dataset_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/shoal-data/shoal/dataset"
)

// aggs computes every aggregate of col.
type aggs struct {
	sum, min, max dataset.Number
	mean, std     float64
}

func aggregate(t *testing.T, e *testEnv, ds *dataset.Dataset, col string) aggs {
	t.Helper()
	return aggs{
		sum:  must(ds.Sum(e.ctx, col))(t),
		min:  must(ds.Min(e.ctx, col))(t),
		max:  must(ds.Max(e.ctx, col))(t),
		mean: must(ds.Mean(e.ctx, col))(t),
		std:  must(ds.Std(e.ctx, col))(t),
	}
}

func near(a, b, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= tol*max(1, math.Abs(b))
}

func wantInt(t *testing.T, what string, n dataset.Number, want int64) {
	t.Helper()
	if n.IsNull() || !n.IsInt() || n.Int64() != want {
		t.Errorf("%s = %v (int %v, null %v), want the integer %d", what, n, n.IsInt(), n.IsNull(), want)
	}
}

func wantFloat(t *testing.T, what string, n dataset.Number, want float64) {
	t.Helper()
	if n.IsNull() || n.IsInt() || !near(n.Float64(), want, 1e-12) {
		t.Errorf("%s = %v (int %v, null %v), want the float %v", what, n, n.IsInt(), n.IsNull(), want)
	}
}

func wantNull(t *testing.T, what string, n dataset.Number) {
	t.Helper()
	if !n.IsNull() || n.String() != "null" {
		t.Errorf("%s = %v, want null", what, n)
	}
}

// twoPass is the reference mean and sample standard deviation.
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

func TestAggregatesRange(t *testing.T) {
	e := setup(t)
	for _, blocks := range []int{1, 7, 200} {
		ds := dataset.Range(10000, e.par(blocks)...)
		a := aggregate(t, e, ds, "id")
		wantInt(t, "Sum", a.sum, 49995000)
		wantInt(t, "Min", a.min, 0)
		wantInt(t, "Max", a.max, 9999)
		if a.mean != 4999.5 {
			t.Errorf("%d blocks: Mean = %v", blocks, a.mean)
		}
		if math.Abs(a.std-2886.89568) > 1e-5 {
			t.Errorf("%d blocks: Std = %.8f, want 2886.89568 (ddof=1)", blocks, a.std)
		}
	}
	if s := must(dataset.Range(10000, e.opt()).Sum(e.ctx, "id"))(t); s.String() != "49995000" || s.Float64() != 49995000 {
		t.Errorf("Sum = %v / %v", s.String(), s.Float64())
	}
}

func TestAggregatesFloat(t *testing.T) {
	e := setup(t)
	xs := []float64{0.5, 1.5, 2.5, 3.5, -4.25, 10, 1e-3}
	items := make([]dataset.Item, len(xs))
	for i, x := range xs {
		items[i] = dataset.Item{"x": x}
	}
	for _, blocks := range []int{1, 3, 7} {
		a := aggregate(t, e, dataset.FromItems(items, e.par(blocks)...), "x")
		var sum float64
		for _, x := range xs {
			sum += x
		}
		wantFloat(t, "Sum", a.sum, sum)
		wantFloat(t, "Min", a.min, -4.25)
		wantFloat(t, "Max", a.max, 10)
		mean, std := twoPass(xs)
		if !near(a.mean, mean, 1e-12) || !near(a.std, std, 1e-12) {
			t.Errorf("%d blocks: Mean, Std = %v, %v; want %v, %v", blocks, a.mean, a.std, mean, std)
		}
	}
	// A float column whose values are all integral is still a float column.
	whole := dataset.FromItems([]dataset.Item{{"x": 1.0}, {"x": 2.0}}, e.opt())
	wantFloat(t, "Sum of 1.0, 2.0", must(whole.Sum(e.ctx, "x"))(t), 3)
	if n := must(whole.Sum(e.ctx, "x"))(t); n.String() != "3" || n.Int64() != 3 {
		t.Errorf("Sum String/Int64 = %q / %d", n.String(), n.Int64())
	}
	// A column of ints and floats is inferred as float.
	mixed := dataset.FromItems([]dataset.Item{{"x": 1}, {"x": 2.5}}, e.par(2)...)
	wantFloat(t, "Sum of 1, 2.5", must(mixed.Sum(e.ctx, "x"))(t), 3.5)
}

func TestAggregatesLargeFloatsAcrossBlocks(t *testing.T) {
	e := setup(t)
	// Values with a large offset: a naive sum-of-squares variance loses
	// every digit; the two-pass + Chan merge keeps them.
	const n = 1000
	xs := make([]float64, n)
	items := make([]dataset.Item, n)
	for i := range xs {
		xs[i] = 1e9 + float64(i%10)
		items[i] = dataset.Item{"x": xs[i]}
	}
	mean, std := twoPass(xs)
	for _, blocks := range []int{1, 13, 100} {
		ds := dataset.FromItems(items, e.par(blocks)...)
		gotMean := must(ds.Mean(e.ctx, "x"))(t)
		gotStd := must(ds.Std(e.ctx, "x"))(t)
		if !near(gotMean, mean, 1e-12) || !near(gotStd, std, 1e-9) {
			t.Errorf("%d blocks: Mean, Std = %v, %v; want %v, %v", blocks, gotMean, gotStd, mean, std)
		}
	}
}

func TestAggregatesWithNulls(t *testing.T) {
	e := setup(t)
	items := []dataset.Item{{"i": 1, "f": nil}, {"i": nil, "f": 2.5}, {"i": 3, "f": nil}, {"i": nil, "f": -1.5}, {"i": 5, "f": 0.5}}
	for _, blocks := range []int{1, 2, 5} {
		ds := dataset.FromItems(items, e.par(blocks)...)
		a := aggregate(t, e, ds, "i")
		wantInt(t, "Sum(i)", a.sum, 9)
		wantInt(t, "Min(i)", a.min, 1)
		wantInt(t, "Max(i)", a.max, 5)
		if a.mean != 3 || !near(a.std, 2, 1e-12) {
			t.Errorf("%d blocks: Mean, Std(i) = %v, %v; want 3, 2", blocks, a.mean, a.std)
		}
		f := aggregate(t, e, ds, "f")
		wantFloat(t, "Sum(f)", f.sum, 1.5)
		wantFloat(t, "Min(f)", f.min, -1.5)
		wantFloat(t, "Max(f)", f.max, 2.5)
		mean, std := twoPass([]float64{2.5, -1.5, 0.5})
		if !near(f.mean, mean, 1e-12) || !near(f.std, std, 1e-12) {
			t.Errorf("%d blocks: Mean, Std(f) = %v, %v; want %v, %v", blocks, f.mean, f.std, mean, std)
		}
	}
	// A column of nulls only aggregates nothing.
	nulls := dataset.FromItems([]dataset.Item{{"v": nil}, {"v": nil}, {"v": nil}}, e.par(2)...)
	a := aggregate(t, e, nulls, "v")
	if a.sum.IsNull() || a.sum.Float64() != 0 {
		t.Errorf("Sum of nulls = %v, want 0", a.sum)
	}
	wantNull(t, "Min of nulls", a.min)
	wantNull(t, "Max of nulls", a.max)
	if !math.IsNaN(a.mean) || !math.IsNaN(a.std) {
		t.Errorf("Mean, Std of nulls = %v, %v; want NaN", a.mean, a.std)
	}
}

func TestAggregatesEmpty(t *testing.T) {
	e := setup(t)
	cases := map[string]*dataset.Dataset{
		"Range(0)":           dataset.Range(0, e.opt()),
		"all filtered":       dataset.Range(100, e.par(4)...).Filter(func(dataset.Row) (bool, error) { return false, nil }),
		"Limit(0)":           dataset.Range(100, e.par(4)...).Limit(0),
		"FromStructs(empty)": dataset.FromStructs([]idOnly{}, e.opt()),
	}
	for name, ds := range cases {
		a := aggregate(t, e, ds, "id")
		if a.sum.IsNull() || a.sum.Int64() != 0 || a.sum.String() != "0" {
			t.Errorf("%s: Sum = %v, want 0", name, a.sum)
		}
		wantNull(t, name+": Min", a.min)
		wantNull(t, name+": Max", a.max)
		if !math.IsNaN(a.mean) {
			t.Errorf("%s: Mean = %v, want NaN", name, a.mean)
		}
		if !math.IsNaN(a.std) {
			t.Errorf("%s: Std = %v, want NaN", name, a.std)
		}
	}
	// An empty float column.
	f := dataset.FromItems([]dataset.Item{{"x": 1.5}}, e.opt()).Filter(func(dataset.Row) (bool, error) { return false, nil })
	a := aggregate(t, e, f, "x")
	wantFloat(t, "empty float Sum", a.sum, 0)
	wantNull(t, "empty float Min", a.min)
	if !math.IsNaN(a.mean) || !math.IsNaN(a.std) {
		t.Errorf("empty float Mean, Std = %v, %v", a.mean, a.std)
	}
}

// Sum of an int64 column is an integer Number, also when there is no row at
// all: the column type is known from the schema.
func TestSumOfEmptyIntColumnIsInt(t *testing.T) {
	e := setup(t)
	cases := map[string]*dataset.Dataset{
		"Range(0)":           dataset.Range(0, e.opt()),
		"Limit(0)":           dataset.Range(100, e.par(4)...).Limit(0),
		"FromStructs(empty)": dataset.FromStructs([]idOnly{}, e.opt()),
		"all filtered":       dataset.Range(100, e.par(4)...).Filter(func(dataset.Row) (bool, error) { return false, nil }),
	}
	for name, ds := range cases {
		wantInt(t, name+": Sum", must(ds.Sum(e.ctx, "id"))(t), 0)
	}
}

func TestAggregatesSingleValue(t *testing.T) {
	e := setup(t)
	a := aggregate(t, e, dataset.Range(1, e.opt()).Map(func(dataset.Row) (dataset.Item, error) {
		return dataset.Item{"v": -42}, nil
	}), "v")
	wantInt(t, "Sum", a.sum, -42)
	wantInt(t, "Min", a.min, -42)
	wantInt(t, "Max", a.max, -42)
	if a.mean != -42 || !math.IsNaN(a.std) {
		t.Errorf("Mean, Std = %v, %v; want -42, NaN (ddof=1 needs two values)", a.mean, a.std)
	}
}

func TestAggregatesEmptyBlocksInTheMiddle(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(100, e.par(10)...).Filter(func(r dataset.Row) (bool, error) { id := idOf(r); return id < 10 || id >= 90, nil })
	a := aggregate(t, e, ds, "id")
	wantInt(t, "Sum", a.sum, 45+945)
	wantInt(t, "Min", a.min, 0)
	wantInt(t, "Max", a.max, 99)
	xs := make([]float64, 0, 20)
	for _, id := range append(seq(0, 10), seq(90, 100)...) {
		xs = append(xs, float64(id))
	}
	mean, std := twoPass(xs)
	if !near(a.mean, mean, 1e-12) || !near(a.std, std, 1e-12) {
		t.Errorf("Mean, Std = %v, %v; want %v, %v", a.mean, a.std, mean, std)
	}
}

func TestAggregatesAfterTransforms(t *testing.T) {
	e := setup(t)
	// After a Map (schema known only by running) and after MapBatches.
	sq := dataset.Range(100, e.par(6)...).Map(func(r dataset.Row) (dataset.Item, error) {
		return dataset.Item{"sq": idOf(r) * idOf(r), "half": float64(idOf(r)) / 2}, nil
	})
	wantInt(t, "Sum(sq)", must(sq.Sum(e.ctx, "sq"))(t), 328350)
	wantFloat(t, "Sum(half)", must(sq.Sum(e.ctx, "half"))(t), 2475)
	wantFloat(t, "Max(half)", must(sq.Max(e.ctx, "half"))(t), 49.5)
	x2 := dataset.Range(100, e.par(6)...).MapBatches(doubleIDs(e.mem))
	wantInt(t, "Sum(x2)", must(x2.Sum(e.ctx, "x2"))(t), 9900)
	// After a union, a limit, a repartition and a materialize.
	u := dataset.Range(10, e.opt()).Union(dataset.Range(5, e.opt()))
	wantInt(t, "Union Sum", must(u.Sum(e.ctx, "id"))(t), 45+10)
	wantInt(t, "Limit Sum", must(dataset.Range(100, e.par(3)...).Limit(50).Sum(e.ctx, "id"))(t), 1225)
	wantInt(t, "Repartition Sum", must(dataset.Range(100, e.par(3)...).Repartition(7).Sum(e.ctx, "id"))(t), 4950)
	m := must(dataset.Range(100, e.par(3)...).Materialize(e.ctx))(t)
	wantInt(t, "Materialized Max", must(m.Max(e.ctx, "id"))(t), 99)
}

func TestAggregatesNarrowIntegers(t *testing.T) {
	e := setup(t)
	type narrow struct {
		I8  int8    `arrow:"i8"`
		I32 int32   `arrow:"i32"`
		U16 uint16  `arrow:"u16"`
		F32 float32 `arrow:"f32"`
	}
	vals := []narrow{{-128, -5, 65535, 0.5}, {127, 7, 1, 1.5}, {0, 100000, 0, -2}}
	ds := dataset.FromStructs(vals, e.par(2)...)
	wantInt(t, "Sum(i8)", must(ds.Sum(e.ctx, "i8"))(t), -1)
	wantInt(t, "Min(i8)", must(ds.Min(e.ctx, "i8"))(t), -128)
	wantInt(t, "Max(i32)", must(ds.Max(e.ctx, "i32"))(t), 100000)
	wantInt(t, "Sum(u16)", must(ds.Sum(e.ctx, "u16"))(t), 65536)
	wantFloat(t, "Sum(f32)", must(ds.Sum(e.ctx, "f32"))(t), 0)
	wantFloat(t, "Min(f32)", must(ds.Min(e.ctx, "f32"))(t), -2)
}

// FromItems infers Go unsigned integers as uint64: the aggregates must
// accept that column type like any other integer column.
func TestAggregatesUint64Column(t *testing.T) {
	e := setup(t)
	ds := dataset.FromItems([]dataset.Item{{"u": uint(1)}, {"u": uint(2)}, {"u": uint(3)}}, e.opt())
	s := must(ds.Schema(e.ctx))(t)
	if s.Field(0).Type.String() != "uint64" {
		t.Fatalf("schema %v: expected uint64", s)
	}
	sum, err := ds.Sum(e.ctx, "u")
	if err != nil {
		t.Fatalf("Sum of a uint64 column: %v", err)
	}
	if sum.Int64() != 6 {
		t.Errorf("Sum = %v", sum)
	}
	if mean, err := ds.Mean(e.ctx, "u"); err != nil || mean != 2 {
		t.Errorf("Mean = %v, %v", mean, err)
	}
}

// A per-row Map infers its output types per block: a column may be int64
// in one block, float64 in another, and null-typed in a block where every
// value was nil. Concat unifies such blocks; the aggregates must too.
func TestAggregatesColumnTypeVariesByBlock(t *testing.T) {
	e := setup(t)
	t.Run("int and float blocks", func(t *testing.T) {
		// Block 0 (ids 0..4) gives ints, block 1 (ids 5..9) floats.
		ds := dataset.Range(10, e.par(2)...).Map(func(r dataset.Row) (dataset.Item, error) {
			if idOf(r) < 5 {
				return dataset.Item{"v": idOf(r)}, nil
			}
			return dataset.Item{"v": float64(idOf(r)) + 0.5}, nil
		})
		// 0+1+2+3+4 + 5.5+6.5+7.5+8.5+9.5 = 10 + 37.5
		if sum := must(ds.Sum(e.ctx, "v"))(t); !near(sum.Float64(), 47.5, 1e-12) {
			t.Errorf("Sum = %v, want 47.5", sum)
		}
		if mx := must(ds.Max(e.ctx, "v"))(t); !near(mx.Float64(), 9.5, 1e-12) {
			t.Errorf("Max = %v, want 9.5", mx)
		}
		if mn := must(ds.Min(e.ctx, "v"))(t); !near(mn.Float64(), 0, 1e-12) {
			t.Errorf("Min = %v, want 0", mn)
		}
		if mean := must(ds.Mean(e.ctx, "v"))(t); !near(mean, 4.75, 1e-12) {
			t.Errorf("Mean = %v, want 4.75", mean)
		}
	})
	t.Run("null block then float blocks", func(t *testing.T) {
		// Block 0 has only nils (a null-typed column); blocks 1 and 2 floats.
		ds := dataset.Range(6, e.par(3)...).Map(func(r dataset.Row) (dataset.Item, error) {
			if idOf(r) < 2 {
				return dataset.Item{"v": nil}, nil
			}
			return dataset.Item{"v": float64(idOf(r)) + 0.25}, nil
		})
		// 2.25 + 3.25 + 4.25 + 5.25
		if sum := must(ds.Sum(e.ctx, "v"))(t); sum.IsInt() || !near(sum.Float64(), 15, 1e-12) {
			t.Errorf("Sum = %v (int %v), want the float 15", sum, sum.IsInt())
		}
		if mx := must(ds.Max(e.ctx, "v"))(t); mx.IsInt() || !near(mx.Float64(), 5.25, 1e-12) {
			t.Errorf("Max = %v (int %v), want the float 5.25", mx, mx.IsInt())
		}
	})
	t.Run("float blocks then a null block", func(t *testing.T) {
		// Blocks 0 and 1 give floats; block 2 (ids 4, 5) only nils.
		ds := dataset.Range(6, e.par(3)...).Map(func(r dataset.Row) (dataset.Item, error) {
			if idOf(r) >= 4 {
				return dataset.Item{"v": nil}, nil
			}
			return dataset.Item{"v": float64(idOf(r)) + 0.25}, nil
		})
		// 0.25 + 1.25 + 2.25 + 3.25
		if sum := must(ds.Sum(e.ctx, "v"))(t); sum.IsInt() || !near(sum.Float64(), 7, 1e-12) {
			t.Errorf("Sum = %v (int %v), want the float 7", sum, sum.IsInt())
		}
		if mx := must(ds.Max(e.ctx, "v"))(t); mx.IsInt() || !near(mx.Float64(), 3.25, 1e-12) {
			t.Errorf("Max = %v (int %v), want the float 3.25", mx, mx.IsInt())
		}
	})
}

func TestSumOverflow(t *testing.T) {
	e := setup(t)
	for _, blocks := range []int{1, 2} {
		ds := dataset.FromItems([]dataset.Item{{"v": int64(math.MaxInt64)}, {"v": 1}}, e.par(blocks)...)
		_, err := ds.Sum(e.ctx, "v")
		if err == nil || !strings.Contains(err.Error(), "overflow") || !strings.Contains(err.Error(), `"v"`) {
			t.Errorf("%d blocks: Sum overflow error = %v", blocks, err)
		}
		// The other aggregates are still fine.
		if mx := must(ds.Max(e.ctx, "v"))(t); mx.Int64() != math.MaxInt64 {
			t.Errorf("Max = %v", mx)
		}
	}
	neg := dataset.FromItems([]dataset.Item{{"v": int64(math.MinInt64)}, {"v": -1}}, e.par(2)...)
	if _, err := neg.Sum(e.ctx, "v"); err == nil || !strings.Contains(err.Error(), "overflow") {
		t.Errorf("negative overflow: %v", err)
	}
	// Large values that cancel out do not overflow.
	ok := dataset.FromItems([]dataset.Item{{"v": int64(math.MaxInt64)}, {"v": int64(-math.MaxInt64)}, {"v": 5}}, e.opt())
	wantInt(t, "cancelling Sum", must(ok.Sum(e.ctx, "v"))(t), 5)
}

func TestAggregateErrors(t *testing.T) {
	e := setup(t)
	ds := dataset.FromItems([]dataset.Item{{"name": "a", "n": 1}}, e.opt())
	for name, f := range map[string]func(col string) error{
		"Sum":  func(c string) error { _, err := ds.Sum(e.ctx, c); return err },
		"Min":  func(c string) error { _, err := ds.Min(e.ctx, c); return err },
		"Max":  func(c string) error { _, err := ds.Max(e.ctx, c); return err },
		"Mean": func(c string) error { _, err := ds.Mean(e.ctx, c); return err },
		"Std":  func(c string) error { _, err := ds.Std(e.ctx, c); return err },
	} {
		// A column that is not there names the column and the method.
		err := f("missing")
		if err == nil || !strings.Contains(err.Error(), `"missing"`) || !strings.Contains(err.Error(), "dataset."+name) {
			t.Errorf("%s of an unknown column: %v", name, err)
		}
		// A column that is not numeric.
		err = f("name")
		if err == nil || !strings.Contains(err.Error(), "not numeric") || !strings.Contains(err.Error(), `"name"`) {
			t.Errorf("%s of a string column: %v", name, err)
		}
	}
	// With an unknown schema (after a Map) the missing column is found when
	// the blocks are read, and still named.
	m := ds.Map(func(r dataset.Row) (dataset.Item, error) { return r.Item(), nil })
	if _, err := m.Sum(e.ctx, "missing"); err == nil || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("Sum of an unknown column after Map: %v", err)
	}
}

func TestNumber(t *testing.T) {
	e := setup(t)
	i := must(dataset.Range(4, e.opt()).Sum(e.ctx, "id"))(t)
	if i.String() != "6" || i.Int64() != 6 || i.Float64() != 6 || !i.IsInt() || i.IsNull() {
		t.Errorf("int Number %v", i)
	}
	f := must(dataset.FromItems([]dataset.Item{{"x": 2.75}}, e.opt()).Max(e.ctx, "x"))(t)
	if f.String() != "2.75" || f.Int64() != 2 || f.Float64() != 2.75 || f.IsInt() || f.IsNull() {
		t.Errorf("float Number %v", f)
	}
	var zero dataset.Number
	if !zero.IsNull() || zero.String() != "null" {
		t.Errorf("zero Number %v", zero)
	}
}

// Min and Max order NaN above every other float, as Sort does and as
// DuckDB, Spark and PostgreSQL do: Min skips NaN unless every value is NaN,
// Max is NaN as soon as one value is; nulls are skipped. Partial states
// merge across blocks (NaN in some blocks, blocks of NaN only, NaN beside
// nulls), and the global methods, the global Aggregate and GroupBy agree.
func TestMinMaxNaN(t *testing.T) {
	e := setup(t)
	nan := math.NaN()
	cases := []struct {
		name     string
		vals     []any // float64 or nil
		min, max float64
	}{
		{"NaN among values", []any{1.0, nan, 3.0, -2.0}, -2, nan},
		{"a block of NaN only", []any{nan, nan, 5.0, 4.0}, 4, nan},
		{"NaN beside nulls", []any{nil, nan, nil, 2.0}, 2, nan},
		{"NaN and nulls only", []any{nan, nil, nan, nil}, nan, nan},
		{"NaN last", []any{-1.0, 7.0, 0.0, nan}, -1, nan},
		{"no NaN", []any{nil, 1.5, -0.5, nil}, -0.5, 1.5},
	}
	var all []dataset.Item // every case as a group of one dataset
	for g, c := range cases {
		var items []dataset.Item
		for _, v := range c.vals {
			items = append(items, dataset.Item{"g": int64(g), "f": v})
		}
		all = append(all, items...)
		for _, blocks := range []int{1, 2, 4} {
			what := func(method string) string { return fmt.Sprintf("%s, %d blocks: %s", c.name, blocks, method) }
			ds := dataset.FromItems(items, e.par(blocks)...)
			wantFloat(t, what("Min"), must(ds.Min(e.ctx, "f"))(t), c.min)
			wantFloat(t, what("Max"), must(ds.Max(e.ctx, "f"))(t), c.max)
			for _, grouping := range []string{"Aggregate", "GroupBy"} {
				agg := ds.Aggregate(dataset.MinOf("f"), dataset.MaxOf("f"))
				if grouping == "GroupBy" {
					agg = ds.GroupBy("g").Aggregate(dataset.MinOf("f"), dataset.MaxOf("f"))
				}
				rows := must(agg.TakeAll(e.ctx))(t)
				if len(rows) != 1 {
					t.Fatalf("%s: %d rows", what(grouping), len(rows))
				}
				if mn, mx := rows[0]["min(f)"], rows[0]["max(f)"]; !sameFloat(mn, c.min) || !sameFloat(mx, c.max) {
					t.Errorf("%s: min, max = %v, %v; want %v, %v", what(grouping), mn, mx, c.min, c.max)
				}
			}
		}
	}
	// All cases at once, as groups whose rows spread over blocks.
	for _, blocks := range []int{3, 7} {
		rows := must(dataset.FromItems(all, e.par(blocks)...).GroupBy("g").Aggregate(dataset.MinOf("f"), dataset.MaxOf("f")).TakeAll(e.ctx))(t)
		for _, r := range rows {
			c := cases[r["g"].(int64)]
			if !sameFloat(r["min(f)"], c.min) || !sameFloat(r["max(f)"], c.max) {
				t.Errorf("%s, one group of %d blocks: min, max = %v, %v; want %v, %v", c.name, blocks, r["min(f)"], r["max(f)"], c.min, c.max)
			}
		}
	}
}

// sameFloat reports whether v is the float64 want, NaN matching NaN.
func sameFloat(v any, want float64) bool {
	f, ok := v.(float64)
	return ok && (f == want || math.IsNaN(f) && math.IsNaN(want))
}
