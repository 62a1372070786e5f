package peers_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-data/shoal/bench/peers"
	"github.com/shoal-data/shoal/internal/ci"
)

// workloads are SPEC.md's workloads with an answer (pipeline is Shoal's
// alone).
var workloads = []string{
	"scan_filter_sum", "map_arith", "groupby_100", "groupby_1m", "unique",
	"sort_int", "sort_str", "shuffle", "join", "csv_etl", "csv_convert", "ingest",
	"tpch_q1", "tpch_q6", "topk_10", "join_groupby",
}

// testRows is the size of the generated dataset: a multiple of 80, 5
// ingest batches, the last one short. SHOAL_PEERS_TEST_ROWS overrides it
// (rounded down to a multiple of 80) to check the engines at a larger size.
const testRows = 5040

func rows(t *testing.T) int {
	s := os.Getenv("SHOAL_PEERS_TEST_ROWS")
	if s == "" {
		return testRows
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 800 {
		t.Fatalf("SHOAL_PEERS_TEST_ROWS=%q: want an integer >= 800", s)
	}
	return n / 80 * 80
}

// TestPeers runs every workload on both engines over a dataset generated
// here and checks each answer against the one computed in Go from the same
// rows.
func TestPeers(t *testing.T) {
	for _, e := range peers.Engines {
		if err := peers.Available(e); err != nil {
			if os.Getenv("SHOAL_PEERS_REQUIRED") != "" {
				t.Fatalf("SHOAL_PEERS_REQUIRED is set (scripts/test found node and npm) but: %v", err)
			}
			ci.Missing(t, fmt.Sprintf("peer engines not installed (run scripts/bench-peers-install): %v", err))
		}
	}
	d := genTestData(rows(t), 1)
	dir := t.TempDir()
	if err := d.write(dir); err != nil {
		t.Fatal(err)
	}
	want := d.answers()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	for _, engine := range peers.Engines {
		t.Run(engine, func(t *testing.T) {
			for _, w := range workloads {
				t.Run(w, func(t *testing.T) {
					req := peers.Request{Workload: w, Dir: dir, Threads: 2, Out: t.TempDir()}
					res, err := peers.Run(ctx, engine, req)
					if err != nil {
						t.Fatal(err)
					}
					if res.Engine != engine || res.Workload != w {
						t.Errorf("reply names %s/%s, want %s/%s", res.Engine, res.Workload, engine, w)
					}
					if res.Ms <= 0 {
						t.Errorf("ms = %v, want > 0", res.Ms)
					}
					checkAnswer(t, w, res.Answer, want[w])
					t.Logf("%s %s: %.1f ms %v", engine, w, res.Ms, fmtAnswer(res.Answer))
				})
			}
			t.Run("pipeline", func(t *testing.T) {
				_, err := peers.Run(ctx, engine, peers.Request{Workload: "pipeline", Dir: dir, Threads: 1, Out: t.TempDir()})
				if !errors.Is(err, peers.ErrUnsupported) {
					t.Fatalf("pipeline: err = %v, want ErrUnsupported", err)
				}
			})
			t.Run("unknown", func(t *testing.T) {
				_, err := peers.Run(ctx, engine, peers.Request{Workload: "no_such_workload", Dir: dir, Threads: 1, Out: t.TempDir()})
				if err == nil || errors.Is(err, peers.ErrUnsupported) {
					t.Fatalf("unknown workload: err = %v, want an error other than ErrUnsupported", err)
				}
			})
		})
	}
}

func checkAnswer(t *testing.T, workload string, got, want map[string]float64) {
	t.Helper()
	gk, wk := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))
	if !slices.Equal(gk, wk) {
		t.Fatalf("answer keys %v, want %v", gk, wk)
	}
	for _, k := range wk {
		if rel := tolerance(workload, k); !within(got[k], want[k], rel) {
			t.Errorf("%s = %v, want %v (relative tolerance %g)", k, got[k], want[k], rel)
		}
	}
}

func fmtAnswer(a map[string]float64) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(a)) {
		fmt.Fprintf(&b, " %s=%v", k, a[k])
	}
	return strings.TrimSpace(b.String())
}

// TestUnavailable: an unknown engine is refused before node is started.
func TestUnavailable(t *testing.T) {
	if _, err := peers.Run(context.Background(), "sqlite", peers.Request{Workload: "join"}); err == nil {
		t.Fatal("Run(sqlite) succeeded")
	}
}
