package pipeline

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-data/shoal/exec"
)

// A Watcher follows every run in the process as it goes: the metrics
// exporter, the dashboard and a cluster driver's reports to its head are
// watchers. The executor's loop calls WatchRun every 200 ms while the run
// goes and once when it ends (Ended set), on its own goroutine, so
// WatchRun must not block; s is shared by the watchers and must not be
// changed.
type Watcher interface {
	WatchRun(rt exec.Runtime, s *RunSnapshot)
}

// RunSnapshot is a run as it stands: its operators' counters and state,
// and the tasks that ended since the previous snapshot of the run.
type RunSnapshot struct {
	// ID names the run in this process ("run-7").
	ID string `json:"id"`
	// Name is the plan's operators by kind, upstream first
	// ("ReadParquet→Where→WriteParquet").
	Name    string    `json:"name"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"` // zero while the run goes
	// State is "running", then "finished", "failed" or "cancelled".
	State string `json:"state"`
	Error string `json:"error,omitempty"`
	// FailedOperator and FailedTask locate the first task that failed, when
	// a task's error ended the run: the operator's index and the task's
	// (for a read, the block's) index.
	FailedOperator *int    `json:"failed_operator,omitempty"`
	FailedTask     *int    `json:"failed_task,omitempty"`
	WallSeconds    float64 `json:"wall_seconds"`
	// Operators are in plan order, upstream first; the last is the root.
	Operators []OperatorSnapshot `json:"operators"`
	// Spans are the tasks that ended since the run's previous snapshot.
	Spans []TaskSpan `json:"new_spans,omitempty"`
}

// OperatorSnapshot is one operator's counters and state in a RunSnapshot.
type OperatorSnapshot struct {
	Name  string `json:"name"`
	Short string `json:"short"` // by kind: "ReadParquet→Where"
	// Inputs are the indexes of the operators feeding this one.
	Inputs []int `json:"inputs"`
	// State is what the operator does or waits on, as the progress display
	// says it: "done", "backpressured", "waiting on …", "2 running", …
	State string `json:"state"`
	// Tasks counts the tasks that finished.
	Tasks int64 `json:"tasks"`
	// Done of Total (-1 when the operator cannot know it) is its progress,
	// in Unit: "tasks", or "blocks" for an input of blocks already made.
	Done     int64  `json:"tasks_done"`
	Total    int64  `json:"tasks_total"`
	Unit     string `json:"unit"`
	Running  int    `json:"running"`
	Retries  int    `json:"retries"`
	RowsIn   int64  `json:"rows_in"`
	RowsOut  int64  `json:"rows_out"`
	BytesIn  int64  `json:"bytes_in"`
	BytesOut int64  `json:"bytes_out"`
	// FilesOut counts the files a write wrote.
	FilesOut int64 `json:"files_out"`
	// Backpressured counts the times the executor held a ready task back
	// for memory; BackpressureSeconds is how long tasks waited so.
	Backpressured       int64   `json:"backpressured"`
	BackpressureSeconds float64 `json:"backpressure_seconds"`
	SpilledBytes        int64   `json:"spilled_bytes"`
	Actors              int     `json:"actors"`
}

// TaskSpan is one task (or actor call) that ran, for a timeline.
type TaskSpan struct {
	Op     int `json:"op"`     // the operator's index
	Index  int `json:"index"`  // the task's index in its operator
	Worker int `json:"worker"` // the runtime's worker index
	// Actor names the actor an actor call ran on; Node the cluster node a
	// task ran on.
	Actor    string    `json:"actor,omitempty"`
	Node     string    `json:"node,omitempty"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Attempts int       `json:"attempts"`
	Failed   bool      `json:"failed,omitempty"`
}

// watchers are the registered Watchers; each registration is its own
// entry, so that any Watcher value, comparable or not, can be stopped.
var watchers struct {
	mu   sync.Mutex
	list atomic.Pointer[[]*watchEntry]
}

type watchEntry struct{ w Watcher }

// Watch makes w follow every run that starts from now on, until stop is
// called; a run keeps the watchers it started with to its end.
func Watch(w Watcher) (stop func()) {
	e := &watchEntry{w}
	update := func(change func([]*watchEntry) []*watchEntry) {
		watchers.mu.Lock()
		defer watchers.mu.Unlock()
		var list []*watchEntry
		if p := watchers.list.Load(); p != nil {
			list = append(list, *p...)
		}
		list = change(list)
		watchers.list.Store(&list)
	}
	update(func(l []*watchEntry) []*watchEntry { return append(l, e) })
	var once sync.Once
	return func() {
		once.Do(func() {
			update(func(l []*watchEntry) []*watchEntry {
				return slices.DeleteFunc(l, func(x *watchEntry) bool { return x == e })
			})
		})
	}
}

// watchInterval is how often a watched run is snapshotted.
const watchInterval = 200 * time.Millisecond

var runIDs atomic.Int64

// watching is the executor's side: its watchers, fixed at the start, and
// what the next snapshot needs.
type watching struct {
	ws          []Watcher
	id          string
	spans       []TaskSpan // ended since the last snapshot
	backpressed []int      // each operator's Backpressed at the last snapshot
	failedOp    int        // the first failed task's operator, or -1
	failedTask  int
}

func (e *executor) startWatching() {
	e.watching.failedOp = -1
	if p := watchers.list.Load(); p != nil && len(*p) > 0 {
		for _, x := range *p {
			e.watching.ws = append(e.watching.ws, x.w)
		}
		e.watching.id = "run-" + strconv.FormatInt(runIDs.Add(1), 10)
		e.watching.backpressed = make([]int, len(e.ops))
	}
}

// Lane is the timeline row the span belongs on: its actor; on a cluster,
// its node and the driver's task slot that sent it there (a slot runs one
// task at a time); else its worker.
func (s TaskSpan) Lane() string {
	switch {
	case s.Actor != "":
		return s.Actor
	case s.Node != "":
		return s.Node + " · slot " + strconv.Itoa(s.Worker)
	}
	return "worker " + strconv.Itoa(s.Worker)
}

// noteTask keeps an ended task for the next snapshot, and the first task
// that failed.
func (e *executor) noteTask(s TaskSpan, err error) {
	w := &e.watching
	if err != nil && w.failedOp < 0 && e.ctx.Err() == nil {
		w.failedOp, w.failedTask = s.Op, s.Index
	}
	if w.ws != nil {
		w.spans = append(w.spans, s)
	}
}

// publish sends every watcher a snapshot; final marks the run's end.
func (e *executor) publish(final bool) {
	w := &e.watching
	if w.ws == nil {
		return
	}
	now := time.Now()
	s := &RunSnapshot{ID: w.id, Started: e.start, State: "running", WallSeconds: now.Sub(e.start).Seconds(), Spans: w.spans}
	w.spans = nil
	if final {
		s.Ended = now
		switch {
		case e.err == nil:
			s.State = "finished"
		case errors.Is(e.err, context.Canceled) || errors.Is(e.err, context.DeadlineExceeded):
			s.State, s.Error = "cancelled", e.err.Error()
		default:
			s.State, s.Error = "failed", e.err.Error()
			if w.failedOp >= 0 {
				op, task := w.failedOp, w.failedTask
				s.FailedOperator, s.FailedTask = &op, &task
			}
		}
	}
	st := e.rt.Stats()
	s.Operators = make([]OperatorSnapshot, len(e.ops))
	for i, op := range e.ops {
		m := op.Metrics()
		o := OperatorSnapshot{Name: op.Name(), Short: shortName(op.Name()), Inputs: []int{}, Tasks: int64(m.TasksDone),
			Done: int64(m.TasksDone), Total: -1, Unit: "tasks",
			RowsIn: m.RowsIn, RowsOut: m.RowsOut, BytesIn: m.BytesIn, BytesOut: m.BytesOut, FilesOut: m.FilesOut, Backpressured: int64(m.Backpressed),
			BackpressureSeconds: e.heldFor(i, now).Seconds(), Actors: m.Actors,
			SpilledBytes: st.SpilledByProducer[op.Name()] - e.store0.SpilledByProducer[op.Name()]}
		for _, in := range op.Inputs() {
			o.Inputs = append(o.Inputs, e.index[in])
		}
		if t, ok := op.(progressTotal); ok {
			o.Done, o.Total, o.Unit = t.progressTotal()
		}
		if tm := e.timing[op]; tm != nil {
			o.Retries = tm.retries
		}
		if !final {
			o.Running = op.Usage().Active
		} else {
			o.Actors = 0 // the run's actors are gone
		}
		o.State = e.progressState(i, op, m, final, w.backpressed[i])
		w.backpressed[i] = m.Backpressed
		s.Operators[i] = o
		if i > 0 {
			s.Name += "→"
		}
		s.Name += o.Short
	}
	for _, wt := range w.ws {
		wt.WatchRun(e.rt, s)
	}
}

// holdBack notes that the loop held a ready task of operator i back for
// memory; resume that it dispatched one of its tasks. Both are on the
// dispatch path, so they read the clock only when a hold starts or ends.
func (e *executor) holdBack(i int) {
	if e.heldSince[i].IsZero() {
		e.heldSince[i] = time.Now()
	}
}

func (e *executor) resume(i int) {
	if !e.heldSince[i].IsZero() {
		e.held[i] += time.Since(e.heldSince[i])
		e.heldSince[i] = time.Time{}
	}
}

// heldFor is how long operator i's ready tasks have waited for memory:
// from each time the loop first held one back until it next dispatched one
// (or now).
func (e *executor) heldFor(i int, now time.Time) time.Duration {
	d := e.held[i]
	if !e.heldSince[i].IsZero() {
		d += now.Sub(e.heldSince[i])
	}
	return d
}
