package pipeline

import (
	"sync/atomic"
	"time"
)

// Recorder receives every run's operator counters as the run goes, for a
// metrics exporter (package metrics installs one with SetRecorder). The
// executor's loop calls it every 200 ms and once when a run ends, with
// what changed since its last call, so that counters summed over runs
// only grow.
type Recorder interface {
	// Record adds delta to operator op's counters. op is the operator's
	// stages by kind ("ReadParquet→Where→MapBatches"), so that the label
	// set stays small whatever the plans' arguments.
	Record(op string, delta OperatorDelta)
}

// OperatorDelta is what changed in an operator since the last Record.
// Running and Actors may go down; the rest only grow.
type OperatorDelta struct {
	TasksDone         int64
	Running           int64 // tasks running now, less at the last call
	RowsIn, RowsOut   int64
	BytesIn, BytesOut int64
	Backpressured     int64 // times a ready task was held back for memory
	Actors            int64 // actor pool size now, less at the last call
}

var recorder atomic.Pointer[Recorder]

// SetRecorder makes r receive the counters of every run that starts from
// now on (nil stops it).
func SetRecorder(r Recorder) {
	if r == nil {
		recorder.Store(nil)
		return
	}
	recorder.Store(&r)
}

// recording is the executor's side: the last counters it recorded.
type recording struct {
	r    Recorder
	last []OperatorDelta // as absolute values, by operator
}

// recordInterval is how often a running executor records.
const recordInterval = 200 * time.Millisecond

// recordCounters sends what changed since the last call; final marks the run's
// end, when nothing runs any more.
func (e *executor) recordCounters(final bool) {
	rec := &e.recording
	if rec.r == nil {
		return
	}
	if rec.last == nil {
		rec.last = make([]OperatorDelta, len(e.ops))
	}
	for i, op := range e.ops {
		m := op.Metrics()
		now := OperatorDelta{TasksDone: int64(m.TasksDone), RowsIn: m.RowsIn, RowsOut: m.RowsOut, BytesIn: m.BytesIn,
			BytesOut: m.BytesOut, Backpressured: int64(m.Backpressed), Actors: int64(m.Actors)}
		if !final {
			now.Running = int64(op.Usage().Active)
		} else {
			now.Actors = 0 // the run's actors are gone
		}
		was := rec.last[i]
		d := OperatorDelta{TasksDone: now.TasksDone - was.TasksDone, Running: now.Running - was.Running,
			RowsIn: now.RowsIn - was.RowsIn, RowsOut: now.RowsOut - was.RowsOut, BytesIn: now.BytesIn - was.BytesIn,
			BytesOut: now.BytesOut - was.BytesOut, Backpressured: now.Backpressured - was.Backpressured, Actors: now.Actors - was.Actors}
		if d != (OperatorDelta{}) {
			rec.r.Record(shortName(op.Name()), d)
		}
		rec.last[i] = now
	}
}
