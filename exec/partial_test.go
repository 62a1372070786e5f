package exec_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// TestLocalTaskHandsOutputsOver: a task with Partial set hands blocks over
// through TaskContext.Emit while it runs, in order, before it ends; what
// it returns comes in TaskResult.Outputs. A retried attempt skips what the
// failed one handed over, so each block arrives once; a cancelled task's
// Emit fails; nothing leaks.
func TestLocalTaskHandsOutputsOver(t *testing.T) {
	rt, _ := newLocal(t, exec.WithWorkers(2))
	var mu sync.Mutex
	var handed []exec.ObjectRef
	partial := func(ref exec.ObjectRef) {
		mu.Lock()
		handed = append(handed, ref)
		mu.Unlock()
	}
	collect := func() (vals []int64) {
		mu.Lock()
		defer mu.Unlock()
		for _, ref := range handed {
			vals = append(vals, getInts(t, rt, ref)...)
			rt.Release(ref)
		}
		handed = nil
		return vals
	}

	// Three blocks handed over, one returned; the first three arrive before
	// the task ends (the task waits until they have).
	seen := make(chan struct{})
	res := run(t, rt, context.Background(), exec.Task{
		Operator: "read", Partial: partial,
		Run: func(tc *exec.TaskContext, _ []blocks.Block) ([]blocks.Block, error) {
			if tc.Emit == nil {
				return nil, errors.New("Emit is nil on a local runtime")
			}
			for i := range int64(3) {
				if err := tc.Emit(intBlock(tc.Alloc, i)); err != nil {
					return nil, err
				}
			}
			mu.Lock()
			n := len(handed)
			mu.Unlock()
			if n != 3 {
				return nil, errors.New("the handed blocks did not arrive before the task ended")
			}
			close(seen)
			return []blocks.Block{intBlock(tc.Alloc, 3)}, nil
		},
	})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	<-seen
	if got := collect(); !slices.Equal(got, []int64{0, 1, 2}) {
		t.Errorf("handed over %v, want [0 1 2]", got)
	}
	if len(res.Outputs) != 1 || !slices.Equal(getInts(t, rt, res.Outputs[0]), []int64{3}) {
		t.Errorf("outputs %v, want the returned [3]", res.Outputs)
	}
	for _, r := range res.Outputs {
		rt.Release(r)
	}

	// The first attempt hands two over and fails; the second makes the
	// same blocks and more: each arrives once, in order.
	res = run(t, rt, context.Background(), exec.Task{
		Operator: "flaky", Partial: partial,
		Run: func(tc *exec.TaskContext, _ []blocks.Block) ([]blocks.Block, error) {
			n := int64(5)
			if tc.Attempt == 0 {
				n = 2
			}
			for i := range n {
				if err := tc.Emit(intBlock(tc.Alloc, 10+i)); err != nil {
					return nil, err
				}
			}
			if tc.Attempt == 0 {
				return nil, exec.Retryable(errTransient)
			}
			return nil, nil
		},
	})
	if res.Err != nil || res.Attempts != 2 {
		t.Fatalf("retried task: %v after %d attempts", res.Err, res.Attempts)
	}
	if got := collect(); !slices.Equal(got, []int64{10, 11, 12, 13, 14}) {
		t.Errorf("handed over across attempts %v, want [10 11 12 13 14]", got)
	}

	// Cancelled: Emit fails with the context's error and takes the block.
	ctx, cancel := context.WithCancel(context.Background())
	res = run(t, rt, ctx, exec.Task{
		Operator: "cancelled", Partial: partial,
		Run: func(tc *exec.TaskContext, _ []blocks.Block) ([]blocks.Block, error) {
			cancel()
			return nil, tc.Emit(intBlock(tc.Alloc, 99))
		},
	})
	if !errors.Is(res.Err, context.Canceled) {
		t.Errorf("cancelled task: %v, want context.Canceled", res.Err)
	}
	if got := collect(); len(got) != 0 {
		t.Errorf("a cancelled task handed over %v", got)
	}

	// Without Partial, Emit is nil: the task returns its blocks.
	res = run(t, rt, context.Background(), exec.Task{
		Operator: "plain",
		Run: func(tc *exec.TaskContext, _ []blocks.Block) ([]blocks.Block, error) {
			if tc.Emit != nil {
				return nil, errors.New("Emit set without Partial")
			}
			return nil, nil
		},
	})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if st := rt.Stats(); st.Objects != 0 {
		t.Errorf("store holds %d objects after all were released", st.Objects)
	}
}
