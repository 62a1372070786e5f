package pipeline

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

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
	names := make([]string, len(e.ops))
	stats := make([]string, len(e.ops))
	for i, op := range e.ops {
		names[i] = op.Name()
		stats[i] = e.progressStats(i, op, final)
	}
	width := progressWidth(w, e.opts.ProgressWidth)
	if width > 0 && widest(names, stats) > width {
		for i, n := range names {
			names[i] = shortName(n)
		}
	}
	nameWidth := 0
	for _, n := range names {
		nameWidth = max(nameWidth, utf8.RuneCountInString(n))
	}
	var b strings.Builder
	if p.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.lines)
	}
	lines := 0
	line := func(s string) {
		b.WriteString("\r\x1b[K")
		b.WriteString(fitLine(s, width))
		b.WriteByte('\n')
		lines++
	}
	for i, n := range names {
		line(n + strings.Repeat(" ", nameWidth-utf8.RuneCountInString(n)) + stats[i])
	}
	if final && len(e.ops) > 0 {
		line(e.progressSummary())
	}
	p.lines = lines
	if _, err := w.Write([]byte(b.String())); err != nil {
		p.failed = true
	}
}

// progressStats is an operator's line after its name.
func (e *executor) progressStats(i int, op Operator, final bool) string {
	m := op.Metrics()
	var b strings.Builder
	fmt.Fprintf(&b, "  %d rows", m.RowsOut)
	if m.FilesOut > 0 {
		fmt.Fprintf(&b, "  %d files", m.FilesOut)
	}
	if t, ok := op.(progressTotal); ok {
		done, total, unit := t.progressTotal()
		fmt.Fprintf(&b, "  %d/%d %s", done, total, unit)
		if total > 0 {
			fmt.Fprintf(&b, " %d%%", done*100/total)
		}
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
	if state := e.progressState(i, op, m, final, e.progress.backpressed[i]); state != "" {
		b.WriteString("  [" + state + "]")
	}
	e.progress.backpressed[i] = m.Backpressed
	return b.String()
}

// progressSummary is the last frame's closing line: how the run ended,
// how long it took, and what its last operator produced.
func (e *executor) progressSummary() string {
	state := "done"
	switch {
	case e.err != nil:
		state = "failed"
	case !e.ops[len(e.ops)-1].Finished():
		state = "stopped"
	}
	m := e.ops[len(e.ops)-1].Metrics()
	var wall time.Duration
	if e.stream.stats != nil {
		wall = e.stream.stats.Wall.Round(time.Millisecond)
	}
	if m.FilesOut > 0 {
		return fmt.Sprintf("%s in %v: %d rows, %d files, %s", state, wall, m.RowsOut, m.FilesOut, exec.FormatBytes(m.BytesOut))
	}
	return fmt.Sprintf("%s in %v: %d rows, %s", state, wall, m.RowsOut, exec.FormatBytes(m.BytesOut))
}

// progressWidth is the columns a line may take: set, or w's terminal's
// width, or 0 (no bound) when w is not a terminal.
func progressWidth(w io.Writer, set int) int {
	if set > 0 {
		return set
	}
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return 0
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	if err != nil || cols <= 0 {
		return 0
	}
	return cols
}

// widest is the widest line names and stats make, in columns.
func widest(names, stats []string) int {
	nameWidth, statsWidth := 0, 0
	for i := range names {
		nameWidth = max(nameWidth, utf8.RuneCountInString(names[i]))
		statsWidth = max(statsWidth, utf8.RuneCountInString(stats[i]))
	}
	return nameWidth + statsWidth
}

// shortName names a (fused) operator by its stages' kinds:
// "ReadParquet(data/, filter x > 1)->Where(x > 1)->MapBatches(f)" is
// "ReadParquet→Where→MapBatches".
func shortName(name string) string {
	parts := strings.Split(name, "->")
	for i, p := range parts {
		if k := strings.IndexAny(p, "([{ "); k > 0 {
			parts[i] = p[:k]
		}
	}
	return strings.Join(parts, "→")
}

// fitLine cuts s to width columns (none when width is 0), ending a cut
// line with "…". A terminal's last column is left free: writing there
// makes some terminals wrap.
func fitLine(s string, width int) string {
	if width <= 0 || utf8.RuneCountInString(s) < width {
		return s
	}
	r := []rune(s)
	return string(r[:max(width-2, 0)]) + "…"
}

// progressState says what an operator is doing or waiting on; backpressed
// is its Backpressed count at the caller's previous look.
func (e *executor) progressState(i int, op Operator, m Metrics, final bool, backpressed int) string {
	switch {
	case final && e.err != nil:
		return "failed"
	case e.stopped[op]:
		return "stopped"
	case op.Finished():
		return "done"
	case final:
		return "cancelled"
	case m.Backpressed > backpressed:
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
