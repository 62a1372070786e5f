package dataset_test

import (
	"context"
	"fmt"
	"log"
	"os"

	_ "github.com/shoal-data/shoal/cluster" // cluster support for ConnectCluster
	"github.com/shoal-data/shoal/dataset"
)

// ConnectCluster builds a cluster runtime to pass to WithRuntime, for a
// program that uses the cluster for some datasets only. Not run here: it
// needs a cluster.
func ExampleConnectCluster() {
	dataset.Init() // in a node's worker process, serves tasks instead
	ctx := context.Background()
	rt, err := dataset.ConnectCluster(ctx, "head.example:6380", os.Getenv("SHOAL_TOKEN"))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close() // frees the blocks it still holds on the nodes
	sum, err := dataset.Range(1_000_000, dataset.WithRuntime(rt)).Sum(ctx, "id")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sum)
}
