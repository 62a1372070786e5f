// Memcheck maps over a generated dataset several times larger than the
// object-store budget and prints the process's peak RSS against the budget.
//
//	go run ./bench/cmd/memcheck -budget 64 -factor 8 -mode stream
//	go run ./bench/cmd/memcheck -budget 64 -factor 8 -mode materialize
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/shoal-data/shoal/bench"
)

func main() {
	budget := flag.Int64("budget", 64, "object-store budget in MiB")
	factor := flag.Int("factor", 8, "data size as a multiple of the budget")
	mode := flag.String("mode", "stream", "stream: consume as produced; materialize: keep all (spills), then read back")
	flag.Parse()
	res, err := bench.MemCheck(context.Background(), *mode, *budget<<20, *factor)
	if err != nil {
		fmt.Fprintln(os.Stderr, "memcheck:", err)
		os.Exit(1)
	}
	fmt.Println(res)
}
