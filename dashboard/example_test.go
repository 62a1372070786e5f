package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/dashboard"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

// A program serves the dashboard of its own runs; a browser opens
// srv.URL(), a script reads the same JSON the page polls.
func ExampleStart() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	srv, err := dashboard.Start("127.0.0.1:0", dashboard.Options{Runtime: rt, Token: "s3cret"})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	n, err := dataset.Range(1000, dataset.WithRuntime(rt), dataset.WithParallelism(4)).
		MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
			b.Retain()
			return b, nil
		}).Count(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println("counted", n)

	req, _ := http.NewRequest("GET", srv.URL()+"api/jobs/local", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var job struct {
		Runs []struct {
			State     string `json:"state"`
			Operators []struct {
				Short string `json:"short"`
				Tasks int    `json:"tasks"`
			} `json:"operators"`
		} `json:"runs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&job); err != nil {
		panic(err)
	}
	for _, r := range job.Runs {
		fmt.Println(r.State)
		for _, o := range r.Operators {
			fmt.Printf("  %s: %d tasks\n", o.Short, o.Tasks)
		}
	}
	// Output:
	// counted 1000
	// finished
	//   Range→MapBatches: 4 tasks
}
