package core_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoal-data/shoal/core"
	"github.com/shoal-data/shoal/exec"
)

// TestMain lets the test binary be its own cluster worker and node (see
// cluster_test.go).
func TestMain(m *testing.M) {
	core.Init()
	if head := os.Getenv("SHOAL_TEST_NODE_HEAD"); head != "" {
		runTestNode(head, os.Getenv("SHOAL_TEST_NODE_DIR"))
	}
	code := m.Run()
	if shared.stop != nil {
		shared.stop()
	}
	exec.Default().Close() // the one Example used
	if code == 0 {
		// With the shared cluster gone, nothing may be left running.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left after the tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// sharedClusterGoroutines are those the shared cluster's connections
// start on demand, which an embedded test's leak check ignores (TestMain
// checks that none is left once the cluster is stopped).
var sharedClusterGoroutines = []goleak.Option{
	goleak.IgnoreAnyFunction("google.golang.org/grpc.newClientStreamWithParams.func4"),
	goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/transport.(*http2Client).reader"),
	goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/transport.(*http2Client).keepalive"),
	goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/transport.(*controlBuffer).get"),
	goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
}

var (
	square = core.Func1("test.square", func(ctx context.Context, x int) (int, error) { return x * x, nil })
	add    = core.Func2("test.add", func(ctx context.Context, a, b int) (int, error) { return a + b, nil })
	// gate waits until the file it names exists (or its context ends).
	gate = core.Func1("test.gate", func(ctx context.Context, path string) (string, error) {
		for {
			if _, err := os.Stat(path); err == nil {
				return path, nil
			}
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(2 * time.Millisecond):
			}
		}
	})
	explode = core.Func1("test.explode", func(ctx context.Context, msg string) (int, error) { panic(msg) })
	refuse  = core.Func1("test.refuse", func(ctx context.Context, x int) (int, error) {
		return 0, fmt.Errorf("no %d today", x)
	})
	total = core.FuncVariadic("test.total", func(ctx context.Context, xs ...int) (int, error) {
		s := 0
		for _, x := range xs {
			s += x
		}
		return s, nil
	})
	digits = core.FuncMulti("test.digits", func(ctx context.Context, x int) ([]int, error) {
		var ds []int
		for _, c := range fmt.Sprint(x) {
			ds = append(ds, int(c-'0'))
		}
		return ds, nil
	})
	concat = core.Func1("test.concat", func(ctx context.Context, p pair) (string, error) {
		return strings.Repeat(p.S, p.N), nil
	})
)

type pair struct {
	S string
	N int
}

// embedded is a context whose calls run on a fresh embedded runtime,
// cancelled and closed (and checked for leaks) at the end of the test.
func embedded(t *testing.T) context.Context {
	t.Helper()
	others := goleak.IgnoreCurrent()
	rt := exec.NewLocal(exec.WithWorkers(4))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel() // calls still running end
		// Refs left to the garbage collector give their blocks back.
		runtime.GC()
		if err := rt.Close(); err != nil {
			t.Error(err)
		}
		goleak.VerifyNone(t, append(sharedClusterGoroutines, others)...)
	})
	return core.WithRuntime(ctx, rt)
}

func TestPutGet(t *testing.T) { eachRuntime(t, testPutGet) }

func testPutGet(t *testing.T, ctx context.Context) {
	m := map[string][]int{"a": {1, 2}, "b": nil}
	r, err := core.Put(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	m["a"][0] = 99 // the stored value is a copy
	got, err := core.Get(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if got["a"][0] != 1 || len(got["a"]) != 2 {
		t.Fatalf("got %v", got)
	}
	raw := []byte("hello")
	rb, err := core.Put(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	raw[0] = 'j'
	if b, err := core.Get(ctx, rb); err != nil || string(b) != "hello" {
		t.Fatalf("got %q, %v", b, err)
	}
	rs, _ := core.Put(ctx, "text")
	if s, err := core.Get(ctx, rs); err != nil || s != "text" {
		t.Fatalf("got %q, %v", s, err)
	}
	re, err := core.Put(ctx, struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.Get(ctx, re); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Put(ctx, make(chan int)); err == nil || !strings.Contains(err.Error(), "chan int") {
		t.Fatalf("Put of a channel: %v", err)
	}
	var zero core.Ref[int]
	if _, err := core.Get(ctx, zero); err == nil {
		t.Fatal("Get of the zero Ref did not fail")
	}
}

func TestRemoteFunctions(t *testing.T) { eachRuntime(t, testRemoteFunctions) }

func testRemoteFunctions(t *testing.T, ctx context.Context) {
	refs := make([]core.Ref[int], 10)
	for i := range refs {
		refs[i] = square.Remote(ctx, core.Value(i))
	}
	got, err := core.GetAll(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != i*i {
			t.Fatalf("square(%d) = %d", i, v)
		}
	}
	// Refs as arguments: the call waits for them.
	four := add.Remote(ctx, refs[1], core.Value(3))
	if v, err := core.Get(ctx, add.Remote(ctx, four, refs[3])); err != nil || v != 13 {
		t.Fatalf("add = %d, %v", v, err)
	}
	if v, err := core.Get(ctx, total.Remote(ctx, core.Args(refs)...)); err != nil || v != 285 {
		t.Fatalf("total = %d, %v", v, err)
	}
	ds := digits.Remote(ctx, 3, core.Value(472))
	if v, err := core.GetAll(ctx, ds); err != nil || fmt.Sprint(v) != "[4 7 2]" {
		t.Fatalf("digits = %v, %v", v, err)
	}
	bad := digits.Remote(ctx, 2, core.Value(472))
	if _, err := core.Get(ctx, bad[0]); err == nil || !strings.Contains(err.Error(), "returned 3 results, the call asked for 2") {
		t.Fatalf("digits with the wrong count: %v", err)
	}
	if s, err := core.Get(ctx, concat.Remote(ctx, core.Value(pair{"ab", 3}))); err != nil || s != "ababab" {
		t.Fatalf("concat = %q, %v", s, err)
	}
}

// TestFuturesResolveOutOfOrder: later calls that finish first are ready
// first; Wait returns them, in the order given.
func TestFuturesResolveOutOfOrder(t *testing.T) { eachRuntime(t, testFuturesResolveOutOfOrder) }

func testFuturesResolveOutOfOrder(t *testing.T, ctx context.Context) {
	dir := t.TempDir()
	slow := gate.Remote(ctx, core.Value(dir+"/go"))
	fast := []core.Ref[string]{slow}
	for range 3 {
		fast = append(fast, gate.Remote(ctx, core.Value(dir)))
	}
	ready, notReady, err := core.Wait(ctx, fast, 3, core.NoTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if len(ready) != 3 || len(notReady) != 1 || notReady[0] != slow {
		t.Fatalf("ready %v, not ready %v", ready, notReady)
	}
	for _, r := range ready {
		if r == slow {
			t.Fatal("the slow call is ready before its gate opened")
		}
	}
	if err := os.WriteFile(dir+"/go", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if v, err := core.Get(ctx, slow); err != nil || v != dir+"/go" {
		t.Fatalf("slow = %q, %v", v, err)
	}
}

func TestWaitTimeoutAndCancel(t *testing.T) { eachRuntime(t, testWaitTimeoutAndCancel) }

func testWaitTimeoutAndCancel(t *testing.T, ctx context.Context) {
	dir := t.TempDir()
	callCtx, stopCalls := context.WithCancel(ctx)
	defer stopCalls()
	refs := []core.Ref[string]{gate.Remote(callCtx, core.Value(dir+"/never")), gate.Remote(callCtx, core.Value(dir))}
	start := time.Now()
	ready, notReady, err := core.Wait(ctx, refs, 2, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Fatal("Wait returned before its timeout")
	}
	if len(ready) != 1 || ready[0] != refs[1] || len(notReady) != 1 || notReady[0] != refs[0] {
		t.Fatalf("after the timeout: ready %v, not ready %v", ready, notReady)
	}
	// A timeout of 0 polls.
	if ready, _, err := core.Wait(ctx, refs, 2, 0); err != nil || len(ready) != 1 {
		t.Fatalf("polling: %v, %v", ready, err)
	}
	waitCtx, cancel := context.WithCancel(ctx)
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	ready, notReady, err = core.Wait(waitCtx, refs, 2, core.NoTimeout)
	if !errors.Is(err, context.Canceled) || len(ready) != 1 || len(notReady) != 1 {
		t.Fatalf("cancelled Wait: ready %v, not ready %v, %v", ready, notReady, err)
	}
	// Cancelling the calls' context ends the call that never would.
	stopCalls()
	if _, err := core.Get(ctx, refs[0]); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled call: %v", err)
	}
	getCtx, cancelGet := context.WithCancel(ctx)
	cancelGet()
	if _, err := core.Get(getCtx, gate.Remote(ctx, core.Value(dir))); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a cancelled context: %v", err)
	}
}

func TestErrorsAndPanics(t *testing.T) { eachRuntime(t, testErrorsAndPanics) }

func testErrorsAndPanics(t *testing.T, ctx context.Context) {
	_, err := core.Get(ctx, explode.Remote(ctx, core.Value("kaboom")))
	var te *core.TaskError
	var pe *exec.PanicError
	if !errors.As(err, &te) || te.Func != "test.explode" || !errors.As(err, &pe) || !strings.Contains(err.Error(), "kaboom") {
		t.Fatalf("a panicking task: %v", err)
	}
	if !strings.Contains(string(pe.Stack), "core_test") {
		t.Errorf("the panic's stack does not reach the test's function:\n%s", pe.Stack)
	}
	_, err = core.Get(ctx, refuse.Remote(ctx, core.Value(7)))
	if err == nil || !strings.HasPrefix(err.Error(), "core: test.refuse: ") || !strings.HasSuffix(err.Error(), "no 7 today") {
		t.Fatalf("a failing task: %v", err)
	}
	// A call whose argument failed fails naming both.
	_, err = core.Get(ctx, add.Remote(ctx, core.Value(1), refuse.Remote(ctx, core.Value(8))))
	if err == nil || !strings.Contains(err.Error(), "test.add: argument 2: core: test.refuse: ") || !strings.HasSuffix(err.Error(), "no 8 today") {
		t.Fatalf("a call on a failed argument: %v", err)
	}
}

// TestReleasedInput: a call keeps its arguments alive after their Refs
// are released; the released Ref itself can no longer be used.
func TestReleasedInput(t *testing.T) { eachRuntime(t, testReleasedInput) }

func testReleasedInput(t *testing.T, ctx context.Context) {
	dir := t.TempDir()
	in := gate.Remote(ctx, core.Value(dir+"/go"))
	out := strlen.Remote(ctx, in)
	in.Release()
	in.Release() // twice does nothing
	if err := os.WriteFile(dir+"/go", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if v, err := core.Get(ctx, out); err != nil || v != len(dir+"/go") {
		t.Fatalf("len = %d, %v", v, err)
	}
	if _, err := core.Get(ctx, in); !errors.Is(err, core.ErrReleased) {
		t.Fatalf("Get of a released ref: %v", err)
	}
	if _, err := core.Get(ctx, strlen.Remote(ctx, in)); !errors.Is(err, core.ErrReleased) {
		t.Fatalf("a call on a released ref: %v", err)
	}
	if _, _, err := core.Wait(ctx, []core.Ref[string]{in}, 1, 0); !errors.Is(err, core.ErrReleased) {
		t.Fatalf("Wait on a released ref: %v", err)
	}
}

var strlen = core.Func1("test.strlen", func(ctx context.Context, s string) (int, error) { return len(s), nil })

// TestRefsAreCounted: what is stored goes when its Refs are released or
// collected.
func TestRefsAreCounted(t *testing.T) {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	ctx := core.WithRuntime(context.Background(), rt)
	explicit := make([]core.Ref[int], 20)
	for i := range explicit {
		explicit[i] = square.Remote(ctx, core.Value(i))
	}
	if _, err := core.GetAll(ctx, explicit); err != nil {
		t.Fatal(err)
	}
	func() {
		for i := range 20 {
			r, err := core.Put(ctx, []byte(fmt.Sprint("dropped ", i)))
			if err != nil {
				t.Fatal(err)
			}
			_ = r
		}
	}()
	core.Release(explicit...)
	deadline := time.Now().Add(10 * time.Second)
	for rt.Stats().Objects != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d objects still stored after every Ref was released or dropped", rt.Stats().Objects)
		}
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
}

var repeat = core.Func2("test.repeat", func(ctx context.Context, s string, n int) (string, error) { return strings.Repeat(s, n), nil })

// TestLargeValues: values over the inline limit go through the store, as
// arguments and as results, and come back whole.
func TestLargeValues(t *testing.T) { eachRuntime(t, testLargeValues) }

func testLargeValues(t *testing.T, ctx context.Context) {
	big := repeat.Remote(ctx, core.Value("0123456789"), core.Value(20000)) // 200 KB: stored
	small := repeat.Remote(ctx, core.Value("ab"), core.Value(3))           // kept in its object
	if n, err := core.Get(ctx, strlen.Remote(ctx, big)); err != nil || n != 200000 {
		t.Fatalf("len of a stored result = %d, %v", n, err)
	}
	if n, err := core.Get(ctx, strlen.Remote(ctx, core.Value(strings.Repeat("x", 300000)))); err != nil || n != 300000 {
		t.Fatalf("len of a stored argument = %d, %v", n, err)
	}
	both, err := core.Get(ctx, concat2.Remote(ctx, small, big))
	if err != nil || len(both) != 200006 || both[:6] != "ababab" {
		t.Fatalf("concat of a kept and a stored result: %d bytes, %v", len(both), err)
	}
	// Values of several chunks (stored as several rows), raw and gob.
	raw := make([]byte, 20<<20+7)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	r, err := core.Put(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := core.Get(ctx, r); err != nil || !bytes.Equal(back, raw) {
		t.Fatalf("a 20 MiB []byte came back changed (%d bytes, %v)", len(back), err)
	}
	ints := make([]int64, 3<<20)
	for i := range ints {
		ints[i] = int64(i) * 1e9
	}
	ri, err := core.Put(ctx, ints)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := core.Get(ctx, ri); err != nil || !slices.Equal(back, ints) {
		t.Fatalf("a 24 MiB []int64 came back changed (%d values, %v)", len(back), err)
	}
}

var concat2 = core.Func2("test.concat2", func(ctx context.Context, a, b string) (string, error) { return a + b, nil })
