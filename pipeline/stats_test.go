package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

// drain runs plan to the end and returns its stream (closed) and the rows
// the consumer received.
func drain(t *testing.T, rt exec.Runtime, plan ops.Node, opts Options) (*Stream, int64, error) {
	t.Helper()
	root, err := Build(ops.Optimize(plan), 4)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	s := Run(ctx, rt, root, opts)
	defer s.Close()
	var rows int64
	for {
		b, err := s.Next(ctx)
		if err == io.EOF {
			return s, rows, nil
		}
		if err != nil {
			return s, rows, err
		}
		for _, ref := range b.Refs {
			blk, err := rt.Get(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			rows += blk.NumRows()
			blk.Release()
			rt.Release(ref)
		}
	}
}

func TestRunStatsConsistent(t *testing.T) {
	rt := newRuntime(t)
	src := &testSource{n: 12, rows: 50}
	plan := identity("Map", 0)
	plan.Input = &ops.Read{Source: src}
	s, rows, err := drain(t, rt, plan, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st == nil || len(st.Operators) != 1 {
		t.Fatalf("stats %+v: want one fused operator", st)
	}
	last := st.Operators[len(st.Operators)-1]
	if last.RowsOut != rows || rows != 600 {
		t.Errorf("last operator rows out %d, consumer got %d, want 600", last.RowsOut, rows)
	}
	if last.Tasks != 12 || st.Tasks != 12 {
		t.Errorf("tasks %d (total %d), want 12, one per block", last.Tasks, st.Tasks)
	}
	if last.BlocksOut != 12 || last.Retries != 0 {
		t.Errorf("blocks out %d retries %d", last.BlocksOut, last.Retries)
	}
	if last.Wall <= 0 || last.TaskWall <= 0 || st.Wall < last.Wall || st.TaskWall != last.TaskWall {
		t.Errorf("times: op wall %v task wall %v run wall %v total task wall %v", last.Wall, last.TaskWall, st.Wall, st.TaskWall)
	}
	if st.Err != nil || st.SpilledBytes != 0 {
		t.Errorf("err %v spilled %d", st.Err, st.SpilledBytes)
	}
	if out := st.String(); !strings.Contains(out, last.Name) || !strings.Contains(out, "Total:") {
		t.Errorf("String() lacks the operator or totals:\n%s", out)
	}
	if m := s.Metrics(); m[0].RowsOut != last.RowsOut {
		t.Errorf("Metrics %d rows, Stats %d", m[0].RowsOut, last.RowsOut)
	}
}

func TestRunStatsCountSpills(t *testing.T) {
	const blockRows = 16 << 10 // 128 KiB of int64 per block
	rt := newRuntime(t, exec.WithObjectStoreMemory(256<<10), exec.WithSpillDir(t.TempDir()))
	root, err := Build(&ops.Read{Source: &testSource{n: 16, rows: blockRows}}, 4)
	if err != nil {
		t.Fatal(err)
	}
	s := Run(testContext(t), rt, root, Options{MemoryBudget: 64 << 20})
	// Take nothing: the reads ahead of the consumer overflow the store.
	for deadline := time.Now().Add(5 * time.Second); rt.Stats().SpilledTotal == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	s.Close()
	st := s.Stats()
	if st.SpilledBytes <= 0 {
		t.Errorf("spilled %d bytes over a 256 KiB store\n%s", st.SpilledBytes, st)
	}
}

type parsedEvent struct {
	Name string         `json:"name"`
	Cat  string         `json:"cat"`
	Ph   string         `json:"ph"`
	Ts   float64        `json:"ts"`
	Dur  float64        `json:"dur"`
	Pid  int            `json:"pid"`
	Tid  int            `json:"tid"`
	Args map[string]any `json:"args"`
}

type traceDoc struct {
	TraceEvents []parsedEvent `json:"traceEvents"`
	// Tracks are the thread_name metadata events, by tid.
	Tracks map[int]string `json:"-"`
}

// parseTrace reads a trace, keeping task events in TraceEvents and track
// names in Tracks; every task's track must be named.
func parseTrace(t *testing.T, data []byte) traceDoc {
	t.Helper()
	var doc traceDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("trace is not JSON: %v", err)
	}
	doc.Tracks = map[int]string{}
	var tasks []parsedEvent
	for _, ev := range doc.TraceEvents {
		if ev.Ph == "M" && ev.Name == "thread_name" {
			doc.Tracks[ev.Tid], _ = ev.Args["name"].(string)
			continue
		}
		tasks = append(tasks, ev)
	}
	for _, ev := range tasks {
		if doc.Tracks[ev.Tid] == "" {
			t.Errorf("task event on tid %d, which has no thread_name", ev.Tid)
		}
	}
	doc.TraceEvents = tasks
	return doc
}

func TestTraceHasEveryTaskAndShowsOverlap(t *testing.T) {
	const workers = 3
	rt := newRuntime(t, exec.WithWorkers(workers))
	src := &testSource{n: 24, rows: 10, delay: func(int64) time.Duration { return 3 * time.Millisecond }}
	var plan ops.Node = &ops.Read{Source: src}
	plan = &ops.OneToOne{Input: plan, Label: "Slow", BatchRows: 20, PreservesRows: true, Fn: func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		time.Sleep(3 * time.Millisecond)
		in.Retain()
		return in, nil
	}}
	second := identity("Second", time.Millisecond)
	second.Input = plan
	var buf bytes.Buffer
	s, rows, err := drain(t, rt, second, Options{Trace: &buf})
	if err != nil {
		t.Fatal(err)
	}
	if rows != 240 {
		t.Fatalf("rows %d", rows)
	}
	st := s.Stats()
	if st.TraceErr != nil {
		t.Fatal(st.TraceErr)
	}
	doc := parseTrace(t, buf.Bytes())
	if len(doc.TraceEvents) != st.Tasks {
		t.Fatalf("%d events, %d tasks", len(doc.TraceEvents), st.Tasks)
	}
	type key struct {
		op    string
		index float64
	}
	seen := map[key]bool{}
	perOp := map[string]int{}
	for _, ev := range doc.TraceEvents {
		if ev.Ph != "X" || ev.Cat != "task" || ev.Pid != 1 {
			t.Errorf("event %+v: want ph X, cat task, pid 1", ev)
		}
		if ev.Tid < 0 || ev.Tid >= workers || ev.Ts < 0 || ev.Dur < 0 {
			t.Errorf("event %+v: worker or times out of range", ev)
		}
		k := key{ev.Name, ev.Args["index"].(float64)}
		if seen[k] {
			t.Errorf("task %v traced twice", k)
		}
		seen[k] = true
		perOp[ev.Name]++
	}
	for _, o := range st.Operators {
		if perOp[o.Name] != o.Tasks {
			t.Errorf("%s: %d events, %d tasks", o.Name, perOp[o.Name], o.Tasks)
		}
	}
	if len(st.Operators) != 2 || st.Operators[0].Tasks != 24 || st.Operators[1].Tasks != 12 {
		t.Fatalf("want Read (24 tasks) then Map (12 tasks):\n%s", st)
	}
	// Streaming: some read task runs while some map task does.
	overlap := false
	for _, a := range doc.TraceEvents {
		for _, b := range doc.TraceEvents {
			if a.Name == st.Operators[0].Name && b.Name == st.Operators[1].Name && a.Ts < b.Ts+b.Dur && b.Ts < a.Ts+a.Dur {
				overlap = true
			}
		}
	}
	if !overlap {
		t.Errorf("no read task overlaps a map task: not streaming?\n%s", buf.String())
	}
}

// failAtTask3 reads 8 blocks of 10 rows and fails on the fourth with err,
// in an operator labelled "Fail".
func failAtTask3(err error) ops.Node {
	return &ops.OneToOne{Input: &ops.Read{Source: &testSource{n: 8, rows: 10}}, Label: "Fail", BatchRows: 10,
		Fn: func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
			if tc.Index == 3 {
				return nil, err
			}
			in.Retain()
			return in, nil
		}}
}

func TestTraceWrittenOnError(t *testing.T) {
	rt := newRuntime(t)
	boom := errors.New("boom")
	plan := failAtTask3(boom)
	var buf bytes.Buffer
	s, _, err := drain(t, rt, plan, Options{Trace: &buf})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
	doc := parseTrace(t, buf.Bytes())
	st := s.Stats()
	if len(doc.TraceEvents) == 0 || len(doc.TraceEvents) != st.Tasks || !errors.Is(st.Err, boom) {
		t.Errorf("%d events, %d tasks, err %v", len(doc.TraceEvents), st.Tasks, st.Err)
	}
}
