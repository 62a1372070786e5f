package bench

// Training-ingest workloads: a training loop pulling fixed-size batches
// with dataset.IterBatches, against arrow-go loops that hand the same rows,
// cut the same way, to the same consumer.
//
//   - Materialized: the dataset is read from Parquet and Materialize'd
//     outside the timer; the timed region is the iteration only. Baseline
//     (HandIngest): the same materialized records (ToRecords of the
//     materialized dataset, i.e. the very blocks of the object store) cut
//     into batch-size slices with record.NewSlice, on one goroutine.
//   - Parquet: ReadParquet(path) → IterBatches, reading inside the timer.
//     Baseline (PqarrowIngest): pqarrow reading the file into records
//     (openPqarrow, as the storage I/O baseline), each record cut into
//     batch-size slices; with n workers, n goroutines decode row groups
//     ahead of the consumer and hand them over in file order.
//
// Every batch goes to the same Probe on both sides: Touch when timed (sums
// the int64 column id and the float64 column x), ingestCheck.probe in the
// correctness test. The consumer is one loop in every case, as a training
// loop is; workers only parallelize what feeds it.
//
// The generated data (PrepareIOData) has row groups and blocks whose sizes
// are multiples of IngestBatchRows, so no batch straddles two records: the
// baselines slice and never copy, and Shoal's rebatcher does the same
// (blocks.Concat of a single slice returns it as is).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

const (
	// IngestBatchRows is the batch size of the training-ingest workload.
	IngestBatchRows = 1024
	// IngestPrefetch is the k of the Prefetch(k) variant.
	IngestPrefetch = 4
	// IngestShuffleRows is the minimum buffer of the LocalShuffleBuffer
	// variant: 64 batches (one 64K-row block of the generated data).
	IngestShuffleRows = 64 << 10
	// IngestShuffleSeed is the seed of the LocalShuffleBuffer variant.
	IngestShuffleSeed = 0x1a6e57
)

// Touch is the probe of the timed ingest runs: it reads every value of the
// int64 column id and of the float64 column x (a sum of each), so that each
// batch's data really reaches the consumer. The result is sum(id) +
// trunc(sum(x)) per batch: the same batches give the same total in any
// order, a shuffle changes it.
func Touch(b arrow.RecordBatch) int64 {
	s := b.Schema()
	ids := b.Column(s.FieldIndices("id")[0]).(*array.Int64).Int64Values()
	xs := b.Column(s.FieldIndices("x")[0]).(*array.Float64).Float64Values()
	var si int64
	for _, v := range ids {
		si += v
	}
	var sx float64
	for _, v := range xs {
		sx += v
	}
	return si + int64(sx)
}

// IngestResult is what one ingest run saw.
type IngestResult struct {
	Rows    int64
	Batches int64
	Short   int64 // batches of fewer than the batch size (at most the last)
	Probe   int64 // the probe summed over all batches
}

func (r *IngestResult) add(b arrow.RecordBatch, size int, probe Probe) {
	r.Rows += b.NumRows()
	r.Batches++
	if b.NumRows() < int64(size) {
		r.Short++
	}
	r.Probe += probe(b)
}

// IngestVariant is one way of calling IterBatches.
type IngestVariant struct {
	Name string
	Opts []dataset.IterOption
	// Ordered is false when the variant reorders rows (LocalShuffleBuffer).
	Ordered bool
}

// IngestVariants are the Shoal variants of the workload: plain
// IterBatches, with Prefetch(prefetch), with LocalShuffleBuffer(shuffleRows).
func IngestVariants(prefetch, shuffleRows int) []IngestVariant {
	return []IngestVariant{
		{Name: "shoal", Ordered: true},
		{Name: fmt.Sprintf("shoal prefetch(%d)", prefetch), Opts: []dataset.IterOption{dataset.Prefetch(prefetch)}, Ordered: true},
		{Name: fmt.Sprintf("shoal shuffle(%d)", shuffleRows), Opts: []dataset.IterOption{dataset.LocalShuffleBuffer(shuffleRows, IngestShuffleSeed)}},
	}
}

// ShoalIngest iterates ds in batches of size rows with opts, handing every
// batch to probe: the Shoal side of both ingest workloads.
func ShoalIngest(ctx context.Context, ds *dataset.Dataset, size int, probe Probe, opts ...dataset.IterOption) (IngestResult, error) {
	var r IngestResult
	for b, err := range ds.IterBatches(ctx, size, opts...) {
		if err != nil {
			return r, err
		}
		r.add(b, size, probe)
	}
	return r, nil
}

// MaterializeParquet reads the Parquet file with Shoal on rt and
// materializes it. It returns the materialized dataset and its blocks as
// records (retained: the caller releases them), which are what HandIngest
// iterates.
func MaterializeParquet(ctx context.Context, rt exec.Runtime, path string) (*dataset.Dataset, []arrow.RecordBatch, error) {
	ds, err := ShoalParquet(ctx, rt, path, nil).Materialize(ctx)
	if err != nil {
		return nil, nil, err
	}
	recs, err := ds.ToRecords(ctx)
	if err != nil {
		return nil, nil, err
	}
	return ds, recs, nil
}

// ArrowBytesOf is ArrowBytes summed over recs: the decoded bytes an ingest
// run hands to its consumer (the GB/s of the ingest tables).
func ArrowBytesOf(recs []arrow.RecordBatch) int64 {
	var n int64
	for _, r := range recs {
		n += ArrowBytes(r)
	}
	return n
}

// HandIngest is the materialized baseline: recs cut into slices of size
// rows (the last slice of a record may be shorter), each passed to probe
// and released, on the caller's goroutine.
func HandIngest(recs []arrow.RecordBatch, size int, probe Probe) IngestResult {
	var r IngestResult
	for _, rec := range recs {
		sliceInto(rec, size, probe, &r)
	}
	return r
}

func sliceInto(rec arrow.RecordBatch, size int, probe Probe, r *IngestResult) {
	n := rec.NumRows()
	for off := int64(0); off < n; off += int64(size) {
		s := rec.NewSlice(off, min(off+int64(size), n))
		r.add(s, size, probe)
		s.Release()
	}
}

// PqarrowIngest is the Parquet baseline: pqarrow reads the file into
// records of formats.DefaultBatchRows rows (Shoal's default), which are cut
// into slices of size rows and passed to probe on the caller's goroutine,
// in file order. With 1 worker the reading is on the caller's goroutine too
// (one GetRecordReader over all row groups); with more, workers goroutines
// each open the file and take row groups from a shared counter, at most
// 2*workers row groups ahead of the consumer.
func PqarrowIngest(ctx context.Context, path string, workers, size int, probe Probe) (IngestResult, error) {
	if workers <= 1 {
		pr, fr, err := openPqarrow(nil, path)
		if err != nil {
			return IngestResult{}, err
		}
		defer pr.Close()
		rr, err := fr.GetRecordReader(ctx, nil, nil)
		if err != nil {
			return IngestResult{}, err
		}
		defer rr.Release()
		var r IngestResult
		for rr.Next() {
			sliceInto(rr.RecordBatch(), size, probe, &r)
		}
		if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
			return r, err
		}
		return r, nil
	}

	pr0, err := file.OpenParquetFile(path, false)
	if err != nil {
		return IngestResult{}, err
	}
	groups := pr0.NumRowGroups()
	pr0.Close()

	type part struct {
		recs []arrow.RecordBatch
		err  error
	}
	slots := make([]chan part, groups) // row group i's records, filled once
	for i := range slots {
		slots[i] = make(chan part, 1)
	}
	window := make(chan struct{}, 2*workers) // a token per row group ahead
	ctx, cancel := context.WithCancel(ctx)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			pr, fr, openErr := openPqarrow(nil, path)
			if openErr == nil {
				defer pr.Close()
			}
			for {
				select {
				case window <- struct{}{}:
				case <-ctx.Done():
					return
				}
				rg := int(next.Add(1) - 1)
				if rg >= groups {
					<-window
					return
				}
				if openErr != nil {
					slots[rg] <- part{err: openErr}
					continue
				}
				recs, err := readRowGroup(ctx, fr, rg)
				slots[rg] <- part{recs: recs, err: err}
			}
		})
	}
	var r IngestResult
	for i := range groups {
		var p part
		select {
		case p = <-slots[i]:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err == nil {
			err = p.err
		}
		for _, rec := range p.recs {
			if err == nil {
				sliceInto(rec, size, probe, &r)
			}
			rec.Release()
		}
		if err != nil {
			break
		}
		<-window
	}
	cancel()
	wg.Wait()
	for _, s := range slots { // what was decoded but not consumed
		select {
		case p := <-s:
			for _, rec := range p.recs {
				rec.Release()
			}
		default:
		}
	}
	return r, err
}

// readRowGroup decodes row group rg into records (retained).
func readRowGroup(ctx context.Context, fr *pqarrow.FileReader, rg int) ([]arrow.RecordBatch, error) {
	rr, err := fr.GetRecordReader(ctx, nil, []int{rg})
	if err != nil {
		return nil, err
	}
	defer rr.Release()
	var recs []arrow.RecordBatch
	for rr.Next() {
		rec := rr.RecordBatch()
		rec.Retain()
		recs = append(recs, rec)
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		for _, rec := range recs {
			rec.Release()
		}
		return nil, err
	}
	return recs, nil
}
