package ops

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/exec"
)

func roundTrip(t *testing.T, e Expr) Expr {
	t.Helper()
	data, err := MarshalExpr(e)
	if err != nil {
		t.Fatalf("MarshalExpr(%s): %v", e, err)
	}
	back, err := UnmarshalExpr(data)
	if err != nil {
		t.Fatalf("UnmarshalExpr(%s): %v", data, err)
	}
	return back
}

// TestExprCodecLiterals round-trips a comparison with a constant of every
// type Cmp accepts: the decoded constant has the same Go type and value.
func TestExprCodecLiterals(t *testing.T) {
	oslo, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		oslo = time.FixedZone("CET", 3600)
	}
	for _, v := range []any{
		0, -7, math.MaxInt64, math.MinInt64, int8(-128), int16(32767), int32(-5), int64(math.MinInt64),
		uint(7), uint8(255), uint16(65535), uint32(math.MaxUint32), uint64(math.MaxUint64),
		float32(1.5), float32(math.MaxFloat32), float32(math.SmallestNonzeroFloat32), float32(math.Inf(-1)),
		0.1, math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1), math.Copysign(0, -1),
		"", "Oslo", `quote " and \ and ünïcödé`, true, false,
		time.Date(2024, 3, 1, 12, 30, 0, 123456789, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2024, 7, 1, 8, 0, 0, 0, oslo),
	} {
		for op := Eq; op <= Ge; op++ {
			e := Expr{&Cmp{Column: "c", Op: op, Value: v}}
			back := roundTrip(t, e)
			c, ok := back.n.(*Cmp)
			if !ok {
				t.Fatalf("%v: decoded a %T", v, back)
			}
			if c.Column != "c" || c.Op != op || reflect.TypeOf(c.Value) != reflect.TypeOf(v) {
				t.Fatalf("%v (%T): decoded %#v", v, v, c)
			}
			if tv, isTime := v.(time.Time); isTime {
				if !tv.Equal(c.Value.(time.Time)) || back.String() != e.String() {
					t.Fatalf("time %v decoded as %v", tv, c.Value)
				}
				continue
			}
			if !reflect.DeepEqual(c.Value, v) {
				t.Fatalf("%v (%T) decoded as %v", v, v, c.Value)
			}
		}
	}
	// NaN equals nothing, itself included: check it stays NaN.
	back := roundTrip(t, Col("f").Gt(math.NaN())).n.(*Cmp)
	if f, ok := back.Value.(float64); !ok || !math.IsNaN(f) {
		t.Fatalf("NaN decoded as %v", back.Value)
	}
	if f, ok := roundTrip(t, Col("f").Gt(float32(math.NaN()))).n.(*Cmp).Value.(float32); !ok || !math.IsNaN(float64(f)) {
		t.Fatal("float32 NaN lost")
	}
}

// TestExprCodecTrees round-trips nested predicates: same structure, same
// rendering, same results on a block.
func TestExprCodecTrees(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := exprBlock(t, mem)
	defer b.Release()
	for _, e := range []Expr{
		Col("i").Eq(2),
		Col("i").IsNull(),
		Col("i").IsNotNull(),
		Col("s").In("a", "c", "zz"),
		And(Col("f").Gt(0.1), Col("s").Ne("b"), Or(Col("b").Eq(true), Col("i").Lt(uint16(3)))),
		Or(And(Col("i").Ge(int8(1)), Col("i").Le(int64(2))), Col("f").Lt(float32(0))),
		And(),
		Or(),
		And(Or(Col("i").IsNull()), And(Col("b").Ne(false))),
	} {
		back := roundTrip(t, e)
		if !reflect.DeepEqual(back, e) {
			t.Errorf("%s decoded as %s (%#v)", e, back, back)
		}
		if back.String() != e.String() {
			t.Errorf("%s renders as %s", e, back)
		}
		want, err := e.Eval(context.Background(), mem, b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := back.Eval(context.Background(), mem, b)
		if err != nil {
			t.Fatal(err)
		}
		if !array.Equal(want, got) {
			t.Errorf("%s: decoded predicate gives %v, want %v", e, got, want)
		}
		want.Release()
		got.Release()
	}
	if e := roundTrip(t, Expr{}); !e.IsZero() {
		t.Fatalf("nil decoded as %v", e)
	}
}

// TestExprCodecTimeEval checks that a time constant compares the same
// instants after the trip, on timestamp and date columns.
func TestExprCodecTimeEval(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32},
	}, nil)
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 48 {
		at := base.Add(time.Duration(i) * 7 * time.Hour)
		bld.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(at.UnixMicro()))
		bld.Field(1).(*array.Date32Builder).Append(arrow.Date32FromTime(at))
	}
	b := bld.NewRecordBatch()
	defer b.Release()
	zone := time.FixedZone("", -5*3600)
	for _, e := range []Expr{
		Col("ts").Gt(base.Add(100 * time.Hour).In(zone)),
		Col("d").Le(base.AddDate(0, 0, 5)),
		And(Col("ts").Ge(base.Add(30*time.Hour+time.Nanosecond)), Col("d").Ne(base.AddDate(0, 0, 3))),
	} {
		back := roundTrip(t, e)
		want, err := e.Eval(context.Background(), mem, b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := back.Eval(context.Background(), mem, b)
		if err != nil {
			t.Fatal(err)
		}
		if !array.Equal(want, got) {
			t.Errorf("%s: decoded predicate gives %v, want %v", e, got, want)
		}
		want.Release()
		got.Release()
	}
}

func TestExprCodecErrors(t *testing.T) {
	for _, e := range []Expr{
		Col("x").Eq([]int{1}),
		Expr{&Cmp{Column: "x", Op: CmpOp(9), Value: 1}},
		And(Col("x").Eq(1), Expr{}),
	} {
		if _, err := MarshalExpr(e); err == nil {
			t.Errorf("MarshalExpr(%#v) succeeded", e)
		}
	}
	for _, data := range []string{
		`{`,
		`{"op":"nope"}`,
		`{"op":"cmp","col":"x","cmp":"~","value":{"type":"int","v":"1"}}`,
		`{"op":"cmp","col":"x","cmp":"="}`,
		`{"op":"cmp","col":"x","cmp":"=","value":{"type":"int8","v":"300"}}`,
		`{"op":"cmp","col":"x","cmp":"=","value":{"type":"complex","v":"1"}}`,
		`{"op":"cmp","col":"x","cmp":"=","value":{"type":"time","v":"yesterday"}}`,
		`{"op":"and","terms":[null]}`,
	} {
		if e, err := UnmarshalExpr([]byte(data)); err == nil {
			t.Errorf("UnmarshalExpr(%s) = %v, want an error", data, e)
		}
	}
	// The JSON form is stable and readable.
	data, _ := MarshalExpr(And(Col("fare").Gt(10), Col("tip").IsNull()))
	const want = `{"op":"and","terms":[{"op":"cmp","col":"fare","cmp":">","value":{"type":"int","v":"10"}},{"op":"null","col":"tip","null":true}]}`
	if string(data) != want {
		t.Errorf("encoding:\n got %s\nwant %s", data, want)
	}
	if !json.Valid(data) || !strings.Contains(string(data), `"fare"`) {
		t.Fatal("bad JSON")
	}
}

func TestSchemaCodec(t *testing.T) {
	md := arrow.NewMetadata([]string{"k"}, []string{"v"})
	s := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "Europe/Oslo"}, Nullable: true},
		{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Float32), Nullable: true},
		{Name: "st", Type: arrow.StructOf(arrow.Field{Name: "a", Type: arrow.FixedWidthTypes.Boolean}), Nullable: true},
		{Name: "d", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, Nullable: true},
	}, &md)
	data, err := MarshalSchema(s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalSchema(data)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(s) || !back.Metadata().Equal(s.Metadata()) {
		t.Fatalf("decoded {%s}, want {%s}", SchemaString(back), SchemaString(s))
	}
	if data, _ := MarshalSchema(nil); data != nil {
		t.Fatal("nil schema encoded")
	}
	if back, err := UnmarshalSchema(nil); back != nil || err != nil {
		t.Fatal("nil schema decoded")
	}
	empty := arrow.NewSchema(nil, nil)
	data, _ = MarshalSchema(empty)
	if back, err := UnmarshalSchema(data); err != nil || back.NumFields() != 0 {
		t.Fatalf("empty schema: %v %v", back, err)
	}
	if _, err := UnmarshalSchema([]byte("junk")); err == nil {
		t.Fatal("junk decoded")
	}
}

// TestProgramStageSpec checks the spec of an expression stage: the
// function built from it gives the stage's own output.
func TestProgramStageSpec(t *testing.T) {
	p := Program{
		{Kind: StepFilter, Expr: Col("i").Ge(2)},
		{Kind: StepWith, Name: "j", Expr: Col("i").Mul(Col("i")).Add(1)},
		{Kind: StepSelect, Exprs: []Expr{Col("s"), Col("j").Alias("k"), Col("b").Not()}},
	}
	st := NewExprStage(p)
	if st.Spec == nil {
		t.Fatal("no spec")
	}
	fn, err := BuildStage(*st.Spec)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := exprBlock(t, mem)
	defer b.Release()
	tc := testTaskContext(mem)
	want, err := st.Fn(tc, b)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Release()
	got, err := fn(tc, b)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	if !array.RecordEqual(want, got) || got.NumRows() != 2 || got.NumCols() != 3 {
		t.Fatalf("built stage gives %v, want %v", got, want)
	}
	if _, err := BuildStage(Spec{Kind: "ops-test.none"}); err == nil || !strings.Contains(err.Error(), "no stage kind") {
		t.Fatalf("unknown kind: %v", err)
	}
}

func testTaskContext(mem memory.Allocator) *exec.TaskContext {
	return &exec.TaskContext{Context: context.Background(), Alloc: mem}
}

// TestExprCodecValueNodes round-trips every kind of value node: the same
// text and the same values over a block.
func TestExprCodecValueNodes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := exprBlock(t, mem)
	defer b.Release()
	for _, e := range []Expr{
		Col("i").Add(Col("f")).Mul(Lit(2)).Sub(Lit(0.5)).Div(3).Mod(Lit(int8(7))),
		Col("i").Neg().Alias("minus i"),
		Col("f").Gt(Col("i")).Not().Or(Col("s").Eq(Col("s"))),
		Col("i").Add(1).IsNull().And(Lit(nil).IsNotNull().Not()),
		Col("i").Cast(arrow.PrimitiveTypes.Float32).Le(Lit(2.5)),
		Col("s").Cast(arrow.BinaryTypes.LargeString).Alias("ls"),
		Lit(nil).Add(Col("i")),
		Col("i").Between(Lit(1), Col("i").Add(1)),
	} {
		back := roundTrip(t, e)
		if back.String() != e.String() {
			t.Errorf("%s decoded as %s", e, back)
		}
		want, err := e.Eval(context.Background(), mem, b)
		if err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		got, err := back.Eval(context.Background(), mem, b)
		if err != nil {
			t.Fatalf("decoded %s: %v", back, err)
		}
		if !array.ApproxEqual(want, got, array.WithNaNsEqual(true)) {
			t.Errorf("%s: decoded gives %v, want %v", e, got, want)
		}
		want.Release()
		got.Release()
	}
}
