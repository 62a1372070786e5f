package dataset_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"go.uber.org/goleak"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

// consumeAll runs every consumer on ds and returns their errors by name.
func consumeAll(e *testEnv, ds *dataset.Dataset) map[string]error {
	errs := map[string]error{}
	_, errs["Count"] = ds.Count(e.ctx)
	_, errs["Schema"] = ds.Schema(e.ctx)
	_, errs["NumBlocks"] = ds.NumBlocks(e.ctx)
	_, errs["Take"] = ds.Take(e.ctx, 1)
	_, errs["TakeAll"] = ds.TakeAll(e.ctx)
	errs["ShowTo"] = ds.ShowTo(e.ctx, io.Discard, 1)
	_, errs["ToRecords"] = ds.ToRecords(e.ctx)
	_, errs["ToStructs"] = dataset.ToStructs[idOnly](e.ctx, ds)
	_, errs["Materialize"] = ds.Materialize(e.ctx)
	_, errs["Sum"] = ds.Sum(e.ctx, "id")
	_, errs["Min"] = ds.Min(e.ctx, "id")
	_, errs["Max"] = ds.Max(e.ctx, "id")
	_, errs["Mean"] = ds.Mean(e.ctx, "id")
	_, errs["Std"] = ds.Std(e.ctx, "id")
	errs["IterRows"] = nil
	for _, err := range ds.IterRows(e.ctx) {
		if err != nil {
			errs["IterRows"] = err
		}
	}
	errs["IterBatches"] = nil
	for _, err := range ds.IterBatches(e.ctx, 2) {
		if err != nil {
			errs["IterBatches"] = err
		}
	}
	return errs
}

// wantPlanError checks that ds carries a plan error containing every
// fragment, that Err reports it before anything runs, and that every
// consumer returns it.
func wantPlanError(t *testing.T, e *testEnv, ds *dataset.Dataset, fragments ...string) {
	t.Helper()
	err := ds.Err()
	if err == nil {
		t.Fatalf("Err() = nil, want an error containing %q", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not contain %q", err, f)
		}
	}
	for name, cerr := range consumeAll(e, ds) {
		if cerr == nil || cerr.Error() != err.Error() {
			t.Errorf("%s returned %v, want the plan error %v", name, cerr, err)
		}
	}
	if ex := ds.Explain(); !strings.HasPrefix(ex, "error: ") {
		t.Errorf("Explain = %q", ex)
	}
	// Transforms of an errored dataset keep the error.
	derived := ds.Map(func(r dataset.Row) (dataset.Item, error) { return r.Item(), nil }).
		Filter(keepAll).Limit(3).SelectColumns("id").Repartition(2)
	if derr := derived.Err(); derr == nil || derr.Error() != err.Error() {
		t.Errorf("derived dataset error = %v, want %v", derr, err)
	}
}

func TestNilFunctions(t *testing.T) {
	e := setup(t)
	src := dataset.Range(10, e.opt())
	cases := map[string]*dataset.Dataset{
		"Map":        src.Map(nil),
		"FlatMap":    src.FlatMap(nil),
		"Filter":     src.Filter(nil),
		"MapBatches": src.MapBatches(nil),
		"AddColumn":  src.AddColumn("x", nil),
	}
	for name, ds := range cases {
		t.Run(name, func(t *testing.T) {
			wantPlanError(t, e, ds, "dataset."+name, "nil function")
		})
	}
	// The source is unaffected.
	if err := src.Err(); err != nil {
		t.Errorf("source error %v", err)
	}
}

func TestBadCounts(t *testing.T) {
	e := setup(t)
	src := dataset.Range(10, e.opt())
	t.Run("Range(-1)", func(t *testing.T) { wantPlanError(t, e, dataset.Range(-1, e.opt()), "dataset.Range", "-1") })
	t.Run("Limit(-1)", func(t *testing.T) { wantPlanError(t, e, src.Limit(-1), "dataset.Limit", "-1") })
	t.Run("Repartition(0)", func(t *testing.T) { wantPlanError(t, e, src.Repartition(0), "dataset.Repartition", "0") })
	t.Run("Repartition(-3)", func(t *testing.T) { wantPlanError(t, e, src.Repartition(-3), "dataset.Repartition", "-3") })
	t.Run("BatchSize(-1)", func(t *testing.T) {
		wantPlanError(t, e, src.MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) { return b, nil }, dataset.BatchSize(-1)),
			"dataset.MapBatches", "-1")
	})
	t.Run("Take(-1)", func(t *testing.T) {
		if _, err := src.Take(e.ctx, -1); err == nil || !strings.Contains(err.Error(), "dataset.Take") || !strings.Contains(err.Error(), "-1") {
			t.Errorf("Take(-1): %v", err)
		}
	})
	t.Run("ShowTo(-1)", func(t *testing.T) {
		if err := src.ShowTo(e.ctx, io.Discard, -1); err == nil || !strings.Contains(err.Error(), "-1") {
			t.Errorf("ShowTo(-1): %v", err)
		}
	})
	t.Run("IterBatches(-1)", func(t *testing.T) {
		var errs []error
		for b, err := range src.IterBatches(e.ctx, -1) {
			if b != nil {
				t.Errorf("batch from IterBatches(-1)")
			}
			errs = append(errs, err)
		}
		if len(errs) != 1 || errs[0] == nil || !strings.Contains(errs[0].Error(), "-1") {
			t.Errorf("IterBatches(-1) yielded %v", errs)
		}
	})
}

// The first error found while building a plan is the one reported: a later
// mistake must not hide it.
func TestFirstPlanErrorWins(t *testing.T) {
	e := setup(t)
	bad := dataset.Range(-1, e.opt())
	for name, ds := range map[string]*dataset.Dataset{
		"Map(nil)":        bad.Map(nil),
		"Filter(nil)":     bad.Filter(nil),
		"FlatMap(nil)":    bad.FlatMap(nil),
		"MapBatches(nil)": bad.MapBatches(nil),
		"MapColumns(nil)": bad.MapColumns(nil),
		"AddColumn(nil)":  bad.AddColumn("x", nil),
		"BatchSize(-1)":   bad.MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) { return b, nil }, dataset.BatchSize(-1)),
		"Limit(-1)":       bad.Limit(-1),
		"SelectColumns":   bad.SelectColumns("nope"),
		"Repartition(0)":  bad.Repartition(0),
	} {
		if err := ds.Err(); err == nil || !strings.Contains(err.Error(), "dataset.Range") {
			t.Errorf("Range(-1).%s: error %v, want the Range error", name, err)
		}
	}
}

func TestUnknownColumns(t *testing.T) {
	e := setup(t)
	src := dataset.FromItems([]dataset.Item{{"a": 1, "b": "x"}}, e.opt())
	t.Run("SelectColumns", func(t *testing.T) {
		wantPlanError(t, e, src.SelectColumns("a", "zz"), "SelectColumns", `"zz"`, "[a b]")
	})
	t.Run("DropColumns", func(t *testing.T) {
		wantPlanError(t, e, src.DropColumns("b", "zz"), "DropColumns", `"zz"`)
	})
	t.Run("RenameColumns", func(t *testing.T) {
		wantPlanError(t, e, src.RenameColumns(map[string]string{"zz": "y"}), "RenameColumns", `"zz"`)
	})
	t.Run("Sum", func(t *testing.T) {
		_, err := src.Sum(e.ctx, "zz")
		if err == nil || !strings.Contains(err.Error(), `"zz"`) || !strings.Contains(err.Error(), "dataset.Sum") {
			t.Errorf("Sum(zz): %v", err)
		}
	})
	t.Run("after a Map", func(t *testing.T) {
		// The schema is unknown until the Map runs: the error comes from the
		// task, and still names the column and the operator.
		m := src.Map(func(r dataset.Row) (dataset.Item, error) { return r.Item(), nil })
		for name, ds := range map[string]*dataset.Dataset{
			"SelectColumns": m.SelectColumns("zz"),
			"DropColumns":   m.DropColumns("zz"),
			"RenameColumns": m.RenameColumns(map[string]string{"zz": "y"}),
		} {
			if err := ds.Err(); err != nil {
				t.Errorf("%s: plan error %v; the schema is not known yet", name, err)
			}
			_, err := ds.TakeAll(e.ctx)
			if err == nil || !strings.Contains(err.Error(), `"zz"`) || !strings.Contains(err.Error(), name) {
				t.Errorf("%s after Map: %v", name, err)
			}
		}
		_, err := m.Sum(e.ctx, "zz")
		if err == nil || !strings.Contains(err.Error(), `"zz"`) {
			t.Errorf("Sum after Map: %v", err)
		}
	})
}

func TestFromItemsTypeConflict(t *testing.T) {
	e := setup(t)
	cases := []struct {
		items     []dataset.Item
		fragments []string
	}{
		{[]dataset.Item{{"value": 1}, {"value": "x"}}, []string{`"value"`, "int64", "utf8", "item 1"}},
		{[]dataset.Item{{"ok": 1, "flag": true}, {"ok": 2}, {"ok": 3, "flag": 1.5}}, []string{`"flag"`, "bool", "float64", "item 2"}},
		{[]dataset.Item{{"s": map[string]any{"b": 1}}, {"s": map[string]any{"b": "y"}}}, []string{`"s.b"`, "int64", "utf8"}},
		{[]dataset.Item{{"l": []any{1, 2}}, {"l": "flat"}}, []string{`"l"`, "list", "utf8"}},
	}
	for _, c := range cases {
		ds := dataset.FromItems(c.items, e.opt())
		wantPlanError(t, e, ds, append([]string{"dataset.FromItems"}, c.fragments...)...)
	}
}

func TestFromRecordsErrors(t *testing.T) {
	e := setupGC(t)
	wantPlanError(t, e, dataset.FromRecords(nil, e.opt()), "dataset.FromRecords", "no records")

	a := int64Record(e.mem, "id", seq(0, 3))
	defer a.Release()
	b := int64Record(e.mem, "other", seq(0, 3))
	defer b.Release()
	wantPlanError(t, e, dataset.FromRecords([]arrow.RecordBatch{a, b}, e.opt()), "dataset.FromRecords", "record 1", "other")
	wantPlanError(t, e, dataset.FromRecords([]arrow.RecordBatch{a, nil}, e.opt()), "dataset.FromRecords", "record 1 is nil")
}

// A nil first record is reported like any other nil record, not a panic.
func TestFromRecordsNilFirstRecord(t *testing.T) {
	e := setup(t)
	var ds *dataset.Dataset
	func() {
		defer func() {
			if v := recover(); v != nil {
				t.Errorf("FromRecords([nil]) panicked: %v", v)
			}
		}()
		ds = dataset.FromRecords([]arrow.RecordBatch{nil}, e.opt())
	}()
	if ds != nil {
		if err := ds.Err(); err == nil || !strings.Contains(err.Error(), "record 0 is nil") {
			t.Errorf("Err = %v", err)
		}
	}
}

func TestFromStructsNotAStruct(t *testing.T) {
	e := setup(t)
	wantPlanError(t, e, dataset.FromStructs([]int{1, 2}, e.opt()), "dataset.FromStructs", "int")
}

func TestUnionErrors(t *testing.T) {
	e := setup(t)
	src := dataset.Range(5, e.opt())
	wantPlanError(t, e, src.Union(nil), "dataset.Union", "nil")
	wantPlanError(t, e, src.Union(dataset.FromItems([]dataset.Item{{"s": "x"}}, e.opt())), "dataset.Union", "schema", "s: utf8")
	wantPlanError(t, e, src.Union(dataset.Range(-2, e.opt())), "dataset.Range", "-2")

	other := exec.NewLocal(exec.WithWorkers(1), exec.WithObjectStoreMemory(1<<20))
	defer other.Close()
	wantPlanError(t, e, src.Union(dataset.Range(5, dataset.WithRuntime(other))), "dataset.Union", "another runtime")
}

var errBoom = errors.New("boom")

// wantTaskError checks that err wraps cause in an *exec.TaskError whose
// message names the operator, the stage and the block.
func wantTaskError(t *testing.T, err, cause error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one wrapping %v", cause)
	}
	if cause != nil && !errors.Is(err, cause) {
		t.Errorf("error %q does not wrap %v", err, cause)
	}
	var te *exec.TaskError
	if !errors.As(err, &te) {
		t.Errorf("error %q is not an *exec.TaskError", err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not contain %q", err, f)
		}
	}
}

func TestUDFErrors(t *testing.T) {
	e := setup(t)
	src := dataset.Range(100, e.par(10)...) // id 42 is row 2 of block 4
	fail42 := func(r dataset.Row) error {
		if idOf(r) == 42 {
			return fmt.Errorf("bad id %d: %w", idOf(r), errBoom)
		}
		return nil
	}
	t.Run("Map", func(t *testing.T) {
		ds := src.Map(func(r dataset.Row) (dataset.Item, error) { return r.Item(), fail42(r) })
		_, err := ds.TakeAll(e.ctx)
		wantTaskError(t, err, errBoom, "Map(", "block 4", "row 2", "bad id 42")
	})
	t.Run("Filter", func(t *testing.T) {
		ds := src.Filter(func(r dataset.Row) (bool, error) { return true, fail42(r) })
		_, err := ds.Count(e.ctx)
		wantTaskError(t, err, errBoom, "Filter(", "block 4", "row 2")
	})
	t.Run("FlatMap", func(t *testing.T) {
		ds := src.FlatMap(func(r dataset.Row) ([]dataset.Item, error) { return []dataset.Item{r.Item()}, fail42(r) })
		_, err := ds.Count(e.ctx)
		wantTaskError(t, err, errBoom, "FlatMap(", "block 4", "row 2")
	})
	t.Run("MapBatches", func(t *testing.T) {
		ds := src.MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
			if b.Column(0).(*array.Int64).Value(0) == 40 {
				return nil, errBoom
			}
			return b, nil
		})
		_, err := ds.TakeAll(e.ctx)
		wantTaskError(t, err, errBoom, "MapBatches(", "block 4")
	})
	t.Run("MapBatches with BatchSize", func(t *testing.T) {
		ds := src.MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
			if b.Column(0).(*array.Int64).Value(0) == 40 {
				// An error with a partial result: Shoal releases the result.
				return b.NewSlice(0, 1), errBoom
			}
			return b, nil
		}, dataset.BatchSize(5))
		_, err := ds.TakeAll(e.ctx)
		wantTaskError(t, err, errBoom, "MapBatches(")
	})
	t.Run("AddColumn", func(t *testing.T) {
		ds := src.AddColumn("x", func(b arrow.RecordBatch) (arrow.Array, error) { return nil, errBoom })
		_, err := ds.TakeAll(e.ctx)
		wantTaskError(t, err, errBoom, "AddColumn(x")
	})
	t.Run("in an aggregate", func(t *testing.T) {
		ds := src.Map(func(r dataset.Row) (dataset.Item, error) { return r.Item(), fail42(r) })
		_, err := ds.Sum(e.ctx, "id")
		wantTaskError(t, err, errBoom, "dataset.Sum", "Map(", "row 2")
	})
	t.Run("in IterRows", func(t *testing.T) {
		ds := src.Map(func(r dataset.Row) (dataset.Item, error) { return r.Item(), fail42(r) })
		var rows int
		var errs []error
		for _, err := range ds.IterRows(e.ctx) {
			if err != nil {
				errs = append(errs, err)
				continue
			}
			rows++
		}
		if len(errs) != 1 {
			t.Fatalf("IterRows yielded %d errors: %v", len(errs), errs)
		}
		wantTaskError(t, errs[0], errBoom, "Map(")
		if rows > 40 {
			t.Errorf("IterRows yielded %d rows, past the failing block", rows)
		}
	})
	t.Run("in IterBatches", func(t *testing.T) {
		ds := src.Map(func(r dataset.Row) (dataset.Item, error) { return r.Item(), fail42(r) })
		var errs []error
		for _, err := range ds.IterBatches(e.ctx, 15) {
			if err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) != 1 {
			t.Fatalf("IterBatches yielded %d errors", len(errs))
		}
		wantTaskError(t, errs[0], errBoom, "Map(")
	})
	t.Run("in Materialize", func(t *testing.T) {
		ds := src.Filter(func(r dataset.Row) (bool, error) { return true, fail42(r) })
		m, err := ds.Materialize(e.ctx)
		if m != nil {
			t.Errorf("Materialize returned a dataset with the error")
		}
		wantTaskError(t, err, errBoom, "Filter(")
	})
	t.Run("runtime still usable", func(t *testing.T) {
		equalInts(t, "after errors", takeIDs(t, e, src.Filter(keepAll)), seq(0, 100))
	})
}

func TestAddColumnBadResults(t *testing.T) {
	e := setup(t)
	src := dataset.Range(10, e.par(2)...)
	_, err := src.AddColumn("x", func(arrow.RecordBatch) (arrow.Array, error) { return nil, nil }).TakeAll(e.ctx)
	wantTaskError(t, err, nil, "AddColumn(x", `"x"`, "nil array")
	_, err = src.AddColumn("x", func(arrow.RecordBatch) (arrow.Array, error) {
		return int64Array(e.mem, []int64{1, 2, 3}, nil), nil // 3 rows for a block of 5
	}).TakeAll(e.ctx)
	wantTaskError(t, err, nil, "AddColumn(x", `"x"`, "3 rows")
}

func TestMapBatchesReturnsNil(t *testing.T) {
	e := setup(t)
	for _, opts := range [][]dataset.MapBatchesOption{nil, {dataset.BatchSize(3)}} {
		ds := dataset.Range(20, e.par(2)...).MapBatches(func(arrow.RecordBatch) (arrow.RecordBatch, error) { return nil, nil }, opts...)
		_, err := ds.TakeAll(e.ctx)
		wantTaskError(t, err, nil, "MapBatches(", "nil batch")
	}
}

func TestUDFPanics(t *testing.T) {
	e := setup(t)
	src := dataset.Range(100, e.par(10)...)
	panic42 := func(r dataset.Row) {
		if idOf(r) == 42 {
			panic("kaboom at 42")
		}
	}
	cases := map[string]*dataset.Dataset{
		"Map(":        src.Map(func(r dataset.Row) (dataset.Item, error) { panic42(r); return r.Item(), nil }),
		"Filter(":     src.Filter(func(r dataset.Row) (bool, error) { panic42(r); return true, nil }),
		"FlatMap(":    src.FlatMap(func(r dataset.Row) ([]dataset.Item, error) { panic42(r); return nil, nil }),
		"AddColumn(":  src.AddColumn("x", func(arrow.RecordBatch) (arrow.Array, error) { panic("kaboom") }),
		"MapBatches(": src.MapBatches(func(arrow.RecordBatch) (arrow.RecordBatch, error) { panic("kaboom") }),
		"MapBatches(BatchSize": src.MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
			var ids []int64
			_ = ids[b.NumRows()] // a runtime error (index out of range), not a string
			return b, nil
		}, dataset.BatchSize(7)),
	}
	for name, ds := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ds.TakeAll(e.ctx)
			wantTaskError(t, err, nil, "panic", strings.TrimSuffix(name, "BatchSize"), "block ")
			var pe *exec.PanicError
			if !errors.As(err, &pe) {
				t.Errorf("error %q does not wrap an *exec.PanicError", err)
			}
		})
	}
	// The block index is the one that panicked.
	_, err := cases["Map("].TakeAll(e.ctx)
	wantTaskError(t, err, nil, "block 4", "kaboom at 42")
	// Still usable afterwards.
	equalInts(t, "after panics", takeIDs(t, e, src.Filter(keepAll)), seq(0, 100))
}

// The recovered panic keeps the stack of the panicking function, so the
// user can find the line that panicked.
func TestUDFPanicKeepsStack(t *testing.T) {
	e := setup(t)
	_, err := dataset.Range(10, e.opt()).Map(func(r dataset.Row) (dataset.Item, error) {
		panicInUDF()
		return nil, nil
	}).TakeAll(e.ctx)
	var pe *exec.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v does not wrap an *exec.PanicError", err)
	}
	if !strings.Contains(string(pe.Stack), "panicInUDF") {
		t.Errorf("PanicError.Stack does not show the panicking function; stack:\n%s", pe.Stack)
	}
}

func panicInUDF() { panic("deep") }

// ---------------------------------------------------------------------------
// Cancellation
// ---------------------------------------------------------------------------

func TestContextCancelledBeforeStart(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var calls atomic.Int64
	ds := dataset.Range(100, e.opt()).Map(func(r dataset.Row) (dataset.Item, error) {
		calls.Add(1)
		return r.Item(), nil
	}).Filter(keepAll)
	if _, err := ds.Count(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Count: %v", err)
	}
	if _, err := ds.TakeAll(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("TakeAll: %v", err)
	}
	if _, err := ds.Sum(ctx, "id"); !errors.Is(err, context.Canceled) {
		t.Errorf("Sum: %v", err)
	}
	if _, err := ds.Materialize(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Materialize: %v", err)
	}
	for _, err := range ds.IterRows(ctx) {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("IterRows: %v", err)
		}
	}
	if c := calls.Load(); c != 0 {
		t.Errorf("the UDF ran %d times under a cancelled context", c)
	}
}

// slowDataset is a dataset whose Map sleeps per row: each of its two blocks
// takes about 1 s. started is closed when the first row is being processed.
func slowDataset(e *testEnv, calls *atomic.Int64) (*dataset.Dataset, chan struct{}) {
	started := make(chan struct{})
	var once sync.Once
	ds := dataset.Range(400, e.par(2)...).Map(func(r dataset.Row) (dataset.Item, error) {
		once.Do(func() { close(started) })
		calls.Add(1)
		time.Sleep(5 * time.Millisecond)
		return r.Item(), nil
	}).Filter(keepAll) // a Filter, so Count cannot answer from metadata
	return ds, started
}

// runCancelled starts consume in a goroutine, cancels its context once the
// slow UDF is running, and returns consume's error and how long it took to
// return after the cancel.
func runCancelled(t *testing.T, e *testEnv, consume func(ctx context.Context, ds *dataset.Dataset) error) (time.Duration, int64, error) {
	t.Helper()
	var calls atomic.Int64
	ds, started := slowDataset(e, &calls)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- consume(ctx, ds) }()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the UDF never started")
	}
	time.Sleep(20 * time.Millisecond)
	cancel()
	at := time.Now()
	select {
	case err := <-done:
		return time.Since(at), calls.Load(), err
	case <-time.After(20 * time.Second):
		t.Fatal("the consumer did not return 20 s after its context was cancelled")
		return 0, 0, nil
	}
}

func TestCancelDuringSlowMap(t *testing.T) {
	e := setup(t)
	took, calls, err := runCancelled(t, e, func(ctx context.Context, ds *dataset.Dataset) error {
		_, err := ds.Count(ctx)
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Count returned %v, want context.Canceled", err)
	}
	// Finishing the blocks would take the UDF through all 400 rows; stopping
	// at the cancel leaves most of them uncalled. (No timing is asserted.)
	if calls >= 400 {
		t.Errorf("Count returned after %v with the UDF run on all %d rows: the running tasks did not stop", took, calls)
	}
	// Nothing is left running: close the runtime and check goroutines now.
	e.rt.Close()
	goleak.VerifyNone(t)
}

func TestCancelDuringSlowMapOtherConsumers(t *testing.T) {
	e := setup(t)
	consumers := map[string]func(ctx context.Context, ds *dataset.Dataset) error{
		"TakeAll": func(ctx context.Context, ds *dataset.Dataset) error { _, err := ds.TakeAll(ctx); return err },
		"Sum":     func(ctx context.Context, ds *dataset.Dataset) error { _, err := ds.Sum(ctx, "id"); return err },
		"IterBatches": func(ctx context.Context, ds *dataset.Dataset) error {
			for _, err := range ds.IterBatches(ctx, 10) {
				if err != nil {
					return err
				}
			}
			return nil
		},
	}
	for name, consume := range consumers {
		t.Run(name, func(t *testing.T) {
			took, calls, err := runCancelled(t, e, consume)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s returned %v, want context.Canceled", name, err)
			}
			if calls >= 400 {
				t.Errorf("%s returned after %v with the UDF run on all %d rows: the running tasks did not stop", name, took, calls)
			}
		})
	}
}

func TestDeadlineExceeded(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ds := dataset.Range(1000, e.par(2)...).Filter(func(dataset.Row) (bool, error) {
		time.Sleep(time.Millisecond)
		return true, nil
	})
	if _, err := ds.Count(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Count: %v, want context.DeadlineExceeded", err)
	}
}

// Cancelling while the consumer is between rows of IterRows ends the loop
// with the context's error.
func TestCancelDuringIterRows(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rows int
	var last error
	for _, err := range dataset.Range(100000, e.opt()).IterRows(ctx) {
		if err != nil {
			last = err
			break
		}
		rows++
		if rows == 10 {
			cancel()
		}
	}
	if rows >= 100000 {
		t.Errorf("IterRows yielded all %d rows after its context was cancelled", rows)
	}
	if last != nil && !errors.Is(last, context.Canceled) {
		t.Errorf("IterRows ended with %v", last)
	}
	if last == nil {
		t.Errorf("IterRows ended without reporting context.Canceled after %d rows", rows)
	}
}
