package core_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-data/shoal/cluster"
	"github.com/shoal-data/shoal/core"
	"github.com/shoal-data/shoal/exec"
)

const testToken = "core-test-token"

// runTestNode makes the test binary a node process: it joins head, prints
// "node at ADDR" and serves until its stdin ends.
func runTestNode(head, dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	n, err := cluster.StartNode(ctx, cluster.NodeConfig{Head: head, Token: testToken, WorkDir: dir, SpillDir: dir,
		Resources: cluster.Resources{CPUs: 2, ObjectStoreMemory: 64 << 20}})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("node at %s\n", n.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	n.Close()
	os.Exit(0)
}

// nodeProcess is this test binary run as a cluster node.
type nodeProcess struct {
	cmd   *osexec.Cmd
	stdin io.Closer
	done  chan struct{}
}

// spawnNode starts a node process joining head, with dir its work dir.
func spawnNode(head, dir string) (*nodeProcess, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	np := &nodeProcess{cmd: osexec.Command(os.Args[0]), done: make(chan struct{})}
	np.cmd.Env = append(os.Environ(), "SHOAL_TEST_NODE_HEAD="+head, "SHOAL_TEST_NODE_DIR="+dir)
	var stderr strings.Builder
	np.cmd.Stderr = &stderr
	stdin, err := np.cmd.StdinPipe() // held open: the node serves until it closes
	if err != nil {
		return nil, err
	}
	np.stdin = stdin
	stdout, err := np.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := np.cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	go func() {
		_ = np.cmd.Wait()
		close(np.done)
	}()
	if err != nil || !strings.HasPrefix(line, "node at ") {
		np.close()
		return nil, fmt.Errorf("the node process printed %q (%v); stderr:\n%s", line, err, stderr.String())
	}
	return np, nil
}

// close ends the node: its stdin closes, and if it has not exited 10 s
// later it is killed.
func (np *nodeProcess) close() {
	np.stdin.Close()
	select {
	case <-np.done:
	case <-time.After(10 * time.Second):
		_ = np.cmd.Process.Kill()
		<-np.done
	}
}

func startNodeProcess(t *testing.T, head string) *nodeProcess {
	t.Helper()
	np, err := spawnNode(head, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(np.close)
	return np
}

// eachRuntime runs test embedded and on the package's shared cluster (a
// head and two node processes, started on first use).
func eachRuntime(t *testing.T, test func(t *testing.T, ctx context.Context)) {
	t.Run("embedded", func(t *testing.T) { test(t, embedded(t)) })
	t.Run("cluster", func(t *testing.T) {
		shared.once.Do(func() { shared.ctx, shared.rt, shared.stop, shared.err = startCluster() })
		if shared.err != nil {
			t.Fatal(shared.err)
		}
		ctx, cancel := context.WithCancel(shared.ctx)
		t.Cleanup(cancel) // calls still running end
		test(t, ctx)
	})
}

// shared is the cluster the eachRuntime tests share; TestMain stops it.
var shared struct {
	once sync.Once
	ctx  context.Context
	rt   *exec.Local
	stop func()
	err  error
}

// startCluster starts a head and two node processes outside any test.
func startCluster() (context.Context, *exec.Local, func(), error) {
	var stops []func()
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	h, err := cluster.StartHead(cluster.HeadConfig{Addr: "127.0.0.1:0", Token: testToken, HeartbeatPeriod: 50 * time.Millisecond, DeadAfter: 2 * time.Second})
	if err != nil {
		return nil, nil, nil, err
	}
	stops = append(stops, h.Close)
	dir, err := os.MkdirTemp("", "core-test-cluster-")
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	stops = append(stops, func() { os.RemoveAll(dir) })
	for i := range 2 {
		np, err := spawnNode(h.Addr(), filepath.Join(dir, fmt.Sprint("node", i)))
		if err != nil {
			stop()
			return nil, nil, nil, err
		}
		stops = append(stops, np.close)
	}
	ctx := context.Background()
	rt, err := cluster.NewRuntime(ctx, h.Addr(), testToken)
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	stops = append(stops, func() { rt.Close() })
	return core.WithRuntime(ctx, rt), rt, stop, nil
}

// onCluster starts a head and two node processes and returns a context
// whose calls run there, and the nodes.
func onCluster(t *testing.T) (context.Context, *exec.Local, []*nodeProcess) {
	t.Helper()
	h, err := cluster.StartHead(cluster.HeadConfig{Addr: "127.0.0.1:0", Token: testToken, HeartbeatPeriod: 50 * time.Millisecond, DeadAfter: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	nodes := []*nodeProcess{startNodeProcess(t, h.Addr()), startNodeProcess(t, h.Addr())}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	rt, err := cluster.NewRuntime(ctx, h.Addr(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return core.WithRuntime(ctx, rt), rt, nodes
}

var (
	// where says which process ran it, and echoes x.
	where = core.Func1("test.where", func(ctx context.Context, x int) (placed, error) {
		return placed{PID: os.Getpid(), X: x}, nil
	})
	// slowSquare takes 20 ms.
	slowSquare = core.Func1("test.slow-square", func(ctx context.Context, x int) (int, error) {
		select {
		case <-time.After(20 * time.Millisecond):
			return x * x, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
)

type placed struct{ PID, X int }

// TestOnCluster: the same calls as embedded, run in the nodes' worker
// processes.
func TestOnCluster(t *testing.T) {
	ctx, _, _ := onCluster(t)
	refs := make([]core.Ref[placed], 8)
	for i := range refs {
		refs[i] = where.Remote(ctx, core.Value(i))
	}
	got, err := core.GetAll(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	pids := map[int]bool{}
	for i, p := range got {
		if p.X != i || p.PID == os.Getpid() {
			t.Fatalf("call %d: %+v (this process is %d)", i, p, os.Getpid())
		}
		pids[p.PID] = true
	}
	t.Logf("8 calls ran in %d worker processes", len(pids))
	ds := digits.Remote(ctx, 3, core.Value(472))
	if v, err := core.Get(ctx, total.Remote(ctx, core.Args(ds)...)); err != nil || v != 13 {
		t.Fatalf("total of digits = %d, %v", v, err)
	}
	ready, notReady, err := core.Wait(ctx, []core.Ref[int]{slowSquare.Remote(ctx, core.Value(3))}, 1, 0)
	if err != nil || len(ready)+len(notReady) != 1 {
		t.Fatalf("Wait: %v %v %v", ready, notReady, err)
	}
	if v, err := core.Get(ctx, notReady[0]); len(notReady) == 1 && (err != nil || v != 9) {
		t.Fatalf("slow square = %d, %v", v, err)
	}
	_, err = core.Get(ctx, explode.Remote(ctx, core.Value("far away")))
	var te *core.TaskError
	if !errors.As(err, &te) || te.Func != "test.explode" || !strings.Contains(err.Error(), "far away") {
		t.Fatalf("a panic on a node: %v", err)
	}
	c, err := counters.New(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				core.Release(core.Call1(ctx, c, (*Counter).Add, core.Value(g*1000+i)))
			}
		}()
	}
	wg.Wait()
	log, err := core.Get(ctx, core.Call0(ctx, c, (*Counter).Log))
	if err != nil || len(log) != 40 {
		t.Fatalf("the actor's log: %v, %v", log, err)
	}
	next := map[int]int{}
	for _, k := range log {
		if g, i := k/1000, k%1000; i != next[g] {
			t.Fatalf("goroutine %d's call %d ran out of order: %v", g, i, log)
		} else {
			next[g]++
		}
	}
	_, err = core.Get(ctx, core.Call1(ctx, c, (*Counter).Explode, core.Value("remote gears")))
	if !exec.IsActorFailure(err) || !strings.Contains(err.Error(), "remote gears") {
		t.Fatalf("a panicking actor on a node: %v", err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestOnClusterNodeKilled: a node killed with SIGKILL while calls run;
// the calls it ran are run again on the other node and the results it
// held are rebuilt from lineage, so every result is right.
func TestOnClusterNodeKilled(t *testing.T) {
	ctx, rt, nodes := onCluster(t)
	const n = 60
	squares := make([]core.Ref[int], n)
	for i := range squares {
		squares[i] = slowSquare.Remote(ctx, core.Value(i))
	}
	// Some results are stored on each node by now.
	if _, _, err := core.Wait(ctx, squares, n/4, core.NoTimeout); err != nil {
		t.Fatal(err)
	}
	_, running, _ := core.Wait(ctx, squares, n, 0)
	if len(running) == 0 {
		t.Fatal("every call ended before the node was killed")
	}
	if err := nodes[0].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-nodes[0].done
	sums := make([]core.Ref[int], 0, n/10)
	for i := 0; i < n; i += 10 {
		sums = append(sums, total.Remote(ctx, core.Args(squares[i:i+10])...))
	}
	got, err := core.GetAll(ctx, sums)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range got {
		want := 0
		for i := k * 10; i < k*10+10; i++ {
			want += i * i
		}
		if v != want {
			t.Fatalf("sum %d = %d, want %d", k, v, want)
		}
	}
	all, err := core.GetAll(ctx, squares)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range all {
		if v != i*i {
			t.Fatalf("square %d = %d", i, v)
		}
	}
	_, reruns := rt.LineageStats()
	t.Logf("node killed with %d of %d calls not done; %d calls run again to rebuild lost results", len(running), n, reruns)
}
