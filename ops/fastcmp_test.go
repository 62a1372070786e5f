package ops

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// TestFastCompareMatchesCompute checks the typed comparison loops against
// arrow compute's kernels, value for value and null for null, over random
// columns (with nulls, NaN, ±Inf, slices with offsets) and every operator.
func TestFastCompareMatchesCompute(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := compute.WithAllocator(context.Background(), mem)
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 1))
		n := 1 + r.IntN(100)
		cols := map[string]arrow.Array{}
		ib, fb, f32, i32, sb := array.NewInt64Builder(mem), array.NewFloat64Builder(mem), array.NewFloat32Builder(mem), array.NewInt32Builder(mem), array.NewStringBuilder(mem)
		tsb := array.NewTimestampBuilder(mem, &arrow.TimestampType{Unit: arrow.Microsecond})
		db := array.NewDate32Builder(mem)
		day0 := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
		specials := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1)}
		for range n {
			if r.IntN(5) == 0 {
				ib.AppendNull()
				fb.AppendNull()
				f32.AppendNull()
				i32.AppendNull()
				sb.AppendNull()
				tsb.AppendNull()
				db.AppendNull()
				continue
			}
			tsb.Append(arrow.Timestamp(day0.Add(time.Duration(r.IntN(10)-5) * time.Hour).UnixMicro()))
			db.Append(arrow.Date32FromTime(day0.AddDate(0, 0, r.IntN(10)-5)))
			ib.Append(int64(r.IntN(10) - 5))
			i32.Append(int32(r.IntN(10) - 5))
			f := float64(r.IntN(10)-5) / 2
			if r.IntN(6) == 0 {
				f = specials[r.IntN(len(specials))]
			}
			fb.Append(f)
			f32.Append(float32(f))
			sb.Append(string(rune('a' + r.IntN(5))))
		}
		cols["i64"], cols["f64"], cols["f32"], cols["i32"], cols["str"] = ib.NewArray(), fb.NewArray(), f32.NewArray(), i32.NewArray(), sb.NewArray()
		cols["ts"], cols["date"] = tsb.NewArray(), db.NewArray()
		for _, b := range []interface{ Release() }{ib, fb, f32, i32, sb, tsb, db} {
			b.Release()
		}
		lits := map[string]any{"i64": int64(r.IntN(10) - 5), "i32": int64(r.IntN(10) - 5), "f64": float64(r.IntN(10)-5) / 2, "f32": float64(r.IntN(10)-5) / 2, "str": string(rune('a' + r.IntN(5))),
			"ts": day0.Add(time.Duration(r.IntN(10)-5) * time.Hour), "date": day0.AddDate(0, 0, r.IntN(10)-5)}
		for name, whole := range cols {
			lo := r.IntN(whole.Len())
			col := array.NewSlice(whole, int64(lo), int64(whole.Len())) // offsets too
			for op := Eq; op <= Ge; op++ {
				got, ok := fastCompare(mem, col, op, lits[name])
				if !ok {
					t.Fatalf("%s: no fast path", name)
				}
				var s scalar.Scalar
				var err error
				if tm, isTime := lits[name].(time.Time); isTime {
					s, err = timeScalar(tm, col.DataType())
				} else {
					s, err = scalar.MakeScalar(lits[name]).CastTo(col.DataType())
				}
				if err != nil {
					t.Fatal(err)
				}
				cd, ld := compute.NewDatum(col), compute.NewDatum(s)
				res, err := compute.CallFunction(ctx, cmpFuncs[op], nil, cd, ld)
				if err != nil {
					t.Fatal(err)
				}
				want := res.(*compute.ArrayDatum).MakeArray()
				if !array.Equal(got, want) {
					t.Errorf("seed %d %s %s %v:\n got %v\nwant %v", seed, name, cmpNames[op], lits[name], got, want)
				}
				got.Release()
				want.Release()
				res.Release()
				cd.Release()
				ld.Release()
			}
			col.Release()
			whole.Release()
		}
	}
}

func TestMaskIndices(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for seed := range uint64(100) {
		r := rand.New(rand.NewPCG(seed, 2))
		b := array.NewBooleanBuilder(mem)
		n := r.IntN(70)
		for range n {
			if r.IntN(4) == 0 {
				b.AppendNull()
			} else {
				b.Append(r.IntN(2) == 0)
			}
		}
		whole := b.NewBooleanArray()
		b.Release()
		lo := 0
		if n > 0 {
			lo = r.IntN(n + 1)
		}
		m := array.NewSlice(whole, int64(lo), int64(n)).(*array.Boolean)
		var want []int64
		for i := range m.Len() {
			if m.IsValid(i) && m.Value(i) {
				want = append(want, int64(i))
			}
		}
		got := maskIndices(m)
		if len(got) != len(want) {
			t.Fatalf("seed %d: %v, want %v", seed, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("seed %d: %v, want %v", seed, got, want)
			}
		}
		m.Release()
		whole.Release()
	}
}

func TestFastAndMatchesRows(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 3))
		n := 1 + r.IntN(200)
		is, fs, ss := make([]int64, n), make([]float64, n), make([]string, n)
		for i := range n {
			is[i], fs[i], ss[i] = int64(r.IntN(10)), float64(r.IntN(10))/2, string(rune('a'+r.IntN(4)))
		}
		ib, fb, sb := array.NewInt64Builder(mem), array.NewFloat64Builder(mem), array.NewStringBuilder(mem)
		ib.AppendValues(is, nil)
		fb.AppendValues(fs, nil)
		sb.AppendValues(ss, nil)
		schema := arrow.NewSchema([]arrow.Field{{Name: "i", Type: arrow.PrimitiveTypes.Int64}, {Name: "f", Type: arrow.PrimitiveTypes.Float64}, {Name: "s", Type: arrow.BinaryTypes.String}}, nil)
		cols := []arrow.Array{ib.NewArray(), fb.NewArray(), sb.NewArray()}
		rec := array.NewRecordBatch(schema, cols, int64(n))
		for _, c := range cols {
			c.Release()
		}
		ib.Release()
		fb.Release()
		sb.Release()
		e := And(Col("s").Eq("b"), Col("i").Gt(int64(3)), Col("f").Le(3.0))
		out, err := e.Eval(context.Background(), mem, rec)
		if err != nil {
			t.Fatal(err)
		}
		got := out.(*array.Boolean)
		for i := range n {
			want := ss[i] == "b" && is[i] > 3 && fs[i] <= 3
			if got.Value(i) != want || got.IsNull(i) {
				t.Fatalf("seed %d row %d: %v, want %v", seed, i, got.Value(i), want)
			}
		}
		out.Release()
		rec.Release()
	}
}
