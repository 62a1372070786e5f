package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoal-data/shoal/cluster"
	"github.com/shoal-data/shoal/dataset"
)

// TestClusterFrozenNode is TestClusterChaos with the node frozen
// (SIGSTOP) instead of killed: in the map stage its process alone (its
// workers still serve), in the shuffle and the actor stage the node and
// its worker processes (a machine frozen whole). The head declares it
// dead after five missed heartbeats and tells the driver, which gives it
// up as if it had been killed: the job ends with the exact result. Then
// SIGCONT: the node, told it was declared dead, drops what it held and
// joins again as a new node, and a new job runs on all three nodes.
func TestClusterFrozenNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	runFaults(t, shoalBinary(t), syscall.SIGSTOP)
}

// freeze stops node i's process with SIGSTOP, and with workersToo its
// worker processes, and returns every process stopped. They are continued
// when the test ends, if it has not done so.
func (c *testCluster) freeze(t *testing.T, i int, workersToo bool) []int {
	t.Helper()
	node := c.nodes[i].cmd.Process.Pid
	pids := []int{node}
	if err := syscall.Kill(node, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if workersToo {
		// Stopped, the node starts no more workers.
		kids := childPIDs(t, node)
		if len(kids) == 0 {
			t.Fatal("the node to freeze has no worker process")
		}
		for _, p := range kids {
			if err := syscall.Kill(p, syscall.SIGSTOP); err == nil {
				pids = append(pids, p)
			}
		}
	}
	t.Cleanup(func() { thaw(pids) })
	return pids
}

func thaw(pids []int) {
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGCONT)
	}
}

// childPIDs are the processes whose parent is pid (from /proc).
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var kids []int
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // gone meanwhile
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			if p, err := strconv.Atoi(strings.Fields(s)[0]); err == nil {
				kids = append(kids, p)
			}
		}
	}
	return kids
}

// status is the cluster as its head sees it.
func (c *testCluster) status(t *testing.T) cluster.Status {
	t.Helper()
	hc, err := cluster.Connect(c.addr, "chaos-test-token")
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := hc.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// thawAndCheck continues the frozen processes of node i and checks that
// nothing is left broken: the head declared the node dead, and the node,
// told so, joins again under a new ID with nothing left of what drivers
// gave up; a new job then runs on every node.
func (c *testCluster) thawAndCheck(t *testing.T, bin string, i int, frozen []int) {
	t.Helper()
	oldID := strings.Fields(c.nodes[i].first)[1]
	thaw(frozen)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := c.status(t)
		oldDead, rejoined := false, ""
		for _, n := range st.Nodes {
			switch {
			case n.ID == oldID:
				oldDead = !n.Alive && !n.DeadSince.IsZero()
			case n.Alive && n.Info.Addr == c.addrs[i]:
				rejoined = n.ID
			}
		}
		if oldDead && rejoined != "" && c.objects(i) == 0 {
			t.Logf("thawed: %s, declared dead, joined again as %s holding nothing", oldID, rejoined)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30s after SIGCONT the node has not joined again empty (old %s dead: %v, rejoined as %q, holds %d blocks): %+v",
				oldID, oldDead, rejoined, c.objects(i), st.Nodes)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx := context.Background()
	rt := c.connect(t)
	if cpus := rt.Resources().CPUs; cpus != 6 {
		t.Errorf("a new job sees %d CPUs, want the three nodes' 6", cpus)
	}
	sum, err := dataset.Range(6000, dataset.WithRuntime(rt), dataset.WithParallelism(24)).MapBatches(slowSquare).Sum(ctx, "id")
	if err != nil || sum.Int64() != 6000*5999/2 {
		t.Errorf("a job after the thaw: sum %v, %v; want %d", sum, err, 6000*5999/2)
	}
}

// TestClusterOnlyNodeLost: the only node of a cluster is killed
// (SIGKILL), or frozen (SIGSTOP, workers too), mid-map. The job ends, within
// a bound, with an error saying no live node is left, naming the node and
// why: not a hang, and not the "%!w(<nil>)" of an empty list of reasons.
func TestClusterOnlyNodeLost(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	bin := shoalBinary(t)
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGSTOP} {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			c := startCluster(t, bin, 1)
			ctx := context.Background()
			rt := c.connect(t)
			done := make(chan chaosResult, 1)
			go func() {
				rows, err := materializedRows(ctx, dataset.Range(60000, dataset.WithRuntime(rt), dataset.WithParallelism(120)).MapBatches(gatedSquare))
				done <- chaosResult{rows, err}
			}()
			c.waitForVictim(t, func(c *testCluster) int {
				if c.objects(0) >= 2 {
					return 0
				}
				return -1
			}, done)
			if sig == syscall.SIGSTOP {
				c.freeze(t, 0, true)
			} else if err := c.nodes[0].cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			lost := time.Now()
			var res chaosResult
			select {
			case res = <-done:
			case <-time.After(60 * time.Second):
				t.Fatalf("the job did not end within 60s of its only node's %s", unix.SignalName(sig))
			}
			id := strings.Fields(c.nodes[0].first)[1]
			msg := fmt.Sprint(res.err)
			if res.err == nil || !strings.Contains(msg, "no live node") || !strings.Contains(msg, id) || strings.Contains(msg, "%!") {
				t.Fatalf("with its only node lost, the job ended with %v; want an error saying no live node is left, naming %s and why", res.err, id)
			}
			t.Logf("ended %v after the %s with: %v", time.Since(lost).Round(time.Millisecond), unix.SignalName(sig), res.err)
			c.releaseGate(t)
		})
	}
}

// TestClusterInterrupt: Ctrl-C (SIGINT) in a driver whose job runs a
// map and an actor stage on the cluster, with a materialized dataset held
// on the nodes, and with the node of one of its actors frozen (SIGSTOP,
// workers too) just before: the driver stops within seconds, with an
// error saying it was cancelled, and what it held on the nodes is freed
// (on the frozen one once it is continued).
func TestClusterInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := startCluster(t, shoalBinary(t), 3)
	driver := c.startDriver(t, "SHOAL_TEST_INTERRUPT")
	frozen := c.waitForVictim(t, func(c *testCluster) int { return c.markedNode("actor-output-on-") }, nil)
	if c.objects(frozen) == 0 {
		t.Fatal("the node to freeze holds no block of the driver's")
	}
	pids := c.freeze(t, frozen, true)
	if err := driver.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	interrupted := time.Now()
	c.releaseGate(t) // the gated tasks, deaf to cancellation, end
	code := driver.wait(t, 60*time.Second)
	took := time.Since(interrupted)
	stderr := driver.stderr.String()
	if code != 3 || !strings.Contains(stderr, "context canceled") {
		t.Fatalf("after Ctrl-C the driver exited %d; want 3 and an error saying it was cancelled:\n%s", code, stderr)
	}
	if took > 10*time.Second {
		t.Errorf("the driver took %v to stop after Ctrl-C; want a few seconds", took.Round(time.Millisecond))
	}
	held := func(nodes ...int) int {
		n := 0
		for _, i := range nodes {
			n += c.objects(i)
		}
		return n
	}
	var live []int
	for i := range c.nodes {
		if i != frozen {
			live = append(live, i)
		}
	}
	for _, nodes := range [][]int{live, {frozen}} {
		if nodes[0] == frozen {
			thaw(pids)
		}
		deadline := time.Now().Add(20 * time.Second)
		for held(nodes...) != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("nodes %v still hold %d blocks 20s after the interrupted driver exited (or the node was continued)", nodes, held(nodes...))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("stopped %v after Ctrl-C with: %s", took.Round(time.Millisecond), strings.TrimSpace(stderr))
}

// runInterruptDriver makes this binary a driver that joins the cluster at
// addr, says so, materializes a dataset there, then runs a map and an
// actor stage until Ctrl-C, prints the stage's error and exits 3.
func runInterruptDriver(addr string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rt, err := dataset.ConnectCluster(ctx, addr, "chaos-test-token")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer rt.Close()
	fmt.Println("ready")
	held, err := dataset.Range(20000, dataset.WithRuntime(rt), dataset.WithParallelism(30)).MapBatches(slowSquare).Materialize(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_, err = dataset.Range(60000, dataset.WithRuntime(rt), dataset.WithParallelism(120)).MapBatches(gatedSquare).
		MapBatchesWithActors(newPassActor, dataset.Actors(2, 2), dataset.ActorCPUs(0), dataset.BatchSize(500)).Count(ctx)
	fmt.Fprintln(os.Stderr, err)
	runtime.KeepAlive(held) // its blocks stay on the nodes until Close
	return 3
}
