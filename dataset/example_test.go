package dataset_test

import (
	"context"
	"fmt"
	"log"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

// The examples run on a runtime of their own that they close, as a program
// that wants its workers stopped when it is done would. Without WithRuntime
// a dataset runs on the process-wide DefaultRuntime.

func ExampleRange() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	ctx := context.Background()

	ds := dataset.Range(10000, dataset.WithRuntime(rt))
	n, err := ds.Count(ctx)
	if err != nil {
		log.Fatal(err)
	}
	nblocks, err := ds.NumBlocks(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ds)
	fmt.Println("rows:", n, "blocks:", nblocks)
	// Output:
	// Dataset(Range(10000), rows=10000, schema={id: int64})
	// rows: 10000 blocks: 200
}

func ExampleFromItems() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	ctx := context.Background()

	items := make([]dataset.Item, 100)
	for i := range items {
		items[i] = dataset.Item{"name": fmt.Sprint("item-", i), "data": i}
	}
	ds := dataset.FromItems(items, dataset.WithRuntime(rt))

	// Square each value and keep the even squares.
	squares := ds.Map(func(r dataset.Row) (dataset.Item, error) {
		x := r.Int64("data")
		return dataset.Item{"name": r.String("name"), "sq": x * x}, nil
	})
	evens := squares.Filter(func(r dataset.Row) (bool, error) {
		return r.Int64("sq")%2 == 0, nil
	})
	first, err := evens.Take(ctx, 4)
	if err != nil {
		log.Fatal(err)
	}
	for _, it := range first {
		fmt.Println(it["name"], it["sq"])
	}
	// Output:
	// item-0 0
	// item-2 4
	// item-4 16
	// item-6 36
}

func ExampleDataset_MapBatches() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	ctx := context.Background()

	// Double the "id" column a whole Arrow batch at a time, 4 rows per batch.
	doubled := dataset.Range(10, dataset.WithRuntime(rt)).MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
		ids, err := blocks.Values[int64](b.Column(0))
		if err != nil {
			return nil, err
		}
		out := make([]int64, len(ids))
		for i, v := range ids {
			out[i] = 2 * v
		}
		col := blocks.NumericArray(out)
		defer col.Release()
		return array.NewRecordBatch(b.Schema(), []arrow.Array{col}, b.NumRows()), nil
	}, dataset.BatchSize(4))

	for batch, err := range doubled.IterBatches(ctx, 5) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(batch.Column(0))
	}
	// Output:
	// [0 2 4 6 8]
	// [10 12 14 16 18]
}

func ExampleDataset_Sum() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	ctx := context.Background()

	ds := dataset.Range(10000, dataset.WithRuntime(rt))
	sum, err := ds.Sum(ctx, "id")
	if err != nil {
		log.Fatal(err)
	}
	mean, err := ds.Mean(ctx, "id")
	if err != nil {
		log.Fatal(err)
	}
	std, err := ds.Std(ctx, "id") // sample standard deviation (ddof=1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("sum:", sum, "mean:", mean)
	fmt.Printf("std: %.5f\n", std)
	// Output:
	// sum: 49995000 mean: 4999.5
	// std: 2886.89568
}

func ExampleDataset_Show() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()

	ds := dataset.FromItems([]dataset.Item{
		{"name": "ann", "age": 31},
		{"name": "bob", "age": nil},
		{"name": "cid", "age": 7},
	}, dataset.WithRuntime(rt))
	if err := ds.Show(context.Background(), 2); err != nil {
		log.Fatal(err)
	}
	// Output:
	// {age: 31, name: "ann"}
	// {age: <nil>, name: "bob"}
}

func ExampleDataset_Explain() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()

	ds := dataset.Range(100, dataset.WithRuntime(rt)).
		Filter(func(r dataset.Row) (bool, error) { return r.Int64("id")%2 == 0, nil }).
		Limit(10)
	// The physical plan runs the read and the filter as one operator.
	fmt.Print(ds.Explain())
	// Output:
	// -- logical plan --
	// Limit(10) [id: int64]
	//   Filter(dataset_test.ExampleDataset_Explain.func1) [id: int64]
	//     Range(100) [id: int64]
	// -- optimized plan --
	// Limit(10) [id: int64]
	//   Filter(dataset_test.ExampleDataset_Explain.func1) [id: int64]
	//     Range(100) [id: int64]
	// -- physical plan --
	// Limit[Limit(10)]
	//   Read[Range(100)->Filter(dataset_test.ExampleDataset_Explain.func1)]
}
