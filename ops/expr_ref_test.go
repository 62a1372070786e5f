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
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// refBlock is a block of random columns and their values as Go (nil for
// null): ints i and j (int64, small enough not to overflow), k (int32),
// floats f and g (with NaN and ±Inf), strings s and t (empty and non-ASCII
// among them).
type refBlock struct {
	b    arrow.RecordBatch
	vals map[string][]any
}

func newRefBlock(t *testing.T, mem memory.Allocator, rng *rand.Rand, n int) refBlock {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "j", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "k", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "g", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "t", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	vals := map[string][]any{}
	null := func() bool { return rng.IntN(6) == 0 }
	specialFloats := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 1e308}
	strs := []string{"", "a", "b", "ab", "Ünï", "日本", "zz", "A"}
	for r := 0; r < n; r++ {
		for _, c := range []string{"i", "j"} {
			fb := bld.Field(schema.FieldIndices(c)[0]).(*array.Int64Builder)
			if null() {
				fb.AppendNull()
				vals[c] = append(vals[c], nil)
				continue
			}
			v := rng.Int64N(2_000_001) - 1_000_000
			if rng.IntN(5) == 0 {
				v = rng.Int64N(5) - 2 // zeros and small divisors
			}
			fb.Append(v)
			vals[c] = append(vals[c], v)
		}
		kb := bld.Field(2).(*array.Int32Builder)
		if null() {
			kb.AppendNull()
			vals["k"] = append(vals["k"], nil)
		} else {
			v := int32(rng.IntN(201) - 100)
			kb.Append(v)
			vals["k"] = append(vals["k"], int64(v))
		}
		for idx, c := range []string{"f", "g"} {
			fb := bld.Field(3 + idx).(*array.Float64Builder)
			if null() {
				fb.AppendNull()
				vals[c] = append(vals[c], nil)
				continue
			}
			v := rng.NormFloat64() * 1000
			if rng.IntN(8) == 0 {
				v = specialFloats[rng.IntN(len(specialFloats))]
			}
			fb.Append(v)
			vals[c] = append(vals[c], v)
		}
		for idx, c := range []string{"s", "t"} {
			sb := bld.Field(5 + idx).(*array.StringBuilder)
			if null() {
				sb.AppendNull()
				vals[c] = append(vals[c], nil)
				continue
			}
			v := strs[rng.IntN(len(strs))]
			sb.Append(v)
			vals[c] = append(vals[c], v)
		}
	}
	return refBlock{b: bld.NewRecordBatch(), vals: vals}
}

// operandVals is an operand's value in each row: a column's, or a constant.
func (rb refBlock) operandVals(e Expr, n int) []any {
	if c, ok := ColumnName(e); ok {
		return rb.vals[c]
	}
	v, _ := LiteralValue(e)
	v, _ = literal(v)
	out := make([]any, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// gotValues is an array's values as Go (nil for null).
func gotValues(a arrow.Array) []any {
	out := make([]any, a.Len())
	for i := range out {
		if a.IsNull(i) {
			continue
		}
		switch x := a.(type) {
		case *array.Int64:
			out[i] = x.Value(i)
		case *array.Float64:
			out[i] = x.Value(i)
		case *array.Boolean:
			out[i] = x.Value(i)
		case *array.String:
			out[i] = x.Value(i)
		}
	}
	return out
}

// TestArithmeticAgainstReference computes +, -, *, / and % over random
// columns (and constants on either side) and checks each row against the
// SQL rules written out row by row: null in, null out; two integers give
// an int64 (a division by zero null); anything with a float gives float64.
func TestArithmeticAgainstReference(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 3000
	rb := newRefBlock(t, mem, rng, n)
	defer rb.b.Release()
	operands := []Expr{Col("i"), Col("j"), Col("k"), Col("f"), Col("g"), Lit(7), Lit(-2.5), Lit(0), Lit(int32(3))}
	ops := []struct {
		name  string
		build func(l, r Expr) Expr
		op    arithOp
	}{
		{"+", func(l, r Expr) Expr { return l.Add(r) }, opAdd},
		{"-", func(l, r Expr) Expr { return l.Sub(r) }, opSub},
		{"*", func(l, r Expr) Expr { return l.Mul(r) }, opMul},
		{"/", func(l, r Expr) Expr { return l.Div(r) }, opDiv},
		{"%", func(l, r Expr) Expr { return l.Mod(r) }, opMod},
	}
	for _, o := range ops {
		for _, l := range operands {
			for _, r := range operands {
				if _, lc := ColumnName(l); !lc {
					if _, rc := ColumnName(r); !rc {
						continue // constants on both sides are folded; tested apart
					}
				}
				e := o.build(l, r)
				got, err := e.Eval(context.Background(), mem, rb.b)
				if err != nil {
					t.Fatalf("%s: %v", e, err)
				}
				lv, rv := rb.operandVals(l, n), rb.operandVals(r, n)
				gv := gotValues(got)
				for row := range n {
					want := refArith(o.op, lv[row], rv[row])
					if g := gv[row]; !sameValue(g, want) {
						t.Fatalf("%s row %d (%v %s %v): got %v (%T), want %v (%T)", e, row, lv[row], o.name, rv[row], g, g, want, want)
					}
				}
				got.Release()
			}
		}
	}
}

func refArith(op arithOp, a, b any) any {
	if a == nil || b == nil {
		return nil
	}
	ai, aInt := a.(int64)
	bi, bInt := b.(int64)
	if aInt && bInt {
		v, null, err := intOp(op, ai, bi)
		if err != nil || null {
			return nil
		}
		return v
	}
	x, _ := asFloat(a)
	y, _ := asFloat(b)
	return floatOp(op, x, y)
}

// TestComparisonsAgainstReference compares random columns with columns
// and constants of every kind: null where a side is null, IEEE for floats
// (NaN equals nothing), integers with floats as floats.
func TestComparisonsAgainstReference(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 2000
	rb := newRefBlock(t, mem, rng, n)
	defer rb.b.Release()
	numeric := []Expr{Col("i"), Col("j"), Col("k"), Col("f"), Col("g"), Lit(0), Lit(1.5), Lit(math.Inf(1))}
	strs := []Expr{Col("s"), Col("t"), Lit(""), Lit("ab")}
	check := func(operands []Expr) {
		for op := Eq; op <= Ge; op++ {
			for _, l := range operands {
				for _, r := range operands {
					e := compare(op, l, r)
					if len(e.Columns()) == 0 {
						continue
					}
					got, err := e.Eval(context.Background(), mem, rb.b)
					if err != nil {
						t.Fatalf("%s: %v", e, err)
					}
					lv, rv := rb.operandVals(l, n), rb.operandVals(r, n)
					gv := gotValues(got)
					for row := range n {
						if want := refCompare(op, lv[row], rv[row]); gv[row] != want {
							t.Fatalf("%s row %d (%v, %v): got %v, want %v", e, row, lv[row], rv[row], gv[row], want)
						}
					}
					got.Release()
				}
			}
		}
	}
	check(numeric)
	check(strs)
}

func refCompare(op CmpOp, a, b any) any {
	if a == nil || b == nil {
		return nil
	}
	if as, ok := a.(string); ok {
		return holds(op, strings.Compare(as, b.(string)))
	}
	ai, aInt := a.(int64)
	bi, bInt := b.(int64)
	if aInt && bInt {
		return holds(op, cmp3(ai, bi))
	}
	x, _ := asFloat(a)
	y, _ := asFloat(b)
	if math.IsNaN(x) || math.IsNaN(y) {
		return op == Ne
	}
	return holds(op, cmp3(x, y))
}

// TestIntegerOverflowIsAnError checks that +, -, * and unary minus name
// the expression and the row instead of wrapping, that a row the filter
// before it dropped does not count, and that nulls never do.
func TestIntegerOverflowIsAnError(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
	bld := array.NewInt64Builder(mem)
	bld.AppendValues([]int64{1, math.MaxInt64, math.MinInt64, 3_037_000_500, 0}, []bool{true, true, true, true, false})
	col := bld.NewArray()
	bld.Release()
	b := array.NewRecordBatch(schema, []arrow.Array{col}, 5)
	col.Release()
	defer b.Release()
	for _, c := range []struct {
		e   Expr
		row string
	}{
		{Col("x").Add(1), "row 1"},
		{Col("x").Sub(1), "row 2"},
		{Col("x").Mul(Col("x")), "row 1"},
		{Col("x").Mul(-1), "row 2"},
		{Col("x").Neg(), "row 2"},
		{Col("x").Div(-1), "row 2"},
	} {
		_, err := c.e.Eval(context.Background(), mem, b)
		if err == nil || !strings.Contains(err.Error(), "overflow") || !strings.Contains(err.Error(), c.row) || !strings.Contains(err.Error(), c.e.String()) {
			t.Errorf("%s: error %v, want an overflow naming the expression and %s", c.e, err, c.row)
		}
	}
	// Within range: 3037000500 squared does not fit, but a product of
	// values below 2^31 always does; the null row never fails.
	p := Program{{Kind: StepFilter, Expr: Col("x").Between(-10, 10)}, {Kind: StepWith, Name: "y", Expr: Col("x").Mul(Col("x")).Add(1)}}
	out, err := p.run(context.Background(), mem, b)
	if err != nil {
		t.Fatalf("overflowing rows were filtered out first: %v", err)
	}
	defer out.Release()
	if out.NumRows() != 1 {
		t.Fatalf("kept %d rows, want 1", out.NumRows())
	}
	// x % -1 is 0, even for MinInt64; x / 0 and x % 0 are null.
	for _, e := range []Expr{Col("x").Mod(-1), Col("x").Div(0), Col("x").Mod(0)} {
		got, err := e.Eval(context.Background(), mem, b)
		if err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		want := "[0 0 0 0 (null)]"
		if !strings.Contains(e.String(), "-1") {
			want = "[(null) (null) (null) (null) (null)]"
		}
		if got.String() != want {
			t.Errorf("%s = %s, want %s", e, got, want)
		}
		got.Release()
	}
}

// TestTypeErrorsAtPlanTime checks DataType on a schema: operands that do
// not fit are refused with the expression, the column and both types.
func TestTypeErrorsAtPlanTime(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "name", Type: arrow.BinaryTypes.String},
		{Name: "n", Type: arrow.PrimitiveTypes.Int32},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean},
	}, nil)
	for _, c := range []struct {
		e    Expr
		want []string
	}{
		{Col("name").Add(1), []string{"name + 1", "column name is utf8", "int64"}},
		{Col("n").Gt(Col("name")), []string{"n > name", "column n is int32", "column name is utf8"}},
		{Col("n").Eq("x"), []string{"n = 'x'", "int32", "utf8"}},
		{Col("n").And(Col("ok")), []string{"needs a boolean", "column n is int32"}},
		{Col("name").Neg(), []string{"cannot negate", "utf8"}},
		{Col("nope").Add(1), []string{`unknown column "nope"`, "name, n, ok"}},
		{Col("ok").Add(1), []string{"cannot add", "column ok is bool"}},
		{Call("no_such_fn", Col("n")), []string{`unknown function "no_such_fn"`}},
		{Col("n").Add(Expr{}), []string{"no expression"}},
		{Col("n").Add([]int{1}), []string{"unsupported constant"}},
	} {
		_, err := c.e.DataType(schema)
		if err == nil {
			t.Errorf("%s: no error", c.e)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.e, err, w)
			}
		}
	}
	for _, e := range []Expr{Col("n").Add(1.5), Col("n").Div(Col("n")), Col("name").Ge(Col("name")), Col("ok").Not().Or(Col("n").IsNull()), Col("n").Eq(nil), Col("n").Cast(arrow.BinaryTypes.String)} {
		if _, err := e.DataType(schema); err != nil {
			t.Errorf("%s: %v", e, err)
		}
	}
}

// TestNullSemantics checks three-valued logic and nulls through every
// operator: a comparison with NULL is null (a filter drops the row), false
// AND null is false, true OR null is true, NOT null is null, IS NULL is
// never null.
func TestNullSemantics(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := exprBlock(t, mem) // i: 1 2 3 null; b: T F T F
	defer b.Release()
	for _, c := range []struct {
		e    Expr
		want string
	}{
		{Col("i").Eq(nil), "nnnn"},
		{Col("i").Gt(Col("i")), "000n"},
		{Col("i").Ge(Col("i")), "111n"},
		{Col("i").Gt(1).And(Col("b")), "0010"},
		{Col("i").Gt(1).Or(Col("b")), "111n"},
		{Col("i").Gt(5).Or(Col("b")), "101n"},
		{Col("i").Gt(5).Not(), "111n"},
		{Col("i").Add(1).IsNull(), "0001"},
		{Col("i").Add(Lit(nil)).IsNull(), "1111"},
		{Lit(nil).Eq(1).IsNull().And(Col("b")), "1010"},
		{Col("i").Between(2, 3), "011n"},
		{Col("i").IsIn(3, Col("i").Add(0)), "111n"},
	} {
		got, err := c.e.Eval(context.Background(), mem, b)
		if err != nil {
			t.Fatalf("%s: %v", c.e, err)
		}
		if s := boolString(got); s != c.want {
			t.Errorf("%s = %s, want %s", c.e, s, c.want)
		}
		got.Release()
	}
}

func boolString(a arrow.Array) string {
	var sb strings.Builder
	for i := range a.Len() {
		switch {
		case a.IsNull(i):
			sb.WriteByte('n')
		case a.(*array.Boolean).Value(i):
			sb.WriteByte('1')
		default:
			sb.WriteByte('0')
		}
	}
	return sb.String()
}

// TestTimeColumns compares and subtracts timestamp columns of different
// units and date columns: col against col, against a time constant, a
// duration of two timestamps, days between two dates.
func TestTimeColumns(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sec := &arrow.TimestampType{Unit: arrow.Second, TimeZone: "UTC"}
	ms := &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "pickup", Type: sec, Nullable: true}, {Name: "dropoff", Type: ms, Nullable: true},
		{Name: "d1", Type: arrow.FixedWidthTypes.Date32, Nullable: true}, {Name: "d2", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	}, nil)
	t0 := time.Date(2024, 1, 5, 13, 0, 0, 0, time.UTC)
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	pu := bld.Field(0).(*array.TimestampBuilder)
	do := bld.Field(1).(*array.TimestampBuilder)
	d1 := bld.Field(2).(*array.Date32Builder)
	d2 := bld.Field(3).(*array.Date32Builder)
	for i, mins := range []int{30, -5, 0, 90} {
		p := t0.Add(time.Duration(i) * time.Hour)
		pu.Append(arrow.Timestamp(p.Unix()))
		if i == 2 {
			do.AppendNull()
		} else {
			do.Append(arrow.Timestamp(p.Add(time.Duration(mins) * time.Minute).UnixMilli()))
		}
		d1.Append(arrow.Date32FromTime(p.AddDate(0, 0, i)))
		d2.Append(arrow.Date32FromTime(t0))
	}
	b := bld.NewRecordBatch()
	defer b.Release()
	check := func(e Expr, want string) {
		t.Helper()
		got, err := e.Eval(context.Background(), mem, b)
		if err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		defer got.Release()
		s := got.String()
		if _, isBool := got.(*array.Boolean); isBool {
			s = boolString(got)
		}
		if s != want {
			t.Errorf("%s = %s, want %s", e, s, want)
		}
	}
	check(Col("dropoff").Gt(Col("pickup")), "10n1")
	check(Col("pickup").Ge(t0.Add(time.Hour)), "0111")
	check(Col("dropoff").Sub(Col("pickup")), "[1800000 -300000 (null) 5400000]")
	check(Col("d1").Sub(Col("d2")), "[0 1 2 3]")
	check(Col("d1").Gt(Col("d2")), "0111")
	if typ, err := Col("dropoff").Sub(Col("pickup")).DataType(schema); err != nil || typ.String() != "duration[ms]" {
		t.Errorf("timestamp - timestamp is %v (%v), want duration[ms]", typ, err)
	}
}

// TestDecimalColumns computes and compares a decimal column (as TPC-H
// files from other engines have) as float64.
func TestDecimalColumns(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dt := &arrow.Decimal128Type{Precision: 15, Scale: 2}
	bld := array.NewDecimal128Builder(mem, dt)
	for _, v := range []int64{1050, 2399, -1} { // 10.50, 23.99, -0.01
		bld.Append(decimal128.FromI64(v))
	}
	bld.AppendNull()
	col := bld.NewArray()
	bld.Release()
	b := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "price", Type: dt, Nullable: true}}, nil), []arrow.Array{col}, 4)
	col.Release()
	defer b.Release()
	for _, c := range []struct {
		e    Expr
		want string
	}{
		{Col("price").Gt(10.5), "010n"},
		{Col("price").Le(10), "001n"},
		{Col("price").Mul(2).Gt(Col("price").Add(20)), "010n"},
	} {
		got, err := c.e.Eval(context.Background(), mem, b)
		if err != nil {
			t.Fatalf("%s: %v", c.e, err)
		}
		if s := boolString(got); s != c.want {
			t.Errorf("%s = %s, want %s", c.e, s, c.want)
		}
		got.Release()
	}
	got, err := Col("price").Mul(Lit(1).Sub(0.75)).Eval(context.Background(), mem, b)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	vals := got.(*array.Float64).Float64Values()
	for i, w := range []float64{2.625, 5.9975, -0.0025} {
		if math.Abs(vals[i]-w) > 1e-12 || got.IsNull(i) {
			t.Errorf("price * (1 - 0.75) = %s, want %v at %d", got, w, i)
		}
	}
	if !got.IsNull(3) {
		t.Errorf("null price gave %s", got)
	}
}

// TestNestedArithmeticAgainstReference builds random arithmetic trees
// three deep over float and integer columns and constants (float trees
// run a chunk of rows at a time, integer parts as integers) and checks
// every row against the rules applied node by node.
func TestNestedArithmeticAgainstReference(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(9, 9))
	const n = 2500 // more than two chunks
	rb := newRefBlock(t, mem, rng, n)
	defer rb.b.Release()
	leaves := []Expr{Col("f"), Col("g"), Col("i"), Col("k"), Lit(1.08), Lit(3), Lit(-0.5)}
	var build func(depth int) Expr
	build = func(depth int) Expr {
		if depth == 0 || rng.IntN(4) == 0 {
			return leaves[rng.IntN(len(leaves))]
		}
		l, r := build(depth-1), build(depth-1)
		return arith(arithOp(rng.IntN(5)), l, r)
	}
	var ref func(e Expr, row int) any
	ref = func(e Expr, row int) any {
		if a, ok := e.n.(*arithNode); ok {
			return refArith(a.op, ref(a.l, row), ref(a.r, row))
		}
		if c, ok := ColumnName(e); ok {
			return rb.vals[c][row]
		}
		v, _ := LiteralValue(e)
		v, _ = literal(v)
		return v
	}
	for range 300 {
		e := build(3)
		if _, ok := e.n.(*arithNode); !ok {
			continue
		}
		got, err := e.Eval(context.Background(), mem, rb.b)
		if err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		gv := gotValues(got)
		for row := range n {
			if want := ref(e, row); !sameValue(gv[row], want) {
				t.Fatalf("%s row %d: got %v, want %v", e, row, gv[row], want)
			}
		}
		got.Release()
	}
}

// TestSlicedBlocks evaluates every kind of node over a block that starts
// at an offset into its buffers (as Limit and splits make them): the same
// values as over the whole block, shifted.
func TestSlicedBlocks(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rb := newRefBlock(t, mem, rand.New(rand.NewPCG(11, 11)), 300)
	defer rb.b.Release()
	sliced := rb.b.NewSlice(37, 300)
	defer sliced.Release()
	for _, e := range []Expr{
		Col("i").Add(Col("j")).Mul(2), Col("f").Mul(1.5).Add(Col("g")).Sub(Col("k")),
		Col("i").Div(Col("j")), Col("k").Mod(3), Col("i").Neg(),
		Col("f").Gt(Col("g")), Col("i").Le(Col("k")), Col("s").Eq(Col("t")), Col("s").Lt("b"),
		Col("i").Gt(0).And(Col("f").Lt(0)).Or(Col("s").IsNull()), Col("i").IsNull().Not(),
		Col("k").Cast(arrow.PrimitiveTypes.Float64), Col("i").Between(-5, 5),
	} {
		whole, err := e.Eval(context.Background(), mem, rb.b)
		if err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		part, err := e.Eval(context.Background(), mem, sliced)
		if err != nil {
			t.Fatalf("%s over a slice: %v", e, err)
		}
		want := array.NewSlice(whole, 37, 300)
		if !array.ApproxEqual(want, part, array.WithNaNsEqual(true)) {
			t.Errorf("%s over a slice:\n got %v\nwant %v", e, part, want)
		}
		want.Release()
		whole.Release()
		part.Release()
	}
}
