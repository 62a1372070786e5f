package dataset_test

import (
	"context"
	"fmt"
	"log"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

func ExampleDataset_MapColumns() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	ctx := context.Background()

	trips := dataset.FromItems([]dataset.Item{
		{"id": 1, "fare": 10.0, "tip": 2.5},
		{"id": 2, "fare": 7.5, "tip": nil},
		{"id": 3, "fare": 22.0, "tip": 4.0},
	}, dataset.WithRuntime(rt), dataset.WithParallelism(1))

	// total = fare + tip, null where tip is; tip itself is dropped.
	withTotal := trips.MapColumns(func(in dataset.ColumnSet) (dataset.ColumnSet, error) {
		fare, tip := in.Float64("fare"), in.Float64("tip")
		total := make([]float64, in.Len())
		for i := range total {
			total[i] = fare[i] + tip[i]
		}
		in.SetNullable("total", total, in.Valid("tip"))
		in.Drop("tip")
		return in, nil
	})

	rows, err := withTotal.TakeAll(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rows {
		fmt.Println(r["id"], r["fare"], r["total"])
	}
	// Output:
	// 1 10 12.5
	// 2 7.5 <nil>
	// 3 22 26
}
