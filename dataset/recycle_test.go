package dataset_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/internal/watchdog"
)

const recycleRows = 400_000

func recycleRow(i int64) (k int64, s string, f float64, fNull bool, n int32) {
	return i % 97, fmt.Sprintf("cat%02d", i%13), float64(i%1000) * 0.5, i%11 == 0, int32(i % 50)
}

// TestAggregationsOverRecycledReads: aggregations fused into Parquet reads
// on a runtime over Go's heap (where the read recycles the buffers of the
// blocks the aggregation has released) give the reference answers, over
// many 64K-row blocks per task, nullable and dictionary-encoded columns,
// with and without a filter.
func TestAggregationsOverRecycledReads(t *testing.T) {
	rt := exec.NewLocal(exec.WithWorkers(2), exec.WithSpillDir(t.TempDir()))
	defer rt.Close()
	ctx := watchdog.Context(t, context.Background(), hangLimit)
	dir := t.TempDir()
	writeRecycleFile(t, filepath.Join(dir, "data.parquet"))
	read := func() *dataset.Dataset {
		return dataset.ReadParquet(ctx, dir, dataset.WithRuntime(rt), dataset.WithParallelism(2))
	}

	type acc struct {
		rows, fn int64
		fsum     float64
		fmax     float64
		nsum     int64
	}
	byK, byS := map[int64]*acc{}, map[string]*acc{}
	var globalN int64
	for i := range int64(recycleRows) {
		k, s, f, null, n := recycleRow(i)
		a := byK[k]
		if a == nil {
			a = &acc{fmax: math.Inf(-1)}
			byK[k] = a
		}
		a.rows++
		a.nsum += int64(n)
		if !null {
			a.fn++
			a.fsum += f
			a.fmax = max(a.fmax, f)
			if f > 100 {
				b := byS[s]
				if b == nil {
					b = &acc{}
					byS[s] = b
				}
				b.rows++
				b.fsum += f
			}
		}
		if k < 50 {
			globalN += int64(n)
		}
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

	got := must(read().GroupBy("k").Aggregate(dataset.CountRows(), dataset.SumOf("f"), dataset.MeanOf("n"), dataset.MaxOf("f")).TakeAll(ctx))(t)
	if len(got) != len(byK) {
		t.Fatalf("%d groups by k, want %d", len(got), len(byK))
	}
	for _, it := range got {
		w := byK[it["k"].(int64)]
		if it["count()"] != w.rows || !near(it["sum(f)"].(float64), w.fsum) || !near(it["mean(n)"].(float64), float64(w.nsum)/float64(w.rows)) || it["max(f)"] != w.fmax {
			t.Fatalf("group %v = %v, want count %d sum %v mean %v max %v", it["k"], it, w.rows, w.fsum, float64(w.nsum)/float64(w.rows), w.fmax)
		}
	}

	got = must(read().Where(dataset.Col("f").Gt(100.0)).GroupBy("s").Aggregate(dataset.SumOf("f"), dataset.CountRows()).TakeAll(ctx))(t)
	if len(got) != len(byS) {
		t.Fatalf("%d groups by s, want %d", len(got), len(byS))
	}
	for _, it := range got {
		w := byS[it["s"].(string)]
		if w == nil || it["count()"] != w.rows || !near(it["sum(f)"].(float64), w.fsum) {
			t.Fatalf("group %q = %v, want %+v", it["s"], it, w)
		}
	}

	sum := must(read().Where(dataset.Col("k").Lt(int64(50))).Aggregate(dataset.SumOf("n")).TakeAll(ctx))(t)
	if len(sum) != 1 || sum[0]["sum(n)"] != globalN {
		t.Fatalf("sum(n) where k < 50 = %v, want %d", sum, globalN)
	}
}

// writeRecycleFile writes recycleRows rows in row groups of 100K rows, s
// dictionary-encoded.
func writeRecycleFile(t *testing.T, path string) {
	t.Helper()
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "n", Type: arrow.PrimitiveTypes.Int32},
	}, nil)
	b := array.NewRecordBuilder(memory.NewGoAllocator(), sc)
	defer b.Release()
	for i := range int64(recycleRows) {
		k, s, f, null, n := recycleRow(i)
		b.Field(0).(*array.Int64Builder).Append(k)
		b.Field(1).(*array.StringBuilder).Append(s)
		if null {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.Float64Builder).Append(f)
		}
		b.Field(3).(*array.Int32Builder).Append(n)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w, err := pqarrow.NewFileWriter(sc, out, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(100_000)), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
