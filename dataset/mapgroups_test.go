package dataset_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/dataset"
)

func TestMapGroups(t *testing.T) {
	e := setup(t)
	rng := rand.New(rand.NewPCG(1, 1))
	items := make([]dataset.Item, 500)
	want := map[string][]int64{}
	for i := range items {
		k := []string{"a", "b", "c", "d"}[rng.IntN(4)]
		items[i] = dataset.Item{"k": k, "v": int64(i)}
		want[k] = append(want[k], int64(i))
	}
	// Each group becomes one row: its key, its size and its values in order.
	d := dataset.FromItems(items, e.par(6)...).GroupBy("k").MapGroups(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
		k := b.Column(0).(*array.String).Value(0)
		vals := b.Column(1).(*array.Int64).Int64Values()
		strs := make([]string, len(vals))
		for i, v := range vals {
			strs[i] = fmt.Sprint(v)
		}
		bld := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema([]arrow.Field{
			{Name: "k", Type: arrow.BinaryTypes.String}, {Name: "n", Type: arrow.PrimitiveTypes.Int64}, {Name: "vals", Type: arrow.BinaryTypes.String},
		}, nil))
		defer bld.Release()
		bld.Field(0).(*array.StringBuilder).Append(k)
		bld.Field(1).(*array.Int64Builder).Append(int64(len(vals)))
		bld.Field(2).(*array.StringBuilder).Append(strings.Join(strs, ","))
		return bld.NewRecordBatch(), nil
	})
	rows, err := d.TakeAll(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(want) {
		t.Fatalf("%d groups, want %d", len(rows), len(want))
	}
	for _, r := range rows {
		w := want[r["k"].(string)]
		if r["n"] != int64(len(w)) {
			t.Errorf("group %v: n=%v, want %d", r["k"], r["n"], len(w))
		}
		got := strings.Split(r["vals"].(string), ",")
		var gotInts []int64
		for _, s := range got {
			var v int64
			fmt.Sscan(s, &v)
			gotInts = append(gotInts, v)
		}
		slices.Sort(gotInts)
		if !slices.Equal(gotInts, w) {
			t.Errorf("group %v: values %v, want %v", r["k"], gotInts, w)
		}
	}
	bad := dataset.FromItems(items, e.par(3)...).GroupBy("k").MapGroups(func(arrow.RecordBatch) (arrow.RecordBatch, error) {
		return nil, errors.New("no thanks")
	})
	if _, err := bad.Count(e.ctx); err == nil || !strings.Contains(err.Error(), "no thanks") {
		t.Errorf("error from fn: %v", err)
	}
}

// median is a user-defined aggregation whose state is the values seen.
var median = dataset.AggFunc{
	Name: "median",
	Init: func() any { return []float64(nil) },
	Accumulate: func(state any, rows arrow.RecordBatch) (any, error) {
		return append(state.([]float64), rows.Column(1).(*array.Float64).Float64Values()...), nil
	},
	Merge: func(a, b any) (any, error) { return append(a.([]float64), b.([]float64)...), nil },
	Finalize: func(state any) (any, error) {
		vals := slices.Clone(state.([]float64))
		if len(vals) == 0 {
			return nil, nil
		}
		sort.Float64s(vals)
		return vals[len(vals)/2], nil
	},
}

func TestAggregateFunc(t *testing.T) {
	e := setup(t)
	var items []dataset.Item
	want := map[int64][]float64{}
	for i := range 999 {
		k := int64(i % 7)
		v := float64((i * 37) % 101)
		items = append(items, dataset.Item{"k": k, "v": v})
		want[k] = append(want[k], v)
	}
	count := dataset.AggFunc{
		Name:       "rows",
		Init:       func() any { return int64(0) },
		Accumulate: func(s any, rows arrow.RecordBatch) (any, error) { return s.(int64) + rows.NumRows(), nil },
		Merge:      func(a, b any) (any, error) { return a.(int64) + b.(int64), nil },
		Finalize:   func(s any) (any, error) { return s, nil },
	}
	rows, err := dataset.FromItems(items, e.par(9)...).GroupBy("k").AggregateFunc(median, count).TakeAll(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 7 {
		t.Fatalf("%d groups", len(rows))
	}
	for _, r := range rows {
		w := slices.Clone(want[r["k"].(int64)])
		sort.Float64s(w)
		if r["median"] != w[len(w)/2] || r["rows"] != int64(len(w)) {
			t.Errorf("group %v: median %v rows %v, want %v and %d", r["k"], r["median"], r["rows"], w[len(w)/2], len(w))
		}
	}
	broken := median
	broken.Merge = func(a, b any) (any, error) { return nil, errors.New("cannot merge") }
	if _, err := dataset.FromItems(items, e.par(9)...).GroupBy("k").AggregateFunc(broken).Count(e.ctx); err == nil || !strings.Contains(err.Error(), "aggregation median: cannot merge") {
		t.Errorf("merge error: %v", err)
	}
	if _, err := dataset.FromItems(items, e.opt()).GroupBy("k").AggregateFunc(dataset.AggFunc{Name: "x"}).Count(e.ctx); err == nil {
		t.Error("incomplete AggFunc: no error")
	}
}
