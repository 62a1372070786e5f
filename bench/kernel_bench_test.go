package bench

import (
	"math"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/blocks"
)

// Diagnostic kernels for the Sum bottleneck (see docs/benchmarks.md).
//
// dataset.Sum reduces every block with dataset.intMoments, which computes
// count, exact sum with overflow check, float sum, min, max and, in a second
// pass, M2 for the variance, whatever the method asked for. The kernels
// below run on one 250K-row block (the block size of workload 1):
//
//   - engine: a verbatim copy of dataset.intMoments (int64 instance), which
//     accumulates through the *moments pointer;
//   - locals: the same outputs, accumulators held in local variables;
//   - sumonly: what Sum needs: the exact int64 sum with the overflow check.
//
// The copy may drift from the engine; the profile of BenchmarkRecordsMapSum
// is the ground truth.

type kmoments struct {
	isInt      bool
	count      int64
	isum       int64
	overflow   bool
	imin, imax int64
	fsum       float64
	fmin, fmax float64
	mean, m2   float64
}

func newKMoments() kmoments {
	return kmoments{imin: math.MaxInt64, imax: math.MinInt64, fmin: math.Inf(1), fmax: math.Inf(-1)}
}

// engineIntMoments is dataset.intMoments as of this commit.
func engineIntMoments(m *kmoments, vals []int64, arr arrow.Array) {
	m.isInt = true
	nulls := arr.NullN() > 0
	var sum int64
	var fsum float64
	for i, v := range vals {
		if nulls && arr.IsNull(i) {
			continue
		}
		x := int64(v)
		s := sum + x
		if (s > sum) != (x > 0) && x != 0 {
			m.overflow = true
		}
		sum = s
		fsum += float64(x)
		m.count++
		m.imin = min(m.imin, x)
		m.imax = max(m.imax, x)
	}
	m.isum, m.fsum = sum, fsum
	if m.count == 0 {
		return
	}
	m.mean = fsum / float64(m.count)
	for i, v := range vals {
		if nulls && arr.IsNull(i) {
			continue
		}
		d := float64(v) - m.mean
		m.m2 += d * d
	}
}

// localIntMoments computes the same moments with local accumulators.
func localIntMoments(m *kmoments, vals []int64) {
	m.isInt = true
	var sum, count int64
	var fsum, m2 float64
	imin, imax := m.imin, m.imax
	overflow := false
	for _, x := range vals {
		s := sum + x
		overflow = overflow || ((s > sum) != (x > 0) && x != 0)
		sum = s
		fsum += float64(x)
		count++
		imin = min(imin, x)
		imax = max(imax, x)
	}
	m.isum, m.fsum, m.count, m.imin, m.imax, m.overflow = sum, fsum, count, imin, imax, overflow
	if count == 0 {
		return
	}
	mean := fsum / float64(count)
	for _, x := range vals {
		d := float64(x) - mean
		m2 += d * d
	}
	m.mean, m.m2 = mean, m2
}

// sumOnly is the exact int64 sum with the overflow check Sum reports.
func sumOnly(vals []int64) (int64, bool) {
	var sum int64
	overflow := false
	for _, x := range vals {
		s := sum + x
		overflow = overflow || ((s > sum) != (x > 0) && x != 0)
		sum = s
	}
	return sum, overflow
}

var sinkM kmoments
var sinkI int64

func BenchmarkSumKernel(b *testing.B) {
	const n = Rows / Blocks
	vals := make([]int64, n)
	for i := range vals {
		vals[i] = 2 * int64(i)
	}
	arr := blocks.NumericArray(vals)
	defer arr.Release()
	report := func(b *testing.B) {
		b.SetBytes(8 * n)
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	}
	b.Run("engine", func(b *testing.B) {
		for b.Loop() {
			m := newKMoments()
			engineIntMoments(&m, vals, arr)
			sinkM = m
		}
		report(b)
	})
	b.Run("locals", func(b *testing.B) {
		for b.Loop() {
			m := newKMoments()
			localIntMoments(&m, vals)
			sinkM = m
		}
		report(b)
	})
	b.Run("sumonly", func(b *testing.B) {
		for b.Loop() {
			s, _ := sumOnly(vals)
			sinkI = s
		}
		report(b)
	})
}

func TestKernelsAgree(t *testing.T) {
	vals := []int64{5, -3, 12, 0, 7}
	arr := blocks.NumericArray(vals)
	defer arr.Release()
	a, c := newKMoments(), newKMoments()
	engineIntMoments(&a, vals, arr)
	localIntMoments(&c, vals)
	if a != c {
		t.Errorf("engine %+v, locals %+v", a, c)
	}
	if s, _ := sumOnly(vals); s != a.isum {
		t.Errorf("sumonly %d, engine %d", s, a.isum)
	}
}
