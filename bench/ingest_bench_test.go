package bench

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

// The ingest benchmarks and tests use the I/O data (ioTestData: IOSizeTest,
// 256K rows in 16 row groups, or SHOAL_IOBENCH_SIZE). `go run
// ./bench/cmd/ingestbench -size M` gives the real figures.

// ingestCheck is the probe of TestIngestWorkloadsAgree: it returns Touch
// and also accumulates the order-independent Checksum of every value, how
// many ids it saw for the first time (ids are 0..n-1, so firstSeen == rows
// == n means every row exactly once) and how many rows came at their
// position in the file (inOrder == n for an order-preserving variant).
type ingestCheck struct {
	seen               []bool
	pos                int64
	checksum           int64
	firstSeen, inOrder int64
	dups, outOfRange   int64
}

func newIngestCheck(n int64) *ingestCheck { return &ingestCheck{seen: make([]bool, n)} }

func (c *ingestCheck) probe(b arrow.RecordBatch) int64 {
	c.checksum += Checksum(b)
	ids := b.Column(b.Schema().FieldIndices("id")[0]).(*array.Int64).Int64Values()
	for _, id := range ids {
		switch {
		case id < 0 || id >= int64(len(c.seen)):
			c.outOfRange++
		case c.seen[id]:
			c.dups++
		default:
			c.seen[id] = true
			c.firstSeen++
		}
		if id == c.pos {
			c.inOrder++
		}
		c.pos++
	}
	return Touch(b)
}

// TestIngestWorkloadsAgree checks, untimed, that every variant of the
// ingest workload (both sources, every IterBatches option, 1 and 2 workers)
// and both baselines see every row exactly once: the same row count and
// batch size, each id once, the order-independent Checksum of every value
// equal to the generator's, and, for the order-preserving variants, the
// rows in file order and the same Touch total as the baseline.
func TestIngestWorkloadsAgree(t *testing.T) {
	ctx := context.Background()
	d := ioTestData(t)
	n := d.Size.Rows
	if d.Size.RowGroupRows%IngestBatchRows != 0 {
		t.Fatalf("row groups of %d rows are not a multiple of the batch size", d.Size.RowGroupRows)
	}
	wantSum := generatorChecksum(t, n, nil)
	wantBatches := (n + IngestBatchRows - 1) / IngestBatchRows
	// The shuffle buffer is smaller than the test data (a quarter of it),
	// so rows really flow through it.
	variants := IngestVariants(IngestPrefetch, int(n/4))

	check := func(name string, run func(Probe) (IngestResult, error), ordered bool, wantTouch *int64) {
		t.Helper()
		c := newIngestCheck(n)
		r, err := run(c.probe)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		if r.Rows != n || r.Batches != wantBatches || r.Short > 1 {
			t.Errorf("%s: %d rows in %d batches (%d short), want %d in %d", name, r.Rows, r.Batches, r.Short, n, wantBatches)
		}
		if c.firstSeen != n || c.dups != 0 || c.outOfRange != 0 {
			t.Errorf("%s: %d distinct ids, %d repeated, %d out of range; want each of %d once", name, c.firstSeen, c.dups, c.outOfRange, n)
		}
		if c.checksum != wantSum {
			t.Errorf("%s: checksum %d, generator's %d", name, c.checksum, wantSum)
		}
		if ordered {
			if c.inOrder != n {
				t.Errorf("%s: %d of %d rows in file order", name, c.inOrder, n)
			}
			if *wantTouch == 0 {
				*wantTouch = r.Probe
			} else if r.Probe != *wantTouch {
				t.Errorf("%s: Touch %d, baseline's %d", name, r.Probe, *wantTouch)
			}
		} else if c.inOrder > n/10 {
			t.Errorf("%s: %d of %d rows in file order: not shuffled", name, c.inOrder, n)
		}
	}

	for _, w := range workerCounts {
		rt := exec.NewLocal(exec.WithWorkers(w))
		var touch int64 // Touch of the ordered runs, all of them alike
		mat, recs, err := MaterializeParquet(ctx, rt, d.Parquet)
		if err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("materialized/hand/workers=%d", w), func(p Probe) (IngestResult, error) {
			return HandIngest(recs, IngestBatchRows, p), nil
		}, true, &touch)
		check(fmt.Sprintf("parquet/pqarrow/workers=%d", w), func(p Probe) (IngestResult, error) {
			return PqarrowIngest(ctx, d.Parquet, w, IngestBatchRows, p)
		}, true, &touch)
		var shuffled []int64
		for _, v := range variants {
			check(fmt.Sprintf("materialized/%s/workers=%d", v.Name, w), func(p Probe) (IngestResult, error) {
				return ShoalIngest(ctx, mat, IngestBatchRows, p, v.Opts...)
			}, v.Ordered, &touch)
			check(fmt.Sprintf("parquet/%s/workers=%d", v.Name, w), func(p Probe) (IngestResult, error) {
				return ShoalIngest(ctx, ShoalParquet(ctx, rt, d.Parquet, nil), IngestBatchRows, p, v.Opts...)
			}, v.Ordered, &touch)
			if !v.Ordered {
				// The same seed over the same input gives the same batches,
				// whatever the source and the workers.
				for _, ds := range []*dataset.Dataset{mat, ShoalParquet(ctx, rt, d.Parquet, nil)} {
					r, err := ShoalIngest(ctx, ds, IngestBatchRows, Touch, v.Opts...)
					if err != nil {
						t.Fatal(err)
					}
					shuffled = append(shuffled, r.Probe)
				}
			}
		}
		if len(shuffled) != 2 || shuffled[0] != shuffled[1] || shuffled[0] == touch {
			t.Errorf("workers=%d: shuffled Touch (materialized, parquet) %v, unshuffled %d: want equal to each other, not to the unshuffled", w, shuffled, touch)
		}
		releaseRecords(recs)
		rt.Close()
	}
}

func releaseRecords(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// BenchmarkIngestMaterialized times IterBatches(1024) over a materialized
// dataset (Materialize outside the timer) in each variant, against the
// hand loop slicing the same records.
func BenchmarkIngestMaterialized(b *testing.B) {
	ctx := context.Background()
	d := ioTestData(b)
	n := d.Size.Rows
	for _, w := range workerCounts {
		rt := exec.NewLocal(exec.WithWorkers(w))
		mat, recs, err := MaterializeParquet(ctx, rt, d.Parquet)
		if err != nil {
			b.Fatal(err)
		}
		bytes := ArrowBytesOf(recs)
		b.Run(fmt.Sprintf("hand/workers=%d", w), func(b *testing.B) {
			for b.Loop() {
				if r := HandIngest(recs, IngestBatchRows, Touch); r.Rows != n {
					b.Fatalf("%d rows", r.Rows)
				}
			}
			reportIO(b, n, bytes)
		})
		for _, v := range IngestVariants(IngestPrefetch, IngestShuffleRows) {
			b.Run(fmt.Sprintf("%s/workers=%d", benchName(v.Name), w), func(b *testing.B) {
				for b.Loop() {
					r, err := ShoalIngest(ctx, mat, IngestBatchRows, Touch, v.Opts...)
					if err != nil || r.Rows != n {
						b.Fatalf("%d rows, %v", r.Rows, err)
					}
				}
				reportIO(b, n, bytes)
			})
		}
		releaseRecords(recs)
		rt.Close()
	}
}

// BenchmarkIngestParquet times ReadParquet → IterBatches(1024) in each
// variant against pqarrow reading the file and slicing its records.
func BenchmarkIngestParquet(b *testing.B) {
	ctx := context.Background()
	d := ioTestData(b)
	n := d.Size.Rows
	bytes := int64(0)
	{
		rt := exec.NewLocal(exec.WithWorkers(1))
		_, recs, err := MaterializeParquet(ctx, rt, d.Parquet)
		if err != nil {
			b.Fatal(err)
		}
		bytes = ArrowBytesOf(recs)
		releaseRecords(recs)
		rt.Close()
	}
	for _, w := range workerCounts {
		b.Run(fmt.Sprintf("pqarrow/workers=%d", w), func(b *testing.B) {
			for b.Loop() {
				r, err := PqarrowIngest(ctx, d.Parquet, w, IngestBatchRows, Touch)
				if err != nil || r.Rows != n {
					b.Fatalf("%d rows, %v", r.Rows, err)
				}
			}
			reportIO(b, n, bytes)
		})
		rt := exec.NewLocal(exec.WithWorkers(w))
		for _, v := range IngestVariants(IngestPrefetch, IngestShuffleRows) {
			b.Run(fmt.Sprintf("%s/workers=%d", benchName(v.Name), w), func(b *testing.B) {
				for b.Loop() {
					r, err := ShoalIngest(ctx, ShoalParquet(ctx, rt, d.Parquet, nil), IngestBatchRows, Touch, v.Opts...)
					if err != nil || r.Rows != n {
						b.Fatalf("%d rows, %v", r.Rows, err)
					}
				}
				reportIO(b, n, bytes)
			})
		}
		rt.Close()
	}
}

// benchName makes a variant name a benchmark name ("shoal prefetch(4)" →
// "shoal-prefetch4").
func benchName(s string) string {
	out := make([]byte, 0, len(s))
	for i := range len(s) {
		switch c := s[i]; c {
		case ' ':
			out = append(out, '-')
		case '(', ')':
		default:
			out = append(out, c)
		}
	}
	return string(out)
}
