package shuffle_test

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/shuffle"
)

func TestAggNames(t *testing.T) {
	a := shuffle.SumOf("x")
	if a.Name() != "sum(x)" || a.Column() != "x" || a.IsCount() {
		t.Errorf("SumOf(x): name %q column %q count %v", a.Name(), a.Column(), a.IsCount())
	}
	a.As = "total"
	if a.Name() != "total" {
		t.Errorf("As: name %q", a.Name())
	}
	if c := shuffle.CountRows(); c.Name() != "count()" || !c.IsCount() {
		t.Errorf("CountRows: name %q count %v", c.Name(), c.IsCount())
	}
	if shuffle.SemiJoin.String() != "semi" || shuffle.JoinKind(9).String() != "JoinKind(9)" {
		t.Errorf("JoinKind names: %s %s", shuffle.SemiJoin, shuffle.JoinKind(9))
	}
}

// A partial aggregate per block, merged, gives the final values.
func TestAggregateBlockPartialThenMerge(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b, err := blocks.FromItems(mem, []blocks.Item{{"k": "a", "v": int64(1)}, {"k": "b", "v": int64(2)}, {"k": "a", "v": int64(4)}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	aggs := []shuffle.Agg{shuffle.CountRows(), shuffle.SumOf("v"), shuffle.MeanOf("v")}
	partial, err := shuffle.AggregateBlock(mem, b, []string{"k"}, aggs, false)
	if err != nil {
		t.Fatal(err)
	}
	defer partial.Release()
	out, err := shuffle.AggregateBlock(mem, partial, []string{"k"}, aggs, true)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if !out.Schema().Equal(shuffle.AggregateSchema(b.Schema(), []string{"k"}, aggs)) {
		t.Errorf("schema %s, want %s", out.Schema(), shuffle.AggregateSchema(b.Schema(), []string{"k"}, aggs))
	}
	got := map[string][3]any{}
	for i := range int(out.NumRows()) {
		got[out.Column(0).ValueStr(i)] = [3]any{out.Column(1).ValueStr(i), out.Column(2).ValueStr(i), out.Column(3).ValueStr(i)}
	}
	want := map[string][3]any{"a": {"2", "5", "2.5"}, "b": {"1", "2", "2"}}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("group %s: %v, want %v", k, got[k], w)
		}
	}
	empty, err := shuffle.EmptyAggregate(mem, aggs)
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Release()
	if empty.NumRows() != 1 || empty.Column(0).ValueStr(0) != "0" || !empty.Column(1).IsNull(0) {
		t.Errorf("EmptyAggregate: %v", empty)
	}
}
