package ops

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func exprBlock(t *testing.T, mem memory.Allocator) arrow.RecordBatch {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64},
		{Name: "s", Type: arrow.BinaryTypes.String},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean},
	}, nil)
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	bld.Field(0).(*array.Int32Builder).AppendValues([]int32{1, 2, 3, 0}, []bool{true, true, true, false})
	bld.Field(1).(*array.Float64Builder).AppendValues([]float64{0.5, 2.5, math.NaN(), -1}, nil)
	bld.Field(2).(*array.StringBuilder).AppendValues([]string{"a", "b", "c", "d"}, nil)
	bld.Field(3).(*array.BooleanBuilder).AppendValues([]bool{true, false, true, false}, nil)
	return bld.NewRecordBatch()
}

func TestExprEval(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := exprBlock(t, mem)
	defer b.Release()
	cases := []struct {
		e    Expr
		want string // one char per row: 1 true, 0 false, n null
	}{
		{Col("i").Gt(1), "011n"},
		{Col("i").Eq(2), "010n"},
		{Col("i").Ge(int64(2)), "011n"},
		{Col("i").Lt(2.5), "110n"}, // an integer column against a fraction compares as floats
		{Col("f").Le(2.5), "1101"}, // NaN compares false
		{Col("f").Ne(0.5), "0111"},
		{Col("s").Eq("c"), "0010"},
		{Col("s").Ge("b"), "0111"},
		{Col("b").Eq(true), "1010"},
		{Col("i").IsNull(), "0001"},
		{Col("i").IsNotNull(), "1110"},
		{Col("i").In(1, 3), "101n"},
		{Col("i").Lt(int64(1) << 40), "111n"}, // too large for int32: compared as int64
		{Col("i").Gt(-(int64(1) << 40)), "111n"},
		{And(Col("i").Gt(1), Col("s").Ne("c")), "010n"},
		{And(Col("i").Gt(1), Col("s").Eq("a")), "0000"}, // false AND null is false
		{Or(Col("i").Gt(2), Col("s").Eq("d")), "0011"},  // null OR true is true
	}
	for _, c := range cases {
		got, err := c.e.Eval(context.Background(), mem, b)
		if err != nil {
			t.Fatalf("%s: %v", c.e, err)
		}
		var sb strings.Builder
		bools := got.(*array.Boolean)
		for i := range bools.Len() {
			switch {
			case bools.IsNull(i):
				sb.WriteByte('n')
			case bools.Value(i):
				sb.WriteByte('1')
			default:
				sb.WriteByte('0')
			}
		}
		got.Release()
		if sb.String() != c.want {
			t.Errorf("%s: got %s, want %s", c.e, sb.String(), c.want)
		}
	}
}

func TestExprEvalErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := exprBlock(t, mem)
	defer b.Release()
	for _, c := range []struct {
		e    Expr
		want string
	}{
		{Col("nope").Eq(1), `unknown column "nope"`},
		{Col("s").Gt(1), `column "s" is utf8, which cannot be compared with int`},
		{Col("i").Eq(struct{}{}), "unsupported constant"},
	} {
		got, err := c.e.Eval(context.Background(), mem, b)
		if err == nil {
			got.Release()
			t.Errorf("%s: no error", c.e)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not say %q", c.e, err, c.want)
		}
	}
}

func TestFilterBlock(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := exprBlock(t, mem)
	defer b.Release()
	out, err := FilterBlock(context.Background(), mem, Col("i").Ge(2), b)
	if err != nil {
		t.Fatal(err)
	}
	if out.NumRows() != 2 || out.Column(2).(*array.String).Value(0) != "b" {
		t.Errorf("got %d rows", out.NumRows())
	}
	out.Release()
	all, err := FilterBlock(context.Background(), mem, Col("f").Ge(-1.0), b)
	if err == nil {
		all.Release()
	}
}

func TestExprMayMatch(t *testing.T) {
	stats := func(min, max any, nulls int64) StatsFunc {
		return func(string) (any, any, int64, bool) { return min, max, nulls, true }
	}
	unknown := func(string) (any, any, int64, bool) { return nil, nil, -1, false }
	cases := []struct {
		e     Expr
		stats StatsFunc
		want  bool
	}{
		{Col("x").Gt(10), stats(int64(0), int64(10), 0), false},
		{Col("x").Gt(9), stats(int64(0), int64(10), 0), true},
		{Col("x").Ge(10), stats(int64(0), int64(10), 0), true},
		{Col("x").Lt(0), stats(int64(0), int64(10), 0), false},
		{Col("x").Le(0), stats(int64(0), int64(10), 0), true},
		{Col("x").Eq(11), stats(int64(0), int64(10), 0), false},
		{Col("x").Eq(5), stats(int64(0), int64(10), 0), true},
		{Col("x").Ne(5), stats(int64(5), int64(5), 0), false},
		{Col("x").Gt(2.5), stats(int64(0), int64(2), 0), false}, // int stats, float constant
		{Col("x").Gt(1), stats(0.5, 1.0, 0), false},
		{Col("x").Eq("m"), stats("a", "k", 0), false},
		{Col("x").Eq("c"), stats("a", "k", 0), true},
		{Col("x").Eq(true), stats(false, false, 0), false},
		{Col("x").Gt(10), unknown, true},
		{Col("x").Gt("a"), stats(int64(0), int64(10), 0), true}, // incomparable: keep
		{Col("x").IsNull(), stats(int64(0), int64(10), 0), false},
		{Col("x").IsNull(), stats(int64(0), int64(10), 3), true},
		{Col("x").IsNotNull(), stats(nil, nil, 7), false},
		{Col("x").Eq(1), stats(nil, nil, 7), false}, // all null: no comparison holds
		{Col("x").Ne(1), stats(nil, nil, 7), false},
		{And(Col("x").Gt(5), Col("x").Lt(3)), stats(int64(0), int64(10), 0), true},
		{And(Col("x").Gt(50), Col("x").Lt(3)), stats(int64(0), int64(10), 0), false},
		{Or(Col("x").Gt(50), Col("x").Lt(-3)), stats(int64(0), int64(10), 0), false},
		{Or(Col("x").Gt(50), Col("x").Lt(3)), stats(int64(0), int64(10), 0), true},
		{Col("x").In(20, 30), stats(int64(0), int64(10), 0), false},
	}
	for _, c := range cases {
		if got := c.e.MayMatch(c.stats); got != c.want {
			t.Errorf("%s: MayMatch = %v, want %v", c.e, got, c.want)
		}
	}
}

func TestExprString(t *testing.T) {
	e := And(Col("a").Gt(1), Or(Col("b").Eq("x"), Col("c").IsNull()))
	if got, want := e.String(), `a > 1 AND (b = 'x' OR c IS NULL)`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got := e.Columns(); strings.Join(got, ",") != "a,b,c" {
		t.Errorf("columns %v", got)
	}
}

func TestCmpTimes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	base := time.Date(2024, 1, 5, 13, 0, 0, 0, time.UTC)
	tsType := &arrow.TimestampType{Unit: arrow.Microsecond}
	schema := arrow.NewSchema([]arrow.Field{{Name: "ts", Type: tsType}, {Name: "d", Type: arrow.FixedWidthTypes.Date32}}, nil)
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	for h := range 4 {
		v, _ := arrow.TimestampFromTime(base.Add(time.Duration(h)*time.Hour), arrow.Microsecond)
		bld.Field(0).(*array.TimestampBuilder).Append(v)
		bld.Field(1).(*array.Date32Builder).Append(arrow.Date32FromTime(base.AddDate(0, 0, h)))
	}
	rec := bld.NewRecordBatch()
	defer rec.Release()
	for _, tc := range []struct {
		e    Expr
		want []bool
	}{
		{Col("ts").Ge(base.Add(2 * time.Hour)), []bool{false, false, true, true}},
		{Col("ts").Lt(base.Add(90 * time.Minute)), []bool{true, true, false, false}},
		{Col("d").Eq(base.AddDate(0, 0, 1)), []bool{false, true, false, false}},
	} {
		out, err := tc.e.Eval(context.Background(), mem, rec)
		if err != nil {
			t.Fatalf("%s: %v", tc.e, err)
		}
		b := out.(*array.Boolean)
		for i, w := range tc.want {
			if b.Value(i) != w {
				t.Errorf("%s row %d = %v, want %v", tc.e, i, b.Value(i), w)
			}
		}
		out.Release()
	}
	if _, err := Col("ts").Gt("noon").Eval(context.Background(), mem, rec); err == nil {
		t.Error("a timestamp compared with a string was accepted")
	}
}
