package shuffle

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// BenchmarkTaskAggregator folds 4M rows over 500K keys (each seen 8 times)
// into a task aggregator of 32 partitions, in 64K-row blocks.
func BenchmarkTaskAggregator(b *testing.B) {
	mem := memory.NewGoAllocator()
	const rows, keys, blockRows = 4 << 20, 500_000, 64 << 10
	sc := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: arrow.PrimitiveTypes.Float64}}, nil)
	var in []blocks.Block
	for lo := int64(0); lo < rows; lo += blockRows {
		kb, vb := array.NewInt64Builder(mem), array.NewFloat64Builder(mem)
		for i := lo; i < lo+blockRows; i++ {
			kb.Append(i * 7919 % keys)
			vb.Append(float64(i))
		}
		ka, va := kb.NewArray(), vb.NewArray()
		in = append(in, array.NewRecordBatch(sc, []arrow.Array{ka, va}, blockRows))
	}
	tc := &exec.TaskContext{Context: context.Background(), Alloc: mem}
	for b.Loop() {
		ta := NewTaskAggregator([]string{"k"}, []Agg{CountRows(), SumOf("v")}, 32, nil)
		for _, blk := range in {
			if err := ta.Add(tc, blk); err != nil {
				b.Fatal(err)
			}
		}
		parts, err := ta.Finish(tc)
		if err != nil {
			b.Fatal(err)
		}
		releaseBlocks(parts)
		ta.Release()
	}
}
