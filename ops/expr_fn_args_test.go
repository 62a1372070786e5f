package ops

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// The function library's tests compare each function, evaluated a column
// at a time, with a plain row-by-row Go reference over a random block of
// every supported type holding nulls, NaN, ±Inf, empty and non-ASCII
// strings, extreme integers and dates before 1970.

const fnRows = 500

var (
	fnInts    = []int64{0, 1, -1, 7, -7, 15, -15, 25, -25, 149, -150, 12345, -98765, math.MaxInt64, math.MinInt64 + 1, 1 << 40}
	fnFloats  = []float64{0, math.Copysign(0, -1), 0.5, -0.5, 1.5, -2.5, 2.675, 3.14159, -1e300, 1e-300, math.NaN(), math.Inf(1), math.Inf(-1), 42, 1e15, -7.25}
	fnStrings = []string{"", "a", "Hello", "WORLD", "Straße", "Ärger über ÖL", "日本語テキスト", "ǅemal", "mixed CASE 123", "\xff\xfeinvalid", "abcabc", "ab", "çà", "İstanbul", " spaced  "}
	fnSubs    = []string{"", "a", "b", "ab", "abc", "ß", "語", "CASE", "x", " "}
	fnZones   = "America/New_York"
)

// fnBlock is a random block of the types the functions take; one row in
// about eight of each column is null.
func fnBlock(t testing.TB, mem memory.Allocator, seed uint64) arrow.RecordBatch {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	fields := []arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		{Name: "sub", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "small", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond}, Nullable: true},
		{Name: "tsz", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: fnZones}, Nullable: true},
		{Name: "tsn", Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "+05:30"}, Nullable: true},
		{Name: "d32", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "d64", Type: arrow.FixedWidthTypes.Date64, Nullable: true},
	}
	bld := array.NewRecordBuilder(mem, arrow.NewSchema(fields, nil))
	defer bld.Release()
	null := func() bool { return rng.IntN(8) == 0 }
	for range fnRows {
		for c := range fields {
			if null() {
				bld.Field(c).AppendNull()
				continue
			}
			// Instants from 1900 to 2100, so dates before 1970 and across
			// daylight saving changes come up.
			sec := rng.Int64N(200*365*86400) - 70*365*86400
			switch f := bld.Field(c).(type) {
			case *array.Int64Builder:
				if fields[c].Name == "small" {
					f.Append(rng.Int64N(13) - 6)
				} else if rng.IntN(3) == 0 {
					f.Append(rng.Int64() - rng.Int64())
				} else {
					f.Append(fnInts[rng.IntN(len(fnInts))])
				}
			case *array.Int32Builder:
				f.Append(int32(rng.Uint32()))
			case *array.Float64Builder:
				if rng.IntN(3) == 0 {
					f.Append(rng.NormFloat64() * 1000)
				} else {
					f.Append(fnFloats[rng.IntN(len(fnFloats))])
				}
			case *array.Float32Builder:
				f.Append(float32(rng.NormFloat64() * 100))
			case *array.StringBuilder:
				if fields[c].Name == "sub" {
					f.Append(fnSubs[rng.IntN(len(fnSubs))])
				} else {
					f.Append(fnStrings[rng.IntN(len(fnStrings))])
				}
			case *array.LargeStringBuilder:
				f.Append(fnStrings[rng.IntN(len(fnStrings))])
			case *array.BooleanBuilder:
				f.Append(rng.IntN(2) == 0)
			case *array.TimestampBuilder:
				unit := fields[c].Type.(*arrow.TimestampType).Unit
				f.Append(arrow.Timestamp(sec*perSecond[unit] + rng.Int64N(perSecond[unit])))
			case *array.Date32Builder:
				f.Append(arrow.Date32(floorDiv(sec, 86400)))
			case *array.Date64Builder:
				f.Append(arrow.Date64(floorDiv(sec, 86400) * 86_400_000))
			}
		}
	}
	return bld.NewRecordBatch()
}

// rowValue is row i of a column as a Go value: int64, float64, string,
// bool, time.Time (UTC, or the column's zone), or nil for null.
func rowValue(t *testing.T, a arrow.Array, i int) any {
	t.Helper()
	if _, ok := a.(*array.Null); ok || a.IsNull(i) {
		return nil
	}
	switch x := a.(type) {
	case *array.Int64:
		return x.Value(i)
	case *array.Int32:
		return int64(x.Value(i))
	case *array.Float64:
		return x.Value(i)
	case *array.Float32:
		return float64(x.Value(i))
	case *array.String:
		return x.Value(i)
	case *array.LargeString:
		return x.Value(i)
	case *array.Boolean:
		return x.Value(i)
	case *array.Timestamp:
		tt := x.DataType().(*arrow.TimestampType)
		tm := x.Value(i).ToTime(tt.Unit)
		if tt.TimeZone != "" {
			loc, err := zone(tt.TimeZone)
			if err != nil {
				t.Fatal(err)
			}
			tm = tm.In(loc)
		}
		return tm
	case *array.Duration:
		return int64(x.Value(i))
	case *array.Date32:
		return x.Value(i).ToTime()
	case *array.Date64:
		return x.Value(i).ToTime()
	}
	t.Fatalf("rowValue: %s not handled", a.DataType())
	return nil
}

// sameValue compares two row values; NaN equals NaN and -0 equals 0 only
// if both are (bit for bit) alike.
func sameValue(a, b any) bool {
	fa, okA := a.(float64)
	fb, okB := b.(float64)
	if okA && okB {
		return math.Float64bits(fa) == math.Float64bits(fb) || math.IsNaN(fa) && math.IsNaN(fb) || fa == fb
	}
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	return a == b
}

// checkFn evaluates e over b and compares every row with want, which
// gets the row values of the columns e reads (by name); want returns nil
// for null.
func checkFn(t *testing.T, mem memory.Allocator, b arrow.RecordBatch, e Expr, want func(row map[string]any) any) {
	t.Helper()
	typ, err := e.DataType(b.Schema())
	if err != nil {
		t.Fatalf("%s: DataType: %v", e, err)
	}
	got, err := e.Eval(context.Background(), mem, b)
	if err != nil {
		t.Fatalf("%s: %v", e, err)
	}
	defer got.Release()
	if !arrow.TypeEqual(got.DataType(), typ) {
		t.Fatalf("%s: evaluates to %s, DataType said %s", e, got.DataType(), typ)
	}
	if got.Len() != int(b.NumRows()) {
		t.Fatalf("%s: %d rows, want %d", e, got.Len(), b.NumRows())
	}
	cols := e.Columns()
	bad := 0
	for i := range got.Len() {
		row := map[string]any{}
		for _, c := range cols {
			arr, _ := exprColumn(b, c)
			row[c] = rowValue(t, arr, i)
		}
		w, g := want(row), rowValue(t, got, i)
		if !sameValue(w, g) {
			t.Errorf("%s row %d %v: got %#v, want %#v", e, i, row, g, w)
			if bad++; bad > 5 {
				t.FailNow()
			}
		}
	}
}

// checkConst evaluates e (all constants) and compares with want.
func checkConst(t *testing.T, e Expr, want any) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := fnBlock(t, mem, 9)
	defer b.Release()
	checkFn(t, mem, b, e, func(map[string]any) any { return want })
}

// withFnBlock runs fn over fresh random blocks and slices of them,
// checking that nothing leaks.
func withFnBlock(t *testing.T, fn func(mem memory.Allocator, b arrow.RecordBatch)) {
	t.Helper()
	for seed := range uint64(3) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		b := fnBlock(t, mem, seed)
		fn(mem, b)
		// A slice, whose arrays start at an offset into their buffers, and
		// no rows at all.
		for _, r := range [][2]int64{{7, 300}, {0, 0}, {fnRows, fnRows}} {
			part := b.NewSlice(r[0], r[1])
			fn(mem, part)
			part.Release()
		}
		b.Release()
		mem.AssertSize(t, 0)
	}
}

// checkRoundTrip checks that e survives the codec and gives the same rows.
func checkRoundTrip(t *testing.T, e Expr) {
	t.Helper()
	back := roundTrip(t, e)
	if back.String() != e.String() {
		t.Fatalf("round trip: %s became %s", e, back)
	}
	withFnBlock(t, func(mem memory.Allocator, b arrow.RecordBatch) {
		want, err := e.Eval(context.Background(), mem, b)
		if err != nil {
			t.Fatal(err)
		}
		defer want.Release()
		got, err := back.Eval(context.Background(), mem, b)
		if err != nil {
			t.Fatal(err)
		}
		defer got.Release()
		if !array.Equal(want, got) && !strings.Contains(e.String(), "NaN") {
			for i := range want.Len() {
				if !sameValue(rowValue(t, want, i), rowValue(t, got, i)) {
					t.Fatalf("round trip of %s differs at row %d", e, i)
				}
			}
		}
	})
}

// checkTypeError checks that e is refused at plan time with a message
// containing want.
func checkTypeError(t *testing.T, e Expr, want string) {
	t.Helper()
	mem := memory.NewGoAllocator()
	b := fnBlock(t, mem, 1)
	defer b.Release()
	_, err := e.DataType(b.Schema())
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: DataType error %v, want one saying %q", e, err, want)
	}
}
