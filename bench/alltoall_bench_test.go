package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/exec"
)

// a2aTestSize is the size of the all-to-all tests and benchmarks: S, or
// SHOAL_A2A_SIZE (M, L) for profiles at a real size.
func a2aTestSize(tb testing.TB) A2ASize {
	name := os.Getenv("SHOAL_A2A_SIZE")
	if name == "" {
		name = "S"
	}
	s, ok := A2ASizes[name]
	if !ok {
		tb.Fatalf("SHOAL_A2A_SIZE=%q: want S, M or L", name)
	}
	return s
}

// a2aBaseline runs a workload's baseline over recs.
func a2aBaseline(workload string, s A2ASize, recs []arrow.RecordBatch) (A2AResult, error) {
	switch workload {
	case "groupby":
		m := HandGroupByMap(recs)
		return GroupResult(func(yield func(GroupAgg) bool) {
			for _, a := range m {
				if !yield(a) {
					return
				}
			}
		}), nil
	case "sort":
		return SortResult(HandSort(recs))
	case "shuffle":
		_, r := HandShuffle(Columns(recs))
		return r, nil
	case "join":
		left, right := JoinSides(s, recs)
		return HandJoinMap(left, right), nil
	}
	return A2AResult{}, fmt.Errorf("unknown workload %q", workload)
}

// TestAllToAllAgainstBaselines checks each Shoal all-to-all operation
// against its hand-written baseline: the same groups and group sums, the
// same rows in key order, the same shuffle checksum (and a changed order),
// the same join rows and payload sums.
func TestAllToAllAgainstBaselines(t *testing.T) {
	s := A2ASizes["S"]
	ctx := context.Background()
	for _, workers := range []int{1, 2} {
		rt := exec.NewLocal(exec.WithWorkers(workers))
		for _, wl := range A2AWorkloads {
			recs := BuildA2ARecords(s, wl)
			want, err := a2aBaseline(wl, s, recs)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ShoalA2A(ctx, rt, s, wl, recs)
			if err != nil {
				t.Fatalf("%s workers=%d: %v", wl, workers, err)
			}
			if err := CheckA2A(wl, got, want); err != nil {
				t.Errorf("workers=%d: %v", workers, err)
			}
			ReleaseRecords(recs)
		}
		rt.Close()
	}

	// Group by group: Shoal's sums and means equal the map's.
	recs := BuildA2ARecords(s, "groupby")
	defer ReleaseRecords(recs)
	m := HandGroupByMap(recs)
	if len(m) != int(s.GroupKeys) {
		t.Fatalf("generator: %d keys, want %d", len(m), s.GroupKeys)
	}
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	out := A2AOp("groupby", ShoalFromRecords(rt, recs))
	seen := 0
	for b, err := range out.IterBatches(ctx, 0) {
		if err != nil {
			t.Fatal(err)
		}
		keys, _ := colValues[int64](b, "key")
		sums, _ := colValues[float64](b, "sum(v)")
		means, _ := colValues[float64](b, "mean(v)")
		for i, k := range keys {
			a := m[k]
			if !close6(sums[i], a.Sum) || !close6(means[i], a.Sum/float64(a.N)) {
				t.Fatalf("key %d: sum %v mean %v, want %v %v", k, sums[i], means[i], a.Sum, a.Sum/float64(a.N))
			}
			seen++
		}
	}
	if seen != len(m) {
		t.Errorf("%d groups, want %d", seen, len(m))
	}

	// The shuffle moved rows: c0 is no longer 0, 1, 2, ...
	srecs := BuildA2ARecords(s, "shuffle")
	defer ReleaseRecords(srecs)
	moved, i := 0, int64(0)
	for b, err := range A2AOp("shuffle", ShoalFromRecords(rt, srecs)).IterBatches(ctx, 0) {
		if err != nil {
			t.Fatal(err)
		}
		c0, _ := colValues[int64](b, "c0")
		for _, v := range c0 {
			if v != i {
				moved++
			}
			i++
		}
	}
	if moved < int(i)/2 {
		t.Errorf("shuffle left %d of %d rows in place", int(i)-moved, i)
	}

	// The join: the map, the slice and the generators agree; every left row
	// has its one match.
	jrecs := BuildA2ARecords(s, "join")
	defer ReleaseRecords(jrecs)
	jl, jr := JoinSides(s, jrecs)
	if len(jl) != s.Blocks || len(jr) != s.Blocks || jr[0].Schema().Field(1).Name != "w" {
		t.Fatalf("JoinSides: %d left, %d right records", len(jl), len(jr))
	}
	jm := HandJoinMap(jl, jr)
	if jm.Rows != s.JoinLeftRows || jm.Sum == 0 {
		t.Fatalf("join map: %+v, want %d rows", jm, s.JoinLeftRows)
	}
	for name, r := range map[string]A2AResult{"slice": HandJoinSlice(jl, jr, s.JoinRightRows), "JoinWant": JoinWant(s)} {
		if err := CheckA2A("join "+name, r, jm); err != nil || r.Sum != jm.Sum {
			t.Errorf("%v (sum %v, map %v)", err, r.Sum, jm.Sum)
		}
	}

	// The in-pipeline generator yields the same data as the records.
	for _, wl := range A2AWorkloads {
		r, err := A2AMemRun(ctx, s, wl, 2, 0, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		recs := BuildA2ARecords(s, wl)
		want, _ := a2aBaseline(wl, s, recs)
		ReleaseRecords(recs)
		if err := CheckA2A(wl, r.Result, want); err != nil {
			t.Errorf("in-pipeline generator: %v", err)
		}
	}
}

func close6(a, b float64) bool { return CheckA2A("", A2AResult{Sum: a}, A2AResult{Sum: b}) == nil }

// BenchmarkAllToAll times each operation in Shoal (1 and 2 workers, the
// default store budget, GOMAXPROCS = workers) and its single-goroutine
// baseline, over records built outside the timer.
func BenchmarkAllToAll(b *testing.B) {
	s := a2aTestSize(b)
	ctx := context.Background()
	for _, wl := range A2AWorkloads {
		recs := BuildA2ARecords(s, wl)
		rows, bytes := s.Rows(wl), s.InputBytes(wl)
		b.Run(wl+"/baseline", func(b *testing.B) {
			b.SetBytes(bytes)
			for b.Loop() {
				if _, err := a2aBaseline(wl, s, recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/shoal/workers=%d", wl, workers), func(b *testing.B) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(workers))
				rt := exec.NewLocal(exec.WithWorkers(workers))
				defer rt.Close()
				b.SetBytes(bytes)
				for b.Loop() {
					r, err := ShoalA2A(ctx, rt, s, wl, recs)
					if err != nil || r.Rows == 0 {
						b.Fatal(r, err)
					}
				}
				b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
		ReleaseRecords(recs)
	}
}
