package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// Actor kinds the tests start on workers. Each takes {"dir": path} and
// writes files there that the tests wait for.
func init() {
	// test-counter: each output is an input block with, per row, the count
	// of rows the actor has seen (its state), its first GPU (-1: none) and
	// the call's attempt. An x of -1 fails the call, -2 kills the actor
	// (exec.ActorFailed), -3 writes sleeping-INDEX and waits for the call's
	// context. Its cleanup writes cleanup-INDEX.
	exec.RegisterActorKind("test-counter", func(args []byte) (func(*exec.ActorContext) (exec.ActorFunc, error), error) {
		var a struct{ Dir string }
		if err := json.Unmarshal(args, &a); err != nil {
			return nil, err
		}
		return func(ac *exec.ActorContext) (exec.ActorFunc, error) {
			gpu := int64(-1)
			if len(ac.GPUIDs) > 0 {
				gpu = int64(ac.GPUIDs[0])
			}
			index := ac.Index
			ac.Cleanup(func() {
				_ = writeMarker(filepath.Join(a.Dir, fmt.Sprintf("cleanup-%d", index)), []byte("cleaned"))
			})
			var seen int64
			return func(tc *exec.TaskContext, in []blocks.Block) ([]blocks.Block, error) {
				var outs []blocks.Block
				for _, b := range in {
					x, err := blocks.Column(b, "x")
					if err != nil {
						return nil, err
					}
					vals := x.(*array.Int64).Int64Values()
					for _, v := range vals {
						switch v {
						case -1:
							return nil, errors.New("negative row")
						case -2:
							return nil, exec.ActorFailed(errors.New("device lost"))
						case -3:
							_ = writeMarker(filepath.Join(a.Dir, fmt.Sprintf("sleeping-%d", index)), nil)
							select {
							case <-tc.Done():
							case <-time.After(time.Minute):
							}
							return nil, tc.Err()
						}
					}
					count := make([]int64, len(vals))
					for i := range count {
						seen++
						count[i] = seen
					}
					outs = append(outs, counterBlock(tc.Alloc, x, count, gpu, int64(tc.Attempt)))
				}
				return outs, nil
			}, nil
		}, nil
	})
	// test-actor-panic: args {"dir", "row"}: panics on the row whose x is
	// row; its cleanup writes panic-cleanup-INDEX.
	exec.RegisterActorKind("test-actor-panic", func(args []byte) (func(*exec.ActorContext) (exec.ActorFunc, error), error) {
		var a struct {
			Dir string
			Row int64
		}
		if err := json.Unmarshal(args, &a); err != nil {
			return nil, err
		}
		return func(ac *exec.ActorContext) (exec.ActorFunc, error) {
			index := ac.Index
			ac.Cleanup(func() {
				_ = writeMarker(filepath.Join(a.Dir, fmt.Sprintf("panic-cleanup-%d", index)), nil)
			})
			return func(tc *exec.TaskContext, in []blocks.Block) ([]blocks.Block, error) {
				for _, b := range in {
					x, err := blocks.Column(b, "x")
					if err != nil {
						return nil, err
					}
					if slices.Contains(x.(*array.Int64).Int64Values(), a.Row) {
						panic(fmt.Sprintf("boom at row %d", a.Row))
					}
				}
				return nil, nil
			}, nil
		}, nil
	})
	// test-actor-ctor-fails: args {"dir", "panic"}: registers a cleanup
	// (writing ctor-cleanup), then fails or panics.
	exec.RegisterActorKind("test-actor-ctor-fails", func(args []byte) (func(*exec.ActorContext) (exec.ActorFunc, error), error) {
		var a struct {
			Dir   string
			Panic bool
		}
		if err := json.Unmarshal(args, &a); err != nil {
			return nil, err
		}
		return func(ac *exec.ActorContext) (exec.ActorFunc, error) {
			ac.Cleanup(func() { _ = writeMarker(filepath.Join(a.Dir, "ctor-cleanup"), nil) })
			if a.Panic {
				panic("ctor boom")
			}
			return nil, errors.New("no model here")
		}, nil
	})
	// test-actor-slow-ctor: writes constructing, then waits for its
	// context (at most a minute) and fails; its cleanup writes
	// slow-cleanup.
	exec.RegisterActorKind("test-actor-slow-ctor", func(args []byte) (func(*exec.ActorContext) (exec.ActorFunc, error), error) {
		var a struct{ Dir string }
		if err := json.Unmarshal(args, &a); err != nil {
			return nil, err
		}
		return func(ac *exec.ActorContext) (exec.ActorFunc, error) {
			ac.Cleanup(func() { _ = writeMarker(filepath.Join(a.Dir, "slow-cleanup"), nil) })
			_ = writeMarker(filepath.Join(a.Dir, "constructing"), nil)
			select {
			case <-ac.Done():
				return nil, ac.Err()
			case <-time.After(time.Minute):
				return nil, errors.New("nobody stopped the slow constructor")
			}
		}, nil
	})
}

func counterBlock(mem memory.Allocator, x arrow.Array, count []int64, gpu, attempt int64) blocks.Block {
	col := func(vals []int64) arrow.Array {
		b := array.NewInt64Builder(mem)
		defer b.Release()
		b.AppendValues(vals, nil)
		return b.NewArray()
	}
	n := len(count)
	fill := func(v int64) []int64 {
		s := make([]int64, n)
		for i := range s {
			s[i] = v
		}
		return s
	}
	cols := []arrow.Array{col(count), col(fill(gpu)), col(fill(attempt))}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	f := func(name string) arrow.Field { return arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Int64} }
	schema := arrow.NewSchema([]arrow.Field{f("x"), f("count"), f("gpu"), f("attempt")}, nil)
	return array.NewRecordBatch(schema, append([]arrow.Array{x}, cols...), int64(n))
}

func actorSpec(t *testing.T, kind string, args map[string]any) exec.TaskSpec {
	t.Helper()
	b, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	return exec.TaskSpec{Kind: kind, Args: b}
}

// startActorNode starts a node for actor tests with the test binary in
// place.
func startActorNode(t *testing.T, head string, res Resources) *taskNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := &syncBuffer{}
	res.ObjectStoreMemory = 64 << 20
	n, err := StartNode(ctx, NodeConfig{Head: head, Token: testToken, SpillDir: t.TempDir(), Logf: t.Logf, WorkerOutput: out, Resources: res})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	c := objDialToken(t, n.Addr(), testToken)
	path, hash := testBinary(t)
	if err := c.EnsureBinary(context.Background(), path, hash); err != nil {
		t.Fatal(err)
	}
	return &taskNode{Node: n, out: out, client: c}
}

// counterOutputs reads the outputs of a test-counter call, column by
// column, and frees them.
func counterOutputs(t *testing.T, n *taskNode, res RunTaskResult) (x, count, gpu, attempt [][]int64) {
	t.Helper()
	if len(res.Outputs) > 0 && (res.Addr == "" || res.Addr == n.Addr()) {
		t.Fatalf("the call's outputs are at %q, want its worker's store", res.Addr)
	}
	c := objDialToken(t, res.Addr, testToken) // the actor's worker
	for _, ref := range res.Outputs {
		b, err := c.Get(context.Background(), ref.ID, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		col := func(i int) []int64 { return slices.Clone(b.Column(i).(*array.Int64).Int64Values()) }
		x, count, gpu, attempt = append(x, col(0)), append(count, col(1)), append(gpu, col(2)), append(attempt, col(3))
		b.Release()
		if err := c.Release(context.Background(), ref.ID); err != nil {
			t.Fatal(err)
		}
	}
	return x, count, gpu, attempt
}

func waitDone(t *testing.T, h *RemoteActorHandle) {
	t.Helper()
	select {
	case <-h.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not end within 30s", h)
	}
}

func stopActor(t *testing.T, h *RemoteActorHandle) {
	t.Helper()
	h.Stop()
	waitDone(t, h)
	if err := h.Err(); err != nil {
		t.Errorf("%s stopped with %v, want nil", h, err)
	}
}

// waitHeld waits until the node's actors hold nothing: every GPU free, no
// CPUs or memory held, no actor.
func waitHeld(t *testing.T, n *taskNode) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		free, cpus, mem, actors := n.actors.held()
		if len(free) == n.actors.gpus && cpus == 0 && mem == 0 && actors == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node still holds for actors: free GPUs %v, %d milli-CPUs, %d bytes, %d actors", free, cpus, mem, actors)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestActors starts actors on a node with 4 CPUs, 2 GPUs and 1000 bytes of
// actor memory: their state, their resources, their calls, and each way
// they end.
func TestActors(t *testing.T) {
	h := startHead(t)
	n := startActorNode(t, h.Addr(), Resources{CPUs: 4, GPUs: 2, Memory: 1000})
	_, hash := testBinary(t)
	ctx := context.Background()
	start := func(t *testing.T, spec exec.TaskSpec, index, gpus int) *RemoteActorHandle {
		t.Helper()
		a, err := n.client.StartActor(ctx, ActorStartRequest{Binary: hash, Spec: spec, Operator: "act", Index: index, GPUs: gpus})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	call := func(a *RemoteActorHandle, req ActorCallRequest, vals ...[]int64) (RunTaskResult, error) {
		for _, v := range vals {
			id := putInts(t, n.client, v...)
			defer n.client.Release(ctx, id)
			req.Inputs = append(req.Inputs, RemoteBlock{Addr: n.Addr(), ID: id})
		}
		return a.Call(ctx, req)
	}

	t.Run("state across calls", func(t *testing.T) {
		dir := t.TempDir()
		// The start's context bounds the start only.
		sctx, cancel := context.WithCancel(ctx)
		a, err := n.client.StartActor(sctx, ActorStartRequest{Binary: hash, Spec: actorSpec(t, "test-counter", map[string]any{"dir": dir}),
			Operator: "count", Index: 3, CPUs: 1.5, GPUs: 1, Memory: 100})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		defer stopActor(t, a)
		if len(a.GPUIDs()) != 1 || a.Node() != n.ID() || !strings.HasPrefix(a.ID(), "actor-") {
			t.Fatalf("actor %s on %q with GPUs %v", a.ID(), a.Node(), a.GPUIDs())
		}
		if free, cpus, mem, actors := n.actors.held(); len(free) != 1 || cpus != 1500 || mem != 100 || actors != 1 {
			t.Errorf("the node holds: free GPUs %v, %d milli-CPUs, %d bytes, %d actors", free, cpus, mem, actors)
		}
		res, err := call(a, ActorCallRequest{Operator: "count", Index: 0}, []int64{1, 2, 3}, []int64{4, 5})
		if err != nil {
			t.Fatal(err)
		}
		if res.Wall <= 0 || len(res.Outputs) != 2 || res.Outputs[0].Rows != 3 || res.Outputs[0].Producer != "count" {
			t.Errorf("result %+v", res)
		}
		x, count, gpu, attempt := counterOutputs(t, n, res)
		if fmt.Sprint(x, count) != "[[1 2 3] [4 5]] [[1 2 3] [4 5]]" || gpu[0][0] != int64(a.GPUIDs()[0]) || attempt[0][0] != 0 {
			t.Errorf("first call: x %v, count %v, gpu %v, attempt %v", x, count, gpu, attempt)
		}
		res, err = call(a, ActorCallRequest{Operator: "count", Index: 1, Attempt: 2}, []int64{7, 8})
		if err != nil {
			t.Fatal(err)
		}
		x, count, _, attempt = counterOutputs(t, n, res)
		if fmt.Sprint(x, count, attempt) != "[[7 8]] [[6 7]] [[2 2]]" {
			t.Errorf("second call: x %v, count %v, attempt %v: want the count to go on", x, count, attempt)
		}
	})

	t.Run("offset and length", func(t *testing.T) {
		a := start(t, actorSpec(t, "test-counter", map[string]any{"dir": t.TempDir()}), 0, 0)
		defer stopActor(t, a)
		res, err := call(a, ActorCallRequest{Operator: "slice", Offset: 2, Length: 3}, []int64{1, 2, 3}, []int64{4, 5, 6})
		if err != nil {
			t.Fatal(err)
		}
		if x, count, gpu, _ := counterOutputs(t, n, res); fmt.Sprint(x, count, gpu) != "[[3] [4 5]] [[1] [2 3]] [[-1] [-1 -1]]" {
			t.Errorf("rows [2, 5): x %v, count %v, gpu %v", x, count, gpu)
		}
		res, err = call(a, ActorCallRequest{Operator: "slice", Offset: 5}, []int64{1, 2}, []int64{3})
		if err != nil {
			t.Fatal(err)
		}
		if x, _, _, _ := counterOutputs(t, n, res); fmt.Sprint(x) != "[[1 2] [3]]" {
			t.Errorf("length 0: x %v, want every row", x)
		}
	})

	t.Run("GPUs", func(t *testing.T) {
		dir := t.TempDir()
		spec := actorSpec(t, "test-counter", map[string]any{"dir": dir})
		a1, a2 := start(t, spec, 1, 1), start(t, spec, 2, 1)
		defer stopActor(t, a2)
		if g1, g2 := a1.GPUIDs(), a2.GPUIDs(); len(g1) != 1 || len(g2) != 1 || g1[0] == g2[0] {
			t.Fatalf("two actors of 1 GPU got %v and %v", g1, g2)
		}
		_, err := n.client.StartActor(ctx, ActorStartRequest{Binary: hash, Spec: spec, Operator: "act", Index: 3, GPUs: 1})
		if !IsResourceExhausted(err) || !strings.Contains(err.Error(), "1 GPU(s) needed, 0 of 2 free on node "+n.ID()) {
			t.Fatalf("a third actor: %v, want ResourceExhausted naming the GPUs", err)
		}
		// Stopping returns the GPU (Done: the node has it back) after the
		// actor's cleanup.
		stopActor(t, a1)
		if got := waitFile(t, filepath.Join(dir, "cleanup-1")); got != "cleaned" {
			t.Errorf("cleanup wrote %q", got)
		}
		if free, _, _, _ := n.actors.held(); !slices.Equal(free, a1.GPUIDs()) {
			t.Errorf("free GPUs after the stop: %v, want %v", free, a1.GPUIDs())
		}
		a3 := start(t, spec, 3, 1)
		if !slices.Equal(a3.GPUIDs(), a1.GPUIDs()) {
			t.Errorf("the new actor got GPUs %v, want the freed %v", a3.GPUIDs(), a1.GPUIDs())
		}
		if _, err := a1.Call(ctx, ActorCallRequest{}); !exec.IsActorFailure(err) {
			t.Errorf("a call on a stopped actor: %v, want an actor failure", err)
		}
		a1.Stop() // again: nothing

		// actor-stop from elsewhere: the stream ends, the handle says so.
		other := objDialToken(t, n.Addr(), testToken)
		if err := other.call(ctx, actionActorStop, actorIDBody{ActorID: a3.ID()}, nil); err != nil {
			t.Fatal(err)
		}
		waitDone(t, a3)
		if err := a3.Err(); err == nil || !strings.Contains(err.Error(), "stopped by an actor-stop") {
			t.Errorf("an actor stopped by another client ended with %v", err)
		}
		if err := other.call(ctx, actionActorStop, actorIDBody{ActorID: a3.ID()}, nil); err != nil {
			t.Errorf("stopping a stopped actor: %v, want nothing done", err)
		}
	})

	t.Run("CPUs and memory", func(t *testing.T) {
		spec := actorSpec(t, "test-counter", map[string]any{"dir": t.TempDir()})
		big, err := n.client.StartActor(ctx, ActorStartRequest{Binary: hash, Spec: spec, Operator: "big", CPUs: 4, Memory: 600})
		if err != nil {
			t.Fatal(err)
		}
		_, err = n.client.StartActor(ctx, ActorStartRequest{Binary: hash, Spec: spec, Operator: "mem", Memory: 600})
		if !IsResourceExhausted(err) || !strings.Contains(err.Error(), "600 bytes of memory needed, 400 of 1000 free") {
			t.Errorf("an actor beyond the memory: %v", err)
		}
		_, err = n.client.StartActor(ctx, ActorStartRequest{Binary: hash, Spec: spec, Operator: "cpu", CPUs: 0.5})
		if !IsResourceExhausted(err) || !strings.Contains(err.Error(), "0.5 CPU(s) needed, 0 of 4 free") {
			t.Errorf("an actor beyond the CPUs: %v", err)
		}
		// Tasks share the CPUs: one waits while the actor holds them all.
		qctx, qcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		_, err = n.client.RunTask(qctx, RunTaskRequest{Binary: hash, Spec: exec.TaskSpec{Kind: "test-double"}})
		qcancel()
		if status.Code(err) != codes.DeadlineExceeded {
			t.Errorf("a task beside an actor holding every CPU: %v, want it to wait", err)
		}
		stopActor(t, big)
		if _, err := n.client.RunTask(ctx, RunTaskRequest{Binary: hash, Spec: exec.TaskSpec{Kind: "test-double"}}); err != nil {
			t.Errorf("a task once the actor stopped: %v", err)
		}
		_, err = n.client.StartActor(ctx, ActorStartRequest{Binary: hash, Spec: spec, CPUs: -1})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("negative CPUs: %v, want InvalidArgument", err)
		}
	})

	t.Run("function error", func(t *testing.T) {
		a := start(t, actorSpec(t, "test-counter", map[string]any{"dir": t.TempDir()}), 0, 1)
		defer stopActor(t, a)
		_, err := call(a, ActorCallRequest{Operator: "f"}, []int64{5, -1})
		var tf *TaskFailedError
		if !errors.As(err, &tf) || !strings.Contains(err.Error(), "negative row") || exec.IsActorFailure(err) || IsTaskInfraError(err) || exec.IsRetryable(err) {
			t.Fatalf("err %v, want the function's error, the actor alive", err)
		}
		res, err := call(a, ActorCallRequest{Operator: "f"}, []int64{9})
		if err != nil {
			t.Fatal(err)
		}
		if _, count, _, _ := counterOutputs(t, n, res); fmt.Sprint(count) != "[[1]]" {
			t.Errorf("count after a failed call: %v", count)
		}
	})

	t.Run("panic kills the actor", func(t *testing.T) {
		dir := t.TempDir()
		a := start(t, actorSpec(t, "test-actor-panic", map[string]any{"dir": dir, "row": 7}), 4, 1)
		_, err := call(a, ActorCallRequest{Operator: "p"}, []int64{1, 7})
		var pe *exec.PanicError
		var tf *TaskFailedError
		if !exec.IsActorFailure(err) || !errors.As(err, &pe) || !errors.As(err, &tf) || pe.Value != "boom at row 7" || IsTaskInfraError(err) {
			t.Fatalf("err %v, want the actor's panic as an actor failure", err)
		}
		waitDone(t, a)
		if err := a.Err(); status.Code(err) != codes.Aborted || !strings.Contains(err.Error(), "boom at row 7") {
			t.Errorf("the actor ended with %v, want Aborted with the panic", err)
		}
		waitFile(t, filepath.Join(dir, "panic-cleanup-4"))
		waitHeld(t, n) // Done came after the node took the GPU back: no wait
		if _, err := call(a, ActorCallRequest{Operator: "p"}, []int64{1}); !exec.IsActorFailure(err) {
			t.Errorf("a call after the death: %v, want an actor failure", err)
		}
	})

	t.Run("ActorFailed kills the actor", func(t *testing.T) {
		a := start(t, actorSpec(t, "test-counter", map[string]any{"dir": t.TempDir()}), 0, 2)
		_, err := call(a, ActorCallRequest{Operator: "f"}, []int64{-2})
		if !exec.IsActorFailure(err) || !strings.Contains(err.Error(), "device lost") || IsTaskInfraError(err) {
			t.Fatalf("err %v, want an actor failure", err)
		}
		waitDone(t, a)
		if err := a.Err(); status.Code(err) != codes.Aborted || !strings.Contains(err.Error(), "device lost") {
			t.Errorf("the actor ended with %v", err)
		}
		waitHeld(t, n)
	})

	t.Run("unknown actor", func(t *testing.T) {
		ghost := &RemoteActorHandle{c: n.client, id: "actor-0123456789abcdef", done: make(chan struct{})}
		_, err := ghost.Call(ctx, ActorCallRequest{Operator: "g"})
		if !exec.IsActorFailure(err) || !strings.Contains(err.Error(), "no actor") || IsTaskInfraError(err) {
			t.Errorf("a call to an unknown actor: %v, want an actor failure", err)
		}
	})

	t.Run("constructor fails", func(t *testing.T) {
		dir := t.TempDir()
		_, err := n.client.StartActor(ctx, ActorStartRequest{Binary: hash, Spec: actorSpec(t, "test-actor-ctor-fails", map[string]any{"dir": dir}), GPUs: 2})
		var tf *TaskFailedError
		if !errors.As(err, &tf) || !strings.Contains(err.Error(), "no model here") || IsTaskInfraError(err) || exec.IsActorFailure(err) {
			t.Fatalf("err %v, want the constructor's error", err)
		}
		waitFile(t, filepath.Join(dir, "ctor-cleanup"))
		waitHeld(t, n)
		_, err = n.client.StartActor(ctx, ActorStartRequest{Binary: hash, Spec: actorSpec(t, "test-actor-ctor-fails", map[string]any{"dir": dir, "panic": true})})
		var pe *exec.PanicError
		if !errors.As(err, &pe) || pe.Value != "ctor boom" {
			t.Errorf("err %v, want the constructor's panic", err)
		}
		_, err = n.client.StartActor(ctx, ActorStartRequest{Binary: hash, Spec: exec.TaskSpec{Kind: "no-such-actor"}})
		if !errors.As(err, &tf) || !strings.Contains(err.Error(), `"no-such-actor"`) {
			t.Errorf("err %v, want the unknown kind named", err)
		}
		waitHeld(t, n)
	})

	t.Run("start cancelled", func(t *testing.T) {
		dir := t.TempDir()
		sctx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() {
			_, err := n.client.StartActor(sctx, ActorStartRequest{Binary: hash, Spec: actorSpec(t, "test-actor-slow-ctor", map[string]any{"dir": dir}), GPUs: 2})
			errc <- err
		}()
		waitFile(t, filepath.Join(dir, "constructing"))
		cancel()
		if err := <-errc; status.Code(err) != codes.Canceled {
			t.Errorf("a start cancelled: %v, want Canceled", err)
		}
		waitFile(t, filepath.Join(dir, "slow-cleanup"))
		waitHeld(t, n)
	})

	t.Run("client closed", func(t *testing.T) {
		dir := t.TempDir()
		c, err := DialObjects(n.Addr(), testToken)
		if err != nil {
			t.Fatal(err)
		}
		a, err := c.StartActor(ctx, ActorStartRequest{Binary: hash, Spec: actorSpec(t, "test-counter", map[string]any{"dir": dir}), Index: 5, GPUs: 2, CPUs: 1})
		if err != nil {
			c.Close()
			t.Fatal(err)
		}
		c.Close()
		waitDone(t, a)
		if err := a.Err(); status.Code(err) != codes.Canceled {
			t.Errorf("the actor of a closed client ended with %v, want Canceled", err)
		}
		waitFile(t, filepath.Join(dir, "cleanup-5"))
		waitHeld(t, n)
	})

	t.Run("worker killed", func(t *testing.T) {
		dir := t.TempDir()
		a := start(t, actorSpec(t, "test-counter", map[string]any{"dir": dir}), 6, 1)
		errc := make(chan error, 1)
		go func() {
			_, err := call(a, ActorCallRequest{Operator: "sleep", Index: 9}, []int64{-3})
			errc <- err
		}()
		waitFile(t, filepath.Join(dir, "sleeping-6"))
		pid := n.tasks.workerPID(hash)
		if p, err := os.FindProcess(pid); pid == 0 || err != nil || p.Kill() != nil {
			t.Fatalf("killing worker %d: %v", pid, err)
		}
		if err := <-errc; !exec.IsActorFailure(err) || !IsTaskInfraError(err) || !strings.Contains(err.Error(), "died calling") {
			t.Errorf("a call as the worker died: %v, want an actor failure and an infrastructure one", err)
		}
		waitDone(t, a)
		if err := a.Err(); !IsTaskInfraError(err) || !strings.Contains(err.Error(), "died") {
			t.Errorf("the actor ended with %v, want Unavailable", err)
		}
		waitHeld(t, n)
		b := start(t, actorSpec(t, "test-counter", map[string]any{"dir": dir}), 7, 1) // in a new worker
		stopActor(t, b)
	})

	t.Run("node stop", func(t *testing.T) {
		dir := t.TempDir()
		a := start(t, actorSpec(t, "test-counter", map[string]any{"dir": dir}), 8, 1)
		n.Close()
		waitDone(t, a)
		if err := a.Err(); !IsTaskInfraError(err) || !strings.Contains(err.Error(), "stopping") {
			t.Errorf("the actor of a stopped node ended with %v, want Unavailable", err)
		}
		waitFile(t, filepath.Join(dir, "cleanup-8")) // given time to clean up
		_, err := n.client.StartActor(ctx, ActorStartRequest{Binary: hash, Spec: actorSpec(t, "test-counter", map[string]any{"dir": dir})})
		if err == nil || !IsTaskInfraError(err) {
			t.Errorf("starting an actor on a stopped node: %v, want Unavailable", err)
		}
	})
}
