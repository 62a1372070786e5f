package pipeline

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shoal-data/shoal/exec"
)

// RunStats describe a finished run of the executor, like Ray Data's
// ds.stats(): what each operator did and what the whole run cost.
//
// An operator's CPU is what its tasks' functions used on their threads
// (each task is pinned to its OS thread while it runs; goroutines a task
// starts itself are not counted); the run's CPU is the whole process's user
// plus system time, so it also has the executor, the store, the garbage
// collector and anything else the process did meanwhile. The store's spill
// counters include other runs sharing the runtime.
type RunStats struct {
	// Operators are in plan order, upstream first; the last is the root.
	Operators []OperatorStats
	// Wall is the run's time from Run until its last task ended and every
	// block was released.
	Wall time.Duration
	// CPU is the process's user+system CPU time during the run; 0 where the
	// platform does not report it.
	CPU time.Duration
	// Tasks, Retries and TaskWall add up the operators'.
	Tasks    int
	Retries  int
	TaskWall time.Duration
	// SpilledBytes and RestoredBytes are the bytes the object store wrote to
	// and read back from disk during the run.
	SpilledBytes  int64
	RestoredBytes int64
	// PeakMemory is the store's highest in-memory bytes over its life, as of
	// the end of the run.
	PeakMemory int64
	// Err is the error the run ended with, nil if it ran to the end or was
	// closed by its consumer.
	Err error
	// TraceErr is why writing Options.Trace failed, if it did.
	TraceErr error
}

// OperatorStats describe what one operator did in a run.
type OperatorStats struct {
	Name string
	// Wall is from the start of its first task to the end of its last; 0 for
	// an operator that ran no task.
	Wall time.Duration
	// TaskWall adds up its tasks' run times (all attempts, with backoff).
	TaskWall time.Duration
	// CPU adds up the CPU time its tasks' functions used (Linux; 0 where
	// the platform cannot tell).
	CPU time.Duration
	// Spilled is the bytes of its outputs the store wrote to disk.
	Spilled int64
	// Tasks counts the tasks that ran (successfully or not); Retries the
	// attempts beyond each task's first.
	Tasks   int
	Retries int
	// Rows and bytes taken in and given out, and output blocks.
	RowsIn, BytesIn   int64
	RowsOut, BytesOut int64
	BlocksOut         int64
	// FilesOut counts the files a write wrote.
	FilesOut int64
	// Backpressured counts the times the executor held a ready task of the
	// operator back for memory; Backpressure is how long its ready tasks
	// waited so, from each time one was first held back until the next was
	// dispatched.
	Backpressured int
	Backpressure  time.Duration
}

// String prints a table of the operators and a line of totals.
func (s *RunStats) String() string {
	if s == nil {
		return "no run"
	}
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	// The operator's name comes last, unaligned: names of fused chains are
	// long, and the numbers stay readable in front of them.
	fmt.Fprintln(w, "Tasks\tRetries\tWall\tTask wall\tCPU\tRows in\tRows out\tBytes in\tBytes out\tBlocks out\tSpilled\tBackpressured\t  Operator")
	for _, o := range s.Operators {
		fmt.Fprintf(w, "%d\t%d\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%d\t%s\t%d\t  %s\n", o.Tasks, o.Retries,
			round(o.Wall), round(o.TaskWall), round(o.CPU), o.RowsIn, o.RowsOut, exec.FormatBytes(o.BytesIn), exec.FormatBytes(o.BytesOut),
			o.BlocksOut, exec.FormatBytes(o.Spilled), o.Backpressured, o.Name)
	}
	w.Flush()
	fmt.Fprintf(&b, "Total: wall %s, CPU %s (process), %d tasks (%d retries), task wall %s, spilled %s, restored %s, store peak %s\n",
		round(s.Wall), round(s.CPU), s.Tasks, s.Retries, round(s.TaskWall), exec.FormatBytes(s.SpilledBytes), exec.FormatBytes(s.RestoredBytes), exec.FormatBytes(s.PeakMemory))
	if s.Err != nil {
		fmt.Fprintf(&b, "Error: %v\n", s.Err)
	}
	return b.String()
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// opTiming is what the executor records of an operator's tasks.
type opTiming struct {
	tasks      int
	retries    int
	taskWall   time.Duration
	cpu        time.Duration
	first, end time.Time
}

// record notes a finished task; called on the loop goroutine.
func (e *executor) record(op Operator, index int, res exec.TaskResult, end time.Time, track string) {
	if res.Attempts == 0 {
		return // never ran: cancelled or closed before it started
	}
	start := res.Start
	if start.IsZero() {
		start = end.Add(-res.Wall)
	}
	tm := e.timing[op]
	if tm == nil {
		tm = &opTiming{}
		e.timing[op] = tm
	}
	tm.tasks++
	tm.retries += res.Attempts - 1
	tm.taskWall += res.Wall
	tm.cpu += res.CPU
	if tm.first.IsZero() || start.Before(tm.first) {
		tm.first = start
	}
	if end.After(tm.end) {
		tm.end = end
	}
	span := TaskSpan{Op: e.index[op], Index: index, Worker: res.Worker, Actor: track, Node: res.Node, Start: start, End: end, Attempts: res.Attempts, Failed: res.Err != nil}
	if e.opts.Trace != nil {
		e.spans = append(e.spans, span)
	}
	e.noteTask(span, res.Err)
}

// finishStats builds the run's stats and writes its trace; called once on
// the loop goroutine after every task has ended.
func (e *executor) finishStats() *RunStats {
	st := e.rt.Stats()
	rs := &RunStats{
		Wall:          time.Since(e.start),
		SpilledBytes:  st.SpilledTotal - e.store0.SpilledTotal,
		RestoredBytes: st.RestoredTotal - e.store0.RestoredTotal,
		PeakMemory:    st.PeakMemory,
		Err:           e.err,
	}
	if cpu := processCPU(); cpu > 0 && e.cpu0 > 0 {
		rs.CPU = cpu - e.cpu0
	}
	now := time.Now()
	for i, op := range e.ops {
		m := op.Metrics()
		o := OperatorStats{Name: op.Name(), RowsIn: m.RowsIn, BytesIn: m.BytesIn, RowsOut: m.RowsOut,
			BytesOut: m.BytesOut, BlocksOut: m.BlocksOut, FilesOut: m.FilesOut, Backpressured: m.Backpressed, Backpressure: e.heldFor(i, now)}
		if tm := e.timing[op]; tm != nil {
			o.Tasks, o.Retries, o.TaskWall, o.Wall, o.CPU = tm.tasks, tm.retries, tm.taskWall, tm.end.Sub(tm.first), tm.cpu
		}
		o.Spilled = st.SpilledByProducer[o.Name] - e.store0.SpilledByProducer[o.Name]
		rs.Tasks += o.Tasks
		rs.Retries += o.Retries
		rs.TaskWall += o.TaskWall
		rs.Operators = append(rs.Operators, o)
	}
	if e.opts.Trace != nil {
		names := make([]string, len(e.ops))
		for i, op := range e.ops {
			names[i] = op.Name()
		}
		rs.TraceErr = WriteTrace(e.opts.Trace, e.start, names, e.spans)
	}
	return rs
}

// traceEvent is a Chrome trace "complete" event.
type traceEvent struct {
	Name string         `json:"name"`
	Cat  string         `json:"cat"`
	Ph   string         `json:"ph"`
	Ts   float64        `json:"ts"`
	Dur  float64        `json:"dur"`
	Pid  int            `json:"pid"`
	Tid  int            `json:"tid"`
	Args map[string]any `json:"args,omitempty"`
}

// actorTrackBase is the first trace tid given to actors and cluster
// lanes, above any worker index.
const actorTrackBase = 10000

// WriteTrace writes spans as a Chrome trace event JSON document (the
// format of Options.Trace), times in microseconds from origin, each task
// named after its operator in ops.
func WriteTrace(w io.Writer, origin time.Time, ops []string, spans []TaskSpan) error {
	doc := struct {
		TraceEvents     []traceEvent `json:"traceEvents"`
		DisplayTimeUnit string       `json:"displayTimeUnit"`
	}{TraceEvents: make([]traceEvent, 0, len(spans)), DisplayTimeUnit: "ms"}
	// Tasks sit on their worker's track; each actor gets a track of its own
	// after the workers', named in thread_name metadata events.
	tids := map[string]int{}
	names := map[int]string{}
	for _, s := range spans {
		lane := s.Lane()
		if s.Actor == "" && s.Node == "" {
			names[s.Worker] = lane
		} else if _, ok := tids[lane]; !ok {
			tids[lane] = actorTrackBase + len(tids)
			names[tids[lane]] = lane
		}
	}
	for _, tid := range slices.Sorted(maps.Keys(names)) {
		doc.TraceEvents = append(doc.TraceEvents, traceEvent{Name: "thread_name", Ph: "M", Pid: 1, Tid: tid, Args: map[string]any{"name": names[tid]}})
	}
	for _, s := range spans {
		args := map[string]any{"index": s.Index, "attempts": s.Attempts}
		if s.Failed {
			args["failed"] = true
		}
		tid := s.Worker
		if s.Actor != "" || s.Node != "" {
			tid = tids[s.Lane()]
		}
		name := fmt.Sprintf("operator %d", s.Op)
		if s.Op >= 0 && s.Op < len(ops) {
			name = ops[s.Op]
		}
		doc.TraceEvents = append(doc.TraceEvents, traceEvent{
			Name: name, Cat: "task", Ph: "X",
			Ts:  float64(max(s.Start.Sub(origin), 0).Nanoseconds()) / 1e3,
			Dur: float64(max(s.End.Sub(s.Start), 0).Nanoseconds()) / 1e3,
			Pid: 1, Tid: tid, Args: args,
		})
	}
	return json.NewEncoder(w).Encode(doc)
}
