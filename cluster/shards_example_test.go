package cluster_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/shoal-data/shoal/cluster"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

// The driver serves the shards of a split; a training worker in another
// process (here, for the example, a goroutine) dials its shard and loops
// over its epochs as it would over a local shard.
func ExampleServeShards() {
	const token = "example-token"
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	shards, err := dataset.Range(1000, dataset.WithRuntime(rt)).StreamingSplit(2, dataset.Equal(true))
	if err != nil {
		panic(err)
	}
	srv, err := cluster.ServeShards(shards, "127.0.0.1:0", token)
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	sums := make([]int64, 2)
	var wg sync.WaitGroup
	for k := range 2 {
		wg.Go(func() { // in the worker process
			shard, err := cluster.DialShard(srv.Addr(), token, k)
			if err != nil {
				panic(err)
			}
			defer shard.Close()
			for range 2 { // two epochs
				for batch, err := range shard.IterBatches(context.Background(), 100, false) {
					if err != nil {
						panic(err)
					}
					sums[k] += batch.NumRows()
				}
			}
		})
	}
	wg.Wait()
	fmt.Println("rows read by each worker over two epochs:", sums)
	// Output: rows read by each worker over two epochs: [1000 1000]
}
