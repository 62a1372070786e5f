// Pipelinebench measures the three-stage inference pipeline (bench.RunPipeline):
// a read that waits on I/O, a CPU map and an actor stage that waits on a
// simulated GPU, each sized to take about -t alone. It runs each stage
// alone, the three one after another (each materialized before the next:
// the sequential baseline) and streamed, in the same process, interleaved,
// -reps times, and prints medians, the ratio of each to the slowest stage
// alone (the best a pipeline can do) and to the sum of the stages, and how
// busy the actor stage was (its call time over its wall time).
//
//	go run ./bench/cmd/pipelinebench -size S   # T = 0.5 s, seconds
//	go run ./bench/cmd/pipelinebench -size M   # T = 2 s
//	go run ./bench/cmd/pipelinebench -size L   # T = 5 s
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/shoal-data/shoal/bench"
	"github.com/shoal-data/shoal/bench/internal/measure"
)

func main() {
	size := flag.String("size", "S", "S, M or L: the time T each stage takes alone (0.5 s, 2 s, 5 s)")
	reps := flag.Int("reps", 3, "runs of each mode; the median is shown")
	workers := flag.Int("workers", runtime.GOMAXPROCS(0), "CPUs of the runtime")
	flag.Parse()
	t, blocks := map[string]time.Duration{"S": 500 * time.Millisecond, "M": 2 * time.Second, "L": 5 * time.Second}[*size], map[string]int{"S": 32, "M": 64, "L": 128}[*size]
	if t == 0 {
		log.Fatalf("pipelinebench: unknown -size %q", *size)
	}
	per := bench.CalibrateMap()
	c := bench.PipelineFor(t, blocks, 16<<10, *workers, per)
	fmt.Printf("T=%v: %d blocks of %d rows; read %v per block, %d at once, no CPU held; map %d rounds per row (%.2f ns per round) on %d CPUs; %d actor(s), %v per batch, 1 declared GPU each; window %d blocks\n",
		t, c.Blocks, c.Rows, c.ReadLatency, c.ReadConcurrency, c.MapIters, per, *workers, c.Actors, c.GPULatency, c.Window)
	modes := []bench.PipelineMode{bench.ReadOnly, bench.MapOnly, bench.ActorOnly, bench.Sequential, bench.Streaming, bench.Windowed}
	walls := map[bench.PipelineMode][]time.Duration{}
	busy := map[bench.PipelineMode][]float64{}
	busyRun := map[bench.PipelineMode][]float64{}
	ctx := context.Background()
	for r := range *reps {
		for i := range modes {
			m := modes[(i+r)%len(modes)]
			runtime.GC()
			res, err := bench.RunPipeline(ctx, c, *workers, m)
			if err != nil {
				log.Fatalf("%s: %v", m, err)
			}
			if want := int64(c.Blocks * c.Rows); res.Rows != want {
				log.Fatalf("%s: %d rows, want %d", m, res.Rows, want)
			}
			walls[m] = append(walls[m], res.Wall)
			busy[m] = append(busy[m], res.ActorBusy)
			busyRun[m] = append(busyRun[m], res.ActorBusyRun)
		}
	}
	med := func(m bench.PipelineMode) time.Duration { return measure.Median(walls[m]) }
	slowest := max(med(bench.ReadOnly), med(bench.MapOnly), med(bench.ActorOnly))
	sum := med(bench.ReadOnly) + med(bench.MapOnly) + med(bench.ActorOnly)
	w := measure.Table(os.Stdout)
	fmt.Fprintln(w, "mode\tmedian\tmin–max\t÷ slowest stage\t÷ sum of stages\tactor busy (own span)\tactor busy (run)\t")
	for _, m := range modes {
		fmt.Fprintf(w, "%s\t%v\t%v–%v\t%.2fx\t%.2fx\t%s\t%s\t\n", m, med(m).Round(time.Millisecond), slices.Min(walls[m]).Round(time.Millisecond),
			slices.Max(walls[m]).Round(time.Millisecond), float64(med(m))/float64(slowest), float64(med(m))/float64(sum), pct(busy[m]), pct(busyRun[m]))
	}
	w.Flush()
}

// pct is the median of fractions as a percentage, "" when none was measured.
func pct(fs []float64) string {
	if len(fs) == 0 || slices.Max(fs) == 0 {
		return ""
	}
	return fmt.Sprintf("%.0f%%", 100*measure.Median(fs))
}
