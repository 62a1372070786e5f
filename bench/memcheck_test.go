package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// The memory check runs in a child process (this test binary, re-executed)
// so that its peak RSS is its own.
const memCheckEnv = "SHOAL_MEMCHECK_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(memCheckEnv); mode != "" {
		budget, _ := strconv.ParseInt(os.Getenv("SHOAL_MEMCHECK_BUDGET"), 10, 64)
		res, err := MemCheck(context.Background(), mode, budget, 8)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("rows=%d sum=%.0f peak=%d spilled=%d\n%s\n", res.Rows, res.Sum, res.PeakRSS, res.Spilled, res)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runMemCheck(t *testing.T, mode string, budget int64) (rows int64, sum float64, peak, spilled int64) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), memCheckEnv+"="+mode, "SHOAL_MEMCHECK_BUDGET="+strconv.FormatInt(budget, 10))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("memcheck child: %v\n%s", err, out)
	}
	first, rest, _ := strings.Cut(string(out), "\n")
	if _, err := fmt.Sscanf(first, "rows=%d sum=%g peak=%d spilled=%d", &rows, &sum, &peak, &spilled); err != nil {
		t.Fatalf("parse %q: %v", first, err)
	}
	t.Log(strings.TrimSpace(rest))
	return rows, sum, peak, spilled
}

// TestOutOfCoreMap maps over a dataset 8x the object-store budget. Streaming,
// its peak RSS stays under twice the budget plus a fixed overhead for the Go
// runtime and test binary; materialized, the store spills and every row still
// comes back.
func TestOutOfCoreMap(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process that moves 1 GiB")
	}
	if raceEnabled {
		t.Skip("the race detector's shadow memory makes RSS meaningless; scripts/test runs this without -race")
	}
	const budget = 64 << 20
	const overhead = 64 << 20
	wantRows := int64(budget * 8 / 32)
	wantSum := float64(wantRows) * float64(wantRows-1) / 2

	rows, sum, peak, _ := runMemCheck(t, "stream", budget)
	if rows != wantRows || sum != wantSum {
		t.Errorf("stream: rows=%d sum=%.0f, want %d and %.0f", rows, sum, wantRows, wantSum)
	}
	if peak <= 0 || peak > 2*budget+overhead {
		t.Errorf("stream: peak RSS %d MiB, want under 2x budget + %d MiB = %d MiB", peak>>20, overhead>>20, (2*budget+overhead)>>20)
	}

	rows, sum, _, spilled := runMemCheck(t, "materialize", budget)
	if rows != wantRows || sum != wantSum {
		t.Errorf("materialize: rows=%d sum=%.0f, want %d and %.0f", rows, sum, wantRows, wantSum)
	}
	if spilled < 7*budget {
		t.Errorf("materialize: spilled %d MiB, want at least 7x the %d MiB budget", spilled>>20, budget>>20)
	}
}
