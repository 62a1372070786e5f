package exec

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// GOGC=100 lets the heap grow by as much again as the live data between
// collections. An all-to-all holding 500 MiB of partial states or sorted
// runs may then reach 1 GiB before it collects: GC slack was a quarter to
// a third of sort_int's, groupby_1m's and shuffle's peak RSS. While a
// local runtime holds a share of the memory limit (memlimit.go), the pacer
// below retunes GOGC after collections so that the heap grows by at most
// max(GCSlackMin, live/2) over the live heap: GOGC=100 while under 64 MiB
// is live, down to 50 for large live heaps, where collections are
// rare anyway. At GOGC=50 the all-to-all workloads ran as fast as at 100
// (their GC share is 2–5%). Raising GOGC for small heaps (streaming) was
// tried and rejected: the live heap of a stream swings by 10x between
// collections, and a GOGC set from a small one let the next heap grow
// to 4–5x its live data. The memory limit stays the ceiling. A GOGC the
// program set (the GOGC environment variable, or debug.SetGCPercent before
// the first runtime) is left alone, and the value before is restored when
// the last runtime closes.

// GCSlackMin is the least the pacer lets the heap grow between
// collections.
const GCSlackMin = 32 << 20

// Bounds of the GOGC the pacer sets.
const (
	gcPercentMin = 50
	gcPercentMax = 100
)

// gcPercentFor is the GOGC that gives live bytes a slack of
// max(GCSlackMin, live/2).
func gcPercentFor(live uint64) int {
	if live == 0 {
		return gcPercentMax
	}
	slack := max(uint64(GCSlackMin), live/2)
	return int(min(max(slack*100/live, gcPercentMin), gcPercentMax))
}

var gcPacer struct {
	sync.Mutex
	gen     int // bumped by each start and stop; a stale cleanup stops
	on      bool
	prev    int // the GOGC before the pacer started
	percent int // the GOGC last set
	sample  []metrics.Sample
}

// startGCPacer starts the pacer unless the program chose its own GOGC.
// Called with goMemLimit held, by the first holder.
func startGCPacer() {
	p := &gcPacer
	p.Lock()
	defer p.Unlock()
	if os.Getenv("GOGC") != "" {
		return
	}
	prev := debug.SetGCPercent(100)
	if prev != 100 {
		debug.SetGCPercent(prev) // set by the program: leave it
		return
	}
	p.on, p.prev, p.percent = true, prev, 100
	p.gen++
	p.sample = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	armGCPacer(p.gen)
}

// stopGCPacer restores the GOGC before the pacer. Called with goMemLimit
// held, by the last holder.
func stopGCPacer() {
	p := &gcPacer
	p.Lock()
	defer p.Unlock()
	if !p.on {
		return
	}
	p.on = false
	p.gen++
	debug.SetGCPercent(p.prev)
}

// armGCPacer asks to be called after the next collection: the cleanup of
// an object nobody references runs once a GC cycle has found it
// unreachable.
func armGCPacer(gen int) {
	sentinel := new([32]byte) // 16 bytes or more: not tiny-allocated, so its cleanup runs
	runtime.AddCleanup(sentinel, retuneGC, gen)
}

// retuneGC runs on the runtime's cleanup goroutine after a collection.
func retuneGC(gen int) {
	p := &gcPacer
	p.Lock()
	defer p.Unlock()
	if !p.on || gen != p.gen {
		return
	}
	metrics.Read(p.sample)
	if p.sample[0].Value.Kind() == metrics.KindUint64 {
		want := gcPercentFor(p.sample[0].Value.Uint64())
		// Retune only on a change of over a tenth: each call recomputes
		// the pacer's goal under the heap lock.
		if d := want - p.percent; d*10 > p.percent || -d*10 > p.percent {
			debug.SetGCPercent(want)
			p.percent = want
		}
	}
	armGCPacer(gen)
}

// currentGCPercent is the GOGC the pacer last set, and whether it runs.
func currentGCPercent() (int, bool) {
	p := &gcPacer
	p.Lock()
	defer p.Unlock()
	return p.percent, p.on
}
