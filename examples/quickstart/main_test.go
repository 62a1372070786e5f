package main

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
)

// The quickstart prints what its comments promise.
func TestQuickstartOutput(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	runErr := run(context.Background())
	w.Close()
	os.Stdout = stdout
	out, _ := io.ReadAll(r)
	if runErr != nil {
		t.Fatal(runErr)
	}
	for _, want := range []string{
		"{data: 0, name: \"0\"}\n{data: 1, name: \"1\"}\n{data: 2, name: \"2\"}\n{data: 3, name: \"3\"}\n{data: 4, name: \"4\"}\n",
		"Map(x²).Filter(even).Count(): 5000\n",
		"Take(10): [0 0 4 64 16 4096 36 46656 64 262144]\n",
		"Range(10000).Count(): 10000\n",
		"Range(10000).Take(5): [0 1 2 3 4]\n",
		"Range(10000).Schema(): id: int64\n",
		"Range(10000).NumBlocks(): 200\n",
		"Union of two: NumBlocks(): 400\n",
		"Repartition(200).NumBlocks(): 200\n",
		"MapBatches(x²).Take(5): [0 1 4 9 16]\n",
		"Sum 49995000 Min 0 Max 9999 Mean 4999.5\n",
		"Range(10000).Std(): 2886.89568\n",
		"Schema(): id: utf8, value: int64\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
