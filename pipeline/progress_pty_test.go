//go:build linux

package pipeline

import (
	"bytes"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

// openPTY opens a pseudo-terminal of cols columns: the terminal side a
// program writes to, and the side that reads what it wrote.
func openPTY(t *testing.T, cols int) (term, reader *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(pts.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: uint16(cols)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pts.Close()
		ptmx.Close()
	})
	return pts, ptmx
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// TestProgressFitsTheTerminal: on an 80-column terminal every line of the
// display fits (a line that wrapped would break the redraw), long fused
// names are shortened to their kinds, and the last frame holds the final
// counts and a summary line.
func TestProgressFitsTheTerminal(t *testing.T) {
	rt := newRuntime(t, exec.WithWorkers(2))
	src := &testSource{n: 12, rows: 50, delay: func(int64) time.Duration { return 40 * time.Millisecond }}
	var plan ops.Node = &ops.Read{Source: src}
	long := "MapBatches(github.com/someone/feature-pipeline/internal/transforms.NormalizeEverythingCarefully)"
	plan = &ops.OneToOne{Input: plan, Label: long, PreservesRows: true, Fn: func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		in.Retain()
		return in, nil
	}}
	term, reader := openPTY(t, 80)
	out := make(chan []byte, 1)
	go func() {
		var buf bytes.Buffer
		_, _ = io.Copy(&buf, reader) // until the test closes the terminal
		out <- buf.Bytes()
	}()
	s, rows, err := drain(t, rt, plan, Options{Progress: term})
	if err != nil {
		t.Fatal(err)
	}
	term.Close()
	var text []byte
	select {
	case text = <-out:
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal's output did not end")
	}
	frames := strings.Split(string(text), "\x1b[")
	if len(frames) < 3 {
		t.Fatalf("only %d escapes: no redraw happened:\n%q", len(frames), text)
	}
	var lines []string
	for _, l := range strings.Split(ansi.ReplaceAllString(string(text), ""), "\n") {
		l = strings.TrimRight(strings.TrimLeft(l, "\r"), "\r")
		if l == "" {
			continue
		}
		if n := utf8.RuneCountInString(l); n >= 80 {
			t.Errorf("a line of %d columns on an 80-column terminal: %q", n, l)
		}
		lines = append(lines, l)
	}
	st := s.Stats()
	last := lines[len(lines)-len(st.Operators)-1:]
	if !strings.Contains(last[len(last)-1], "done in") || !strings.Contains(last[len(last)-1], strconv.FormatInt(rows, 10)+" rows") {
		t.Errorf("the summary line: %q", last[len(last)-1])
	}
	for i, o := range st.Operators {
		want := strconv.FormatInt(o.RowsOut, 10) + " rows"
		if !strings.Contains(last[i], want) || !strings.Contains(last[i], "[done]") {
			t.Errorf("final line of %s: %q, want %q and [done]", o.Name, last[i], want)
		}
	}
	if !strings.Contains(strings.Join(last, "\n"), "Test→MapBatches ") || strings.Contains(string(text), "NormalizeEverything") {
		t.Errorf("the long name was not shortened to its kinds:\n%s", strings.Join(last, "\n"))
	}
	if !strings.Contains(strings.Join(last, "\n"), "12/12 tasks 100%") {
		t.Errorf("no percent done in the last frame:\n%s", strings.Join(last, "\n"))
	}
}
