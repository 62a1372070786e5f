package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/core"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

const shardEpochs = 3

// runShardWorker makes the test binary a training worker: it iterates
// shard k of the server at addr for shardEpochs epochs and prints one
// line per epoch: "epoch E: id id id ...".
func runShardWorker(addr, k string) {
	index, _ := strconv.Atoi(k)
	sh, err := DialShard(addr, testToken, index)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer sh.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := bufio.NewWriter(os.Stdout)
	for e := range shardEpochs {
		fmt.Fprintf(out, "epoch %d:", e)
		for b, err := range sh.IterBatches(ctx, 64, false) {
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			for _, id := range b.Column(0).(*array.Int64).Int64Values() {
				fmt.Fprintf(out, " %d", id)
			}
			time.Sleep(time.Millisecond) // a worker that takes its time
			if e == 1 && index == 1 {
				break // leaves epoch 1 after one batch
			}
		}
		fmt.Fprintln(out)
	}
	out.Flush()
	os.Exit(0)
}

// TestShardsInOtherProcesses: two worker processes each iterate one shard
// of a StreamingSplit over Flight for three epochs; every row arrives
// exactly once per epoch, the shards are equal, and each epoch is
// reshuffled. Worker 1 breaks out of epoch 1 after one batch: its shard is
// detached for that epoch and worker 0 reads all of its own.
func TestShardsInOtherProcesses(t *testing.T) {
	const rows = 3000
	rt := exec.NewLocal(exec.WithWorkers(2))
	t.Cleanup(func() { rt.Close() }) // after the shard server
	srv := serveSplit(t, dataset.Range(rows, dataset.WithRuntime(rt), dataset.WithParallelism(12)), 2, dataset.Equal(true), dataset.SplitShuffle(5))
	outs := make([]string, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for k := range 2 {
		wg.Go(func() {
			cmd := osexec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "SHOAL_TEST_SHARD_SERVER="+srv.Addr(), "SHOAL_TEST_SHARD="+strconv.Itoa(k))
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				errs[k] = fmt.Errorf("worker %d: %v: %s", k, err, stderr.String())
			}
			outs[k] = string(out)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	orders := make([][]int64, shardEpochs)
	for k, out := range outs {
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != shardEpochs {
			t.Fatalf("worker %d printed %d epochs, want %d:\n%s", k, len(lines), shardEpochs, out)
		}
		for e, line := range lines {
			fields := strings.Fields(strings.TrimPrefix(line, fmt.Sprintf("epoch %d:", e)))
			if e == 1 && k == 1 {
				if len(fields) != 64 {
					t.Fatalf("worker 1 read %d rows of epoch 1 before breaking out, want 64", len(fields))
				}
				continue
			}
			if len(fields) != rows/2 {
				t.Fatalf("worker %d read %d rows in epoch %d, want %d", k, len(fields), e, rows/2)
			}
			for _, f := range fields {
				id, err := strconv.ParseInt(f, 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				orders[e] = append(orders[e], id)
			}
		}
	}
	for e, ids := range orders {
		if e == 1 {
			continue // worker 1 left early
		}
		sorted := slices.Sorted(slices.Values(ids))
		for i, id := range sorted {
			if id != int64(i) {
				t.Fatalf("epoch %d: the rows are not each id once (at %d: %d)", e, i, id)
			}
		}
		if e > 0 && slices.Equal(ids, orders[0]) {
			t.Fatalf("epochs 0 and %d came in the same order", e)
		}
	}
}

// trainer is a training worker as a core actor: it reads its shard from a
// ShardServer, wherever the cluster placed it.
type trainer struct{ shard *RemoteShard }

type trainerArgs struct {
	Addr  string
	Shard int
}

var trainers = core.RegisterActor("cluster-test.trainer", func(ctx context.Context, a trainerArgs) (*trainer, error) {
	sh, err := DialShard(a.Addr, testToken, a.Shard)
	if err != nil {
		return nil, err
	}
	return &trainer{shard: sh}, nil
})

// Epoch iterates one epoch and returns the sum of the ids and the rows,
// and the process it ran in.
func (tr *trainer) Epoch(ctx context.Context, size int) ([3]int64, error) {
	var sum, rows int64
	for b, err := range tr.shard.IterBatches(ctx, size, false) {
		if err != nil {
			return [3]int64{}, err
		}
		for _, id := range b.Column(0).(*array.Int64).Int64Values() {
			sum += id
		}
		rows += b.NumRows()
	}
	return [3]int64{sum, rows, int64(os.Getpid())}, nil
}

// Close closes the connection to the shard server.
func (tr *trainer) Close(ctx context.Context) (bool, error) { return true, tr.shard.Close() }

// TestShardsOnClusterActors: the shards of a split in this process are
// read by two training actors in the worker processes of a head and two
// nodes, for three epochs; every row arrives once per epoch.
func TestShardsOnClusterActors(t *testing.T) {
	// A head that waits 5 s for a heartbeat: the nodes share this
	// machine's CPUs with the race detector.
	h, err := StartHead(HeadConfig{Addr: "127.0.0.1:0", Token: testToken, HeartbeatPeriod: 50 * time.Millisecond, DeadAfter: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	for range 2 {
		startTaskNode(t, h.Addr(), 1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rt, err := NewRuntime(ctx, h.Addr(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	const rows = 4000
	local := exec.NewLocal(exec.WithWorkers(2))
	t.Cleanup(func() { local.Close() }) // after the shard server
	srv := serveSplit(t, dataset.Range(rows, dataset.WithRuntime(local), dataset.WithParallelism(8)), 2, dataset.Equal(true), dataset.SplitShuffle(1))
	cctx := core.WithRuntime(ctx, rt)
	actors := make([]*core.Actor[*trainer], 2)
	for k := range actors {
		if actors[k], err = trainers.New(cctx, trainerArgs{Addr: srv.Addr(), Shard: k}, core.CPUs(1)); err != nil {
			t.Fatal(err)
		}
	}
	for e := range 3 {
		refs := make([]core.Ref[[3]int64], 2)
		for k, a := range actors {
			refs[k] = core.Call1(cctx, a, (*trainer).Epoch, core.Value(100))
		}
		got, err := core.GetAll(cctx, refs)
		if err != nil {
			t.Fatalf("epoch %d: %v", e, err)
		}
		if got[0][1] != rows/2 || got[1][1] != rows/2 || got[0][0]+got[1][0] != rows*(rows-1)/2 {
			t.Fatalf("epoch %d: the shards read %v", e, got)
		}
		if got[0][2] == int64(os.Getpid()) || got[1][2] == int64(os.Getpid()) {
			t.Fatalf("epoch %d: a trainer ran in this process", e)
		}
	}
	for _, a := range actors {
		if _, err := core.Get(cctx, core.Call0(cctx, a, (*trainer).Close)); err != nil {
			t.Fatal(err)
		}
		if err := a.Stop(cctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRemoteShardSeesProducerError: a run that fails mid-epoch fails the
// remote worker's iteration with the cause, not a short epoch.
func TestRemoteShardSeesProducerError(t *testing.T) {
	local := exec.NewLocal(exec.WithWorkers(2))
	t.Cleanup(func() { local.Close() }) // after the shard server
	ds := dataset.Range(2000, dataset.WithRuntime(local), dataset.WithParallelism(8)).
		MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
			if b.Column(0).(*array.Int64).Value(0) >= 1000 {
				return nil, errors.New("row 1000 is rotten")
			}
			b.Retain()
			return b, nil
		})
	srv := serveSplit(t, ds, 1)
	sh, err := DialShard(srv.Addr(), testToken, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows := 0
	var last error
	for b, err := range sh.IterBatches(ctx, 100, false) {
		if err != nil {
			last = err
			break
		}
		rows += int(b.NumRows())
	}
	if last == nil || !strings.Contains(last.Error(), "row 1000 is rotten") {
		t.Fatalf("after %d rows: %v, want the producer's error", rows, last)
	}
}

// serveSplit splits ds into n shards with opts and serves them; the
// server closes when the test ends.
func serveSplit(t *testing.T, ds *dataset.Dataset, n int, opts ...dataset.SplitOption) *ShardServer {
	t.Helper()
	shards, err := ds.StreamingSplit(n, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ServeShards(shards, "127.0.0.1:0", testToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}
