// Package measure holds the measurement helpers the benchmark commands
// (bench/cmd/...) and bench/suite share: a timed run from a collected heap
// (Run, RunCPU), medians and spreads of repeated runs (Stats, Median,
// Summarize), the CPU that other processes take from the machine while a
// benchmark runs (ReadCPU, Others), waiting for the machine to be quiet
// (WaitQuiet), the flags that control all this (Contention, ParseCores,
// Only), and the few formatting helpers of the commands' headers and
// tables (report.go).
//
// Why the CPU of other processes: the benchmarks compare Shoal with a
// baseline in the same process, often on a shared machine. A run during
// which another process took cores from ours is slower for reasons that
// have nothing to do with the code measured, and it would skew a median of
// few repetitions. So the commands measure, from /proc, how many cores the
// rest of the machine used during each round of runs, wait for a quiet
// moment before a round, and redo a round in which others took more than
// the cores the configuration leaves spare plus a tolerance (-maxother).
// The table reports both the others' median and the rounds redone, so a
// reader can tell a clean measurement from a noisy one.
package measure

import (
	"cmp"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Median is the middle value of xs (the upper of the two middle values
// when len(xs) is even), from a sorted copy: xs keeps its order. xs must
// not be empty. It suits counts and fractions, where an average of two
// values would be a value no run had; Stats averages the two for times.
func Median[T cmp.Ordered](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// Stats is the median, minimum and maximum of the durations ds: the
// median a table reports and the spread around it. With an even count the
// median is the mean of the two middle values. All three are 0 when ds is
// empty (a measurement that was not run).
func Stats(ds []time.Duration) (median, lo, hi time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	median = s[n/2]
	if n%2 == 0 {
		median = (s[n/2-1] + s[n/2]) / 2
	}
	return median, s[0], s[n-1]
}

// CPUSample is the machine's busy CPU time (/proc/stat, all CPUs) and this
// process's own (/proc/self/stat), in seconds, at one moment; both are
// zero where there is no /proc, so that Others is then 0 and no round is
// ever redone.
type CPUSample struct{ busy, self float64 }

// ReadCPU samples the machine's and this process's CPU time now.
func ReadCPU() CPUSample {
	const userHZ = 100 // the clock tick of both files
	var c CPUSample
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		// pid (comm) state ppid ... utime stime: fields 14 and 15, the
		// 12th and 13th after the ")" that ends comm (comm may hold
		// spaces and parentheses, hence the last ")").
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 {
			if f := strings.Fields(string(b[i+1:])); len(f) > 12 {
				u, _ := strconv.ParseFloat(f[11], 64)
				s, _ := strconv.ParseFloat(f[12], 64)
				c.self = (u + s) / userHZ
			}
		}
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return c
	}
	line, _, _ := strings.Cut(string(b), "\n")
	// cpu user nice system idle iowait irq softirq steal ...: busy is all
	// but idle and iowait; guest time is already counted in user.
	for i, v := range strings.Fields(line) {
		if i == 0 || i == 4 || i == 5 || i > 8 {
			continue
		}
		x, _ := strconv.ParseFloat(v, 64)
		c.busy += x / userHZ
	}
	return c
}

// Others is the CPU that other processes (and the hypervisor's steal)
// used between c0 and c, d apart, in cores: the machine's busy time less
// this process's own, over d. /proc counts in 10 ms ticks, so a sample
// over a few milliseconds is coarse: sample a whole round of short runs.
func (c CPUSample) Others(c0 CPUSample, d time.Duration) float64 {
	return max((c.busy-c0.busy)-(c.self-c0.self), 0) / d.Seconds()
}

// WaitQuiet waits, up to maxWait, until other processes use at most limit
// cores over a 500 ms sample, so that a round of runs starts on a quiet
// machine rather than in the middle of someone else's burst. It gives up
// at maxWait (a machine that is never quiet still gets measured; the
// rounds it spoils are redone or reported).
func WaitQuiet(limit float64, maxWait time.Duration) {
	deadline := time.Now().Add(maxWait)
	for {
		c0, t0 := ReadCPU(), time.Now()
		time.Sleep(500 * time.Millisecond)
		if ReadCPU().Others(c0, time.Since(t0)) <= limit || time.Now().After(deadline) {
			return
		}
	}
}

// Contention is the contention control of a command, set by its flags
// (Flags): whether each configuration runs with GOMAXPROCS set to its core
// count, and when a round of repetitions counts as disturbed by other
// processes and is redone.
type Contention struct {
	// SetProcs: set GOMAXPROCS to each configuration's core count (-procs).
	SetProcs bool
	// MaxOther: redo a round in which other processes used more than this
	// many cores beyond those the configuration leaves spare (-maxother;
	// 0: never redo).
	MaxOther float64
	// MaxWait: before a round, wait up to this long for a quiet machine
	// (-maxwait).
	MaxWait time.Duration
}

// Flags registers -procs, -maxother and -maxwait on the default flag set,
// bound to c, with the defaults true, 0.25 and 2 minutes.
func (c *Contention) Flags() {
	flag.BoolVar(&c.SetProcs, "procs", true, "set GOMAXPROCS to each configuration's core count")
	flag.Float64Var(&c.MaxOther, "maxother", 0.25, "redo a repetition round when other processes used more than this many of the configuration's cores (0: never)")
	flag.DurationVar(&c.MaxWait, "maxwait", 2*time.Minute, "before each round, wait up to this long for other processes to quiet down")
}

// Procs is what the header says of GOMAXPROCS: the current value, or that
// each configuration sets its own.
func (c *Contention) Procs() string {
	if c.SetProcs {
		return "= cores of each configuration"
	}
	return fmt.Sprint(runtime.GOMAXPROCS(0))
}

// SetGOMAXPROCS sets GOMAXPROCS to cores when SetProcs is on and returns
// what restores the previous value (a no-op otherwise): call it with
// defer around one configuration.
func (c *Contention) SetGOMAXPROCS(cores int) (restore func()) {
	if !c.SetProcs {
		return func() {}
	}
	prev := runtime.GOMAXPROCS(cores)
	return func() { runtime.GOMAXPROCS(prev) }
}

// Limit is how many cores other processes may use during a round without
// disturbing it: those this process's GOMAXPROCS leaves spare, plus
// MaxOther. Call it with the configuration's GOMAXPROCS in place.
func (c *Contention) Limit() float64 {
	return float64(runtime.NumCPU()-runtime.GOMAXPROCS(0)) + c.MaxOther
}

// ParseCores parses a -workers style flag value: a comma-separated list of
// positive core counts ("1,2"), spaces around the commas allowed.
func ParseCores(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad core count %q in %q", f, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// Only parses an -only flag value, a comma-separated list of names (of
// workloads, sources...), into the test of whether to run a name: every
// name when the list is empty.
func Only(list string) func(name string) bool {
	want := map[string]bool{}
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			want[s] = true
		}
	}
	return func(name string) bool { return len(want) == 0 || want[name] }
}
