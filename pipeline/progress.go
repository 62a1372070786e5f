package pipeline

import (
	"fmt"
	"strings"
	"time"

	"github.com/shoal-data/shoal/exec"
)

// progressInterval is how often the loop redraws Options.Progress.
const progressInterval = 200 * time.Millisecond

// progress renders one line per operator to Options.Progress. Only the
// executor's loop goroutine calls it, so it reads operator state without
// locks.
//
// It is a minimal renderer of its own rather than
// github.com/schollz/progressbar: that library draws a single bar per writer
// with carriage returns and throttles on its own clock, and has no
// multi-bar mode, so several bars sharing one writer would overwrite each
// other; here every frame redraws all lines at once, moving the cursor up
// over the previous frame with ANSI escapes.
type progress struct {
	lines       int   // lines drawn by the previous frame, to move up over
	backpressed []int // each operator's Backpressed count at the last frame
	failed      bool  // a write failed: draw nothing more
}

// progressTotal is implemented by operators that know how much work they
// have: done and total count the unit (tasks or blocks).
type progressTotal interface {
	progressTotal() (done, total int64, unit string)
}

func (s *sourceOp) progressTotal() (int64, int64, string) {
	return int64(s.metrics.TasksDone), int64(len(s.tasks)), "tasks"
}

func (r *refsOp) progressTotal() (int64, int64, string) {
	return r.metrics.BlocksOut, int64(len(r.refs)), "blocks"
}

// renderProgress draws a frame of Options.Progress, if set; final marks the
// last one, drawn when the run has ended.
func (e *executor) renderProgress(final bool) {
	w := e.opts.Progress
	if w == nil || e.progress.failed {
		return
	}
	p := &e.progress
	if p.backpressed == nil {
		p.backpressed = make([]int, len(e.ops))
	}
	var b strings.Builder
	if p.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.lines)
	}
	width := 0
	for _, op := range e.ops {
		width = max(width, len(op.Name()))
	}
	for i, op := range e.ops {
		m := op.Metrics()
		fmt.Fprintf(&b, "\r\x1b[K%-*s  %d rows", width, op.Name(), m.RowsOut)
		if t, ok := op.(progressTotal); ok {
			done, total, unit := t.progressTotal()
			fmt.Fprintf(&b, "  %d/%d %s", done, total, unit)
		} else {
			fmt.Fprintf(&b, "  %d tasks  %d blocks", m.TasksDone, m.BlocksOut)
		}
		fmt.Fprintf(&b, "  %s", exec.FormatBytes(m.BytesOut))
		if onActors(op) {
			fmt.Fprintf(&b, "  %d actors", m.Actors)
			if m.ActorRestarts > 0 {
				fmt.Fprintf(&b, " (%d restarted)", m.ActorRestarts)
			}
		}
		if state := e.progressState(i, op, m, final); state != "" {
			b.WriteString("  [" + state + "]")
		}
		b.WriteByte('\n')
		p.backpressed[i] = m.Backpressed
	}
	p.lines = len(e.ops)
	if _, err := w.Write([]byte(b.String())); err != nil {
		p.failed = true
	}
}

// progressState says what an operator is doing or waiting on.
func (e *executor) progressState(i int, op Operator, m Metrics, final bool) string {
	switch {
	case final && e.err != nil:
		return "failed"
	case e.stopped[op]:
		return "stopped"
	case op.Finished():
		return "done"
	case final:
		return "cancelled"
	case m.Backpressed > e.progress.backpressed[i]:
		// The loop held a ready task of it back for memory since the last
		// frame.
		return "backpressured"
	}
	if slot, ok := e.consumer[op]; ok {
		if slot.op.InputFull(slot.input) {
			return "waiting on " + slot.op.Name()
		}
	} else if len(e.ready) >= e.opts.Prefetch {
		return "waiting on consumer"
	}
	if u := op.Usage(); u.Active > 0 {
		return fmt.Sprintf("%d running", u.Active)
	}
	return ""
}
