package exec_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// startActor starts an actor and waits for its constructor.
func startActor(t *testing.T, rt exec.Runtime, spec exec.ActorSpec) (exec.Actor, error) {
	t.Helper()
	type result struct {
		a   exec.Actor
		err error
	}
	ch := make(chan result, 1)
	rt.StartActor(context.Background(), spec, func(a exec.Actor, err error) { ch <- result{a, err} })
	select {
	case r := <-ch:
		return r.a, r.err
	case <-time.After(waitLimit):
		t.Fatalf("actor %s did not start within %v", spec.Operator, waitLimit)
		return nil, nil
	}
}

func call(t *testing.T, a exec.Actor, index int, inputs ...exec.ObjectRef) <-chan exec.TaskResult {
	t.Helper()
	ch := make(chan exec.TaskResult, 1)
	var calls atomic.Int32
	a.Call(context.Background(), exec.ActorCall{Operator: "op", Index: index, Inputs: inputs}, func(res exec.TaskResult) {
		if calls.Add(1) > 1 {
			t.Errorf("call %d: done called more than once", index)
			return
		}
		ch <- res
	})
	return ch
}

func waitDone(t *testing.T, a exec.Actor) {
	t.Helper()
	select {
	case <-a.Done():
	case <-time.After(waitLimit):
		t.Fatalf("actor did not end within %v", waitLimit)
	}
}

// addState is an actor whose state is a running total: each call adds its
// input's values to the total and returns the total so far.
func addState(constructed *atomic.Int32, cleaned *atomic.Int32) func(ac *exec.ActorContext) (exec.ActorFunc, error) {
	return func(ac *exec.ActorContext) (exec.ActorFunc, error) {
		constructed.Add(1)
		ac.Cleanup(func() { cleaned.Add(1) })
		var total int64
		return func(tc *exec.TaskContext, in []blocks.Block) ([]blocks.Block, error) {
			for _, v := range intsOf(in[0]) {
				total += v
			}
			return []blocks.Block{intBlock(tc.Alloc, total)}, nil
		}, nil
	}
}

func TestActorKeepsStateAcrossCallsInOrder(t *testing.T) {
	rt, _ := newLocal(t, exec.WithWorkers(2), exec.WithGPUs(2))
	var constructed, cleaned atomic.Int32
	a, err := startActor(t, rt, exec.ActorSpec{Operator: "sum", GPUs: 1, New: addState(&constructed, &cleaned)})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.GPUIDs(); !slices.Equal(got, []int{0}) {
		t.Errorf("GPUIDs %v, want [0]", got)
	}
	var chans []<-chan exec.TaskResult
	for i := range 5 {
		ref := putInts(t, rt, "in", int64(i+1))
		chans = append(chans, call(t, a, i, ref))
		defer rt.Release(ref)
	}
	want := []int64{1, 3, 6, 10, 15}
	for i, ch := range chans {
		res := wait(t, ch)
		if res.Err != nil {
			t.Fatalf("call %d: %v", i, res.Err)
		}
		if got := getInts(t, rt, res.Outputs[0]); !slices.Equal(got, want[i:i+1]) {
			t.Errorf("call %d returned %v, want running total %d", i, got, want[i])
		}
		rt.Release(res.Outputs[0])
	}
	if n := constructed.Load(); n != 1 {
		t.Errorf("constructor ran %d times, want once", n)
	}
	a.Stop()
	waitDone(t, a)
	if n := cleaned.Load(); n != 1 {
		t.Errorf("cleanup ran %d times, want once", n)
	}
}

func TestActorResourcesAreReservedAndReturned(t *testing.T) {
	rt, _ := newLocal(t, exec.WithWorkers(2), exec.WithGPUs(2), exec.WithMemory(1000))
	var c, d atomic.Int32
	spec := exec.ActorSpec{Operator: "model", CPUs: 0.5, GPUs: 1, Memory: 400, New: addState(&c, &d)}
	a0, err := startActor(t, rt, spec)
	if err != nil {
		t.Fatal(err)
	}
	a1, err := startActor(t, rt, spec)
	if err != nil {
		t.Fatal(err)
	}
	if g0, g1 := a0.GPUIDs(), a1.GPUIDs(); !slices.Equal(append(g0, g1...), []int{0, 1}) {
		t.Errorf("actors got GPUs %v and %v, want [0] and [1]", g0, g1)
	}
	if r := rt.Resources(); r.ActorCPUs != 1 || r.GPUs != 2 {
		t.Errorf("resources %+v, want ActorCPUs=1 of GPUs=2", r)
	}
	_, err = startActor(t, rt, spec)
	var re *exec.ResourceError
	if !errors.As(err, &re) || re.Resource != "GPUs" || re.Available != 0 || re.Total != 2 {
		t.Fatalf("third GPU actor: err %v, want a ResourceError for GPUs with 0 of 2 free", err)
	}
	if !strings.Contains(err.Error(), "model") {
		t.Errorf("error %q does not name the operator", err)
	}
	_, err = startActor(t, rt, exec.ActorSpec{Operator: "big", CPUs: 1.5, New: addState(&c, &d)})
	if !errors.As(err, &re) || re.Resource != "CPUs" {
		t.Errorf("CPU-hungry actor: err %v, want a ResourceError for CPUs", err)
	}
	_, err = startActor(t, rt, exec.ActorSpec{Operator: "fat", Memory: 300, New: addState(&c, &d)})
	if !errors.As(err, &re) || re.Resource != "memory bytes" {
		t.Errorf("memory-hungry actor: err %v, want a ResourceError for memory", err)
	}
	a0.Stop()
	waitDone(t, a0)
	a2, err := startActor(t, rt, spec)
	if err != nil {
		t.Fatalf("after a stop freed a GPU: %v", err)
	}
	if got := a2.GPUIDs(); !slices.Equal(got, []int{0}) {
		t.Errorf("replacement got GPUs %v, want the freed [0]", got)
	}
	a1.Stop()
	a2.Stop()
	waitDone(t, a1)
	waitDone(t, a2)
	if r := rt.Resources(); r.ActorCPUs != 0 {
		t.Errorf("ActorCPUs %g after every actor stopped, want 0", r.ActorCPUs)
	}
}

func TestActorPanicKillsActorAndFailsQueuedCalls(t *testing.T) {
	rt, _ := newLocal(t, exec.WithWorkers(1))
	g := newGate()
	var cleaned atomic.Int32
	a, err := startActor(t, rt, exec.ActorSpec{Operator: "flaky", New: func(ac *exec.ActorContext) (exec.ActorFunc, error) {
		ac.Cleanup(func() { cleaned.Add(1) })
		return func(tc *exec.TaskContext, in []blocks.Block) ([]blocks.Block, error) {
			g.pass()
			panic("device lost")
		}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ref := putInts(t, rt, "in", 1)
	defer rt.Release(ref)
	first := call(t, a, 0, ref)
	second := call(t, a, 1, ref)
	g.open()
	r1, r2 := wait(t, first), wait(t, second)
	var pe *exec.PanicError
	if !exec.IsActorFailure(r1.Err) || !errors.As(r1.Err, &pe) || !strings.Contains(r1.Err.Error(), "device lost") {
		t.Errorf("panicking call: err %v, want an actor failure wrapping the panic", r1.Err)
	}
	if !exec.IsActorFailure(r2.Err) || !strings.Contains(r2.Err.Error(), "died") {
		t.Errorf("queued call: err %v, want an actor failure saying the actor died", r2.Err)
	}
	waitDone(t, a)
	if r3 := wait(t, call(t, a, 2, ref)); !exec.IsActorFailure(r3.Err) {
		t.Errorf("call on a dead actor: err %v, want an actor failure", r3.Err)
	}
	if n := cleaned.Load(); n != 1 {
		t.Errorf("cleanup ran %d times after the actor died, want once", n)
	}
}

func TestActorFailedMarkerAndPlainErrors(t *testing.T) {
	rt, _ := newLocal(t, exec.WithWorkers(1))
	var calls atomic.Int32
	a, err := startActor(t, rt, exec.ActorSpec{Operator: "m", New: func(ac *exec.ActorContext) (exec.ActorFunc, error) {
		return func(tc *exec.TaskContext, in []blocks.Block) ([]blocks.Block, error) {
			switch calls.Add(1) {
			case 1:
				return nil, errors.New("bad row 7") // the input's fault: the actor lives
			case 2:
				return nil, exec.Retryable(errors.New("busy")) // retried on the same actor
			case 3:
				return nil, nil
			default:
				return nil, exec.ActorFailed(errors.New("CUDA error"))
			}
		}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := wait(t, call(t, a, 0))
	var te *exec.TaskError
	if !errors.As(r.Err, &te) || exec.IsActorFailure(r.Err) || !strings.Contains(r.Err.Error(), "bad row 7") {
		t.Errorf("plain error: %v, want a TaskError that is not an actor failure", r.Err)
	}
	if r = wait(t, call(t, a, 1)); r.Err != nil || r.Attempts != 2 {
		t.Errorf("retryable error: err %v after %d attempts, want success on the second", r.Err, r.Attempts)
	}
	if r = wait(t, call(t, a, 2)); !exec.IsActorFailure(r.Err) || !strings.Contains(r.Err.Error(), "CUDA error") {
		t.Errorf("ActorFailed error: %v, want an actor failure", r.Err)
	}
	waitDone(t, a)
}

func TestActorConstructorFailureReturnsResources(t *testing.T) {
	rt, _ := newLocal(t, exec.WithWorkers(1), exec.WithGPUs(1))
	for _, tc := range []struct {
		name string
		new  func(*exec.ActorContext) (exec.ActorFunc, error)
		want string
	}{
		{"error", func(*exec.ActorContext) (exec.ActorFunc, error) { return nil, errors.New("no weights file") }, "no weights file"},
		{"panic", func(*exec.ActorContext) (exec.ActorFunc, error) { panic("bad model") }, "bad model"},
		{"nil", func(*exec.ActorContext) (exec.ActorFunc, error) { return nil, nil }, "nil function"},
	} {
		_, err := startActor(t, rt, exec.ActorSpec{Operator: "load", GPUs: 1, New: tc.new})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "constructor") {
			t.Errorf("%s: start error %v, want the constructor's %q", tc.name, err, tc.want)
		}
	}
	var c, d atomic.Int32
	a, err := startActor(t, rt, exec.ActorSpec{Operator: "load", GPUs: 1, New: addState(&c, &d)})
	if err != nil {
		t.Fatalf("the only GPU was not given back by failed constructors: %v", err)
	}
	a.Stop()
	waitDone(t, a)
}

func TestCloseStopsActors(t *testing.T) {
	others := goleak.IgnoreCurrent()
	rt := exec.NewLocal(exec.WithWorkers(1))
	var c, cleaned atomic.Int32
	a, err := startActor(t, rt, exec.ActorSpec{Operator: "idle", New: addState(&c, &cleaned)})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Done():
	default:
		t.Fatal("Close returned with an actor still running")
	}
	if cleaned.Load() != 1 {
		t.Error("Close did not run the actor's cleanup")
	}
	if _, err := startActor(t, rt, exec.ActorSpec{Operator: "late", New: addState(&c, &cleaned)}); !errors.Is(err, exec.ErrClosed) {
		t.Errorf("start after Close: %v, want ErrClosed", err)
	}
	goleak.VerifyNone(t, others)
}

// fakeNvidiaSMI puts a script named nvidia-smi first on PATH and hides
// CUDA_VISIBLE_DEVICES for the test.
func fakeNvidiaSMI(t *testing.T, script string) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "nvidia-smi"), []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("CUDA_VISIBLE_DEVICES", "")
	os.Unsetenv("CUDA_VISIBLE_DEVICES") // t.Setenv restores it afterwards
}

func TestDetectGPUs(t *testing.T) {
	t.Run("nvidia-smi", func(t *testing.T) {
		fakeNvidiaSMI(t, `printf '0\n1\n'`)
		ids, err := exec.DetectGPUs(context.Background())
		if err != nil || !slices.Equal(ids, []int{0, 1}) {
			t.Errorf("DetectGPUs = %v, %v; want [0 1]", ids, err)
		}
		rt, _ := newLocal(t, exec.WithWorkers(1))
		if n := rt.Resources().GPUs; n != 2 {
			t.Errorf("a Local without declared GPUs has %d, want the 2 detected", n)
		}
	})
	t.Run("nvidia-smi fails", func(t *testing.T) {
		fakeNvidiaSMI(t, `echo "NVIDIA-SMI has failed" >&2; exit 9`)
		if _, err := exec.DetectGPUs(context.Background()); err == nil || !strings.Contains(err.Error(), "nvidia-smi") {
			t.Errorf("err %v, want one naming nvidia-smi", err)
		}
		rt, _ := newLocal(t, exec.WithWorkers(1))
		if rt.Resources().GPUs != 0 || rt.GPUError() == nil {
			t.Errorf("a failed detection should leave no GPUs and say why (GPUError=%v)", rt.GPUError())
		}
	})
	t.Run("garbage", func(t *testing.T) {
		fakeNvidiaSMI(t, `echo "No devices were found"`)
		if _, err := exec.DetectGPUs(context.Background()); err == nil {
			t.Error("unexpected nvidia-smi output was accepted")
		}
	})
	t.Run("declared wins", func(t *testing.T) {
		fakeNvidiaSMI(t, `printf '0\n1\n2\n3\n'`)
		rt, _ := newLocal(t, exec.WithWorkers(1), exec.WithGPUIDs(3, 5))
		var c, d atomic.Int32
		a, err := startActor(t, rt, exec.ActorSpec{Operator: "m", GPUs: 2, New: addState(&c, &d)})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a.GPUIDs(), []int{3, 5}) {
			t.Errorf("actor got %v, want the declared [3 5]", a.GPUIDs())
		}
		a.Stop()
		waitDone(t, a)
	})
	for _, tc := range []struct {
		env  string
		want []int
	}{{"0,1", []int{0, 1}}, {"GPU-4a1b,GPU-77c2,3", []int{0, 1, 2}}, {"", nil}, {"-1", nil}, {"2,-1,3", []int{0}}} {
		t.Run("CUDA_VISIBLE_DEVICES="+tc.env, func(t *testing.T) {
			t.Setenv("CUDA_VISIBLE_DEVICES", tc.env)
			if ids, err := exec.DetectGPUs(context.Background()); err != nil || !slices.Equal(ids, tc.want) {
				t.Errorf("DetectGPUs = %v, %v; want %v", ids, err, tc.want)
			}
		})
	}
}

func TestLocalFractionalCPUs(t *testing.T) {
	rt, _ := newLocal(t, exec.WithWorkers(1))
	g := newGate()
	var running, peak atomic.Int32
	task := func(cpus float64) exec.Task {
		return exec.Task{Operator: "io", CPUs: cpus, Run: func(*exec.TaskContext, []blocks.Block) ([]blocks.Block, error) {
			n := running.Add(1)
			for m := peak.Load(); n > m && !peak.CompareAndSwap(m, n); m = peak.Load() {
			}
			g.pass()
			running.Add(-1)
			return nil, nil
		}}
	}
	var quarter []<-chan exec.TaskResult
	for range 4 {
		quarter = append(quarter, submit(t, rt, context.Background(), task(0.25)))
	}
	whole := submit(t, rt, context.Background(), task(1))
	deadline := time.Now().Add(waitLimit)
	for running.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // room for a wrong fifth start
	if n := running.Load(); n != 4 {
		t.Fatalf("%d tasks running on 1 CPU, want the four quarter-CPU tasks and not the whole-CPU one", n)
	}
	g.open()
	workers := map[int]bool{}
	for _, ch := range quarter {
		res := wait(t, ch)
		workers[res.Worker] = true
	}
	if len(workers) != 4 {
		t.Errorf("quarter tasks ran on workers %v, want 4 distinct indices", workers)
	}
	if res := wait(t, whole); res.Err != nil {
		t.Fatal(res.Err)
	}
	if peak.Load() != 4 {
		t.Errorf("peak %d tasks at once, want 4", peak.Load())
	}
}
