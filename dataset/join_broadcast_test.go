package dataset_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/dataset"
)

// TestBroadcastJoinStreams: a join with a small right side, then a group-by,
// over a Parquet read runs as one operator: each read task probes the right
// side and pre-aggregates block by block, so the store never holds the
// joined rows. The groups equal a Go reference; a failing right side fails
// the run with its error.
func TestBroadcastJoinStreams(t *testing.T) {
	dir, items := tripsFile(t, setup(t), 60000)
	e := setup(t) // a store that has held nothing else
	var zones []dataset.Item
	for pax := int64(1); pax <= 6; pax++ {
		zones = append(zones, dataset.Item{"zone_pax": pax, "label": fmt.Sprint("z", pax%3)})
	}
	ds := dataset.ReadParquet(e.ctx, dir, e.opt()).
		JoinOn(dataset.FromItems(zones, e.opt()), []string{"pax"}, []string{"zone_pax"}, dataset.InnerJoin).
		GroupBy("label").Aggregate(dataset.CountRows(), dataset.SumOf("fare"))
	plan := ds.Explain()
	phys := plan[strings.Index(plan, "-- physical plan --"):]
	if !strings.HasPrefix(strings.SplitN(phys, "\n", 3)[1], "Exchange[ReadParquet[") || strings.Count(phys, "Exchange[") != 1 {
		t.Errorf("read, join and aggregation are not one operator:\n%s", plan)
	}
	type agg struct {
		n   int64
		sum float64
	}
	want := map[string]agg{}
	for _, it := range items {
		pax, ok := it["pax"].(int64)
		if !ok {
			continue // a null key joins nothing
		}
		k := fmt.Sprint("z", pax%3)
		a := want[k]
		a.n++
		a.sum += it["fare"].(float64)
		want[k] = a
	}
	rows := must(ds.TakeAll(e.ctx))(t)
	if len(rows) != len(want) {
		t.Fatalf("%d groups, want %d", len(rows), len(want))
	}
	for _, r := range rows {
		w := want[r["label"].(string)]
		if r["count()"] != w.n || math.Abs(r["sum(fare)"].(float64)-w.sum) > 1e-9*w.sum {
			t.Errorf("group %v, want count %d sum %g", r, w.n, w.sum)
		}
	}
	if peak := ds.Stats().PeakMemory; peak > 256<<10 {
		t.Errorf("the store peaked at %d bytes: joined rows went through it", peak)
	}

	boom := errors.New("zones unavailable")
	bad := dataset.FromItems(zones, e.opt()).Map(func(dataset.Row) (dataset.Item, error) { return nil, boom })
	_, err := dataset.ReadParquet(e.ctx, dir, e.opt()).
		JoinOn(bad, []string{"pax"}, []string{"zone_pax"}, dataset.InnerJoin).Count(e.ctx)
	if !errors.Is(err, boom) {
		t.Errorf("a failing broadcast side: %v, want its error", err)
	}
}

// TestAggregateStreamsFromAMap: an aggregation after a map that cannot fuse
// into the read (it wants larger batches) picks its partitions before the
// map runs, so its own map tasks take the map's blocks as they come: the
// store never holds the whole input.
func TestAggregateStreamsFromAMap(t *testing.T) {
	e := setup(t)
	const rows = 400_000
	ds := dataset.Range(rows, e.par(40)...).WithColumn("k", dataset.Col("id").Mod(10)).
		MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) { return b, nil }, dataset.BatchSize(20_000)).
		GroupBy("k").Aggregate(dataset.CountRows())
	got := must(ds.TakeAll(e.ctx))(t)
	if len(got) != 10 {
		t.Fatalf("%d groups, want 10", len(got))
	}
	for _, g := range got {
		if g["count()"] != int64(rows/10) {
			t.Errorf("group %v, want %d rows", g, rows/10)
		}
	}
	if peak, total := ds.Stats().PeakMemory, int64(rows*16); peak > total/2 {
		t.Errorf("the store peaked at %d bytes of a %d-byte input: the aggregation waited for all of it", peak, total)
	}
}

// TestBroadcastJoinUnknownLeftSchema: a left side whose schema is known
// only by running (a Go Map) still joins a broadcast right side, blocks
// that match nothing included.
func TestBroadcastJoinUnknownLeftSchema(t *testing.T) {
	e := setup(t)
	left := dataset.Range(1000, e.par(10)...).Map(func(r dataset.Row) (dataset.Item, error) {
		id := r.Int64("id")
		return dataset.Item{"id": id, "k": id / 100}, nil // block j holds key j only
	})
	right := dataset.FromItems([]dataset.Item{{"key": int64(3), "w": "three"}, {"key": int64(7), "w": "seven"}}, e.opt())
	ds := left.JoinOn(right, []string{"k"}, []string{"key"}, dataset.InnerJoin)
	if !strings.Contains(ds.Explain(), "broadcast right") {
		t.Fatalf("not a broadcast join:\n%s", ds.Explain())
	}
	rows := must(ds.TakeAll(e.ctx))(t)
	if len(rows) != 200 {
		t.Fatalf("%d rows, want 200", len(rows))
	}
	for _, r := range rows {
		if (r["k"] == int64(3)) != (r["w"] == "three") {
			t.Errorf("row %v", r)
		}
	}
}
