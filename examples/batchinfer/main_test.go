package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"gonum.org/v1/gonum/mat"
)

// table is the columns of every Parquet file in a directory, read with
// pqarrow directly (not through Shoal), concatenated in file name order.
type table struct {
	ints    map[string][]int64
	floats  map[string][]float64
	strings map[string][]string
}

func readParquetDir(t *testing.T, dir string) table {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.parquet"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no Parquet files in %s (%v)", dir, err)
	}
	tb := table{ints: map[string][]int64{}, floats: map[string][]float64{}, strings: map[string][]string{}}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := pqarrow.ReadTable(context.Background(), f, parquet.NewReaderProperties(memory.DefaultAllocator),
			pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for i, fld := range tbl.Schema().Fields() {
			for _, chunk := range tbl.Column(i).Data().Chunks() {
				if chunk.NullN() > 0 {
					t.Fatalf("%s: column %s has nulls", p, fld.Name)
				}
				switch a := chunk.(type) {
				case *array.Int64:
					tb.ints[fld.Name] = append(tb.ints[fld.Name], a.Int64Values()...)
				case *array.Float64:
					tb.floats[fld.Name] = append(tb.floats[fld.Name], a.Float64Values()...)
				case *array.String:
					for r := range a.Len() {
						tb.strings[fld.Name] = append(tb.strings[fld.Name], a.Value(r))
					}
				default:
					t.Fatalf("%s: column %s is %s", p, fld.Name, chunk.DataType())
				}
			}
		}
		tbl.Release()
	}
	return tb
}

// expectedScores recomputes every input row's score from the raw input and
// the weights file, without the preprocess package or the actors: plain Go
// statistics, then the forward pass with gonum. It returns the scores by id
// and the feature names in the order it built them.
func expectedScores(t *testing.T, in table, modelPath string) (map[int64]float64, []string) {
	t.Helper()
	ids := in.ints[idCol]
	n := len(ids)
	var names []string
	var cols [][]float64
	// Standardized numeric columns: (x - mean) / sample std.
	for _, c := range defaultNumeric {
		xs := in.floats[c]
		if len(xs) != n {
			t.Fatalf("column %s has %d values for %d ids", c, len(xs), n)
		}
		var mean float64
		for _, x := range xs {
			mean += x
		}
		mean /= float64(n)
		var ss float64
		for _, x := range xs {
			ss += (x - mean) * (x - mean)
		}
		std := math.Sqrt(ss / float64(n-1))
		z := make([]float64, n)
		for i, x := range xs {
			z[i] = (x - mean) / std
		}
		names = append(names, c)
		cols = append(cols, z)
	}
	// One-hot segment columns, in sorted value order.
	segs := in.strings[defaultCategorical]
	values := slices.Compact(slices.Sorted(slices.Values(segs)))
	for _, v := range values {
		hot := make([]float64, n)
		for i, s := range segs {
			if s == v {
				hot[i] = 1
			}
		}
		names = append(names, defaultCategorical+"_"+v)
		cols = append(cols, hot)
	}

	data, err := os.ReadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Features []string
		W1       [][]float64
		B1, W2   []float64
		B2       float64
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	d, h := len(names), len(m.B1)
	if len(m.W1) != d || len(m.W2) != h {
		t.Fatalf("model: %d rows of w1 and %d of w2 for %d features and %d hidden units", len(m.W1), len(m.W2), d, h)
	}
	x := mat.NewDense(n, d, nil)
	for j, col := range cols {
		x.SetCol(j, col)
	}
	w1 := mat.NewDense(d, h, nil)
	for i, row := range m.W1 {
		w1.SetRow(i, row)
	}
	var hid mat.Dense
	hid.Mul(x, w1)
	for i := range n {
		for j := range h {
			hid.Set(i, j, math.Tanh(hid.At(i, j)+m.B1[j]))
		}
	}
	var z mat.VecDense
	z.MulVec(&hid, mat.NewVecDense(h, m.W2))
	want := make(map[int64]float64, n)
	for i, id := range ids {
		if _, dup := want[id]; dup {
			t.Fatalf("input id %d appears twice", id)
		}
		want[id] = 1 / (1 + math.Exp(-(z.AtVec(i) + m.B2)))
	}
	if !slices.Equal(m.Features, names) {
		t.Errorf("model features %v, the test built %v", m.Features, names)
	}
	return want, names
}

// checkPredictions asserts the output holds every input id once, with the
// score the test computes and the label that score gives.
func checkPredictions(t *testing.T, out table, want map[int64]float64) {
	t.Helper()
	ids, scores, labels := out.ints[idCol], out.floats["score"], out.ints["label"]
	if len(ids) != len(want) || len(scores) != len(ids) || len(labels) != len(ids) {
		t.Fatalf("output: %d ids, %d scores, %d labels; input: %d ids", len(ids), len(scores), len(labels), len(want))
	}
	seen := make(map[int64]bool, len(ids))
	bad := 0
	for i, id := range ids {
		w, ok := want[id]
		switch {
		case !ok:
			t.Fatalf("output id %d is not in the input", id)
		case seen[id]:
			t.Fatalf("output id %d appears twice", id)
		}
		seen[id] = true
		if math.Abs(scores[i]-w) > 1e-9 {
			if bad++; bad <= 5 {
				t.Errorf("id %d: score %.17g, the test computes %.17g", id, scores[i], w)
			}
		}
		wantLabel := int64(0)
		if scores[i] >= 0.5 {
			wantLabel = 1
		}
		if labels[i] != wantLabel {
			t.Errorf("id %d: label %d for score %g", id, labels[i], scores[i])
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d scores differ from the test's forward pass", bad, len(ids))
	}
}

// checkTrace asserts the trace is a Chrome trace document with task events
// and a track per actor that served calls, and returns those tracks' names.
func checkTrace(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		TraceEvents []struct {
			Name string         `json:"name"`
			Cat  string         `json:"cat"`
			Ph   string         `json:"ph"`
			Tid  int            `json:"tid"`
			Dur  float64        `json:"dur"`
			Args map[string]any `json:"args"`
		} `json:"traceEvents"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("trace %s is not JSON: %v", path, err)
	}
	tracks := map[int]string{}
	var actorTracks []string
	for _, e := range doc.TraceEvents {
		if e.Ph == "M" && e.Name == "thread_name" {
			name, _ := e.Args["name"].(string)
			tracks[e.Tid] = name
			if strings.Contains(name, "actor") {
				actorTracks = append(actorTracks, name)
			}
		}
	}
	tasks, onActors := 0, 0
	for _, e := range doc.TraceEvents {
		if e.Ph != "X" {
			continue
		}
		if e.Cat != "task" {
			t.Errorf("trace event %q has category %q", e.Name, e.Cat)
		}
		tasks++
		name, ok := tracks[e.Tid]
		if !ok {
			t.Errorf("task %q on track %d, which has no thread_name", e.Name, e.Tid)
		}
		if strings.Contains(name, "actor") {
			onActors++
			if !strings.Contains(e.Name, "MapBatchesWithActors") {
				t.Errorf("task %q on actor track %q", e.Name, name)
			}
		}
	}
	if tasks == 0 || onActors == 0 || len(actorTracks) == 0 {
		t.Fatalf("trace: %d task events, %d on %d actor tracks; want some of each", tasks, onActors, len(actorTracks))
	}
	return actorTracks
}

// loadedLines counts the constructor's "actor N: loaded" lines by actor.
func loadedLines(out string) map[int]int {
	counts := map[int]int{}
	for _, line := range strings.Split(out, "\n") {
		var k int
		if _, err := fmt.Sscanf(line, "actor %d: loaded", &k); err == nil && strings.Contains(line, ": loaded ") {
			counts[k]++
		}
	}
	return counts
}

func TestBatchInferOnFakeGPUs(t *testing.T) {
	ctx := context.Background()
	const gpus = 2
	var out bytes.Buffer
	cfg := config{Dir: t.TempDir(), Rows: 20000, Files: 4, Seed: 7, Latency: time.Millisecond,
		GPUs: gpus, MinActors: gpus, MaxActors: gpus, Batch: 1024, Progress: io.Discard}
	sum, err := run(ctx, cfg, &out)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	in := readParquetDir(t, sum.Input)
	if len(in.ints[idCol]) != cfg.Rows || sum.Rows != int64(cfg.Rows) {
		t.Fatalf("input has %d rows (run counted %d), want %d", len(in.ints[idCol]), sum.Rows, cfg.Rows)
	}
	want, names := expectedScores(t, in, sum.Model)
	if !slices.Equal(sum.Features, names) {
		t.Errorf("run's features %v, the test built %v", sum.Features, names)
	}
	checkPredictions(t, readParquetDir(t, sum.Output), want)
	if sum.Predicted != int64(cfg.Rows) {
		t.Errorf("actors scored %d rows, want %d", sum.Predicted, cfg.Rows)
	}

	// The constructor ran once per actor, each actor on a GPU of its own.
	if len(sum.Actors) != gpus {
		t.Fatalf("%d constructor calls, want one per actor (%d): %+v", len(sum.Actors), gpus, sum.Actors)
	}
	indices, devices := map[int]bool{}, map[int]bool{}
	var rows int64
	for _, a := range sum.Actors {
		if indices[a.Index] {
			t.Errorf("actor %d constructed twice", a.Index)
		}
		indices[a.Index] = true
		if len(a.GPUs) != 1 || a.GPUs[0] < 0 || a.GPUs[0] >= gpus || devices[a.GPUs[0]] {
			t.Errorf("actor %d holds GPUs %v; want one of 0..%d, not shared", a.Index, a.GPUs, gpus-1)
		} else {
			devices[a.GPUs[0]] = true
		}
		if !a.Stopped {
			t.Errorf("actor %d was never cleaned up", a.Index)
		}
		rows += a.Rows
	}
	if rows != int64(cfg.Rows) {
		t.Errorf("the actors report %d rows scored, want %d", rows, cfg.Rows)
	}
	loaded := loadedLines(out.String())
	if len(loaded) != gpus {
		t.Errorf("%d actors printed that they loaded the model, want %d", len(loaded), gpus)
	}
	for k, c := range loaded {
		if c != 1 || !indices[k] {
			t.Errorf("actor %d printed %d load lines", k, c)
		}
	}

	// The trace: task events, and a track per actor that served calls.
	tracks := checkTrace(t, sum.Trace)
	if len(tracks) > len(sum.Actors) {
		t.Errorf("%d actor tracks for %d actors: %v", len(tracks), len(sum.Actors), tracks)
	}

	// The stats name the actor stage; its busy fraction is a fraction.
	if sum.Stats == nil || sum.ActorStage == nil {
		t.Fatalf("no stats for the actor stage:\n%v", sum.Stats)
	}
	if sum.ActorStage.RowsOut != int64(cfg.Rows) {
		t.Errorf("actor stage rows out %d, want %d", sum.ActorStage.RowsOut, cfg.Rows)
	}
	if !(sum.Busy > 0 && sum.Busy <= 1) {
		t.Errorf("actor stage busy fraction %g, want in (0, 1]", sum.Busy)
	}
	for _, s := range []string{"MapBatchesWithActors", "rows/s", "busy"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("the report does not mention %q", s)
		}
	}

	// Again from the Parquet written and the weights saved, on CPU actors:
	// the same scores.
	cfg2 := config{In: sum.Input, Model: sum.Model, Out: filepath.Join(t.TempDir(), "out"),
		Batch: 500, MinActors: 1, MaxActors: 1, Progress: io.Discard}
	var out2 bytes.Buffer
	sum2, err := run(ctx, cfg2, &out2)
	if err != nil {
		t.Fatalf("%v\n%s", err, out2.String())
	}
	checkPredictions(t, readParquetDir(t, cfg2.Out), want)
	if sum2.Generated || sum2.ModelGenerated {
		t.Error("the second run generated input or weights it was given")
	}
	if len(sum2.Actors) != 1 || len(sum2.Actors[0].GPUs) != 0 {
		t.Errorf("second run's actors: %+v; want one on the CPU", sum2.Actors)
	}
}

// A weights file for other features stops the run with an error naming them.
func TestBatchInferRejectsMismatchedModel(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "wrong.json")
	if err := writeModel(context.Background(), model, randomModel([]string{"a", "b"}, 4, 1)); err != nil {
		t.Fatal(err)
	}
	cfg := config{Dir: dir, Rows: 1000, Files: 2, Seed: 1, Model: model, Batch: 100, GPUs: 1, Progress: io.Discard}
	_, err := run(context.Background(), cfg, io.Discard)
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), "features") {
		t.Fatalf("got %v, want an error about the model's features", err)
	}
}

func TestParseActors(t *testing.T) {
	for _, c := range []struct {
		in     string
		lo, hi int
		ok     bool
	}{
		{"2", 2, 2, true}, {"1,4", 1, 4, true}, {" 2 , 3 ", 2, 3, true},
		{"0", 0, 0, false}, {"3,2", 0, 0, false}, {"x", 0, 0, false}, {"1,", 0, 0, false},
	} {
		lo, hi, err := parseActors(c.in)
		if (err == nil) != c.ok || c.ok && (lo != c.lo || hi != c.hi) {
			t.Errorf("parseActors(%q) = %d, %d, %v", c.in, lo, hi, err)
		}
	}
}

// The generated model's forward pass in main.go agrees with a plain loop.
func TestForwardMatchesLoop(t *testing.T) {
	names := []string{"a", "b", "c"}
	f := randomModel(names, 5, 3)
	m, err := newMLP(f, names)
	if err != nil {
		t.Fatal(err)
	}
	x := []float64{0.5, -1, 2, 0, 0, 0, -3, 1e-3, 7}
	got := m.forward(mat.NewDense(3, 3, x))
	for i := range 3 {
		z := f.B2
		for j := range 5 {
			a := f.B1[j]
			for k := range 3 {
				a += x[3*i+k] * f.W1[k][j]
			}
			z += math.Tanh(a) * f.W2[j]
		}
		if want := 1 / (1 + math.Exp(-z)); math.Abs(got[i]-want) > 1e-12 {
			t.Errorf("row %d: %g, want %g", i, got[i], want)
		}
	}
}
