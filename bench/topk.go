package bench

// Top-k: the ten rows with the largest value of a float column of a
// 10-column table (TopKTable), as Sort(Desc("score")).Limit(10), once with
// the optimizer's SortLimitToTopK (a bounded heap per block, merged) and
// once without it (the full range-partitioned sort, then the limit).

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

// TopKTable builds rows rows of 10 columns in parts blocks, seeded: id
// (int64, unique), score (float64, the sort key), then four float64, two
// int64 and two string columns of payload.
func TopKTable(rows int64, parts int) []arrow.RecordBatch {
	mem := memory.DefaultAllocator
	fields := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "score", Type: arrow.PrimitiveTypes.Float64}}
	for i := range 4 {
		fields = append(fields, arrow.Field{Name: fmt.Sprintf("f%d", i), Type: arrow.PrimitiveTypes.Float64})
	}
	for i := range 2 {
		fields = append(fields, arrow.Field{Name: fmt.Sprintf("i%d", i), Type: arrow.PrimitiveTypes.Int64})
	}
	for i := range 2 {
		fields = append(fields, arrow.Field{Name: fmt.Sprintf("s%d", i), Type: arrow.BinaryTypes.String})
	}
	schema := arrow.NewSchema(fields, nil)
	rng := rand.New(rand.NewPCG(14, 10))
	recs := make([]arrow.RecordBatch, parts)
	for p := range parts {
		lo, hi := blockBounds(rows, parts, p)
		b := array.NewRecordBuilder(mem, schema)
		for r := lo; r < hi; r++ {
			b.Field(0).(*array.Int64Builder).Append(r)
			b.Field(1).(*array.Float64Builder).Append(rng.NormFloat64())
			for c := 2; c < 6; c++ {
				b.Field(c).(*array.Float64Builder).Append(rng.Float64())
			}
			for c := 6; c < 8; c++ {
				b.Field(c).(*array.Int64Builder).Append(rng.Int64())
			}
			for c := 8; c < 10; c++ {
				b.Field(c).(*array.StringBuilder).Append(fmt.Sprintf("name-%08d", rng.IntN(1_000_000)))
			}
		}
		recs[p] = b.NewRecordBatch()
		b.Release()
	}
	return recs
}

// ShoalTopK returns the ids of the k rows of recs with the largest score,
// in order. fullSort turns SortLimitToTopK off, so a full sort runs.
func ShoalTopK(ctx context.Context, rt exec.Runtime, recs []arrow.RecordBatch, k int64, fullSort bool) ([]int64, error) {
	opts := []dataset.Option{dataset.WithRuntime(rt)}
	if fullSort {
		opts = append(opts, dataset.WithOptimizerRules(ops.DefaultRulesWithout(ops.SortLimitToTopK)...))
	}
	items, err := dataset.FromRecords(recs, opts...).Sort(dataset.Desc("score")).Limit(k).TakeAll(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(items))
	for i, it := range items {
		ids[i] = it["id"].(int64)
	}
	return ids, nil
}
