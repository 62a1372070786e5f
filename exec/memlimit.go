package exec

import (
	"math"
	"runtime/debug"
	"sync"
)

// The Go runtime's soft memory limit (debug.SetMemoryLimit) makes the
// garbage collector work harder as the heap nears it, where by default
// (GOGC=100) the heap may grow to twice the live data between collections.
// A local runtime sets it from its object store's budget: the store's
// share (the budget) plus an execution share of the same size (hash
// tables, sort runs, decode and gather buffers that tasks hold outside the
// store), plus a fixed cost for the Go runtime's own structures. Without
// it, GC slack alone put a 10M-row sort at a 256 MiB budget at 885 MiB
// RSS and a 10M x 2.5M join at 917 MiB; with it, 571 and 569 MiB
// (TestOutOfCoreAllToAll).
//
// The limit is the process's, so it is shared: it is the sum of the
// shares of the live runtimes plus the fixed cost, and goes back to what
// it was when the last one closes. A limit the program set itself
// (GOMEMLIMIT, or debug.SetMemoryLimit before the first runtime) is left
// alone, and WithGoMemoryLimit(-1) keeps a runtime out of it. While any
// runtime holds a share, the GC pacer (gcpace.go) tunes GOGC.

// MemoryLimitFixed is the fixed cost added to the runtimes' shares.
const MemoryLimitFixed = 32 << 20

var goMemLimit struct {
	sync.Mutex
	holders int   // live runtimes with a share
	total   int64 // the sum of their shares
	prev    int64 // the limit before the first holder
	user    bool  // the program set a limit: leave it
}

// holdMemoryLimit adds share bytes to the process's soft memory limit and
// returns the function that takes them off again.
func holdMemoryLimit(share int64) (release func()) {
	if share <= 0 {
		return func() {}
	}
	m := &goMemLimit
	m.Lock()
	defer m.Unlock()
	if m.holders == 0 {
		m.prev = debug.SetMemoryLimit(-1)
		m.user = m.prev != math.MaxInt64
		startGCPacer()
	}
	m.holders++
	m.total += share
	if !m.user {
		debug.SetMemoryLimit(m.total + MemoryLimitFixed)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			m.Lock()
			defer m.Unlock()
			m.holders--
			m.total -= share
			if m.holders == 0 {
				stopGCPacer()
			}
			switch {
			case m.user:
			case m.holders == 0:
				debug.SetMemoryLimit(m.prev)
			default:
				debug.SetMemoryLimit(m.total + MemoryLimitFixed)
			}
		})
	}
}
