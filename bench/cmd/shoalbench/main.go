// Shoalbench runs the workloads of bench/suite/SPEC.md on Shoal, on the
// peer engines (DuckDB and Polars through node, when
// scripts/bench-peers-install has installed them) and on raw arrow-go
// baselines, checks every answer against Shoal's, measures the machine's
// limits in the same run, and writes the results into docs/benchmarks.md
// (between the shoalbench markers) with a PNG chart.
//
//	go run ./bench/cmd/shoalbench -size S            # 200K rows, about a minute
//	go run ./bench/cmd/shoalbench -size M -reps 3    # 10M rows, minutes
//
// It exits with status 1 when an engine's answer disagrees with Shoal's or
// an engine fails.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/shoal-data/shoal/bench/suite"
)

func main() {
	size := flag.String("size", "S", "data size: S (200K rows), M (10M) or L (30M)")
	reps := flag.Int("reps", 3, "runs of every workload on every engine; the median is reported")
	dir := flag.String("dir", defaultDir(), "data cache: the data of a size lives in DIR/<size>/")
	threads := flag.Int("threads", runtime.GOMAXPROCS(0), "threads of every engine (Shoal workers, baseline goroutines, peer threads)")
	only := flag.String("only", "", "comma-separated workloads to run (default all): "+strings.Join(suite.Workloads, ","))
	out := flag.String("out", "docs/benchmarks.md", "document whose shoalbench section is rewritten (\"-\": none)")
	png := flag.String("png", "", "chart path (default docs/benchmarks-<size>.png next to -out; \"-\": none)")
	seed := flag.Uint64("seed", suite.DefaultSeed, "data generator seed")
	noPeers := flag.Bool("no-peers", false, "leave DuckDB and Polars out")
	flag.Parse()
	log.SetFlags(0)

	sz, err := suite.SizeByName(*size)
	if err != nil {
		log.Fatal(err)
	}
	cfg := suite.Config{Size: sz, Dir: *dir, Reps: *reps, Threads: *threads, Seed: *seed, NoPeers: *noPeers, Log: os.Stderr}
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := suite.Run(ctx, cfg)
	if err != nil {
		log.Fatalf("shoalbench: %v", err)
	}

	chart := *png
	if chart == "" {
		docDir := "docs"
		if *out != "-" {
			docDir = filepath.Dir(*out)
		}
		chart = filepath.Join(docDir, "benchmarks-"+sz.Name+".png")
	}
	link := ""
	if chart != "-" {
		if err := suite.WriteChart(rep, chart); err != nil {
			log.Printf("shoalbench: chart: %v", err)
		} else if *out != "-" {
			if link, err = filepath.Rel(filepath.Dir(*out), chart); err != nil {
				link = chart
			}
			link = filepath.ToSlash(link)
		}
	}
	md := suite.Markdown(rep, link)
	fmt.Println(md)
	if *out != "-" {
		if err := suite.UpdateDoc(*out, sz.Name, md); err != nil {
			log.Fatalf("shoalbench: %v", err)
		}
		fmt.Fprintf(os.Stderr, "shoalbench: wrote the size %s section of %s", sz.Name, *out)
		if link != "" {
			fmt.Fprintf(os.Stderr, " and %s", chart)
		}
		fmt.Fprintln(os.Stderr)
	}
	if rep.Failed() {
		fmt.Fprintf(os.Stderr, "\nshoalbench: FAILED: %d problem(s):\n", len(rep.Problems))
		for _, p := range rep.Problems {
			fmt.Fprintf(os.Stderr, "  - %s\n", p)
		}
		os.Exit(1)
	}
}

func defaultDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "shoalbench")
}
