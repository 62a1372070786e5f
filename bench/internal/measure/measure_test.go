package measure

import (
	"slices"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	xs := []float64{3, 1, 2, 4}
	if got := Median(xs); got != 3 {
		t.Errorf("Median(%v) = %v, want 3 (the upper middle)", xs, got)
	}
	if !slices.Equal(xs, []float64{3, 1, 2, 4}) {
		t.Errorf("Median reordered its input: %v", xs)
	}
	if got := Median([]uint64{7}); got != 7 {
		t.Errorf("Median([7]) = %d", got)
	}
}

func TestStats(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		ds          []time.Duration
		med, lo, hi time.Duration
	}{
		{nil, 0, 0, 0},
		{[]time.Duration{5 * ms}, 5 * ms, 5 * ms, 5 * ms},
		{[]time.Duration{9 * ms, 1 * ms, 4 * ms}, 4 * ms, 1 * ms, 9 * ms},
		{[]time.Duration{9 * ms, 1 * ms, 4 * ms, 2 * ms}, 3 * ms, 1 * ms, 9 * ms},
	} {
		med, lo, hi := Stats(c.ds)
		if med != c.med || lo != c.lo || hi != c.hi {
			t.Errorf("Stats(%v) = %v, %v, %v; want %v, %v, %v", c.ds, med, lo, hi, c.med, c.lo, c.hi)
		}
	}
}

func TestParseCores(t *testing.T) {
	got, err := ParseCores("1, 2,8")
	if err != nil || !slices.Equal(got, []int{1, 2, 8}) {
		t.Errorf("ParseCores = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "1,,2", "x", "-1"} {
		if _, err := ParseCores(bad); err == nil {
			t.Errorf("ParseCores(%q): no error", bad)
		}
	}
}

func TestOthers(t *testing.T) {
	c0 := CPUSample{busy: 10, self: 4}
	c1 := CPUSample{busy: 13, self: 5} // 3 s busy, 1 s ours: 2 s others
	if got := c1.Others(c0, time.Second); got != 2 {
		t.Errorf("Others = %v, want 2", got)
	}
	c2 := CPUSample{busy: 11, self: 6} // ours grew more than the machine's (tick skew)
	if got := c2.Others(c0, time.Second); got != 0 {
		t.Errorf("Others = %v, want 0", got)
	}
	// On Linux a sample is live; elsewhere both are zero.
	s := ReadCPU()
	if s.busy < 0 || s.self < 0 {
		t.Errorf("ReadCPU = %+v", s)
	}
}

func TestRunAndSummarize(t *testing.T) {
	var sink []byte
	s := Run(func() { sink = make([]byte, 1<<20) })
	if s.D <= 0 || s.Alloc < 1<<20 || s.Others != 0 {
		t.Errorf("Run = %+v, want a positive time, >= 1 MiB allocated, no CPU sample", s)
	}
	_ = sink
	if s := RunCPU(func() { time.Sleep(time.Millisecond) }); s.D < time.Millisecond || s.Others < 0 {
		t.Errorf("RunCPU = %+v", s)
	}
	ms := time.Millisecond
	sum := Summarize([]Sample{{3 * ms, 30, 0.5}, {1 * ms, 10, 0.1}, {2 * ms, 20, 0.2}, {4 * ms, 40, 0.4}})
	want := Summary{Median: 2500 * time.Microsecond, Min: ms, Max: 4 * ms, Alloc: 30, Others: 0.4}
	if sum != want {
		t.Errorf("Summarize = %+v, want %+v", sum, want)
	}
}
