package blocks

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestGatherMatchesTakeKernel checks the typed gather against arrow's Take
// kernel on every type it handles, with nulls, sliced inputs, repeated and
// reversed indices.
func TestGatherMatchesTakeKernel(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	types := []arrow.DataType{
		arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Uint16, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Float32,
		arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Float64, arrow.PrimitiveTypes.Date32,
		&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, arrow.BinaryTypes.String, arrow.BinaryTypes.Binary,
	}
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		for _, typ := range types {
			n := 1 + rng.IntN(200)
			full := randomArray(mem, typ, n+10, rng)
			col := array.NewSlice(full, 5, int64(n+5)) // an offset into the buffers
			full.Release()
			idx := make([]int64, rng.IntN(300))
			for i := range idx {
				idx[i] = int64(rng.IntN(n))
			}
			got, ok := gather(mem, col, idx)
			if !ok {
				if len(idx) > 0 {
					t.Fatalf("%s: not gathered", typ)
				}
				col.Release()
				continue
			}
			ib := array.NewInt64Builder(mem)
			ib.AppendValues(idx, nil)
			ix := ib.NewArray()
			ib.Release()
			want, err := compute.TakeArray(compute.WithAllocator(context.Background(), mem), col, ix)
			if err != nil {
				t.Fatal(err)
			}
			if !array.Equal(got, want) {
				t.Errorf("seed %d %s: gather differs from Take\ngot  %v\nwant %v", seed, typ, got, want)
			}
			for _, a := range []arrow.Array{got, want, ix, col} {
				a.Release()
			}
		}
	}
}

func randomArray(mem memory.Allocator, typ arrow.DataType, n int, rng *rand.Rand) arrow.Array {
	b := array.NewBuilder(mem, typ)
	defer b.Release()
	for range n {
		if rng.IntN(5) == 0 {
			b.AppendNull()
			continue
		}
		v := rng.IntN(1000) - 500
		switch bb := b.(type) {
		case *array.Int8Builder:
			bb.Append(int8(v))
		case *array.Uint16Builder:
			bb.Append(uint16(v + 500))
		case *array.Int32Builder:
			bb.Append(int32(v))
		case *array.Float32Builder:
			bb.Append(float32(v) / 3)
		case *array.Int64Builder:
			bb.Append(int64(v) << 20)
		case *array.Float64Builder:
			bb.Append(float64(v) / 7)
		case *array.Date32Builder:
			bb.Append(arrow.Date32(v))
		case *array.TimestampBuilder:
			bb.Append(arrow.Timestamp(v))
		case *array.StringBuilder:
			bb.Append(fmt.Sprintf("s%0*d", rng.IntN(4), v)[:rng.IntN(3)])
		case *array.BinaryBuilder:
			bb.Append([]byte(fmt.Sprint(v)))
		}
	}
	return b.NewArray()
}

// BenchmarkScatter splits a 64K-row block of an int64, a float64 and a
// string column into 64 parts, as a shuffle's map does.
func BenchmarkScatter(b *testing.B) {
	mem := memory.NewGoAllocator()
	rng := rand.New(rand.NewPCG(1, 2))
	const rows = 1 << 16
	cols := []arrow.Array{
		randomArray(mem, arrow.PrimitiveTypes.Int64, rows, rng),
		randomArray(mem, arrow.PrimitiveTypes.Float64, rows, rng),
		randomArray(mem, arrow.BinaryTypes.String, rows, rng),
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "b", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "c", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	blk := array.NewRecordBatch(schema, cols, rows)
	parts := RandomPartition(rows, 64, rng)
	b.ResetTimer()
	for range b.N {
		out, err := Scatter(mem, blk, parts, 64)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range out {
			o.Release()
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// TestGrouperForSizesTheTable: a sized grouper assigns the same ids as a
// default one, and starts with room for the hinted groups.
func TestGrouperForSizesTheTable(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(3, 3))
	col := randomArray(mem, arrow.PrimitiveTypes.Int64, 5000, rng)
	defer col.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
	b := array.NewRecordBatch(schema, []arrow.Array{col}, 5000)
	defer b.Release()
	plain, _ := NewGrouper(schema)
	sized, err := NewGrouperFor(schema, 5000)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := plain.Add(b, []string{"k"})
	c, _ := sized.Add(b, []string{"k"})
	if fmt.Sprint(a) != fmt.Sprint(c) {
		t.Error("sized and default groupers disagree")
	}
	if len(sized.slots) < 10000 {
		t.Errorf("sized table has %d slots for mostly distinct keys, want at least 10000", len(sized.slots))
	}

	// Keys that repeat (100 of them) keep the table small whatever the hint.
	vals := make([]int64, 5000)
	for i := range vals {
		vals[i] = int64(i*7) % 100
	}
	few := array.NewRecordBatch(schema, []arrow.Array{NumericArray(vals)}, 5000)
	defer few.Release()
	small, _ := NewGrouperFor(schema, 5000)
	plain, _ = NewGrouper(schema)
	a, _ = plain.Add(few, []string{"k"})
	c, _ = small.Add(few, []string{"k"})
	if fmt.Sprint(a) != fmt.Sprint(c) || small.NumGroups() != 100 {
		t.Errorf("groupers disagree on 100 repeated keys (%d groups)", small.NumGroups())
	}
	if len(small.slots) > 2048 {
		t.Errorf("a hint of 5000 groups sized the table to %d slots for 100 keys", len(small.slots))
	}
}
