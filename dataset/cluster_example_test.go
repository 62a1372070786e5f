package dataset_test

import (
	"context"
	"fmt"
	"log"

	"github.com/apache/arrow-go/v18/arrow"

	_ "github.com/shoal-data/shoal/cluster" // cluster support: SHOAL_ADDRESS, JoinCluster
	"github.com/shoal-data/shoal/dataset"
)

// keepBatch is a function tasks run, registered below so that the
// cluster's worker processes find it by name.
func keepBatch(b arrow.RecordBatch) (arrow.RecordBatch, error) {
	b.Retain()
	return b, nil
}

func init() { dataset.Register("example.keepBatch", keepBatch) }

// A program that runs on a cluster imports cluster support (a program
// without that import links no gRPC, and SHOAL_ADDRESS makes its runs fail
// saying what to add), starts main with Init (in a node's worker process,
// running this same binary, Init serves tasks and never returns) and names
// the cluster with JoinCluster or SHOAL_ADDRESS. Not run here: it needs a
// cluster (shoal start --head; shoal start --address).
func ExampleInit() {
	dataset.Init(dataset.JoinCluster("head.example:6380"))
	n, err := dataset.Range(1_000_000).MapBatches(keepBatch).Count(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n)
}
