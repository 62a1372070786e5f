package cluster

import (
	"bufio"
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

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
	defer rt.Close()
	ds := dataset.Range(rows, dataset.WithRuntime(rt), dataset.WithParallelism(12))
	shards, err := ds.StreamingSplit(2, dataset.Equal(true), dataset.SplitShuffle(5))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ServeShards(shards, "127.0.0.1:0", testToken)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
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
