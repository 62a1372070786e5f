package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
)

// Each of the five workers learns the rule: above 0.8 test accuracy.
func TestTraincopiesOutput(t *testing.T) {
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
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(alphas) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(alphas), out)
	}
	for k, line := range lines {
		var worker int
		var alpha, acc float64
		if _, err := fmt.Sscanf(line, "worker %d: alpha %g test accuracy %g", &worker, &alpha, &acc); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if worker != k || alpha != alphas[k] {
			t.Errorf("line %q: want worker %d with alpha %g", line, k, alphas[k])
		}
		if acc <= 0.8 {
			t.Errorf("worker %d: test accuracy %g, want above 0.8", k, acc)
		}
	}
}
