package dataset_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

func TestStatsAfterRun(t *testing.T) {
	e := setup(t)
	var trace bytes.Buffer
	ds := dataset.Range(1000, append(e.par(10), dataset.WithTrace(&trace))...).Map(func(r dataset.Row) (dataset.Item, error) {
		return dataset.Item{"id": idOf(r) * 2}, nil
	})
	if ds.Stats() != nil {
		t.Fatal("stats before any run")
	}
	items, err := ds.TakeAll(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := ds.Stats()
	if st == nil {
		t.Fatal("no stats after TakeAll")
	}
	last := st.Operators[len(st.Operators)-1]
	if last.RowsOut != int64(len(items)) || len(items) != 1000 {
		t.Errorf("last operator rows out %d, consumed %d", last.RowsOut, len(items))
	}
	if len(st.Operators) != 1 || st.Tasks != 10 || last.Tasks != 10 {
		t.Errorf("want one fused Range->Map operator with 10 tasks, one per block:\n%s", st)
	}
	if s := st.String(); !strings.Contains(s, last.Name) || !strings.Contains(s, "Total:") {
		t.Errorf("String():\n%s", s)
	}
	var doc struct {
		TraceEvents []map[string]any `json:"traceEvents"`
	}
	err = json.Unmarshal(trace.Bytes(), &doc)
	tasks := 0
	for _, ev := range doc.TraceEvents {
		if ev["ph"] == "X" {
			tasks++
		}
	}
	if err != nil || tasks != 10 {
		t.Errorf("trace: err %v, %d task events, want 10", err, tasks)
	}
}

func TestStatsCountSpills(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	rt := exec.NewLocal(exec.WithAllocator(mem), exec.WithWorkers(2), exec.WithObjectStoreMemory(32<<10), exec.WithSpillDir(t.TempDir()))
	defer func() {
		rt.Close()
		mem.AssertSize(t, 0)
	}()
	// 40 blocks of 16 KiB: holding them all must spill a 32 KiB store.
	ds := dataset.Range(80_000, dataset.WithRuntime(rt), dataset.WithParallelism(40))
	m, err := ds.Materialize(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	st := ds.Stats()
	if st == nil || st.SpilledBytes <= 0 {
		t.Fatalf("want spilled bytes > 0 over a tiny store:\n%s", st)
	}
	if op := st.Operators[0]; op.Spilled != st.SpilledBytes {
		t.Errorf("the only operator spilled %d bytes, the run %d:\n%s", op.Spilled, st.SpilledBytes, st)
	}
	if n, err := m.Count(t.Context()); err != nil || n != 80_000 {
		t.Fatalf("count %d %v", n, err)
	}
}

func TestWithProgress(t *testing.T) {
	e := setup(t)
	var out bytes.Buffer
	ds := dataset.Range(500, append(e.par(5), dataset.WithProgress(&out))...).Map(func(r dataset.Row) (dataset.Item, error) {
		return dataset.Item{"id": idOf(r)}, nil
	})
	items, err := ds.TakeAll(e.ctx)
	if err != nil || len(items) != 500 {
		t.Fatalf("took %d rows, err %v", len(items), err)
	}
	st := ds.Stats()
	text := out.String()
	for _, o := range st.Operators {
		if !strings.Contains(text, o.Name) {
			t.Errorf("progress lacks operator %q:\n%q", o.Name, text)
		}
	}
	if !strings.Contains(text, "500 rows") {
		t.Errorf("progress lacks the final 500 rows:\n%q", text)
	}
}

func TestStatsAfterWrite(t *testing.T) {
	e := setup(t)
	ds := dataset.Range(1000, e.par(4)...)
	dir := t.TempDir()
	if err := ds.WriteParquet(e.ctx, dir, dataset.MaxRowsPerFile(100)); err != nil {
		t.Fatal(err)
	}
	st := ds.Stats()
	if st == nil || len(st.Operators) == 0 || st.Operators[0].RowsOut != 1000 {
		t.Fatalf("stats after WriteParquet: %v, want the write's run with 1000 rows read", st)
	}
	// The write counts the rows it wrote, not its tasks or files.
	if w := st.Operators[len(st.Operators)-1]; !strings.Contains(w.Name, "WriteParquet") || w.RowsOut != 1000 {
		t.Fatalf("the write's operator: %s with %d rows out, want WriteParquet with 1000:\n%s", w.Name, w.RowsOut, st)
	}
	// Its files are counted apart: 1000 rows at most 100 a file.
	files, err := filepath.Glob(filepath.Join(dir, "*.parquet"))
	if err != nil || len(files) < 10 {
		t.Fatalf("%d files written (%v), want at least 10", len(files), err)
	}
	if w := st.Operators[len(st.Operators)-1]; w.FilesOut != int64(len(files)) {
		t.Errorf("the write's operator counted %d files, %d were written", w.FilesOut, len(files))
	}
}

func TestStatsOperatorCPU(t *testing.T) {
	e := setup(t)
	burn := func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
		x := uint64(1)
		for range 20_000_000 { // a fixed amount of work: about 10 ms of CPU
			x ^= x << 13
			x ^= x >> 7
		}
		if x == 0 {
			return nil, errors.New("unreachable")
		}
		return b, nil
	}
	sleep := func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
		time.Sleep(20 * time.Millisecond)
		return b, nil
	}
	ds := dataset.Range(1000, e.par(4)...).MapBatches(burn).MapBatches(sleep, dataset.TaskCPUs(0.5))
	if _, err := ds.TakeAll(e.ctx); err != nil {
		t.Fatal(err)
	}
	st := ds.Stats()
	if len(st.Operators) != 2 {
		t.Fatalf("want two operators:\n%s", st)
	}
	busy, idle := st.Operators[0], st.Operators[1]
	if runtime.GOOS == "linux" {
		// Other processes may take the CPU from the busy tasks (so CPU can
		// be well below their wall time), but never add to their CPU time.
		if busy.CPU <= 0 || busy.CPU > busy.TaskWall*11/10 {
			t.Errorf("a CPU-bound operator used %v CPU in %v of tasks", busy.CPU, busy.TaskWall)
		}
		if idle.CPU > busy.CPU/4 || idle.CPU > idle.TaskWall/4 {
			t.Errorf("a sleeping operator used %v CPU in %v of tasks (the busy one %v)", idle.CPU, idle.TaskWall, busy.CPU)
		}
	}
}

// TestStatsInputOfAllToAll: a repartition and a group-by report the rows
// and bytes that came into them, not what their reduces read (each
// reduce of a repartition reads slices of the same blocks; a group-by's
// reduces read merged partial states).
func TestStatsInputOfAllToAll(t *testing.T) {
	e := setup(t)
	const rows = 20000
	src := dataset.Range(rows, e.par(10)...)
	g := src.Repartition(5).GroupBy("id").Count()
	if n, err := g.Count(e.ctx); err != nil || n != rows {
		t.Fatalf("count %d, %v", n, err)
	}
	ops := g.Stats().Operators
	if len(ops) != 3 {
		t.Fatalf("want Range, Repartition and GroupBy:\n%s", g.Stats())
	}
	for i, o := range ops[1:] {
		if up := ops[i]; o.RowsIn != up.RowsOut || o.RowsIn != rows || o.BytesIn != up.BytesOut {
			t.Errorf("%s: %d rows and %d bytes in, want %s's %d and %d:\n%s", o.Name, o.RowsIn, o.BytesIn, up.Name, up.RowsOut, up.BytesOut, g.Stats())
		}
	}
}
