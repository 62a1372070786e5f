package suite

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/bench"
	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

// Answer is a workload's result: named numbers (SPEC.md), compared across
// engines.
type Answer map[string]float64

// The workloads of SPEC.md, in table order.
const (
	ScanFilterSum = "scan_filter_sum"
	MapArith      = "map_arith"
	GroupBy100    = "groupby_100"
	GroupBy1M     = "groupby_1m"
	UniqueW       = "unique"
	SortInt       = "sort_int"
	SortStr       = "sort_str"
	ShuffleW      = "shuffle"
	JoinW         = "join"
	CSVETL        = "csv_etl"
	CSVConvert    = "csv_convert"
	Ingest        = "ingest"
	PipelineW     = "pipeline"
	TPCHQ1        = "tpch_q1"
	TPCHQ6        = "tpch_q6"
	TopK10        = "topk_10"
	JoinGroupBy   = "join_groupby"
)

// Workloads lists every workload, in table order.
var Workloads = []string{ScanFilterSum, MapArith, GroupBy100, GroupBy1M, UniqueW, SortInt, SortStr, ShuffleW, JoinW, CSVETL, CSVConvert, Ingest,
	TPCHQ1, TPCHQ6, TopK10, JoinGroupBy, PipelineW}

// IngestBatchRows is the batch size of the ingest workload.
const IngestBatchRows = 1024

// ShuffleSeed is the seed Shoal's RandomShuffle gets.
const ShuffleSeed = 7

// InputRows is the number of input rows a workload reads (both sides of
// the join), for rows/s.
func (d *Data) InputRows(workload string) int64 {
	if n, ok := d.exprInputRows(workload); ok {
		return n
	}
	switch workload {
	case ShuffleW:
		return d.Size.ShuffleRows()
	case JoinW:
		return d.Size.Rows + d.Size.JoinRightRows()
	case CSVETL, CSVConvert:
		return d.Size.CSVRows()
	case PipelineW:
		c := PipelineConfigFor(d.Size, 1, 1)
		return int64(c.Blocks * c.Rows)
	}
	return d.Size.Rows
}

// RunShoal runs one workload (not the pipeline: see RunPipeline) on Shoal
// over rt and returns its answer and the time of the workload itself (the
// answer is read from materialized output after the timer, as the peers
// do). out is a scratch directory (csv_etl writes into out/csv_etl).
func RunShoal(ctx context.Context, rt exec.Runtime, d *Data, workload, out string) (Answer, time.Duration, error) {
	with := dataset.WithRuntime(rt)
	trips := func(opts ...dataset.ReadOption) *dataset.Dataset {
		return dataset.ReadParquet(ctx, d.TripsDir, append([]dataset.ReadOption{with}, opts...)...)
	}
	if a, el, ok, err := runShoalExpr(ctx, d, workload, with); ok {
		return a, el, err
	}
	col := dataset.Col
	start := time.Now()
	switch workload {
	case ScanFilterSum:
		ds := trips().
			Where(col("distance").Gt(5.0).And(col("payment").Eq("card"))).
			Aggregate(dataset.CountRows(), dataset.SumOf("fare"), dataset.SumOf("tip"))
		row, err := oneRow(ctx, ds)
		el := time.Since(start)
		if err != nil {
			return nil, el, err
		}
		return Answer{"rows": row[0], "sum_fare": row[1], "sum_tip": row[2]}, el, nil

	case MapArith:
		ds := trips().
			WithColumn("y", col("fare").Mul(1.08).Add(col("tip")).Sub(col("distance").Mul(0.5))).
			Aggregate(dataset.CountRows(), dataset.SumOf("y"))
		row, err := oneRow(ctx, ds)
		el := time.Since(start)
		if err != nil {
			return nil, el, err
		}
		return Answer{"rows": row[0], "sum_y": row[1]}, el, nil

	case GroupBy100, GroupBy1M:
		key := "k100"
		if workload == GroupBy1M {
			key = "k1m"
		}
		// GroupBy(...).Aggregate selects the key and "v" itself, and the
		// selection reaches the Parquet reader: k1m (or k100) is not decoded.
		m, err := dataset.ReadParquet(ctx, d.GroupBy, with).GroupBy(key).
			Aggregate(dataset.CountRows(), dataset.SumOf("v"), dataset.MeanOf("v")).Materialize(ctx)
		el := time.Since(start)
		if err != nil {
			return nil, el, err
		}
		a, err := groupAnswer(ctx, m)
		return a, el, err

	case UniqueW:
		m, err := dataset.ReadParquet(ctx, d.GroupBy, with).Unique("k1m").Materialize(ctx)
		el := time.Since(start)
		if err != nil {
			return nil, el, err
		}
		a, err := uniqueAnswer(ctx, m)
		return a, el, err

	case SortInt, SortStr:
		key := "k"
		if workload == SortStr {
			key = "s"
		}
		m, err := dataset.ReadParquet(ctx, d.SortData, with).Sort(dataset.Asc(key)).Materialize(ctx)
		el := time.Since(start)
		if err != nil {
			return nil, el, err
		}
		a, err := sortAnswer(ctx, m, key)
		return a, el, err

	case ShuffleW:
		m, err := dataset.ReadParquet(ctx, d.Shuffle, with).RandomShuffle(ShuffleSeed).Materialize(ctx)
		el := time.Since(start)
		if err != nil {
			return nil, el, err
		}
		a, err := shuffleAnswer(ctx, m)
		return a, el, err

	case JoinW:
		left := dataset.ReadParquet(ctx, d.JoinLeft, with)
		right := dataset.ReadParquet(ctx, d.JoinRight, with)
		m, err := left.Join(right, []string{"k"}, dataset.InnerJoin).Materialize(ctx)
		el := time.Since(start)
		if err != nil {
			return nil, el, err
		}
		row, err := oneRow(ctx, m.Aggregate(dataset.CountRows(), dataset.SumOf("a"), dataset.SumOf("b")))
		if err != nil {
			return nil, el, err
		}
		return Answer{"rows": row[0], "sum_a": row[1], "sum_b": row[2]}, el, nil

	case CSVETL:
		dst := out + "/csv_etl"
		if err := os.RemoveAll(dst); err != nil {
			return nil, 0, err
		}
		start = time.Now()
		err := dataset.ReadCSV(ctx, d.TripsCSV, with, dataset.Schema(TripsCSVSchema)).
			Where(dataset.And(dataset.Col("fare").Gt(0.0), dataset.Col("distance").Gt(0.0), dataset.Col("passengers").IsNotNull())).
			AddColumn("fare_per_mile", farePerMile).
			WriteParquet(ctx, dst)
		el := time.Since(start)
		if err != nil {
			return nil, el, err
		}
		row, err := oneRow(ctx, dataset.ReadParquet(ctx, dst, with).Aggregate(dataset.CountRows(), dataset.SumOf("fare_per_mile")))
		if err != nil {
			return nil, el, err
		}
		return Answer{"rows": row[0], "sum_fare_per_mile": row[1]}, el, os.RemoveAll(dst)

	case CSVConvert:
		// A new user's conversion: types inferred, default options.
		dst := out + "/csv_convert"
		if err := os.RemoveAll(dst); err != nil {
			return nil, 0, err
		}
		start = time.Now()
		err := dataset.ReadCSV(ctx, d.CSVOne, with).WriteParquet(ctx, dst)
		el := time.Since(start)
		if err != nil {
			return nil, el, err
		}
		row, err := oneRow(ctx, dataset.ReadParquet(ctx, dst, with).Aggregate(dataset.CountRows(), dataset.SumOf("fare")))
		if err != nil {
			return nil, el, err
		}
		return Answer{"rows": row[0], "sum_fare": row[1]}, el, os.RemoveAll(dst)

	case Ingest:
		var rows, batches, sumID int64
		var sumFare float64
		// The consumer reads id and fare, and so is the read projected
		// (as the peers' SELECT id, fare).
		for b, err := range trips(dataset.Columns("id", "fare")).IterBatches(ctx, IngestBatchRows) {
			if err != nil {
				return nil, time.Since(start), err
			}
			id, fare, err := ingestColumns(b)
			if err != nil {
				return nil, time.Since(start), err
			}
			if len(id) > 0 && id[0] != rows {
				return nil, time.Since(start), fmt.Errorf("ingest: batch %d starts at id %d, want %d (out of order)", batches, id[0], rows)
			}
			sumID += sumInt64(id)
			sumFare += sumFloat64(fare)
			rows += b.NumRows()
			batches++
		}
		el := time.Since(start)
		return Answer{"rows": float64(rows), "batches": float64(batches), "sum_id": float64(sumID), "sum_fare": sumFare}, el, nil
	}
	return nil, 0, fmt.Errorf("suite: no Shoal workload %q", workload)
}

// MapArithY is map_arith's expression.
func MapArithY(fare, tip, distance float64) float64 { return fare*1.08 + tip - distance*0.5 }

// farePerMile is csv_etl's new column.
func farePerMile(b arrow.RecordBatch) (arrow.Array, error) {
	fare, err := floatCol(b, "fare")
	if err != nil {
		return nil, err
	}
	dist, err := floatCol(b, "distance")
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(fare))
	for i := range out {
		out[i] = fare[i] / dist[i]
	}
	return blocks.NumericArray(out), nil
}

func floatCol(b arrow.RecordBatch, name string) ([]float64, error) {
	idx := b.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil, fmt.Errorf("no column %q in %s", name, b.Schema())
	}
	return blocks.Values[float64](b.Column(idx[0]))
}

func intCol(b arrow.RecordBatch, name string) ([]int64, error) {
	idx := b.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil, fmt.Errorf("no column %q in %s", name, b.Schema())
	}
	return blocks.Values[int64](b.Column(idx[0]))
}

func ingestColumns(b arrow.RecordBatch) ([]int64, []float64, error) {
	id, err := intCol(b, "id")
	if err != nil {
		return nil, nil, err
	}
	fare, err := floatCol(b, "fare")
	return id, fare, err
}

func sumInt64(v []int64) int64 {
	var s int64
	for _, x := range v {
		s += x
	}
	return s
}

func sumFloat64(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s
}

// numberAt reads row i of an int64 or float64 column as a float64.
func numberAt(col arrow.Array, i int) (float64, error) {
	if col.IsNull(i) {
		return 0, nil // an empty sum: 0, as the peers' COALESCE would give
	}
	switch a := col.(type) {
	case *array.Int64:
		return float64(a.Value(i)), nil
	case *array.Float64:
		return a.Value(i), nil
	}
	return 0, fmt.Errorf("column of type %s is not int64 or float64", col.DataType())
}

// oneRow runs a one-row dataset (a global aggregate) and returns its
// values in column order.
func oneRow(ctx context.Context, ds *dataset.Dataset) ([]float64, error) {
	recs, err := ds.ToRecords(ctx)
	if err != nil {
		return nil, err
	}
	defer release(recs)
	var out []float64
	for _, r := range recs {
		if r.NumRows() == 0 {
			continue
		}
		if out != nil || r.NumRows() != 1 {
			return nil, fmt.Errorf("aggregate gave more than one row")
		}
		for _, c := range r.Columns() {
			v, err := numberAt(c, 0)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	}
	if out == nil {
		return nil, fmt.Errorf("aggregate gave no row")
	}
	return out, nil
}

func release(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// groupAnswer reads a materialized GroupBy(key).Aggregate(count, sum, mean).
// uniqueAnswer counts and sums the distinct keys of a Unique's output.
func uniqueAnswer(ctx context.Context, m *dataset.Dataset) (Answer, error) {
	recs, err := m.ToRecords(ctx)
	if err != nil {
		return nil, err
	}
	defer release(recs)
	a := Answer{"distinct": 0, "sum_keys": 0}
	for _, r := range recs {
		for i := range int(r.NumRows()) {
			k, err := numberAt(r.Column(0), i)
			if err != nil {
				return nil, err
			}
			a["distinct"]++
			a["sum_keys"] += k
		}
	}
	return a, nil
}

func groupAnswer(ctx context.Context, m *dataset.Dataset) (Answer, error) {
	recs, err := m.ToRecords(ctx)
	if err != nil {
		return nil, err
	}
	defer release(recs)
	var groups, count float64
	var sum, mean float64
	for _, r := range recs {
		n := r.NumCols()
		for i := range int(r.NumRows()) {
			c, err := numberAt(r.Column(int(n-3)), i)
			if err != nil {
				return nil, err
			}
			s, err := numberAt(r.Column(int(n-2)), i)
			if err != nil {
				return nil, err
			}
			mu, err := numberAt(r.Column(int(n-1)), i)
			if err != nil {
				return nil, err
			}
			groups++
			count += c
			sum += s
			mean += mu
		}
	}
	return Answer{"groups": groups, "sum_count": count, "sum_sum": sum, "sum_mean": mean}, nil
}

// SortProbeString is a string key's answer value: its first 8 bytes read
// as a big-endian uint64 (zero-padded), as a float64.
func SortProbeString(s string) float64 {
	var b [8]byte
	copy(b[:], s)
	return float64(binary.BigEndian.Uint64(b[:]))
}

// SortAnswer computes sort_int's / sort_str's answer from the n keys in
// sorted order, given as key(i) for i in [0, n).
func SortAnswer(n int64, key func(i int64) float64) Answer {
	if n == 0 {
		return Answer{"rows": 0}
	}
	var probe float64
	for j := range int64(100) {
		probe += key(j * n / 100)
	}
	return Answer{"rows": float64(n), "first": key(0), "last": key(n - 1), "probe": probe}
}

// sortAnswer reads a materialized sort: it checks the order too.
func sortAnswer(ctx context.Context, m *dataset.Dataset, key string) (Answer, error) {
	recs, err := m.ToRecords(ctx)
	if err != nil {
		return nil, err
	}
	defer release(recs)
	var vals []float64
	var prevI int64
	var prevS string
	first := true
	for _, r := range recs {
		idx := r.Schema().FieldIndices(key)
		if len(idx) == 0 {
			return nil, fmt.Errorf("sort output has no column %q", key)
		}
		col := r.Column(idx[0])
		switch a := col.(type) {
		case *array.Int64:
			for i := range a.Len() {
				v := a.Value(i)
				if !first && v < prevI {
					return nil, fmt.Errorf("sort output out of order at row %d: %d after %d", len(vals), v, prevI)
				}
				prevI, first = v, false
				vals = append(vals, float64(v))
			}
		case interface {
			Len() int
			Value(int) string
		}:
			for i := range a.Len() {
				v := a.Value(i)
				if !first && v < prevS {
					return nil, fmt.Errorf("sort output out of order at row %d: %q after %q", len(vals), v, prevS)
				}
				prevS, first = v, false
				vals = append(vals, SortProbeString(v))
			}
		default:
			return nil, fmt.Errorf("sort key column of type %s", col.DataType())
		}
	}
	return SortAnswer(int64(len(vals)), func(i int64) float64 { return vals[i] }), nil
}

// shuffleAnswer reads a materialized shuffle: rows, Σid and whether the
// order moved (shuffle.parquet's ids are its row numbers).
func shuffleAnswer(ctx context.Context, m *dataset.Dataset) (Answer, error) {
	recs, err := m.ToRecords(ctx)
	if err != nil {
		return nil, err
	}
	defer release(recs)
	var rows, sum int64
	moved := 0.0
	for _, r := range recs {
		ids, err := intCol(r, "id")
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if id != rows {
				moved = 1
			}
			sum += id
			rows++
		}
	}
	return Answer{"rows": float64(rows), "sum_id": float64(sum), "moved": moved}, nil
}

// PipelineConfigFor sizes workload 9 (bench.RunPipeline): each stage alone
// takes about T on threads CPUs (S: 0.2 s, M: 1 s, L: 3 s), given the
// calibrated map cost per row and round (bench.CalibrateMap).
func PipelineConfigFor(size Size, threads int, perIterNs float64) bench.PipelineConfig {
	t, blocksN := 200*time.Millisecond, 16
	switch size.Name {
	case "M":
		t, blocksN = time.Second, 32
	case "L":
		t, blocksN = 3*time.Second, 64
	}
	return bench.PipelineFor(t, blocksN, 16<<10, max(threads, 1), perIterNs)
}
