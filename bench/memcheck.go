// Package bench holds Shoal's benchmarks and the measurements that back the
// claims in docs/benchmarks.md.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

// MemCheckResult is what one out-of-core run measured.
type MemCheckResult struct {
	Mode        string
	BudgetBytes int64
	DataBytes   int64 // bytes the map produced in all
	Rows        int64
	Sum         float64
	PeakRSS     int64 // the process's high-water mark (VmHWM) after the run
	StorePeak   int64 // the object store's peak memory
	Spilled     int64 // bytes the store wrote to disk
	Elapsed     time.Duration
}

func (r MemCheckResult) String() string {
	return fmt.Sprintf("mode=%s budget=%dMiB data=%dMiB (%.1fx budget) rows=%d peakRSS=%dMiB (%.2fx budget) storePeak=%dMiB spilled=%dMiB elapsed=%s",
		r.Mode, r.BudgetBytes>>20, r.DataBytes>>20, float64(r.DataBytes)/float64(r.BudgetBytes), r.Rows,
		r.PeakRSS>>20, float64(r.PeakRSS)/float64(r.BudgetBytes), r.StorePeak>>20, r.Spilled>>20, r.Elapsed.Round(time.Millisecond))
}

// MemCheck maps over a generated dataset factor times larger than an object
// store of budget bytes. Mode "stream" consumes the map's output as it comes
// (backpressure bounds memory); mode "materialize" keeps it all in the store,
// which must spill, then reads it all back. Run it in a fresh process so
// PeakRSS reflects this run alone.
func MemCheck(ctx context.Context, mode string, budget int64, factor int) (MemCheckResult, error) {
	rt := exec.NewLocal(exec.WithObjectStoreMemory(budget))
	defer rt.Close()
	// Each row becomes 4 float64 columns (32 bytes) in the map.
	const rowBytes = 32
	rows := budget * int64(factor) / rowBytes
	ds := dataset.Range(rows, dataset.WithRuntime(rt)).MapBatches(featurize)
	start := time.Now()
	res := MemCheckResult{Mode: mode, BudgetBytes: budget, DataBytes: rows * rowBytes}
	var err error
	switch mode {
	case "stream":
		res.Rows, res.Sum, err = sumColumn(ctx, ds)
	case "materialize":
		var m *dataset.Dataset
		if m, err = ds.Materialize(ctx); err == nil {
			res.Rows, res.Sum, err = sumColumn(ctx, m)
		}
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	st := rt.Stats()
	res.StorePeak, res.Spilled = st.PeakMemory, st.SpilledTotal
	res.PeakRSS = PeakRSS()
	return res, nil
}

// featurize turns the id column into four float64 feature columns.
func featurize(b arrow.RecordBatch) (arrow.RecordBatch, error) {
	ids, err := blocks.Values[int64](b.Column(0))
	if err != nil {
		return nil, err
	}
	names := []string{"a", "b", "c", "d"}
	fields := make([]arrow.Field, len(names))
	cols := make([]arrow.Array, len(names))
	for k := range names {
		vals := make([]float64, len(ids))
		for i, id := range ids {
			vals[i] = float64(id) * float64(k+1)
		}
		fields[k] = arrow.Field{Name: names[k], Type: arrow.PrimitiveTypes.Float64}
		cols[k] = blocks.NumericArray(vals)
	}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, b.NumRows()), nil
}

// sumColumn reads every batch and sums column "a", touching all the data.
func sumColumn(ctx context.Context, ds *dataset.Dataset) (int64, float64, error) {
	var rows int64
	var sum float64
	for b, err := range ds.IterBatches(ctx, 0) {
		if err != nil {
			return rows, sum, err
		}
		vals, err := blocks.Values[float64](b.Column(0))
		if err != nil {
			return rows, sum, err
		}
		for _, v := range vals {
			sum += v
		}
		rows += b.NumRows()
	}
	return rows, sum, nil
}

// PeakRSS returns the process's peak resident set size (VmHWM) in bytes, or
// 0 where /proc is not available.
func PeakRSS() int64 { return procStatusBytes("VmHWM:") }

// RSS returns the process's resident set size now (VmRSS) in bytes, or 0
// where /proc is not available.
func RSS() int64 { return procStatusBytes("VmRSS:") }

// ResetPeakRSS sets the process's peak resident set size (VmHWM) back to
// its resident set size now (Linux's clear_refs "5"), so that a later
// PeakRSS measures what follows.
func ResetPeakRSS() error {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// procStatusBytes reads a "kB" field of /proc/self/status in bytes.
func procStatusBytes(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
