package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-data/shoal/core"
)

// The memory check runs in a child process (this test binary, re-executed)
// so that its peak RSS is its own.
const memCheckEnv = "SHOAL_MEMCHECK_CHILD"

func TestMain(m *testing.M) {
	core.Init() // the core API benchmark's cluster workers are this binary
	if wl := os.Getenv(oocEnv); wl != "" {
		oocChild(wl)
	}
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

// oocEnv names the all-to-all workload a child of TestOutOfCoreAllToAll
// runs.
const oocEnv = "SHOAL_OOC_CHILD"

// oocSize is TestOutOfCoreAllToAll's data: 10M rows for each operation, a
// group-by into 2M keys, a 10M x 2.5M join, a shuffle of 10M rows of 8
// int64 columns.
var oocSize = A2ASize{Name: "OOC", GroupRows: 10_000_000, GroupKeys: 2_000_000, SortRows: 10_000_000,
	ShuffleRows: 10_000_000, ShuffleWidth: 8, JoinLeftRows: 10_000_000, JoinRightRows: 2_500_000, Blocks: 200}

// oocBudget is the object store's budget in TestOutOfCoreAllToAll.
const oocBudget = 256 << 20

// oocChild runs one workload of TestOutOfCoreAllToAll, checks its answer and
// prints its measurements as JSON.
func oocChild(wl string) {
	spill, err := os.MkdirTemp("", "shoal-ooc-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(spill)
	r, err := A2AMemRun(context.Background(), oocSize, wl, 2, oocBudget, spill)
	if err == nil && wl != "groupby" { // the parent checks groups: its baseline needs the input in memory
		err = oocCheck(wl, r.Result)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(spill)
		os.Exit(1)
	}
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
	os.RemoveAll(spill)
	os.Exit(0)
}

// oocCheck checks a workload's answer against what the generator implies
// (a group-by's, against the hand-written baseline).
func oocCheck(wl string, got A2AResult) error {
	switch wl {
	case "groupby":
		recs := BuildA2ARecords(oocSize, "groupby")
		want := GroupResult(slices.Values(HandGroupBySlice(recs, oocSize.GroupKeys)))
		for _, r := range recs {
			r.Release()
		}
		if err := CheckA2A("groupby", got, want); err != nil {
			return err
		}
	case "join":
		if want := JoinWant(oocSize); CheckA2A("join", got, want) != nil || got.Sum != want.Sum {
			return fmt.Errorf("join: %+v, want %+v", got, want)
		}
	case "sort", "shuffle":
		n := oocSize.Rows(wl)
		if got.Rows != n || got.Sum != float64(n)*float64(n-1)/2 {
			return fmt.Errorf("%s: rows %d checksum %v, want %d and %v", wl, got.Rows, got.Sum, n, float64(n)*float64(n-1)/2)
		}
	}
	return nil
}

// TestOutOfCoreAllToAll runs a sort, a join, a group-by and a random
// shuffle of 10M rows each, at a 256 MiB store budget, each in a fresh
// process: each gives the right answer with its peak RSS at most twice the
// budget plus 100 MiB (the Go memory limit the runtime sets from the
// budget holds the garbage collector's slack to it).
func TestOutOfCoreAllToAll(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes that move several GB")
	}
	if raceEnabled {
		t.Skip("the race detector's shadow memory makes RSS meaningless; scripts/test runs this without -race")
	}
	const limit = 2*oocBudget + 100<<20
	for _, wl := range []string{"sort", "join", "groupby", "shuffle"} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), oocEnv+"="+wl)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("%s: %v\n%s", wl, err, stderr.String())
			continue
		}
		var r A2AMemResult
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("%s: %v: %s", wl, err, out)
		}
		t.Logf("%s: peak RSS %d MiB (limit %d MiB), store peak %d MiB, spilled %d MiB, %s",
			wl, r.PeakRSS>>20, limit>>20, r.StorePeak>>20, r.Spilled>>20, r.Elapsed.Round(time.Millisecond))
		if wl == "groupby" {
			if err := oocCheck(wl, r.Result); err != nil {
				t.Error(err)
			}
		}
		if r.PeakRSS <= 0 || r.PeakRSS > limit {
			t.Errorf("%s: peak RSS %d MiB, want at most 2x the %d MiB budget + 100 MiB = %d MiB",
				wl, r.PeakRSS>>20, oocBudget>>20, limit>>20)
		}
	}
}
