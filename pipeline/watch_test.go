package pipeline

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

// snapshots is a Watcher that keeps what it is given, of one runtime.
type snapshots struct {
	rt   exec.Runtime
	mu   sync.Mutex
	runs map[string][]*RunSnapshot
}

func (s *snapshots) WatchRun(rt exec.Runtime, snap *RunSnapshot) {
	if rt != s.rt {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs[snap.ID] = append(s.runs[snap.ID], snap)
}

// only returns the one run's snapshots.
func (s *snapshots) only(t *testing.T) []*RunSnapshot {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.runs) != 1 {
		t.Fatalf("%d runs watched, want 1", len(s.runs))
	}
	for _, r := range s.runs {
		return r
	}
	return nil
}

func watch(t *testing.T, rt exec.Runtime) *snapshots {
	s := &snapshots{rt: rt, runs: map[string][]*RunSnapshot{}}
	t.Cleanup(Watch(s))
	return s
}

// TestWatchedRun: a watcher sees a run as it goes, every 200 ms, and its
// end; its snapshots agree with Stats, and every task comes once as a span.
func TestWatchedRun(t *testing.T) {
	rt := newRuntime(t)
	w := watch(t, rt)
	src := &testSource{n: 30, rows: 10, delay: func(int64) time.Duration { return 20 * time.Millisecond }}
	second := identity("Second", time.Millisecond)
	second.Input = &ops.Read{Source: src}
	second.BatchRows = 20
	s, _, err := drain(t, rt, second, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	snaps := w.only(t)
	if len(snaps) < 2 {
		t.Fatalf("%d snapshots of a 300 ms run, want some while it ran and one at its end", len(snaps))
	}
	spans := 0
	for i, snap := range snaps {
		last := i == len(snaps)-1
		if last != !snap.Ended.IsZero() || last != (snap.State == "finished") || (!last && snap.State != "running") {
			t.Errorf("snapshot %d of %d: state %s, ended %v", i, len(snaps), snap.State, snap.Ended)
		}
		if i > 0 && snap.Operators[0].RowsOut < snaps[i-1].Operators[0].RowsOut {
			t.Errorf("rows out went down at snapshot %d", i)
		}
		spans += len(snap.Spans)
	}
	end := snaps[len(snaps)-1]
	if spans != st.Tasks {
		t.Errorf("%d spans, %d tasks", spans, st.Tasks)
	}
	if len(end.Operators) != 2 || end.Name != "Test→Second" || len(end.Operators[1].Inputs) != 1 || end.Operators[1].Inputs[0] != 0 {
		t.Fatalf("operators: %+v (run %q)", end.Operators, end.Name)
	}
	for i, o := range end.Operators {
		want := st.Operators[i]
		if o.Name != want.Name || o.Tasks != int64(want.Tasks) || o.RowsIn != want.RowsIn || o.RowsOut != want.RowsOut ||
			o.BytesOut != want.BytesOut || o.State != "done" || o.Running != 0 {
			t.Errorf("operator %d: %+v, Stats: %+v", i, o, want)
		}
	}
	if src := end.Operators[0]; src.Done != 30 || src.Total != 30 || src.Unit != "tasks" {
		t.Errorf("the source's progress: %d/%d %s", src.Done, src.Total, src.Unit)
	}
}

// TestWatchedFailure: a run ended by a task's error names the operator
// and the task.
func TestWatchedFailure(t *testing.T) {
	rt := newRuntime(t)
	w := watch(t, rt)
	boom := errors.New("boom")
	plan := failAtTask3(boom)
	if _, _, err := drain(t, rt, plan, Options{}); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	snaps := w.only(t)
	end := snaps[len(snaps)-1]
	if end.State != "failed" || end.Error == "" || end.FailedOperator == nil || end.FailedTask == nil {
		t.Fatalf("the end: %+v", end)
	}
	if op := end.Operators[*end.FailedOperator]; *end.FailedTask != 3 || op.Short != "Fail" {
		t.Errorf("failed at %s task %d", op.Short, *end.FailedTask)
	}
}

// TestBackpressureSeconds: an operator held back for memory accounts the
// time its ready tasks waited.
func TestBackpressureSeconds(t *testing.T) {
	rt := newRuntime(t)
	w := watch(t, rt)
	src := &testSource{n: 40, rows: 1000}
	slow := identity("Slow", 10*time.Millisecond)
	slow.Input = &ops.Read{Source: src, CPUs: -1}
	slow.BatchRows = 1000
	s, _, err := drain(t, rt, slow, Options{MemoryBudget: 20 << 10})
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	var held time.Duration
	for _, o := range st.Operators {
		if (o.Backpressured > 0) != (o.Backpressure > 0) {
			t.Errorf("%s: held back %d times for %v", o.Name, o.Backpressured, o.Backpressure)
		}
		held += o.Backpressure
	}
	if held == 0 {
		t.Fatalf("no operator was held back at a 20 KiB budget:\n%s", st)
	}
	snaps := w.only(t)
	end := snaps[len(snaps)-1]
	for i, o := range end.Operators {
		if got, want := o.BackpressureSeconds, st.Operators[i].Backpressure.Seconds(); got < want*0.99 || got > want*1.01+0.001 {
			t.Errorf("%s: %v s backpressure in the snapshot, %v in Stats", o.Name, got, want)
		}
	}
}
