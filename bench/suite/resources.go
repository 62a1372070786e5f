package suite

// What a run costs besides time: its peak memory, and how busy the rest
// of the machine was meanwhile (the box is shared: a round that other
// processes slowed down shows here, to be rerun).

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shoal-data/shoal/bench"
)

// cpuSample is the machine's busy CPU time (all processes, /proc/stat)
// and this process's own (with its waited-for children: the peer
// engines) at one moment.
type cpuSample struct {
	at         time.Time
	busy, self time.Duration
	ok         bool
}

// userHz is the unit of /proc/stat (USER_HZ, 100 on every Linux).
const userHz = 100

func sampleCPU() cpuSample {
	s := cpuSample{at: time.Now()}
	var self, kids syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &self) != nil || syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids) != nil {
		return s
	}
	s.self = time.Duration(self.Utime.Nano() + self.Stime.Nano() + kids.Utime.Nano() + kids.Stime.Nano())
	f, err := os.Open("/proc/stat")
	if err != nil {
		return s
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return s
	}
	// cpu  user nice system idle iowait irq softirq steal ...
	fields := strings.Fields(sc.Text())
	if len(fields) < 8 || fields[0] != "cpu" {
		return s
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7} { // user nice system irq softirq
		v, err := strconv.ParseInt(fields[i], 10, 64)
		if err != nil {
			return s
		}
		ticks += v
	}
	s.busy = time.Duration(ticks) * time.Second / userHz
	s.ok = true
	return s
}

// othersSince is the CPU time other processes used since prev, and the
// wall time in between.
func (s cpuSample) othersSince(prev cpuSample) (others, wall time.Duration, ok bool) {
	if !s.ok || !prev.ok {
		return 0, 0, false
	}
	return max((s.busy-prev.busy)-(s.self-prev.self), 0), s.at.Sub(prev.at), true
}

// Load is the CPU other processes used while a workload ran, over all its
// runs on every engine.
type Load struct {
	Others, Wall time.Duration
	Cores        int
}

// add counts one run.
func (l *Load) add(before, after cpuSample) {
	if o, w, ok := after.othersSince(before); ok {
		l.Others += o
		l.Wall += w
	}
}

// Share is the fraction of the machine's CPUs other processes kept busy
// (NaN when nothing was measured).
func (l Load) Share() float64 {
	if l.Wall <= 0 || l.Cores <= 0 {
		return math.NaN()
	}
	return l.Others.Seconds() / (l.Wall.Seconds() * float64(l.Cores))
}

// shoalRSS measures a Shoal run's peak memory: how far the process's
// resident set grows above where it stood before the run, with the heap
// of earlier runs handed back to the OS first.
// heapLive is the Go heap live at the start, which the run's GC goal
// grows from.
type shoalRSS struct{ before, heapLive int64 }

func startShoalRSS() shoalRSS {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := shoalRSS{before: -1, heapLive: int64(ms.HeapAlloc)}
	if bench.ResetPeakRSS() == nil {
		s.before = bench.RSS()
	}
	return s
}

// growth is the peak's growth in bytes (-1 where it cannot be measured).
func (s shoalRSS) growth() int64 {
	if s.before < 0 {
		return -1
	}
	return max(bench.PeakRSS()-s.before, 0)
}

// fmtMB writes bytes as MB for the tables ("–" for unmeasured).
func fmtMB(b int64) string {
	if b < 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", float64(b)/1e6)
}
