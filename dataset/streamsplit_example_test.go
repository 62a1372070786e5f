package dataset_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

// Two training workers, each looping over its shard for three epochs:
// each epoch is one run of the plan, reshuffled, and the workers' epochs
// advance together.
func ExampleDataset_StreamingSplit() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	ctx := context.Background()
	shards, err := dataset.Range(1000, dataset.WithRuntime(rt)).StreamingSplit(2, dataset.Equal(true), dataset.SplitShuffle(42), dataset.SplitEpochs(3))
	if err != nil {
		panic(err)
	}
	rows := make([][]int64, len(shards))
	var wg sync.WaitGroup
	for k, shard := range shards {
		wg.Go(func() {
			for shard.More() { // one epoch per iteration
				var n int64
				for batch, err := range shard.IterBatches(ctx, 128) {
					if err != nil {
						panic(err)
					}
					n += batch.NumRows() // train on the batch here
				}
				rows[k] = append(rows[k], n)
			}
		})
	}
	wg.Wait()
	for k, r := range rows {
		fmt.Printf("worker %d: rows per epoch %v\n", k, r)
	}
	// Output:
	// worker 0: rows per epoch [500 500 500]
	// worker 1: rows per epoch [500 500 500]
}
