package bench

import (
	"context"
	"slices"
	"sort"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/exec"
)

// TestTopKAgrees checks both paths of ShoalTopK against a plain sort of the
// table's scores.
func TestTopKAgrees(t *testing.T) {
	recs := TopKTable(20_000, 8)
	defer ReleaseRecords(recs)
	type row struct {
		id    int64
		score float64
	}
	var all []row
	for _, r := range recs {
		ids, scores := r.Column(0).(*array.Int64).Int64Values(), r.Column(1).(*array.Float64).Float64Values()
		for i := range ids {
			all = append(all, row{ids[i], scores[i]})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].score > all[j].score })
	var want []int64
	for _, r := range all[:10] {
		want = append(want, r.id)
	}
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	for _, full := range []bool{false, true} {
		got, err := ShoalTopK(context.Background(), rt, recs, 10, full)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("full sort %v: ids %v, want %v", full, got, want)
		}
	}
}

// BenchmarkTopK: top-10 by a float column of a 10-column, 1M-row table in
// 16 blocks on 2 workers, with the TopK rule and with the full sort.
func BenchmarkTopK(b *testing.B) {
	recs := TopKTable(1_000_000, 16)
	defer ReleaseRecords(recs)
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	for _, c := range []struct {
		name string
		full bool
	}{{"topk", false}, {"sort-limit", true}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ShoalTopK(context.Background(), rt, recs, 10, c.full); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
