package ops

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// BenchmarkFunctions times each family over a block of 500 random rows
// (fnBlock) repeated to 64k rows; ns/row is the figure to compare.
func BenchmarkFunctions(b *testing.B) {
	mem := memory.NewGoAllocator()
	one := fnBlock(b, mem, 1)
	defer one.Release()
	cols := make([]arrow.Array, one.NumCols())
	for c := range cols {
		parts := make([]arrow.Array, 128)
		for i := range parts {
			parts[i] = one.Column(c)
		}
		var err error
		if cols[c], err = array.Concatenate(parts, mem); err != nil {
			b.Fatal(err)
		}
	}
	block := array.NewRecordBatch(one.Schema(), cols, -1)
	defer block.Release()
	for _, c := range cols {
		c.Release()
	}
	for _, e := range []Expr{
		Call("round", Col("f"), 2),
		Call("abs", Col("i32")),
		Call("lower", Col("s")),
		Call("contains", Col("s"), "ab"),
		Call("substr", Col("s"), 2, 3),
		Call("year", Col("ts")),
		Call("hour", Col("tsz")),
		Call("diff_days", Col("ts"), Col("d32")),
		Call("coalesce", Col("i"), 0),
		Call("if", Col("b"), Col("f"), Col("i32")),
	} {
		b.Run(e.String(), func(b *testing.B) {
			rows := int(block.NumRows())
			for b.Loop() {
				out, err := e.Eval(context.Background(), mem, block)
				if err != nil {
					b.Fatal(err)
				}
				out.Release()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
		})
	}
}
