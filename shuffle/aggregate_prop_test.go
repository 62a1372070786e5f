package shuffle_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/shuffle"
)

// aggRef is the reference state of one group for one column.
type aggRef struct {
	rows, n    int64
	isum       int64
	fsum       float64
	imin, imax int64
	fmin, fmax float64
	vals       []float64
}

// TestAggregatesAgainstReference: every aggregate over int64, int32 and
// float64 columns (with and without nulls; floats with NaN and ±Inf;
// skewed keys, one holding half the rows), aggregated in one block and as
// partial states of two blocks merged, equals a reference computed with Go
// maps.
func TestAggregatesAgainstReference(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for seed := range uint64(12) {
		rng := rand.New(rand.NewPCG(seed, 99))
		rows := []int{0, 1, 7, 500, 3000}[seed%5]
		typ := []arrow.DataType{arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Float64}[seed%3]
		nulls := seed%2 == 1
		keys := 1 + rng.IntN(40)
		kb := array.NewInt64Builder(mem)
		vb := array.NewBuilder(mem, typ)
		ref := map[int64]*aggRef{}
		for range rows {
			k := int64(rng.IntN(keys))
			if rng.IntN(2) == 0 {
				k = 0 // skew: half the rows in one key
			}
			kb.Append(k)
			r := ref[k]
			if r == nil {
				r = &aggRef{imin: math.MaxInt64, imax: math.MinInt64, fmin: math.Inf(1), fmax: math.Inf(-1)}
				ref[k] = r
			}
			r.rows++
			if nulls && rng.IntN(5) == 0 {
				vb.AppendNull()
				continue
			}
			var x float64
			switch b := vb.(type) {
			case *array.Int64Builder:
				v := rng.Int64N(1<<40) - 1<<39
				b.Append(v)
				r.isum += v
				r.imin, r.imax = min(r.imin, v), max(r.imax, v)
				x = float64(v)
			case *array.Int32Builder:
				v := rng.Int32()
				b.Append(v)
				r.isum += int64(v)
				r.imin, r.imax = min(r.imin, int64(v)), max(r.imax, int64(v))
				x = float64(v)
			case *array.Float64Builder:
				x = rng.NormFloat64() * 1e3
				switch rng.IntN(200) {
				case 0:
					x = math.NaN()
				case 1:
					x = math.Inf(1)
				case 2:
					x = math.Inf(-1)
				}
				b.Append(x)
				r.fmin, r.fmax = blocks.MinFloat(r.fmin, x), blocks.MaxFloat(r.fmax, x)
			}
			r.n++
			r.fsum += x
			r.vals = append(r.vals, x)
		}
		sc := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: typ, Nullable: true}}, nil)
		kArr, vArr := kb.NewArray(), vb.NewArray()
		kb.Release()
		vb.Release()
		b := array.NewRecordBatch(sc, []arrow.Array{kArr, vArr}, int64(rows))
		kArr.Release()
		vArr.Release()
		aggs := []shuffle.Agg{shuffle.CountRows(), shuffle.SumOf("v"), shuffle.MinOf("v"), shuffle.MaxOf("v"), shuffle.MeanOf("v"), shuffle.StdOf("v")}
		name := fmt.Sprintf("seed %d, %d rows of %s, nulls %v", seed, rows, typ, nulls)

		half := int64(rows / 2)
		parts := []blocks.Block{b.NewSlice(0, half), b.NewSlice(half, int64(rows))}
		for _, viaReduce := range []bool{false, true} {
			whole := aggregate(t, mem, []blocks.Block{b}, aggs, viaReduce)
			checkAggregates(t, fmt.Sprintf("%s, one block (reduce %v)", name, viaReduce), whole, ref, typ)
			whole.Release()
			split := aggregate(t, mem, parts, aggs, viaReduce)
			checkAggregates(t, fmt.Sprintf("%s, two blocks merged (reduce %v)", name, viaReduce), split, ref, typ)
			split.Release()
		}
		ta := shuffle.NewTaskAggregator([]string{"k"}, aggs, 3, nil)
		tc := &exec.TaskContext{Context: context.Background(), Alloc: mem}
		for _, p := range parts {
			if err := ta.Add(tc, p); err != nil {
				t.Fatal(err)
			}
		}
		taskParts, err := ta.Finish(tc)
		ta.Release()
		if err != nil {
			t.Fatal(err)
		}
		task, err := shuffle.AggregateReduce(tc, taskParts, []string{"k"}, aggs)
		for _, p := range taskParts {
			p.Release()
		}
		if err != nil {
			t.Fatal(err)
		}
		switch len(task) {
		case 0:
			if len(ref) != 0 {
				t.Fatalf("%s, task aggregator: no output, want %d groups", name, len(ref))
			}
		default:
			all, err := blocks.Concat(mem, task)
			if err != nil {
				t.Fatal(err)
			}
			checkAggregates(t, name+", task aggregator in 3 partitions", all, ref, typ)
			all.Release()
		}
		for _, o := range task {
			o.Release()
		}
		for _, p := range parts {
			p.Release()
		}
		b.Release()
	}
}

// aggregate makes the partial states of each block and merges them into
// the final block: concatenated, or part by part as a reduce does.
func aggregate(t *testing.T, mem memory.Allocator, in []blocks.Block, aggs []shuffle.Agg, viaReduce bool) blocks.Block {
	t.Helper()
	var partials []blocks.Block
	for _, b := range in {
		p, err := shuffle.AggregateBlock(mem, b, []string{"k"}, aggs, false)
		if err != nil {
			t.Fatal(err)
		}
		partials = append(partials, p)
	}
	if viaReduce {
		out, err := shuffle.AggregateReduce(&exec.TaskContext{Context: context.Background(), Alloc: mem}, partials, []string{"k"}, aggs)
		for _, p := range partials {
			p.Release()
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(out) == 0 { // no groups
			return blocks.Empty(mem, shuffle.AggregateSchema(in[0].Schema(), []string{"k"}, aggs))
		}
		return out[0]
	}
	all, err := blocks.Concat(mem, partials)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range partials {
		p.Release()
	}
	defer all.Release()
	out, err := shuffle.AggregateBlock(mem, all, []string{"k"}, aggs, true)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func checkAggregates(t *testing.T, name string, out blocks.Block, ref map[int64]*aggRef, typ arrow.DataType) {
	t.Helper()
	if int(out.NumRows()) != len(ref) {
		t.Fatalf("%s: %d groups, want %d", name, out.NumRows(), len(ref))
	}
	col := func(n string) arrow.Array {
		c, err := blocks.Column(out, n)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	isInt := typ.ID() != arrow.FLOAT64
	ks := col("k").(*array.Int64)
	for i := range int(out.NumRows()) {
		r := ref[ks.Value(i)]
		g := fmt.Sprintf("%s, key %d", name, ks.Value(i))
		if got := col("count()").(*array.Int64).Value(i); got != r.rows {
			t.Fatalf("%s: count %d, want %d", g, got, r.rows)
		}
		for _, a := range []string{"sum(v)", "min(v)", "max(v)", "mean(v)"} {
			if col(a).IsNull(i) != (r.n == 0) {
				t.Fatalf("%s: %s null %v with %d values", g, a, col(a).IsNull(i), r.n)
			}
		}
		if std := col("std(v)"); std.IsNull(i) != (r.n < 2) {
			t.Fatalf("%s: std null %v with %d values", g, std.IsNull(i), r.n)
		}
		if r.n == 0 {
			continue
		}
		if isInt {
			sum, mn, mx := col("sum(v)").(*array.Int64), col("min(v)").(*array.Int64), col("max(v)").(*array.Int64)
			if sum.Value(i) != r.isum || mn.Value(i) != r.imin || mx.Value(i) != r.imax {
				t.Fatalf("%s: sum %d min %d max %d, want %d %d %d", g, sum.Value(i), mn.Value(i), mx.Value(i), r.isum, r.imin, r.imax)
			}
			mean := col("mean(v)").(*array.Float64).Value(i)
			if !closeTo(mean, float64(r.isum)/float64(r.n)) {
				t.Fatalf("%s: mean %v, want %v", g, mean, float64(r.isum)/float64(r.n))
			}
		} else {
			sum, mn, mx := col("sum(v)").(*array.Float64), col("min(v)").(*array.Float64), col("max(v)").(*array.Float64)
			if !closeTo(sum.Value(i), r.fsum) || !sameFloat(mn.Value(i), r.fmin) || !sameFloat(mx.Value(i), r.fmax) {
				t.Fatalf("%s: sum %v min %v max %v, want %v %v %v", g, sum.Value(i), mn.Value(i), mx.Value(i), r.fsum, r.fmin, r.fmax)
			}
			if mean := col("mean(v)").(*array.Float64).Value(i); !closeTo(mean, r.fsum/float64(r.n)) {
				t.Fatalf("%s: mean %v, want %v", g, mean, r.fsum/float64(r.n))
			}
		}
		if r.n >= 2 {
			var m, ss float64
			for _, x := range r.vals {
				m += x
			}
			m /= float64(len(r.vals))
			for _, x := range r.vals {
				ss += (x - m) * (x - m)
			}
			want := math.Sqrt(ss / float64(len(r.vals)-1))
			if got := col("std(v)").(*array.Float64).Value(i); !closeTo(got, want) {
				t.Fatalf("%s: std %v, want %v", g, got, want)
			}
		}
	}
}

// closeTo compares floats to 1e-9 relative, NaN equal to NaN and
// infinities exactly.
func closeTo(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) || math.IsInf(a, 0) || math.IsInf(b, 0) {
		return sameFloat(a, b)
	}
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
}

func sameFloat(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

// TestGroupedSumOverflow: an int64 sum that overflows in one group fails,
// naming the aggregation, in the grouped kernels as in the global one.
func TestGroupedSumOverflow(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, keys := range [][]string{{"k"}, nil} {
		b, err := blocks.FromItems(mem, []blocks.Item{{"k": "a", "v": int64(math.MaxInt64)}, {"k": "b", "v": int64(5)}, {"k": "a", "v": int64(1)}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = shuffle.AggregateBlock(mem, b, keys, []shuffle.Agg{shuffle.SumOf("v")}, false)
		b.Release()
		if err == nil || !strings.Contains(err.Error(), "overflow") || !strings.Contains(err.Error(), "sum(v)") {
			t.Errorf("keys %v: %v, want an overflow error naming sum(v)", keys, err)
		}
	}
}

// TestFloatSumsAreCompensated: float sums and means are within an ulp of
// the exact sum where plain addition loses everything (1e16 + 1 - 1e16),
// in one block, grouped, and merged from partial states.
func TestFloatSumsAreCompensated(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	// Per group, 1e16 then many 1s then -1e16: plain addition gives 0.
	var items []blocks.Item
	for _, k := range []string{"a", "b"} {
		items = append(items, blocks.Item{"k": k, "v": 1e16})
		for range 1000 {
			items = append(items, blocks.Item{"k": k, "v": 1.0})
		}
		items = append(items, blocks.Item{"k": k, "v": -1e16})
	}
	b, err := blocks.FromItems(mem, items)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	aggs := []shuffle.Agg{shuffle.SumOf("v"), shuffle.MeanOf("v")}
	for _, keys := range [][]string{nil, {"k"}} {
		want := 1000.0
		if keys == nil {
			want = 2000
		}
		for _, split := range []bool{false, true} {
			in := []blocks.Block{b}
			if split { // partial states of three blocks merged
				in = []blocks.Block{b.NewSlice(0, 300), b.NewSlice(300, 1500), b.NewSlice(1500, b.NumRows())}
			}
			var partials []blocks.Block
			for _, x := range in {
				p, err := shuffle.AggregateBlock(mem, x, keys, aggs, false)
				if err != nil {
					t.Fatal(err)
				}
				partials = append(partials, p)
			}
			out, err := shuffle.AggregateReduce(&exec.TaskContext{Context: context.Background(), Alloc: mem}, partials, keys, aggs)
			for _, p := range partials {
				p.Release()
			}
			if split {
				for _, x := range in {
					x.Release()
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out {
				sum, _ := blocks.Column(o, "sum(v)")
				mean, _ := blocks.Column(o, "mean(v)")
				for i := range int(o.NumRows()) {
					rows := float64(1002)
					if keys == nil {
						rows = 2004
					}
					if got := sum.(*array.Float64).Value(i); got != want {
						t.Errorf("keys %v, split %v: sum %v, want %v", keys, split, got, want)
					}
					if got := mean.(*array.Float64).Value(i); math.Abs(got-want/rows) > 1e-15 {
						t.Errorf("keys %v, split %v: mean %v, want %v", keys, split, got, want/rows)
					}
				}
				o.Release()
			}
		}
	}
}

// TestSumAndMeanShareAState: a sum and a mean of one float column keep one
// state (the partial block carries one count, sum and compensation for
// both), and still give their own answers; over an integer column the
// exact int64 sum keeps its own.
func TestSumAndMeanShareAState(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b, err := blocks.FromItems(mem, []blocks.Item{{"k": "a", "f": 1.5, "i": int64(1)}, {"k": "a", "f": 2.5, "i": int64(4)}, {"k": "b", "f": 4.0, "i": int64(2)}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	for _, tc := range []struct {
		col        string
		stateCols  int64
		sumA, mean string
	}{
		{"f", 3, "4", "2"},   // __n0 __v0 __c0, shared by both
		{"i", 5, "5", "2.5"}, // __n0 __v0 (int64); __n1 __v1 __c1 (float)
	} {
		aggs := []shuffle.Agg{shuffle.SumOf(tc.col), shuffle.MeanOf(tc.col)}
		partial, err := shuffle.AggregateBlock(mem, b, []string{"k"}, aggs, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := partial.NumCols() - 1; got != tc.stateCols {
			t.Errorf("%s: %d state columns (%s), want %d", tc.col, got, partial.Schema(), tc.stateCols)
		}
		out, err := shuffle.AggregateBlock(mem, partial, []string{"k"}, aggs, true)
		partial.Release()
		if err != nil {
			t.Fatal(err)
		}
		for i := range int(out.NumRows()) {
			if out.Column(0).ValueStr(i) == "a" && (out.Column(1).ValueStr(i) != tc.sumA || out.Column(2).ValueStr(i) != tc.mean) {
				t.Errorf("%s: group a: sum %s mean %s, want %s and %s", tc.col, out.Column(1).ValueStr(i), out.Column(2).ValueStr(i), tc.sumA, tc.mean)
			}
		}
		out.Release()
	}
}

// TestTaskAggregatorRadix: a task aggregator whose table outgrows the
// cache switches to one table per partition halfway through its blocks;
// its parts, merged, still give every group's count and sum, each group
// in the partition its key hashes to.
func TestTaskAggregatorRadix(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	const rows, keys, blockRows, n = 300_000, 150_000, 20_000, 4
	sc := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	wantN, wantSum := map[int64]int64{}, map[int64]int64{}
	ta := shuffle.NewTaskAggregator([]string{"k"}, []shuffle.Agg{shuffle.CountRows(), shuffle.SumOf("v")}, n, nil)
	defer ta.Release()
	tc := &exec.TaskContext{Context: context.Background(), Alloc: mem}
	for lo := int64(0); lo < rows; lo += blockRows {
		kb, vb := array.NewInt64Builder(mem), array.NewInt64Builder(mem)
		for i := lo; i < lo+blockRows; i++ {
			k := i * 7919 % keys
			kb.Append(k)
			vb.Append(i)
			wantN[k]++
			wantSum[k] += i
		}
		ka, va := kb.NewArray(), vb.NewArray()
		b := array.NewRecordBatch(sc, []arrow.Array{ka, va}, blockRows)
		ka.Release()
		va.Release()
		kb.Release()
		vb.Release()
		err := ta.Add(tc, b)
		b.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	parts, err := ta.Finish(tc)
	if err != nil {
		t.Fatal(err)
	}
	groups := 0
	for j, p := range parts {
		out, err := shuffle.AggregateReduce(tc, []blocks.Block{p}, []string{"k"}, []shuffle.Agg{shuffle.CountRows(), shuffle.SumOf("v")})
		if err != nil {
			t.Fatal(err)
		}
		where, err := blocks.HashPartition(p, []string{"k"}, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range where {
			if int(w) != j {
				t.Fatalf("part %d holds a key of partition %d", j, w)
			}
		}
		for _, o := range out {
			ks, cs, ss := o.Column(0).(*array.Int64), o.Column(1).(*array.Int64), o.Column(2).(*array.Int64)
			for i := range ks.Len() {
				k := ks.Value(i)
				if cs.Value(i) != wantN[k] || ss.Value(i) != wantSum[k] {
					t.Fatalf("key %d: count %d sum %d, want %d and %d", k, cs.Value(i), ss.Value(i), wantN[k], wantSum[k])
				}
				groups++
			}
			o.Release()
		}
		p.Release()
	}
	if groups != len(wantN) {
		t.Errorf("%d groups, want %d", groups, len(wantN))
	}
}
