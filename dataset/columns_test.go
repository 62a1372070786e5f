package dataset_test

import (
	"slices"
	"testing"
	"time"

	"github.com/shoal-data/shoal/dataset"
)

func TestIterColumnBatches(t *testing.T) {
	e := setup(t)
	ts := time.Date(2024, 1, 5, 13, 22, 10, 0, time.UTC)
	items := []dataset.Item{
		{"id": int64(1), "x": 1.5, "name": "a", "ok": true, "at": ts},
		{"id": int64(2), "x": nil, "name": "b", "ok": false, "at": ts.Add(time.Hour)},
		{"id": int64(3), "x": 3.5, "name": nil, "ok": true, "at": ts.Add(2 * time.Hour)},
	}
	var got []dataset.ColumnBatch
	for cb, err := range dataset.FromItems(items, e.opt()).IterColumnBatches(e.ctx, 2) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, cb)
	}
	if len(got) != 2 || got[0].Rows != 2 || got[1].Rows != 1 {
		t.Fatalf("batches of %v rows, want 2 and 1", got)
	}
	first := got[0]
	if ids, ok := first.Columns["id"].([]int64); !ok || !slices.Equal(ids, []int64{1, 2}) {
		t.Errorf("id = %#v", first.Columns["id"])
	}
	if xs, ok := first.Columns["x"].([]float64); !ok || !slices.Equal(xs, []float64{1.5, 0}) {
		t.Errorf("x = %#v", first.Columns["x"])
	}
	if v := first.Valid["x"]; !slices.Equal(v, []bool{true, false}) {
		t.Errorf("x validity %v, want [true false]", v)
	}
	if _, ok := first.Valid["id"]; ok {
		t.Error("a column without nulls has a validity slice")
	}
	if names, ok := got[1].Columns["name"].([]string); !ok || names[0] != "" || got[1].Valid["name"][0] {
		t.Errorf("null name = %#v valid %v", got[1].Columns["name"], got[1].Valid["name"])
	}
	if oks, ok := first.Columns["ok"].([]bool); !ok || !slices.Equal(oks, []bool{true, false}) {
		t.Errorf("ok = %#v", first.Columns["ok"])
	}
	if at, ok := first.Columns["at"].([]time.Time); !ok || !at[1].Equal(ts.Add(time.Hour)) {
		t.Errorf("at = %#v", first.Columns["at"])
	}
}
