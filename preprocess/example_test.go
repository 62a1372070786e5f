package preprocess_test

import (
	"context"
	"fmt"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/preprocess"
)

func ExampleStandardScaler() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	ctx := context.Background()
	ds := dataset.FromItems([]dataset.Item{{"x": 1.0}, {"x": 2.0}, {"x": 3.0}, {"x": nil}}, dataset.WithRuntime(rt))

	s := &preprocess.StandardScaler{Columns: []string{"x"}}
	if err := s.Fit(ctx, ds); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("mean %v std %v\n", s.Stats["x"].Mean, s.Stats["x"].Std)

	// Save the fitted state; a server Loads it and applies the same
	// transform with TransformBatch.
	data, _ := preprocess.Save(s)
	fmt.Println(string(data))
	loaded, _ := preprocess.Load(data)

	rows, err := loaded.Transform(ds).TakeAll(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range rows {
		fmt.Println(r["x"])
	}
	// Output:
	// mean 2 std 1
	// {"type":"StandardScaler","state":{"columns":["x"],"stats":{"x":{"mean":2,"std":1}}}}
	// -1
	// 0
	// 1
	// <nil>
}
