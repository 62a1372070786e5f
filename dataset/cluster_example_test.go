package dataset_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/dataset"
)

// keepBatch is a function tasks run, registered below so that the
// cluster's worker processes find it by name.
func keepBatch(b arrow.RecordBatch) (arrow.RecordBatch, error) {
	b.Retain()
	return b, nil
}

func init() { dataset.Register("example.keepBatch", keepBatch) }

// A program that runs on a cluster starts main with Init (in a node's
// worker process, running this same binary, Init serves tasks and never
// returns) and names the cluster with JoinCluster or SHOAL_ADDRESS. Not
// run here: it needs a cluster (shoal start --head; shoal start --address).
func ExampleInit() {
	dataset.Init(dataset.JoinCluster("head.example:6380"))
	n, err := dataset.Range(1_000_000).MapBatches(keepBatch).Count(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n)
}

// ConnectCluster builds a cluster runtime to pass to WithRuntime, for a
// program that uses the cluster for some datasets only. Not run here: it
// needs a cluster.
func ExampleConnectCluster() {
	ctx := context.Background()
	rt, err := dataset.ConnectCluster(ctx, "head.example:6380", os.Getenv("SHOAL_TOKEN"))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close() // frees the blocks it still holds on the nodes
	sum, err := dataset.Range(1_000_000, dataset.WithRuntime(rt)).MapBatches(keepBatch).Sum(ctx, "id")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sum)
}
