package dataset_test

import (
	"context"
	"fmt"
	"log"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

// double is a transform's function. Registering it at package level, which
// every copy of the program runs, lets its stage run on a cluster's workers.
func double(r dataset.Row) (dataset.Item, error) {
	return dataset.Item{"id": r.Int64("id"), "double": 2 * r.Int64("id")}, nil
}

func init() { dataset.Register("example.double", double) }

func ExampleRegister() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	ctx := context.Background()

	ds := dataset.Range(3, dataset.WithRuntime(rt)).Map(double)
	// Cluster mode refuses plans whose functions are not registered; this
	// one passes.
	if err := dataset.CheckShippable(ds); err != nil {
		log.Fatal(err)
	}
	rows, err := ds.TakeAll(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rows)

	// A closure is not registered: its stage runs locally, but not on a
	// cluster, and CheckShippable says so.
	k := int64(3)
	triple := ds.Filter(func(r dataset.Row) (bool, error) { return r.Int64("id") < k, nil })
	fmt.Println(dataset.CheckShippable(triple) != nil)
	// Output:
	// [map[double:0 id:0] map[double:2 id:1] map[double:4 id:2]]
	// true
}

// below is a factory: the state a closure would capture travels as JSON
// arguments, and every process makes the function from them.
var below = dataset.RegisterFactory("example.below", func(limit int64) func(dataset.Row) (bool, error) {
	return func(r dataset.Row) (bool, error) { return r.Int64("id") < limit, nil }
})

func ExampleRegisterFactory() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	ctx := context.Background()

	ds := dataset.Range(100, dataset.WithRuntime(rt)).Filter(below.Bind(4))
	fmt.Println(dataset.CheckShippable(ds))
	n, err := ds.Count(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ds, n)
	// Output:
	// <nil>
	// Dataset(Filter(example.below), schema={id: int64}) 4
}
