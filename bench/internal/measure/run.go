package measure

import (
	"runtime"
	"time"
)

// Sample is one timed run.
type Sample struct {
	D      time.Duration // wall time
	Alloc  uint64        // Go heap bytes allocated during the run
	Others float64       // cores other processes used during the run (RunCPU; 0 from Run)
}

// Run runs fn once and times it. It collects the heap first, so that no
// run pays for the garbage of the one before it, and counts the Go heap
// bytes fn allocated (runtime.MemStats.TotalAlloc): allocation is much of
// what separates an engine from its baseline.
func Run(fn func()) Sample { return run(fn, false) }

// RunCPU is Run that also measures the CPU other processes used during
// the run (Others, sampled just outside the timer, inside the allocation
// count). /proc counts in 10 ms ticks: for runs of a few milliseconds use
// Run and sample a whole round with ReadCPU instead.
func RunCPU(fn func()) Sample { return run(fn, true) }

func run(fn func(), cpu bool) Sample {
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	var c0, c1 CPUSample
	if cpu {
		c0 = ReadCPU()
	}
	t0 := time.Now()
	fn()
	d := time.Since(t0)
	if cpu {
		c1 = ReadCPU()
	}
	runtime.ReadMemStats(&m1)
	s := Sample{D: d, Alloc: m1.TotalAlloc - m0.TotalAlloc}
	if cpu {
		s.Others = c1.Others(c0, d)
	}
	return s
}

// Summary is what a table reports of the samples of one engine.
type Summary struct {
	Median, Min, Max time.Duration // of the wall times (Stats)
	Alloc            uint64        // median heap bytes allocated per run
	Others           float64       // median of the others' CPU, in cores
}

// Summarize summarizes the samples ss (not empty): the wall times by Stats,
// the allocations and the others' CPU by Median (a value one run had).
func Summarize(ss []Sample) Summary {
	ds := make([]time.Duration, len(ss))
	allocs := make([]uint64, len(ss))
	others := make([]float64, len(ss))
	for i, s := range ss {
		ds[i], allocs[i], others[i] = s.D, s.Alloc, s.Others
	}
	var sum Summary
	sum.Median, sum.Min, sum.Max = Stats(ds)
	sum.Alloc, sum.Others = Median(allocs), Median(others)
	return sum
}
