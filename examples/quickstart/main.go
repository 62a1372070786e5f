// Quickstart runs the first examples of "Learning Ray" chapters 1 and 6 on
// Shoal's embedded runtime: build datasets, transform them row by row and a
// batch at a time, and aggregate.
//
//	go run ./examples/quickstart
//
// Built with the shoalcluster tag, the same program runs on a cluster:
//
//	SHOAL_ADDRESS=head:6380 go run -tags shoalcluster ./examples/quickstart
//
// The tag adds cluster.go, whose one import links cluster support (gRPC,
// Arrow Flight): an embedded program does without it. Its functions are
// registered by name, so the nodes' workers (this binary) find them, and
// main starts with dataset.Init.
package main

import (
	"context"
	"fmt"
	"log"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/dataset"
)

// The functions tasks run, registered so they can run on a cluster.
func init() {
	dataset.Register("square", square)
	dataset.Register("isEven", isEven)
	dataset.Register("withCube", withCube)
	dataset.Register("squareBatch", squareBatch)
}

func main() {
	dataset.Init() // in a cluster's worker process, serves tasks instead
	ctx := context.Background()
	if err := run(ctx); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	// 10,000 records of {"name": "<i>", "data": i}.
	items := make([]dataset.Item, 10000)
	for i := range items {
		items[i] = dataset.Item{"name": strconv.Itoa(i), "data": i}
	}
	ds := dataset.FromItems(items)
	fmt.Println("-- FromItems(10000).Show(5): the first five rows")
	if err := ds.Show(ctx, 5); err != nil {
		return err
	}

	// Square each value, keep the even squares: 5000 of them.
	squares := ds.Map(square)
	evens := squares.Filter(isEven)
	n, err := evens.Count(ctx)
	if err != nil {
		return err
	}
	fmt.Println("-- Map(x²).Filter(even).Count():", n) // 5000

	// Each even square x gives x and x³.
	cubes := evens.FlatMap(withCube)
	first, err := cubes.Take(ctx, 10)
	if err != nil {
		return err
	}
	fmt.Println("-- FlatMap(x -> [x, x³]).Take(10):", values(first, "data"))

	// Range: a dataset of the integers 0..n-1 in column "id".
	r := dataset.Range(10000)
	count, err := r.Count(ctx)
	if err != nil {
		return err
	}
	head, err := r.Take(ctx, 5)
	if err != nil {
		return err
	}
	schema, err := r.Schema(ctx)
	if err != nil {
		return err
	}
	fmt.Println("-- Range(10000).Count():", count)                 // 10000
	fmt.Println("-- Range(10000).Take(5):", values(head, "id"))    // [0 1 2 3 4]
	fmt.Println("-- Range(10000).Schema():", schemaString(schema)) // id: int64

	// Blocks: the default split, a union, and an exact repartition.
	blocksN, err := r.NumBlocks(ctx)
	if err != nil {
		return err
	}
	unionN, err := r.Union(dataset.Range(10000)).NumBlocks(ctx)
	if err != nil {
		return err
	}
	repN, err := r.Repartition(200).NumBlocks(ctx)
	if err != nil {
		return err
	}
	fmt.Println("-- Range(10000).NumBlocks():", blocksN)  // 200
	fmt.Println("-- Union of two: NumBlocks():", unionN)  // 400
	fmt.Println("-- Repartition(200).NumBlocks():", repN) // 200

	// MapBatches squares a whole Arrow column at a time.
	sq := r.MapBatches(squareBatch)
	sqHead, err := sq.Take(ctx, 5)
	if err != nil {
		return err
	}
	fmt.Println("-- MapBatches(x²).Take(5):", values(sqHead, "id")) // [0 1 4 9 16]

	sum, err := r.Sum(ctx, "id")
	if err != nil {
		return err
	}
	lo, err := r.Min(ctx, "id")
	if err != nil {
		return err
	}
	hi, err := r.Max(ctx, "id")
	if err != nil {
		return err
	}
	mean, err := r.Mean(ctx, "id")
	if err != nil {
		return err
	}
	std, err := r.Std(ctx, "id")
	if err != nil {
		return err
	}
	fmt.Println("-- Range(10000): Sum", sum, "Min", lo, "Max", hi, "Mean", mean) // 49995000 0 9999 4999.5
	fmt.Printf("-- Range(10000).Std(): %.5f\n", std)                             // 2886.89568

	small := dataset.FromItems([]dataset.Item{{"id": "abc", "value": 1}, {"id": "def", "value": 2}})
	smallSchema, err := small.Schema(ctx)
	if err != nil {
		return err
	}
	fmt.Println("-- FromItems([{id: abc, value: 1}, {id: def, value: 2}]).Schema():", schemaString(smallSchema))
	return nil
}

func square(r dataset.Row) (dataset.Item, error) {
	x := r.Int64("data")
	return dataset.Item{"data": x * x}, nil
}

func isEven(r dataset.Row) (bool, error) { return r.Int64("data")%2 == 0, nil }

func withCube(r dataset.Row) ([]dataset.Item, error) {
	x := r.Int64("data")
	return []dataset.Item{{"data": x}, {"data": x * x * x}}, nil
}

func squareBatch(b arrow.RecordBatch) (arrow.RecordBatch, error) {
	ids, err := blocks.Values[int64](b.Column(0))
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(ids))
	for i, v := range ids {
		out[i] = v * v
	}
	col := blocks.NumericArray(out)
	defer col.Release()
	return array.NewRecordBatch(b.Schema(), []arrow.Array{col}, b.NumRows()), nil
}

func values(items []dataset.Item, col string) []any {
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = it[col]
	}
	return out
}

func schemaString(s *arrow.Schema) string {
	out := ""
	for i, f := range s.Fields() {
		if i > 0 {
			out += ", "
		}
		out += f.Name + ": " + f.Type.String()
	}
	return out
}
