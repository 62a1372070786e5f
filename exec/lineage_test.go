package exec_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// lossyStore is an in-process store that loses the blocks a test names, as
// a cluster store loses those of a node that died.
type lossyStore struct {
	*exec.Store
	mu     sync.Mutex
	lost   map[exec.ObjectID]bool
	refs   map[exec.ObjectID]int
	alias  map[exec.ObjectID]exec.ObjectRef // lost ID -> the rebuilt block standing for it
	onFree func(exec.ObjectID)
}

func newLossyStore(mem memory.Allocator, dir string) *lossyStore {
	return &lossyStore{Store: exec.NewStore(mem, 1<<30, dir), lost: map[exec.ObjectID]bool{},
		refs: map[exec.ObjectID]int{}, alias: map[exec.ObjectID]exec.ObjectRef{}}
}

func (s *lossyStore) resolve(ref exec.ObjectRef) exec.ObjectRef {
	if a, ok := s.alias[ref.ID]; ok {
		return a
	}
	return ref
}

func (s *lossyStore) Put(b blocks.Block, producer string) (exec.ObjectRef, error) {
	ref, err := s.Store.Put(b, producer)
	if err == nil {
		s.mu.Lock()
		s.refs[ref.ID] = 1
		s.mu.Unlock()
	}
	return ref, err
}

func (s *lossyStore) Get(ctx context.Context, ref exec.ObjectRef) (blocks.Block, error) {
	s.mu.Lock()
	lost := s.lost[ref.ID]
	r := s.resolve(ref)
	s.mu.Unlock()
	if lost {
		return nil, fmt.Errorf("test: %w", exec.ErrBlockLost)
	}
	return s.Store.Get(ctx, r)
}

func (s *lossyStore) Retain(ref exec.ObjectRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refs[ref.ID] > 0 {
		s.refs[ref.ID]++
	}
}

func (s *lossyStore) Release(ref exec.ObjectRef) {
	s.mu.Lock()
	if s.refs[ref.ID] <= 0 {
		s.mu.Unlock()
		return
	}
	s.refs[ref.ID]--
	if s.refs[ref.ID] > 0 {
		s.mu.Unlock()
		return
	}
	delete(s.refs, ref.ID)
	r := s.resolve(ref)
	delete(s.alias, ref.ID)
	delete(s.lost, ref.ID)
	onFree := s.onFree
	s.mu.Unlock()
	s.Store.Release(r)
	onFree(ref.ID)
}

func (s *lossyStore) lose(ref exec.ObjectRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lost[ref.ID] = true
}

func (s *lossyStore) Lost(ref exec.ObjectRef) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost[ref.ID]
}

func (s *lossyStore) Rebind(lost, rebuilt exec.ObjectRef) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refs[lost.ID] == 0 || !s.lost[lost.ID] {
		return false
	}
	delete(s.lost, lost.ID)
	delete(s.refs, rebuilt.ID)
	if old, ok := s.alias[lost.ID]; ok {
		s.Store.Release(old)
	} else {
		s.Store.Release(lost)
	}
	s.alias[lost.ID] = rebuilt
	return true
}

func (s *lossyStore) OnFree(fn func(exec.ObjectID)) { s.onFree = fn }

// runTask runs t and waits for it.
func runTask(t *testing.T, rt exec.Runtime, task exec.Task) []exec.ObjectRef {
	t.Helper()
	done := make(chan exec.TaskResult, 1)
	rt.Submit(context.Background(), task, func(r exec.TaskResult) { done <- r })
	res := <-done
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	return res.Outputs
}

// TestLineageRebuildsLostBlocks: a two-step chain (source → plus-one) whose
// output is lost after its input was freed: the runtime runs the source
// again, then the step, and gets the same block; lineage is then dropped
// with the last reference.
func TestLineageRebuildsLostBlocks(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	store := newLossyStore(mem, t.TempDir())
	rt := exec.NewLocal(exec.WithAllocator(mem), exec.WithObjectStore(store), exec.WithWorkers(2))
	defer rt.Close()
	var sourceRuns, stepRuns atomic.Int64
	src := runTask(t, rt, exec.Task{Operator: "Source", Run: func(tc *exec.TaskContext, _ []blocks.Block) ([]blocks.Block, error) {
		sourceRuns.Add(1)
		return []blocks.Block{intBlock(tc.Alloc, 1, 2, 3)}, nil
	}})
	step := runTask(t, rt, exec.Task{Operator: "PlusOne", Inputs: src, Run: func(tc *exec.TaskContext, in []blocks.Block) ([]blocks.Block, error) {
		stepRuns.Add(1)
		vals := intsOf(in[0])
		for i := range vals {
			vals[i]++
		}
		return []blocks.Block{intBlock(tc.Alloc, vals...)}, nil
	}})
	rt.Release(src[0]) // the input is gone for good: only its lineage stays
	store.lose(step[0])
	b, err := rt.Get(context.Background(), step[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(intsOf(b)); got != "[2 3 4]" {
		t.Errorf("rebuilt block %s, want [2 3 4]", got)
	}
	b.Release()
	if sourceRuns.Load() != 2 || stepRuns.Load() != 2 {
		t.Errorf("source ran %d times, step %d; want each twice", sourceRuns.Load(), stepRuns.Load())
	}
	if entries, reruns := rt.LineageStats(); entries != 2 || reruns != 2 {
		t.Errorf("lineage: %d entries, %d reruns; want 2 and 2", entries, reruns)
	}
	rt.Release(step[0])
	if entries, _ := rt.LineageStats(); entries != 0 {
		t.Errorf("%d lineage entries after the last block was released, want 0", entries)
	}
}

// TestLineageNondeterministicTask: a task that makes a different number
// of blocks when run again cannot stand in for what was lost.
func TestLineageNondeterministicTask(t *testing.T) {
	store := newLossyStore(memory.DefaultAllocator, t.TempDir())
	rt := exec.NewLocal(exec.WithObjectStore(store), exec.WithWorkers(1))
	defer rt.Close()
	var runs atomic.Int64
	outs := runTask(t, rt, exec.Task{Operator: "Flaky", Run: func(tc *exec.TaskContext, _ []blocks.Block) ([]blocks.Block, error) {
		if runs.Add(1) == 1 {
			return []blocks.Block{intBlock(tc.Alloc, 1)}, nil
		}
		return []blocks.Block{intBlock(tc.Alloc, 1), intBlock(tc.Alloc, 2)}, nil
	}})
	store.lose(outs[0])
	_, err := rt.Get(context.Background(), outs[0])
	if err == nil || !strings.Contains(err.Error(), "same blocks") {
		t.Fatalf("rebuilding with a task that changed: %v", err)
	}
	rt.Release(outs[0])
}

// TestLineageNotMadeByATask: a block put by hand cannot be rebuilt; the
// error says so and wraps ErrBlockLost.
func TestLineageNotMadeByATask(t *testing.T) {
	store := newLossyStore(memory.DefaultAllocator, t.TempDir())
	rt := exec.NewLocal(exec.WithObjectStore(store), exec.WithWorkers(1))
	defer rt.Close()
	b := intBlock(rt.Allocator(), 7)
	ref, err := rt.Put(b, "hand")
	b.Release()
	if err != nil {
		t.Fatal(err)
	}
	store.lose(ref)
	_, err = rt.Get(context.Background(), ref)
	if !errors.Is(err, exec.ErrBlockLost) || !strings.Contains(err.Error(), "cannot be rebuilt") {
		t.Fatalf("losing a block put by hand: %v", err)
	}
	rt.Release(ref)
}

// TestLineageRebindsEveryLostSibling: a task made three blocks and two of
// them are lost. Rebuilding one puts both back (one rerun), whether the
// rerun was asked for a lost output itself or, further down a chain, for
// a sibling that had been freed; the block that was not lost keeps its
// own.
func TestLineageRebindsEveryLostSibling(t *testing.T) {
	for _, via := range []string{"a lost output", "a freed sibling"} {
		t.Run(via, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			store := newLossyStore(mem, t.TempDir())
			rt := exec.NewLocal(exec.WithAllocator(mem), exec.WithObjectStore(store), exec.WithWorkers(2))
			defer rt.Close()
			var splitRuns atomic.Int64
			outs := runTask(t, rt, exec.Task{Operator: "Split3", Run: func(tc *exec.TaskContext, _ []blocks.Block) ([]blocks.Block, error) {
				splitRuns.Add(1)
				return []blocks.Block{intBlock(tc.Alloc, 1), intBlock(tc.Alloc, 2), intBlock(tc.Alloc, 3)}, nil
			}})
			ctx := context.Background()
			get := func(ref exec.ObjectRef) string {
				t.Helper()
				b, err := rt.Get(ctx, ref)
				if err != nil {
					t.Fatal(err)
				}
				defer b.Release()
				return fmt.Sprint(intsOf(b))
			}
			wantRuns := int64(2)
			switch via {
			case "a lost output":
				store.lose(outs[0])
				store.lose(outs[2])
				if got := get(outs[0]); got != "[1]" {
					t.Fatalf("rebuilt output 0 is %s, want [1]", got)
				}
			case "a freed sibling":
				// Output 1 feeds a step and is freed; the step's output and
				// outputs 0 and 2 are lost. Rebuilding the step makes output
				// 1 again, which reruns Split3 and puts 0 and 2 back.
				step := runTask(t, rt, exec.Task{Operator: "Times10", Inputs: outs[1:2], Run: func(tc *exec.TaskContext, in []blocks.Block) ([]blocks.Block, error) {
					return []blocks.Block{intBlock(tc.Alloc, 10*intsOf(in[0])[0])}, nil
				}})
				rt.Release(outs[1])
				store.lose(outs[0])
				store.lose(outs[2])
				store.lose(step[0])
				if got := get(step[0]); got != "[20]" {
					t.Fatalf("rebuilt step output is %s, want [20]", got)
				}
				rt.Release(step[0])
			}
			for _, k := range []int{0, 2} {
				if store.Lost(outs[k]) {
					t.Errorf("output %d is still lost after its sibling was rebuilt", k)
				}
			}
			if got := get(outs[2]); got != "[3]" {
				t.Errorf("output 2 reads %s after the rebuild, want [3]", got)
			}
			if got := get(outs[0]); got != "[1]" {
				t.Errorf("output 0 reads %s after the rebuild, want [1]", got)
			}
			if via == "a lost output" {
				if got := get(outs[1]); got != "[2]" {
					t.Errorf("output 1, never lost, reads %s, want [2]", got)
				}
			}
			if n := splitRuns.Load(); n != wantRuns {
				t.Errorf("Split3 ran %d times, want %d: one rerun must put back every lost sibling", n, wantRuns)
			}
			rt.Release(outs[0])
			rt.Release(outs[2])
			if via == "a lost output" {
				rt.Release(outs[1])
			}
			if entries, _ := rt.LineageStats(); entries != 0 {
				t.Errorf("%d lineage entries after every block was released, want 0", entries)
			}
		})
	}
}
