package metrics_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/metrics"
)

// Serve the metrics of a runtime's runs for Prometheus to scrape: here
// with a test server, in a program with http.ListenAndServe.
func ExampleHandler() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	srv := httptest.NewServer(metrics.Handler(rt, "")) // no token: keep it on loopback
	defer srv.Close()

	rows, err := dataset.Range(1000, dataset.WithRuntime(rt)).Where(dataset.Col("id").Lt(dataset.Lit(int64(10)))).TakeAll(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println("rows:", len(rows))

	res, err := http.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		// A sample is "name{labels} value"; the value adds up every run
		// of that operator in the process.
		if name, _, ok := strings.Cut(sc.Text(), " "); ok && strings.HasPrefix(name, "shoal_operator_") && strings.Contains(name, "_total{operator=\"Range→Where\"}") {
			fmt.Println(name)
		}
	}
	// Output:
	// rows: 10
	// shoal_operator_bytes_in_total{operator="Range→Where"}
	// shoal_operator_bytes_out_total{operator="Range→Where"}
	// shoal_operator_rows_out_total{operator="Range→Where"}
	// shoal_operator_tasks_total{operator="Range→Where"}
}
