package dataset_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

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
