package pipeline

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

func TestProgressShowsEveryOperator(t *testing.T) {
	rt := newRuntime(t, exec.WithWorkers(2))
	src := &testSource{n: 24, rows: 25, delay: func(int64) time.Duration { return 50 * time.Millisecond }}
	var plan ops.Node = &ops.Read{Source: src}
	plan = &ops.OneToOne{Input: plan, Label: "Slow", BatchRows: 50, PreservesRows: true, Fn: func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		time.Sleep(5 * time.Millisecond)
		in.Retain()
		return in, nil
	}}
	var out bytes.Buffer
	s, rows, err := drain(t, rt, plan, Options{Progress: &out})
	if err != nil {
		t.Fatal(err)
	}
	if rows != 600 {
		t.Fatalf("consumer got %d rows, want 600", rows)
	}
	text := out.String()
	st := s.Stats()
	if len(st.Operators) < 2 {
		t.Fatalf("want at least two operators:\n%s", st)
	}
	// The last frame is the final state of the run.
	up := fmt.Sprintf("\x1b[%dA", len(st.Operators))
	last := text[strings.LastIndex(text, up)+1:]
	for _, o := range st.Operators {
		if !strings.Contains(last, o.Name) {
			t.Errorf("last frame lacks operator %q:\n%q", o.Name, last)
		}
	}
	if want := fmt.Sprintf("%d rows", rows); !strings.Contains(last, want) {
		t.Errorf("last frame lacks %q:\n%q", want, last)
	}
	if !strings.Contains(last, "24/24 tasks") || !strings.Contains(last, "[done]") {
		t.Errorf("last frame lacks the source's 24/24 tasks or done:\n%q", last)
	}
	// The run took over 200 ms, so the loop drew frames before the last,
	// each moving the cursor up over the one before.
	if !strings.Contains(text, up) {
		t.Errorf("no redraw in %q", text)
	}
}

func TestProgressOffByDefault(t *testing.T) {
	// The zero Options draw nothing (and must not touch a nil writer).
	var e executor
	e.renderProgress(false)
	e.renderProgress(true)
	if e.progress.lines != 0 || e.progress.backpressed != nil {
		t.Errorf("zero Options drew a frame: %+v", e.progress)
	}
	rt := newRuntime(t)
	plan := identity("Map", 0)
	plan.Input = &ops.Read{Source: &testSource{n: 4, rows: 10}}
	if _, rows, err := drain(t, rt, plan, Options{}); err != nil || rows != 40 {
		t.Fatalf("rows %d err %v", rows, err)
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	w.n++
	return 0, fmt.Errorf("broken")
}

func TestProgressWriteErrorStopsDisplayNotRun(t *testing.T) {
	rt := newRuntime(t)
	plan := identity("Map", time.Millisecond)
	plan.Input = &ops.Read{Source: &testSource{n: 8, rows: 10}}
	w := &failWriter{}
	s, rows, err := drain(t, rt, plan, Options{Progress: w})
	if err != nil || rows != 80 {
		t.Fatalf("rows %d err %v", rows, err)
	}
	s.Close()
	if w.n != 1 {
		t.Errorf("%d writes after the first failed, want 1 in all", w.n)
	}
}
