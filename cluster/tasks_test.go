package cluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-data/shoal/exec"
)

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// taskNode is a node started for task tests, with its workers' output.
type taskNode struct {
	*Node
	out    *syncBuffer
	client *ObjectClient
}

func startTaskNode(t *testing.T, head string, cpus int) *taskNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := &syncBuffer{}
	n, err := StartNode(ctx, NodeConfig{Head: head, Token: testToken, SpillDir: t.TempDir(), Logf: t.Logf, WorkerOutput: out,
		Resources: Resources{CPUs: cpus, ObjectStoreMemory: 64 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	c, err := DialObjects(n.Addr(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &taskNode{Node: n, out: out, client: c}
}

func int64Block(mem memory.Allocator, vals ...int64) arrow.RecordBatch {
	bld := array.NewInt64Builder(mem)
	bld.AppendValues(vals, nil)
	col := bld.NewArray()
	bld.Release()
	defer col.Release()
	return array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil), []arrow.Array{col}, int64(len(vals)))
}

func putInts(t *testing.T, c *ObjectClient, vals ...int64) exec.ObjectID {
	t.Helper()
	b := int64Block(memory.DefaultAllocator, vals...)
	defer b.Release()
	ref, err := c.Put(context.Background(), b, "input")
	if err != nil {
		t.Fatal(err)
	}
	return ref.ID
}

func getInts(t *testing.T, c *ObjectClient, id exec.ObjectID, mem memory.Allocator) []int64 {
	t.Helper()
	b, err := c.Get(context.Background(), id, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	return append([]int64(nil), b.Column(0).(*array.Int64).Int64Values()...)
}

func testBinary(t *testing.T) (path, hash string) {
	t.Helper()
	path, hash, err := SelfBinary()
	if err != nil {
		t.Fatal(err)
	}
	return path, hash
}

func sleepSpec(t *testing.T, dir string) exec.TaskSpec {
	args, _ := json.Marshal(map[string]string{"dir": dir})
	return exec.TaskSpec{Kind: "test-sleep", Args: args}
}

// waitFile waits for path to exist and returns its contents.
func waitFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within 30s", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRunTask runs tasks on the workers of a two-node cluster: outputs,
// inputs on another node, the binary shipped once, each kind of failure,
// cancellation, a worker's death, and the workers' end with their node.
func TestRunTask(t *testing.T) {
	h := startHead(t)
	a := startTaskNode(t, h.Addr(), 2)
	b := startTaskNode(t, h.Addr(), 2)
	path, hash := testBinary(t)
	ctx := context.Background()

	t.Run("binary shipped once", func(t *testing.T) {
		if err := a.client.EnsureBinary(ctx, path, hash); err != nil {
			t.Fatal(err)
		}
		puts, has := a.bins.putCalls.Load(), a.bins.hasCalls.Load()
		fi, _ := os.Stat(path)
		if want := (fi.Size() + binaryChunk - 1) / binaryChunk; puts != want || has != 1 {
			t.Fatalf("the first upload took %d chunks and %d checks, want %d and 1", puts, has, want)
		}
		inst, err := os.Stat(filepath.Join(a.WorkDir(), "binaries", hash))
		if err != nil || inst.Mode().Perm() != 0o755 || inst.Size() != fi.Size() {
			t.Fatalf("installed binary: %v %v", inst, err)
		}
		// The same client sends nothing; another finds it there.
		if err := a.client.EnsureBinary(ctx, path, hash); err != nil {
			t.Fatal(err)
		}
		other := objDialToken(t, a.Addr(), testToken)
		if err := other.EnsureBinary(ctx, path, hash); err != nil {
			t.Fatal(err)
		}
		if p, h := a.bins.putCalls.Load(), a.bins.hasCalls.Load(); p != puts || h != has+1 {
			t.Fatalf("after two more EnsureBinary: %d chunks and %d checks, want %d and %d", p, h, puts, has+1)
		}
	})

	t.Run("outputs and remote inputs", func(t *testing.T) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		onB := putInts(t, b.client, 1, 2, 3)
		onA := putInts(t, a.client, 10, 20)
		defer b.client.Release(ctx, onB)
		defer a.client.Release(ctx, onA)
		res, err := a.client.RunTask(ctx, RunTaskRequest{Binary: hash, Spec: exec.TaskSpec{Kind: "test-double"}, Operator: "double", Index: 4,
			Inputs: []RemoteBlock{{Addr: b.Addr(), ID: onB}, {Addr: a.Addr(), ID: onA}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Outputs) != 2 {
			t.Fatalf("%d outputs, want 2 (the nil one skipped)", len(res.Outputs))
		}
		if res.Addr == "" || res.Addr == a.Addr() {
			t.Fatalf("outputs at %q, want the worker's address (the node is %s)", res.Addr, a.Addr())
		}
		w := objDialToken(t, res.Addr, testToken)
		for i, want := range [][]int64{{2, 4, 6}, {20, 40}} {
			ref := res.Outputs[i]
			if ref.Rows != int64(len(want)) || ref.Bytes <= 0 || ref.Producer != "double" ||
				ref.Schema == nil || ref.Schema.NumFields() != 1 || ref.Schema.Field(0).Type.ID() != arrow.INT64 {
				t.Errorf("output %d: %+v", i, ref)
			}
			if got := getInts(t, w, ref.ID, mem); !equalInts(got, want) {
				t.Errorf("output %d: %v, want %v", i, got, want)
			}
		}
		if res.Wall <= 0 || res.CPU < 0 || (runtime.GOOS == "linux" && res.CPU == 0) {
			t.Errorf("wall %v, CPU %v", res.Wall, res.CPU)
		}
		// The outputs are in the worker's store, not the node's.
		if o := a.Store().Stats().Objects; o != 1 {
			t.Errorf("the node's own store holds %d objects, want its 1 input", o)
		}
		before := workerStoreStats(t, w)
		if before.Objects != 2 || before.InputsFetched < 2 {
			t.Errorf("the worker's store: %+v, want the 2 outputs and 2 inputs fetched", before)
		}
		for _, ref := range res.Outputs {
			if err := w.Release(ctx, ref.ID); err != nil {
				t.Fatal(err)
			}
		}
		if after := workerStoreStats(t, w).Objects; after != before.Objects-2 {
			t.Errorf("releasing the outputs left %d objects of %d", after, before.Objects)
		}
		if b.tasks.workerPID(hash) != 0 {
			t.Error("node b started a worker for a task it did not run")
		}
	})

	double := func(t *testing.T, n *taskNode) {
		t.Helper()
		id := putInts(t, n.client, 5)
		defer n.client.Release(ctx, id)
		res, err := n.client.RunTask(ctx, RunTaskRequest{Binary: hash, Spec: exec.TaskSpec{Kind: "test-double"}, Operator: "double",
			Inputs: []RemoteBlock{{Addr: n.Addr(), ID: id}}})
		if err != nil {
			t.Fatal(err)
		}
		w := objDialToken(t, res.Addr, testToken)
		if got := getInts(t, w, res.Outputs[0].ID, memory.DefaultAllocator); !equalInts(got, []int64{10}) {
			t.Errorf("doubled 5: %v", got)
		}
		for _, ref := range res.Outputs {
			_ = w.Release(ctx, ref.ID)
		}
	}

	t.Run("panic", func(t *testing.T) {
		pid := a.tasks.workerPID(hash)
		_, err := a.client.RunTask(ctx, RunTaskRequest{Binary: hash, Spec: exec.TaskSpec{Kind: "test-panic"}, Operator: "p", Index: 3})
		var pe *exec.PanicError
		var tf *TaskFailedError
		if !errors.As(err, &pe) || !errors.As(err, &tf) || pe.Value != "boom in block 3" || !strings.Contains(string(pe.Stack), "main_test.go") {
			t.Fatalf("err %v, want the task's panic with its value and stack", err)
		}
		if IsTaskInfraError(err) || exec.IsRetryable(err) || !strings.Contains(err.Error(), "panic: boom in block 3") {
			t.Errorf("err %v: a panic is the task's, not retryable", err)
		}
		if got := a.tasks.workerPID(hash); got != pid || pid == 0 {
			t.Errorf("worker pid %d before the panic, %d after: the worker must survive it", pid, got)
		}
		double(t, a)
	})

	t.Run("task errors", func(t *testing.T) {
		_, err := a.client.RunTask(ctx, RunTaskRequest{Binary: hash, Spec: exec.TaskSpec{Kind: "test-fail", Args: []byte(`{"retryable": false}`)}})
		var tf *TaskFailedError
		if !errors.As(err, &tf) || tf.Node != a.Addr() || !strings.Contains(err.Error(), "bad row 7") {
			t.Fatalf("err %v, want the task's error", err)
		}
		if IsTaskInfraError(err) || exec.IsRetryable(err) || status.Code(err) == codes.Unavailable {
			t.Errorf("err %v: not an infrastructure failure, not retryable", err)
		}
		_, err = a.client.RunTask(ctx, RunTaskRequest{Binary: hash, Spec: exec.TaskSpec{Kind: "test-fail", Args: []byte(`{"retryable": true}`)}})
		if !errors.As(err, &tf) || !exec.IsRetryable(err) || IsTaskInfraError(err) {
			t.Errorf("err %v, want a retryable task error", err)
		}
		_, err = a.client.RunTask(ctx, RunTaskRequest{Binary: hash, Spec: exec.TaskSpec{Kind: "no-such-kind"}})
		if !errors.As(err, &tf) || !strings.Contains(err.Error(), `"no-such-kind"`) || IsTaskInfraError(err) {
			t.Errorf("err %v, want the unknown kind named", err)
		}
	})

	t.Run("bad inputs", func(t *testing.T) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gone := lis.Addr().String()
		lis.Close()
		_, err = a.client.RunTask(ctx, RunTaskRequest{Binary: hash, Spec: exec.TaskSpec{Kind: "test-double"},
			Inputs: []RemoteBlock{{Addr: gone, ID: 42}}})
		if !IsTaskInfraError(err) || !exec.IsRetryable(err) || !strings.Contains(err.Error(), gone) || !strings.Contains(err.Error(), "object 42") {
			t.Errorf("err %v, want Unavailable naming %s and object 42", err, gone)
		}
		_, err = a.client.RunTask(ctx, RunTaskRequest{Binary: hash, Spec: exec.TaskSpec{Kind: "test-double"},
			Inputs: []RemoteBlock{{Addr: b.Addr(), ID: 123456}}})
		if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), b.Addr()) || !strings.Contains(err.Error(), "object 123456") {
			t.Errorf("err %v, want NotFound naming %s and object 123456", err, b.Addr())
		}
	})

	t.Run("refused requests", func(t *testing.T) {
		other := strings.Repeat("ab", 32)
		_, err := a.client.RunTask(ctx, RunTaskRequest{Binary: other, Spec: exec.TaskSpec{Kind: "test-double"}})
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "does not have binary abababab") {
			t.Errorf("err %v, want the missing binary named", err)
		}
		_, err = a.client.RunTask(ctx, RunTaskRequest{Binary: hash, Spec: exec.TaskSpec{Kind: "test-double"}, CPUs: 3})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "3 CPUs") {
			t.Errorf("err %v, want more CPUs than the node has refused", err)
		}
		_, err = a.client.RunTask(ctx, RunTaskRequest{Binary: "../../bin/sh"})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("err %v, want a malformed binary hash refused", err)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		dir := t.TempDir()
		cctx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() {
			_, err := a.client.RunTask(cctx, RunTaskRequest{Binary: hash, Spec: sleepSpec(t, dir), CPUs: 2})
			errc <- err
		}()
		waitFile(t, filepath.Join(dir, "started"))
		// The sleeper holds both CPUs: another task waits for them.
		qctx, qcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		_, err := a.client.RunTask(qctx, RunTaskRequest{Binary: hash, Spec: exec.TaskSpec{Kind: "test-double"}, CPUs: 0.5})
		qcancel()
		if status.Code(err) != codes.DeadlineExceeded {
			t.Errorf("a task beside one holding every CPU: %v, want it to wait (DeadlineExceeded)", err)
		}
		cancel()
		if err := <-errc; status.Code(err) != codes.Canceled {
			t.Errorf("cancelled task: %v, want Canceled", err)
		}
		if why := waitFile(t, filepath.Join(dir, "stopped")); why != context.Canceled.Error() {
			t.Errorf("the task stopped with %q, want its context cancelled", why)
		}
		double(t, a) // its CPUs are back
	})

	t.Run("worker killed", func(t *testing.T) {
		dir := t.TempDir()
		errc := make(chan error, 1)
		go func() {
			_, err := a.client.RunTask(ctx, RunTaskRequest{Binary: hash, Spec: sleepSpec(t, dir), Operator: "sleep", Index: 9})
			errc <- err
		}()
		waitFile(t, filepath.Join(dir, "started"))
		pid := a.tasks.workerPID(hash)
		if pid == 0 {
			t.Fatal("no worker")
		}
		if p, err := os.FindProcess(pid); err != nil || p.Kill() != nil {
			t.Fatalf("killing worker %d: %v", pid, err)
		}
		err := <-errc
		if !IsTaskInfraError(err) || !exec.IsRetryable(err) || !strings.Contains(err.Error(), a.ID()) || !strings.Contains(err.Error(), "died running sleep[9]") {
			t.Fatalf("err %v, want a retryable Unavailable naming the node and the task", err)
		}
		double(t, a) // on a new worker
		if got := a.tasks.workerPID(hash); got == pid || got == 0 {
			t.Errorf("worker pid %d after the kill, was %d: want a new one", got, pid)
		}
	})

	t.Run("output", func(t *testing.T) {
		if _, err := a.client.RunTask(ctx, RunTaskRequest{Binary: hash, Spec: exec.TaskSpec{Kind: "test-print"}, Operator: "say", Index: 2}); err != nil {
			t.Fatal(err)
		}
		prefix := "worker " + hash[:8] + ": "
		deadline := time.Now().Add(10 * time.Second)
		for {
			out := a.out.String()
			if strings.Contains(out, prefix+"hello from say[2]\n") && strings.Contains(out, prefix+"complaint from say[2]\n") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the node's worker output lacks the task's lines, prefixed:\n%s", out)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})

	t.Run("abandoned", func(t *testing.T) {
		// A driver gives the node up (the head declared it dead): the task
		// call it has open there ends at once, naming why, later calls
		// fail at once, and the node, which hears the call end, cancels
		// the task.
		c := objDialToken(t, a.Addr(), testToken)
		if err := c.EnsureBinary(ctx, path, hash); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		errc := make(chan error, 1)
		go func() {
			_, err := c.RunTask(ctx, RunTaskRequest{Binary: hash, Spec: sleepSpec(t, dir)})
			errc <- err
		}()
		waitFile(t, filepath.Join(dir, "started"))
		why := errors.New("the head declared node-9 dead")
		c.Abandon(why)
		select {
		case err := <-errc:
			if !IsTaskInfraError(err) || !strings.Contains(err.Error(), why.Error()) {
				t.Errorf("a task call on an abandoned client: %v, want Unavailable saying why", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Abandon did not end the task call within 10s")
		}
		if _, err := c.Stats(ctx); !IsTaskInfraError(err) || !strings.Contains(err.Error(), why.Error()) {
			t.Errorf("a call after Abandon: %v, want Unavailable saying why", err)
		}
		if stopped := waitFile(t, filepath.Join(dir, "stopped")); stopped != context.Canceled.Error() {
			t.Errorf("the task stopped with %q, want its context cancelled", stopped)
		}
		double(t, a) // the node is fine: only that client gave it up
	})

	t.Run("node stop ends workers", func(t *testing.T) {
		pid := a.tasks.workerPID(hash)
		dir := t.TempDir()
		errc := make(chan error, 1)
		go func() {
			_, err := a.client.RunTask(ctx, RunTaskRequest{Binary: hash, Spec: sleepSpec(t, dir)})
			errc <- err
		}()
		waitFile(t, filepath.Join(dir, "started"))
		work := a.WorkDir()
		if spills, _ := filepath.Glob(filepath.Join(a.cfg.SpillDir, "shoal-worker-*")); len(spills) != 1 {
			t.Errorf("the worker's spill directories: %v, want 1", spills)
		}
		a.Close()
		if err := <-errc; !IsTaskInfraError(err) {
			t.Errorf("a task running as its node stops: %v, want Unavailable", err)
		}
		// Reaped by Close: the pid is no process now.
		if st, alive := processState(pid); alive {
			t.Errorf("worker %d after its node stopped: %s", pid, st)
		}
		if _, err := os.Stat(work); !os.IsNotExist(err) {
			t.Errorf("the node's own work dir %s is still there: %v", work, err)
		}
		if spills, _ := filepath.Glob(filepath.Join(a.cfg.SpillDir, "shoal-worker-*")); len(spills) != 0 {
			t.Errorf("the workers' spill directories after the node stopped: %v", spills)
		}
	})
}

// workerStoreStats asks the worker c speaks to for its stats.
func workerStoreStats(t *testing.T, c *ObjectClient) workerStats {
	t.Helper()
	res, err := c.action(context.Background(), ActionStats, nil)
	if err != nil || len(res) != 1 {
		t.Fatalf("stats of worker %s: %d results, %v", c.addr, len(res), err)
	}
	var st workerStats
	if err := json.Unmarshal(res[0], &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func objDialToken(t *testing.T, addr, token string) *ObjectClient {
	t.Helper()
	c, err := DialObjects(addr, token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// randomFile writes n random bytes to a file and returns its path and hash.
func randomFile(t *testing.T, n int) (string, string) {
	t.Helper()
	data := make([]byte, n)
	_, _ = rand.Read(data)
	path := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return path, hex.EncodeToString(sum[:])
}

// TestBinaryUpload: a wrong hash and chunks out of order are refused and
// leave nothing behind; concurrent uploads of one binary both succeed.
func TestBinaryUpload(t *testing.T) {
	h := startHead(t)
	n := startTaskNode(t, h.Addr(), 1)
	ctx := context.Background()
	dir := filepath.Join(n.WorkDir(), "binaries")
	leftovers := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, uploadPrefix+"*"))
		return m
	}
	path, hash := randomFile(t, 3*binaryChunk+100)

	wrong := strings.Repeat("0", 64)
	err := n.client.EnsureBinary(ctx, path, wrong)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "sha256 "+hash) || !strings.Contains(err.Error(), "refused") {
		t.Errorf("uploading under a wrong hash: %v, want it refused naming the real one", err)
	}
	if n.bins.has(wrong) || len(leftovers()) != 0 {
		t.Errorf("a refused upload left %v", leftovers())
	}
	if err := n.client.EnsureBinary(ctx, path, "not-a-hash"); err == nil {
		t.Error("a malformed hash passed")
	}

	// Chunks out of order.
	data, _ := os.ReadFile(path)
	put := func(upload string, off int64, chunk []byte) error {
		_, err := n.client.action(ctx, actionBinaryPut, encodeBinaryPut(binaryPutBody{Hash: hash, Upload: upload, Offset: off, Total: int64(len(data)), Data: chunk}))
		return err
	}
	if _, err := n.client.action(ctx, actionBinaryPut, []byte(`{"hash":"`+hash+`"}`)); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a chunk without its header line: %v, want InvalidArgument", err)
	}
	if err := put("0123456789abcdef", 10, data[10:20]); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("an upload starting at offset 10: %v, want FailedPrecondition", err)
	}
	if err := put("0123456789abcdef", 0, data[:100]); err != nil {
		t.Fatal(err)
	}
	if len(leftovers()) != 1 {
		t.Errorf("an upload in progress has %v", leftovers())
	}
	err = put("0123456789abcdef", 200, data[200:300])
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "in order") {
		t.Errorf("a chunk out of order: %v, want FailedPrecondition", err)
	}
	if err := put("0123456789abcdef", 100, data[100:200]); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("a chunk of a failed upload: %v, want FailedPrecondition", err)
	}
	if n.bins.has(hash) || len(leftovers()) != 0 {
		t.Errorf("a failed upload left %v", leftovers())
	}

	// Two drivers at once.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		c := objDialToken(t, n.Addr(), testToken)
		wg.Go(func() { errs[i] = c.EnsureBinary(ctx, path, hash) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, hash))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("installed binary: %d bytes, %v; want the %d uploaded", len(got), err, len(data))
	}
	if len(leftovers()) != 0 {
		t.Errorf("concurrent uploads left %v", leftovers())
	}
}

// TestWorkerThatDoesNotStart: a binary that exits without announcing
// itself gives a clear error with its stderr, and the node stays usable.
func TestWorkerThatDoesNotStart(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs a shell script")
	}
	h := startHead(t)
	n := startTaskNode(t, h.Addr(), 1)
	ctx := context.Background()
	script := filepath.Join(t.TempDir(), "worker.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"not a worker: $SHOAL_WORKER_NODE\" >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	hash, err := BinaryHash(script)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.client.EnsureBinary(ctx, script, hash); err != nil {
		t.Fatal(err)
	}
	_, err = n.client.RunTask(ctx, RunTaskRequest{Binary: hash, Spec: exec.TaskSpec{Kind: "test-double"}})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "exit status 3") ||
		!strings.Contains(err.Error(), "not a worker: "+n.Addr()) || !strings.Contains(err.Error(), "ServeWorkerIfAsked") {
		t.Fatalf("err %v, want the exit, its stderr and a hint", err)
	}
	if !strings.Contains(n.out.String(), "worker "+hash[:8]+": not a worker") {
		t.Errorf("the worker's stderr is not in the node's output: %q", n.out.String())
	}
}

// nodeProcess is this test binary run as a node process (runTestNode),
// its work dir holding the test binary already (which spares an upload).
type nodeProcess struct {
	cmd        *osexec.Cmd
	addr       string
	path, hash string        // the test binary, which its workers run
	done       chan struct{} // closed once it has exited
}

// startNodeProcess starts a node process joining head h; it is killed
// when the test ends, if it has not exited.
func startNodeProcess(t *testing.T, h *Head) *nodeProcess {
	t.Helper()
	dir := t.TempDir()
	path, hash := testBinary(t)
	if err := os.MkdirAll(filepath.Join(dir, "binaries"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := osexec.Command("cp", path, filepath.Join(dir, "binaries", hash)).Run(); err != nil {
		t.Fatal(err)
	}
	np := &nodeProcess{cmd: osexec.Command(path), path: path, hash: hash, done: make(chan struct{})}
	np.cmd.Env = append(os.Environ(), "SHOAL_TEST_NODE_HEAD="+h.Addr(), "SHOAL_TEST_NODE_DIR="+dir)
	stderr := &syncBuffer{}
	np.cmd.Stderr = stderr
	stdin, err := np.cmd.StdinPipe() // held open: the node serves until it closes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close() })
	stdout, err := np.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := np.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	go func() {
		_ = np.cmd.Wait()
		close(np.done)
	}()
	t.Cleanup(func() {
		_ = np.cmd.Process.Signal(syscall.SIGCONT) // a frozen one dies of SIGKILL too, but its workers wait
		_ = np.cmd.Process.Kill()
		<-np.done
	})
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "node at ")
	if err != nil || !ok {
		t.Fatalf("the node process printed %q (%v); stderr:\n%s", line, err, stderr.String())
	}
	np.addr = addr
	return np
}

// TestNodeKilledKillsWorkers: a node process killed with SIGKILL takes its
// workers with it (parent-death signal, or their stdin's EOF), and the
// task running there fails as an infrastructure failure.
func TestNodeKilledKillsWorkers(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("checks processes through /proc")
	}
	np := startNodeProcess(t, startHead(t))
	c := objDialToken(t, np.addr, testToken)
	ctx := context.Background()
	if err := c.EnsureBinary(ctx, np.path, np.hash); err != nil {
		t.Fatal(err)
	}
	sleeping := t.TempDir()
	errc := make(chan error, 1)
	go func() {
		_, err := c.RunTask(ctx, RunTaskRequest{Binary: np.hash, Spec: sleepSpec(t, sleeping)})
		errc <- err
	}()
	var worker int
	if _, err := fmt.Sscan(waitFile(t, filepath.Join(sleeping, "started")), &worker); err != nil {
		t.Fatal(err)
	}
	if err := np.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	<-np.done
	if err := <-errc; !IsTaskInfraError(err) {
		t.Errorf("the task on a killed node: %v, want Unavailable", err)
	}
	// The worker is gone (or a zombie awaiting a reaper that is not us).
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, alive := processState(worker)
		if !alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker %d still runs 10s after its node was killed: %s", worker, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFrozenNodeCallsEnd: a node process frozen with SIGSTOP keeps its
// sockets, so nothing but liveness ends the calls open to it: a task call
// (no total deadline: a task may run for minutes) and a block fetch end
// with codes.Unavailable once keepalive pings go unanswered, here with no
// head to declare the node dead.
func TestFrozenNodeCallsEnd(t *testing.T) {
	np := startNodeProcess(t, startHead(t))
	c := objDialToken(t, np.addr, testToken)
	ctx := context.Background()
	if err := c.EnsureBinary(ctx, np.path, np.hash); err != nil {
		t.Fatal(err)
	}
	id := putInts(t, c, 1, 2, 3)
	sleeping := t.TempDir()
	calls := make(chan error, 2)
	go func() {
		_, err := c.RunTask(ctx, RunTaskRequest{Binary: np.hash, Spec: sleepSpec(t, sleeping)})
		calls <- fmt.Errorf("the task: %w", err)
	}()
	waitFile(t, filepath.Join(sleeping, "started"))
	if err := np.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// The signal stops the node's threads as each next runs in the
	// kernel: a thread busy on another CPU may serve the fetch first
	// (it did, 2 ms after the signal, about 1 run in 10 under load).
	waitStopped(t, np.cmd.Process.Pid)
	frozen := time.Now()
	go func() {
		b, err := c.Get(ctx, id, memory.DefaultAllocator)
		if err == nil {
			b.Release()
		}
		calls <- fmt.Errorf("the fetch: %w", err)
	}()
	bound := keepaliveTime + keepaliveTimeout + 15*time.Second
	for range 2 {
		select {
		case err := <-calls:
			if !IsTaskInfraError(err) {
				t.Errorf("%v; want Unavailable once keepalive gives up", err)
			}
			t.Logf("%v, %v after the freeze", err, time.Since(frozen).Round(time.Millisecond))
		case <-time.After(time.Until(frozen.Add(bound))):
			t.Fatalf("a call to a frozen node still waits %v after the freeze", bound)
		}
	}
}

// waitStopped waits until every thread of pid is stopped (state T in
// /proc), for at most 10 s; where there is no /proc it returns at once.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return
		}
		stopped := len(tasks) > 0
		for _, task := range tasks {
			st, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			if err != nil {
				continue // the thread exited
			}
			s := string(st)
			if i := strings.LastIndexByte(s, ')'); i >= 0 {
				if f := strings.Fields(s[i+1:]); len(f) > 0 && f[0] != "T" && f[0] != "t" {
					stopped = false
				}
			}
		}
		if stopped {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d not stopped 10s after SIGSTOP", pid)
		}
		time.Sleep(time.Millisecond)
	}
}

// processState reads pid's /proc stat line: alive unless it is gone or a
// zombie. Where there is no /proc, every process is reported gone.
func processState(pid int) (stat string, alive bool) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", false
	}
	// The state follows the command name, which is in parentheses.
	s := string(st)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		if f := strings.Fields(s[i+1:]); len(f) > 0 && f[0] == "Z" {
			return s, false
		}
	}
	return s, true
}

// TestServeWorker runs a worker in this process: it announces its
// addresses, refuses calls without the token, runs a task with its outputs
// in its own store, which it serves, and returns once its stdin ends.
func TestServeWorker(t *testing.T) {
	h := startHead(t)
	n := startTaskNode(t, h.Addr(), 1)
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	served := make(chan error, 1)
	spill := t.TempDir()
	go func() {
		served <- serveWorker(workerConfig{Node: n.Addr(), Token: testToken, Host: "127.0.0.1", Advertise: "localhost",
			StoreMemory: 1 << 20, SpillDir: spill}, stdinR, stdoutW)
		stdoutW.Close()
	}()
	line, err := bufio.NewReader(stdoutR).ReadString('\n')
	addrs, ok := parseAnnounce(line)
	if err != nil || !ok || !strings.HasPrefix(addrs.advertised, "localhost:") || !strings.HasPrefix(addrs.local, "127.0.0.1:") {
		t.Fatalf("the worker announced %q (%v)", line, err)
	}
	addr := addrs.local
	go func() { _, _ = io.Copy(io.Discard, stdoutR) }()
	ctx := context.Background()
	call := func(token string, req RunTaskRequest) (wireTaskResult, error) {
		conn, err := dial(addr, token, ProtocolVersion)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		c := &ObjectClient{addr: addr, conn: conn, fc: flight.NewFlightServiceClient(conn)}
		var res wireTaskResult
		return res, c.call(ctx, actionRunTask, req, &res)
	}
	if _, err := call("wrong", RunTaskRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a call with a wrong token: %v, want Unauthenticated", err)
	}
	id := putInts(t, n.client, 4, 5)
	res, err := call(testToken, RunTaskRequest{Spec: exec.TaskSpec{Kind: "test-double"}, Operator: "d", Inputs: []RemoteBlock{{Addr: n.Addr(), ID: id}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Addr != addrs.advertised {
		t.Errorf("outputs at %q, want the worker's advertised %s", res.Addr, addrs.advertised)
	}
	w := objDialToken(t, addr, testToken)
	if len(res.Outputs) != 1 || !equalInts(getInts(t, w, res.Outputs[0].ID, memory.DefaultAllocator), []int64{8, 10}) {
		t.Fatalf("result %+v", res)
	}
	if err := n.client.Release(ctx, id); err != nil {
		t.Fatal(err)
	}
	if st := n.Store().Stats(); st.Objects != 0 {
		t.Errorf("%d objects left on the node", st.Objects)
	}
	for _, o := range res.ids() {
		if err := w.Release(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if st := workerStoreStats(t, w); st.Objects != 0 || st.InputsFetched != 1 {
		t.Errorf("the worker's store after the release: %+v, want empty, 1 input fetched", st)
	}
	stdinW.Close()
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the worker kept serving after its stdin ended")
	}
}

func TestDialableAddr(t *testing.T) {
	for in, want := range map[string]string{"0.0.0.0:7001": "127.0.0.1:7001", "[::]:7001": "127.0.0.1:7001",
		"10.1.2.3:7001": "10.1.2.3:7001", "[fe80::1]:7001": "[fe80::1]:7001"} {
		a, err := net.ResolveTCPAddr("tcp", in)
		if err != nil {
			t.Fatal(err)
		}
		if got := dialableAddr(a); got != want {
			t.Errorf("dialableAddr(%s) = %s, want %s", in, got, want)
		}
	}
}
