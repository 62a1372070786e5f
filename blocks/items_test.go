package blocks

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// fieldsString renders a schema as "name: type, ..." for compact assertions.
func fieldsString(s *arrow.Schema) string {
	parts := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		parts[i] = fmt.Sprintf("%s: %s", f.Name, f.Type)
	}
	return strings.Join(parts, ", ")
}

func mustFromItems(t *testing.T, mem memory.Allocator, items []Item) arrow.RecordBatch {
	t.Helper()
	rec, err := FromItems(mem, items)
	if err != nil {
		t.Fatalf("FromItems: %v", err)
	}
	return rec
}

func TestFromItemsIDValueSchema(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	rec := mustFromItems(t, mem, []Item{{"id": "abc", "value": 1}, {"id": "def", "value": 2}})
	defer rec.Release()
	if got, want := fieldsString(rec.Schema()), "id: utf8, value: int64"; got != want {
		t.Fatalf("schema = %q, want %q", got, want)
	}
	if rec.NumRows() != 2 {
		t.Fatalf("rows = %d, want 2", rec.NumRows())
	}
	want := []Item{{"id": "abc", "value": int64(1)}, {"id": "def", "value": int64(2)}}
	if got := ToItems(rec); !reflect.DeepEqual(got, want) {
		t.Fatalf("ToItems = %#v, want %#v", got, want)
	}
}

type myInt int
type myString string

func TestInferSchemaScalars(t *testing.T) {
	ts := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	items := []Item{{
		"i": 1, "i8": int8(1), "i16": int16(1), "i32": int32(1), "i64": int64(1),
		"u": uint(1), "u8": uint8(1), "u16": uint16(1), "u32": uint32(1), "u64": uint64(1),
		"f32": float32(1), "f64": 1.5, "s": "x", "b": true, "bin": []byte("x"),
		"ts": ts, "d": time.Second, "n": nil, "named": myInt(3), "nameds": myString("x"),
	}}
	s, err := InferSchema(items)
	if err != nil {
		t.Fatal(err)
	}
	want := "b: bool, bin: binary, d: duration[ns], f32: float64, f64: float64, i: int64, " +
		"i16: int64, i32: int64, i64: int64, i8: int64, n: null, named: int64, nameds: utf8, s: utf8, " +
		"ts: timestamp[us, tz=UTC], u: uint64, u16: uint64, u32: uint64, u64: uint64, u8: uint64"
	if got := fieldsString(s); got != want {
		t.Fatalf("schema\n got %s\nwant %s", got, want)
	}
	for _, f := range s.Fields() {
		if !f.Nullable {
			t.Errorf("field %s not nullable", f.Name)
		}
	}
}

func TestInferSchemaFieldOrder(t *testing.T) {
	items := []Item{
		{"z": 1, "b": 1},
		{"b": 2, "y": 1, "a": 1},
		{},
		{"c": 1, "z": 3},
	}
	for range 10 { // map iteration order must not matter
		s, err := InferSchema(items)
		if err != nil {
			t.Fatal(err)
		}
		names := make([]string, s.NumFields())
		for i, f := range s.Fields() {
			names[i] = f.Name
		}
		if got, want := strings.Join(names, ","), "b,z,a,y,c"; got != want {
			t.Fatalf("order = %s, want %s", got, want)
		}
	}
}

func TestInferSchemaNullsAndPointers(t *testing.T) {
	x := 5
	var nilp *int
	var nilSlice []int
	var nilMap map[string]any
	items := []Item{
		{"a": nil, "b": nilp, "c": nil, "p": &x, "ns": nilSlice, "nm": nilMap},
		{"a": "s", "b": 2.5, "c": nil, "ns": []int{1}, "nm": Item{"k": true}},
	}
	s, err := InferSchema(items)
	if err != nil {
		t.Fatal(err)
	}
	want := "a: utf8, b: float64, c: null, nm: struct<k: bool nullable>, ns: list<item: int64, nullable>, p: int64"
	if got := fieldsString(s); got != want {
		t.Fatalf("schema\n got %s\nwant %s", got, want)
	}
}

func TestInferSchemaNested(t *testing.T) {
	items := []Item{
		{
			"tags":   []string{"a", "b"},
			"nums":   []any{1, nil, 2},
			"matrix": [][]int{{1}, {2, 3}},
			"obj":    Item{"x": 1, "inner": map[string]any{"q": "s"}},
			"objs":   []any{Item{"a": 1}, Item{"b": "s"}},
			"empty":  []any{},
			"m":      map[string]int{"k": 1},
			"arr":    [2]float32{1, 2},
		},
		{
			"obj":   Item{"y": true, "inner": Item{"r": nil}},
			"empty": []any{nil},
			"m":     map[string]int{"j": 2},
		},
	}
	s, err := InferSchema(items)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name, want string) {
		t.Helper()
		f, ok := s.FieldsByName(name)
		if !ok {
			t.Fatalf("missing field %s", name)
		}
		if got := f[0].Type.String(); got != want {
			t.Errorf("%s: got %s, want %s", name, got, want)
		}
	}
	check("tags", "list<item: utf8, nullable>")
	check("nums", "list<item: int64, nullable>")
	check("matrix", "list<item: list<item: int64, nullable>, nullable>")
	check("obj", "struct<inner: struct<q: utf8 nullable, r: null nullable> nullable, x: int64 nullable, y: bool nullable>")
	check("objs", "list<item: struct<a: int64 nullable, b: utf8 nullable>, nullable>")
	check("empty", "list<item: null, nullable>")
	check("m", "struct<k: int64 nullable, j: int64 nullable>")
	check("arr", "list<item: float64, nullable>")
}

func TestInferSchemaPromotion(t *testing.T) {
	cases := []struct {
		name  string
		items []Item
		want  string
	}{
		{"int then float", []Item{{"v": 1}, {"v": 2.5}}, "v: float64"},
		{"float then int", []Item{{"v": 2.5}, {"v": 1}}, "v: float64"},
		{"uint and float", []Item{{"v": uint8(1)}, {"v": float32(2)}}, "v: float64"},
		{"in list", []Item{{"v": []any{1, 2.5, nil}}}, "v: list<item: float64, nullable>"},
		{"in struct", []Item{{"v": Item{"x": 1}}, {"v": Item{"x": 0.5}}}, "v: struct<x: float64 nullable>"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := InferSchema(c.items)
			if err != nil {
				t.Fatal(err)
			}
			if got := fieldsString(s); got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
		})
	}
}

func TestInferSchemaConflicts(t *testing.T) {
	sevenInts := func(last any) []Item {
		items := make([]Item, 8)
		for i := range 7 {
			items[i] = Item{"id": i, "value": i}
		}
		items[7] = Item{"id": 7, "value": last}
		return items
	}
	cases := []struct {
		name  string
		items []Item
		want  string
	}{
		{"spec example", sevenInts("x"),
			`blocks: field "value": conflicting types int64 and utf8 (item 7)`},
		{"string then bool", []Item{{"a": "x"}, {"a": true}},
			`blocks: field "a": conflicting types utf8 and bool (item 1)`},
		{"int and uint", []Item{{"a": 1}, {"a": uint(1)}},
			`blocks: field "a": conflicting types int64 and uint64 (item 1)`},
		{"nested struct", []Item{{"a": Item{"b": 1}}, {"a": Item{"b": "s"}}},
			`blocks: field "a.b": conflicting types int64 and utf8 (item 1)`},
		{"deep nested", []Item{{"a": Item{"b": Item{"c": []any{1}}}}, {"a": Item{"b": Item{"c": []any{false}}}}},
			`blocks: field "a.b.c[]": conflicting types int64 and bool (item 1)`},
		{"list elements", []Item{{"tags": []any{"x", 1}}},
			`blocks: field "tags[]": conflicting types utf8 and int64 (item 0)`},
		{"list of structs", []Item{{"l": []any{Item{"k": 1}, Item{"k": "s"}}}},
			`blocks: field "l[].k": conflicting types int64 and utf8 (item 0)`},
		{"struct vs scalar", []Item{{"a": Item{"b": 1}}, {"a": 3}},
			`blocks: field "a": conflicting types struct<b: int64 nullable> and int64 (item 1)`},
		{"list vs scalar", []Item{{"a": "s"}, {"a": []string{"x"}}},
			`blocks: field "a": conflicting types utf8 and list<item: utf8, nullable> (item 1)`},
		{"timestamp vs duration", []Item{{"a": time.Now()}, {"a": time.Second}},
			`blocks: field "a": conflicting types timestamp[us, tz=UTC] and duration[ns] (item 1)`},
		{"null then conflict", []Item{{"a": nil}, {"a": 1}, {"a": "s"}},
			`blocks: field "a": conflicting types int64 and utf8 (item 2)`},
		{"chan", []Item{{"a": 1}, {"c": make(chan int)}},
			`blocks: field "c": unsupported Go type chan int (item 1)`},
		{"func", []Item{{"f": func() {}}},
			`blocks: field "f": unsupported Go type func() (item 0)`},
		{"complex", []Item{{"z": complex(1, 2)}},
			`blocks: field "z": unsupported Go type complex128 (item 0)`},
		{"go struct", []Item{{"s": struct{ A int }{1}}},
			`blocks: field "s": unsupported Go type struct { A int } (item 0)`},
		{"pointer to struct", []Item{{"s": &struct{ A int }{1}}},
			`blocks: field "s": unsupported Go type struct { A int } (item 0)`},
		{"int-keyed map", []Item{{"m": map[int]string{1: "a"}}},
			`blocks: field "m": unsupported Go type map[int]string (item 0)`},
		{"nested unsupported", []Item{{"a": Item{"b": []any{make(chan int)}}}},
			`blocks: field "a.b[]": unsupported Go type chan int (item 0)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			_, err := InferSchema(c.items)
			if err == nil {
				t.Fatal("expected error")
			}
			if err.Error() != c.want {
				t.Fatalf("error\n got %s\nwant %s", err, c.want)
			}
			rec, err := FromItems(mem, c.items)
			if err == nil {
				rec.Release()
				t.Fatal("FromItems: expected error")
			}
		})
	}
}

func TestInferSchemaConflictDeterministic(t *testing.T) {
	items := []Item{
		{"a": 1, "b": 1, "c": 1, "d": 1, "e": 1},
		{"e": "s", "d": "s", "c": "s", "b": "s", "a": "s"},
	}
	want := `blocks: field "a": conflicting types int64 and utf8 (item 1)`
	for range 50 {
		_, err := InferSchema(items)
		if err == nil || err.Error() != want {
			t.Fatalf("got %v, want %s", err, want)
		}
	}
}

func TestFromItemsEmpty(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, items := range [][]Item{nil, {}} {
		rec := mustFromItems(t, mem, items)
		if rec.Schema().NumFields() != 0 || rec.NumRows() != 0 || rec.NumCols() != 0 {
			t.Fatalf("got %d fields, %d rows", rec.Schema().NumFields(), rec.NumRows())
		}
		if got := ToItems(rec); len(got) != 0 {
			t.Fatalf("ToItems = %v", got)
		}
		rec.Release()
	}
}

func TestFromItemsEmptyMaps(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := mustFromItems(t, mem, []Item{{}, nil, {}})
	defer rec.Release()
	if rec.NumCols() != 0 || rec.NumRows() != 3 {
		t.Fatalf("rows=%d cols=%d, want 3 rows and no columns", rec.NumRows(), rec.NumCols())
	}
	if got := ToItems(rec); !reflect.DeepEqual(got, []Item{{}, {}, {}}) {
		t.Fatalf("ToItems = %#v", got)
	}
}

func TestFromItemsSingleRow(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := mustFromItems(t, mem, []Item{{"x": 1.5, "name": "n"}})
	defer rec.Release()
	if got, want := fieldsString(rec.Schema()), "name: utf8, x: float64"; got != want {
		t.Fatalf("schema = %s, want %s", got, want)
	}
	if want := []Item{{"x": 1.5, "name": "n"}}; !reflect.DeepEqual(ToItems(rec), want) {
		t.Fatalf("ToItems = %v", ToItems(rec))
	}
}

func TestFromItemsRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	ts := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 3600))
	five := int16(5)
	items := []Item{
		{
			"i": 1, "u": uint32(7), "f": float32(0.5), "s": "hello", "b": true,
			"bin": []byte{1, 2}, "ts": ts, "d": 1500 * time.Millisecond,
			"list": []any{1, 2}, "obj": Item{"k": "v", "n": 1}, "p": &five,
			"lobj": []any{Item{"a": 1}}, "allnull": nil,
		},
		{
			"i": nil, "u": nil, "f": 2, "s": nil, "b": nil, "bin": nil, "ts": nil,
			"d": nil, "list": nil, "obj": nil, "p": (*int16)(nil), "lobj": []any{nil, Item{"b": "x"}},
		},
		{
			// every key missing
		},
		{
			"list": []any{}, "obj": Item{"k": nil}, "f": 3.25, "i": int8(-3),
		},
	}
	rec := mustFromItems(t, mem, items)
	defer rec.Release()

	wantSchema := "allnull: null, b: bool, bin: binary, d: duration[ns], f: float64, i: int64, " +
		"list: list<item: int64, nullable>, lobj: list<item: struct<a: int64 nullable, b: utf8 nullable>, nullable>, " +
		"obj: struct<k: utf8 nullable, n: int64 nullable>, p: int64, s: utf8, ts: timestamp[us, tz=UTC], u: uint64"
	if got := fieldsString(rec.Schema()); got != wantSchema {
		t.Fatalf("schema\n got %s\nwant %s", got, wantSchema)
	}
	if err := array.ValidateRecordFull(rec); err != nil {
		t.Fatalf("invalid record: %v", err)
	}

	allNil := func(extra Item) Item {
		out := Item{}
		for _, f := range rec.Schema().Fields() {
			out[f.Name] = nil
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	want := []Item{
		allNil(Item{
			"i": int64(1), "u": uint64(7), "f": 0.5, "s": "hello", "b": true,
			"bin": []byte{1, 2}, "ts": ts.Truncate(time.Microsecond).UTC(), "d": 1500 * time.Millisecond,
			"list": []any{int64(1), int64(2)}, "obj": Item{"k": "v", "n": int64(1)}, "p": int64(5),
			"lobj": []any{Item{"a": int64(1), "b": nil}},
		}),
		allNil(Item{"f": 2.0, "lobj": []any{nil, Item{"a": nil, "b": "x"}}}),
		allNil(nil),
		allNil(Item{"list": []any{}, "obj": Item{"k": nil, "n": nil}, "f": 3.25, "i": int64(-3)}),
	}
	got := ToItems(rec)
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("row %d\n got %#v\nwant %#v", i, got[i], want[i])
		}
	}
	if tm := got[0]["ts"].(time.Time); tm.Location() != time.UTC || !tm.Equal(ts.Truncate(time.Microsecond)) {
		t.Errorf("ts = %v", tm)
	}
}

func TestFromItemsWithSchemaConversions(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	day := time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "i16", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "u8", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
		{Name: "u16", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
		{Name: "u32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
		{Name: "u64", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
		{Name: "f16", Type: arrow.FixedWidthTypes.Float16, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		{Name: "sv", Type: arrow.BinaryTypes.StringView, Nullable: true},
		{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "lbin", Type: arrow.BinaryTypes.LargeBinary, Nullable: true},
		{Name: "bv", Type: arrow.BinaryTypes.BinaryView, Nullable: true},
		{Name: "fsb", Type: &arrow.FixedSizeBinaryType{ByteWidth: 2}, Nullable: true},
		{Name: "tsms", Type: &arrow.TimestampType{Unit: arrow.Millisecond}, Nullable: true},
		{Name: "d32", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "d64", Type: arrow.FixedWidthTypes.Date64, Nullable: true},
		{Name: "dur", Type: arrow.FixedWidthTypes.Duration_s, Nullable: true},
		{Name: "ll", Type: arrow.LargeListOf(arrow.PrimitiveTypes.Float64), Nullable: true},
		{Name: "fsl", Type: arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Int32), Nullable: true},
		{Name: "st", Type: arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true}), Nullable: true},
		{Name: "dict", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, Nullable: true},
		{Name: "null", Type: arrow.Null, Nullable: true},
		{Name: "bl", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	}, nil)
	n := myInt(-4)
	items := []Item{
		{
			"i8": -128, "i16": uint8(3), "i32": &n, "u8": 255, "u16": int64(9), "u32": uint(1), "u64": uint64(1 << 63),
			"f16": 1, "f32": 0.25, "f64": uint16(7), "ls": "l", "sv": myString("view string longer than 12"),
			"bin": "str", "lbin": []byte{9}, "bv": []byte("bv"), "fsb": []byte{1, 2},
			"tsms": day.Add(1500 * time.Microsecond), "d32": day.Add(5 * time.Hour), "d64": day,
			"dur": 2500 * time.Millisecond, "ll": []int{1, 2}, "fsl": []any{1, nil},
			"st": map[string]int64{"a": 4}, "dict": "red", "null": nil, "bl": false,
		},
		{
			"ll": []float64{}, "fsl": nil, "st": Item{}, "dict": "red",
		},
		{
			"dict": "blue", "st": nil, "ll": nil,
		},
	}
	rec, err := FromItemsWithSchema(mem, schema, items)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	if !rec.Schema().Equal(schema) {
		t.Fatalf("schema changed: %s", rec.Schema())
	}
	if err := array.ValidateRecordFull(rec); err != nil {
		t.Fatal(err)
	}
	got := ToItems(rec)
	want0 := Item{
		"i8": int64(-128), "i16": int64(3), "i32": int64(-4), "u8": uint64(255), "u16": uint64(9), "u32": uint64(1),
		"u64": uint64(1 << 63), "f16": 1.0, "f32": 0.25, "f64": 7.0, "ls": "l", "sv": "view string longer than 12",
		"bin": []byte("str"), "lbin": []byte{9}, "bv": []byte("bv"), "fsb": []byte{1, 2},
		"tsms": day.Add(time.Millisecond), "d32": day, "d64": day, "dur": 2 * time.Second,
		"ll": []any{1.0, 2.0}, "fsl": []any{int64(1), nil}, "st": Item{"a": int64(4)}, "dict": "red",
		"null": nil, "bl": false,
	}
	if !reflect.DeepEqual(got[0], want0) {
		for k, v := range want0 {
			if !reflect.DeepEqual(got[0][k], v) {
				t.Errorf("%s: got %#v, want %#v", k, got[0][k], v)
			}
		}
	}
	if got[1]["ll"] == nil || len(got[1]["ll"].([]any)) != 0 {
		t.Errorf("ll row1 = %#v", got[1]["ll"])
	}
	if got[1]["fsl"] != nil || got[1]["i8"] != nil {
		t.Errorf("row1 nulls: %#v", got[1])
	}
	if !reflect.DeepEqual(got[1]["st"], Item{"a": nil}) || got[2]["st"] != nil {
		t.Errorf("st = %#v / %#v", got[1]["st"], got[2]["st"])
	}
	if got[2]["dict"] != "blue" {
		t.Errorf("dict = %#v", got[2]["dict"])
	}
}

func TestFromItemsWithSchemaEmpty(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64}}, nil)
	rec, err := FromItemsWithSchema(mem, schema, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	if rec.NumRows() != 0 || !rec.Schema().Equal(schema) {
		t.Fatalf("got %s rows=%d", rec.Schema(), rec.NumRows())
	}
}

func TestFromItemsWithSchemaErrors(t *testing.T) {
	i64 := arrow.PrimitiveTypes.Int64
	sch := func(fs ...arrow.Field) *arrow.Schema { return arrow.NewSchema(fs, nil) }
	f := func(name string, dt arrow.DataType) arrow.Field {
		return arrow.Field{Name: name, Type: dt, Nullable: true}
	}
	cases := []struct {
		name   string
		schema *arrow.Schema
		items  []Item
		want   string
	}{
		{"integral float to int", sch(f("x", i64)), []Item{{"x": 1}, {"x": 2.0}},
			`blocks: field "x": cannot convert Go float64 to int64 (item 1)`},
		{"string to int", sch(f("x", i64)), []Item{{"x": "1"}},
			`blocks: field "x": cannot convert Go string to int64 (item 0)`},
		{"int to string", sch(f("x", arrow.BinaryTypes.String)), []Item{{"x": 1}},
			`blocks: field "x": cannot convert Go int to utf8 (item 0)`},
		{"extra key", sch(f("x", i64)), []Item{{"x": 1}, {"x": 2}, {"x": 3, "zz": 1, "yy": 2}},
			`blocks: field "yy": key is not in the schema (item 2)`},
		{"extra nested key", sch(f("s", arrow.StructOf(f("a", i64)))), []Item{{"s": Item{"a": 1, "b": 2}}},
			`blocks: field "s.b": key is not in the schema (item 0)`},
		{"nested conversion", sch(f("s", arrow.StructOf(f("l", arrow.ListOf(i64))))), []Item{{"s": Item{"l": []any{1, 1.5}}}},
			`blocks: field "s.l[]": cannot convert Go float64 to int64 (item 0)`},
		{"int8 overflow", sch(f("x", arrow.PrimitiveTypes.Int8)), []Item{{"x": 128}},
			`blocks: field "x": Go int value 128 out of range for int8 (item 0)`},
		{"negative to uint", sch(f("x", arrow.PrimitiveTypes.Uint64)), []Item{{"x": -1}},
			`blocks: field "x": Go int value -1 out of range for uint64 (item 0)`},
		{"uint64 overflow int64", sch(f("x", i64)), []Item{{"x": uint64(1 << 63)}},
			`blocks: field "x": Go uint64 value 9223372036854775808 out of range for int64 (item 0)`},
		{"fixed list length", sch(f("x", arrow.FixedSizeListOf(2, i64))), []Item{{"x": []int{1}}},
			`blocks: field "x": list of length 1 does not fit fixed_size_list<item: int64, nullable>[2] (item 0)`},
		{"scalar to list", sch(f("x", arrow.ListOf(i64))), []Item{{"x": 1}},
			`blocks: field "x": cannot convert Go int to list<item: int64, nullable> (item 0)`},
		{"scalar to struct", sch(f("x", arrow.StructOf(f("a", i64)))), []Item{{"x": "s"}},
			`blocks: field "x": cannot convert Go string to struct<a: int64 nullable> (item 0)`},
		{"value into null", sch(f("x", arrow.Null)), []Item{{"x": 1}},
			`blocks: field "x": cannot convert Go int to null (item 0)`},
		{"duration from int", sch(f("x", arrow.FixedWidthTypes.Duration_ns)), []Item{{"x": 5}},
			`blocks: field "x": cannot convert Go int to duration[ns] (item 0)`},
		{"fixed binary width", sch(f("x", &arrow.FixedSizeBinaryType{ByteWidth: 4})), []Item{{"x": []byte{1}}},
			`blocks: field "x": 1 bytes do not fit fixed_size_binary[4] (item 0)`},
		{"unsupported arrow type", sch(f("x", &arrow.Decimal128Type{Precision: 10, Scale: 2})), []Item{{"x": 1}},
			`blocks: field "x": unsupported Arrow type decimal(10, 2)`},
		{"unsupported nested arrow type", sch(f("x", arrow.ListOf(arrow.FixedWidthTypes.Time32ms))), []Item{{"x": 1}},
			`blocks: field "x[]": unsupported Arrow type time32[ms]`},
		{"named type keeps its name", sch(f("x", arrow.PrimitiveTypes.Int8)), []Item{{"x": myInt(300)}},
			`blocks: field "x": Go blocks.myInt value 300 out of range for int8 (item 0)`},
		{"pointer keeps its name", sch(f("x", arrow.BinaryTypes.String)), []Item{{"x": new(int)}},
			`blocks: field "x": cannot convert Go *int to utf8 (item 0)`},
		{"nil pointer is null", sch(f("x", i64)), []Item{{"x": (*string)(nil), "y": 1}},
			`blocks: field "y": key is not in the schema (item 0)`},
		{"chan", sch(f("x", i64)), []Item{{"x": make(chan int)}},
			`blocks: field "x": cannot convert Go chan int to int64 (item 0)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			rec, err := FromItemsWithSchema(mem, c.schema, c.items)
			if err == nil {
				rec.Release()
				t.Fatal("expected error")
			}
			if err.Error() != c.want {
				t.Fatalf("error\n got %s\nwant %s", err, c.want)
			}
		})
	}
	if _, err := FromItemsWithSchema(memory.NewGoAllocator(), nil, nil); err == nil {
		t.Fatal("nil schema: expected error")
	}
}

func TestFromItemsWithSchemaMissingKeys(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	rec, err := FromItemsWithSchema(mem, schema, []Item{{"a": 1}, {"b": "x"}, nil})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	want := []Item{{"a": int64(1), "b": nil}, {"a": nil, "b": "x"}, {"a": nil, "b": nil}}
	if got := ToItems(rec); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v", got)
	}
}

func TestValueAt(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	ts := time.Date(2023, 7, 8, 9, 10, 11, 0, time.UTC)
	build := func(dt arrow.DataType, fill func(b array.Builder)) arrow.Array {
		b := array.NewBuilder(mem, dt)
		defer b.Release()
		fill(b)
		return b.NewArray()
	}
	cases := []struct {
		name string
		arr  arrow.Array
		want []any
	}{
		{"int8", build(arrow.PrimitiveTypes.Int8, func(b array.Builder) {
			b.(*array.Int8Builder).AppendValues([]int8{-1, 2}, nil)
			b.AppendNull()
		}), []any{int64(-1), int64(2), nil}},
		{"int16", build(arrow.PrimitiveTypes.Int16, func(b array.Builder) { b.(*array.Int16Builder).Append(3) }), []any{int64(3)}},
		{"int32", build(arrow.PrimitiveTypes.Int32, func(b array.Builder) { b.(*array.Int32Builder).Append(3) }), []any{int64(3)}},
		{"int64", build(arrow.PrimitiveTypes.Int64, func(b array.Builder) { b.(*array.Int64Builder).Append(3) }), []any{int64(3)}},
		{"uint8", build(arrow.PrimitiveTypes.Uint8, func(b array.Builder) { b.(*array.Uint8Builder).Append(3) }), []any{uint64(3)}},
		{"uint16", build(arrow.PrimitiveTypes.Uint16, func(b array.Builder) { b.(*array.Uint16Builder).Append(3) }), []any{uint64(3)}},
		{"uint32", build(arrow.PrimitiveTypes.Uint32, func(b array.Builder) { b.(*array.Uint32Builder).Append(3) }), []any{uint64(3)}},
		{"uint64", build(arrow.PrimitiveTypes.Uint64, func(b array.Builder) { b.(*array.Uint64Builder).Append(3) }), []any{uint64(3)}},
		{"float16", build(arrow.FixedWidthTypes.Float16, func(b array.Builder) {
			b.(*array.Float16Builder).AppendNull()
			b.(*array.Float16Builder).Append(float16.New(1))
		}), []any{nil, 1.0}},
		{"float32", build(arrow.PrimitiveTypes.Float32, func(b array.Builder) { b.(*array.Float32Builder).Append(0.5) }), []any{0.5}},
		{"float64", build(arrow.PrimitiveTypes.Float64, func(b array.Builder) { b.(*array.Float64Builder).Append(0.5) }), []any{0.5}},
		{"string", build(arrow.BinaryTypes.String, func(b array.Builder) { b.(*array.StringBuilder).Append("s") }), []any{"s"}},
		{"large_string", build(arrow.BinaryTypes.LargeString, func(b array.Builder) { b.(*array.LargeStringBuilder).Append("s") }), []any{"s"}},
		{"string_view", build(arrow.BinaryTypes.StringView, func(b array.Builder) { b.(*array.StringViewBuilder).Append("a long string view value") }), []any{"a long string view value"}},
		{"binary", build(arrow.BinaryTypes.Binary, func(b array.Builder) { b.(*array.BinaryBuilder).Append([]byte{1}) }), []any{[]byte{1}}},
		{"large_binary", build(arrow.BinaryTypes.LargeBinary, func(b array.Builder) { b.(*array.BinaryBuilder).Append([]byte{1}) }), []any{[]byte{1}}},
		{"binary_view", build(arrow.BinaryTypes.BinaryView, func(b array.Builder) { b.(*array.BinaryViewBuilder).Append([]byte{1}) }), []any{[]byte{1}}},
		{"fixed_size_binary", build(&arrow.FixedSizeBinaryType{ByteWidth: 1}, func(b array.Builder) { b.(*array.FixedSizeBinaryBuilder).Append([]byte{1}) }), []any{[]byte{1}}},
		{"bool", build(arrow.FixedWidthTypes.Boolean, func(b array.Builder) { b.(*array.BooleanBuilder).AppendValues([]bool{true, false}, nil) }), []any{true, false}},
		{"timestamp_s", build(&arrow.TimestampType{Unit: arrow.Second, TimeZone: "America/New_York"}, func(b array.Builder) {
			b.(*array.TimestampBuilder).Append(arrow.Timestamp(ts.Unix()))
		}), []any{ts}},
		{"date32", build(arrow.FixedWidthTypes.Date32, func(b array.Builder) {
			b.(*array.Date32Builder).Append(arrow.Date32FromTime(ts))
		}), []any{ts.Truncate(24 * time.Hour)}},
		{"date64", build(arrow.FixedWidthTypes.Date64, func(b array.Builder) {
			b.(*array.Date64Builder).Append(arrow.Date64FromTime(ts))
		}), []any{ts.Truncate(24 * time.Hour)}},
		{"duration_ms", build(arrow.FixedWidthTypes.Duration_ms, func(b array.Builder) { b.(*array.DurationBuilder).Append(1500) }), []any{1500 * time.Millisecond}},
		{"time32 (other)", build(arrow.FixedWidthTypes.Time32s, func(b array.Builder) { b.(*array.Time32Builder).Append(3661) }), []any{"01:01:01"}},
		{"decimal (other)", build(&arrow.Decimal128Type{Precision: 5, Scale: 2}, func(b array.Builder) {
			b.(*array.Decimal128Builder).Append(decimal128.FromI64(12345))
		}), []any{"123.45"}},
		{"null", build(arrow.Null, func(b array.Builder) { b.AppendNull() }), []any{nil}},
		{"list", build(arrow.ListOf(arrow.PrimitiveTypes.Int32), func(b array.Builder) {
			lb := b.(*array.ListBuilder)
			lb.Append(true)
			lb.ValueBuilder().(*array.Int32Builder).AppendValues([]int32{1, 2}, nil)
			lb.AppendNull()
			lb.Append(true)
		}), []any{[]any{int64(1), int64(2)}, nil, []any{}}},
		{"large_list", build(arrow.LargeListOf(arrow.BinaryTypes.String), func(b array.Builder) {
			lb := b.(*array.LargeListBuilder)
			lb.Append(true)
			lb.ValueBuilder().(*array.StringBuilder).Append("x")
		}), []any{[]any{"x"}}},
		{"fixed_size_list", build(arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Int64), func(b array.Builder) {
			lb := b.(*array.FixedSizeListBuilder)
			lb.Append(true)
			lb.ValueBuilder().(*array.Int64Builder).AppendValues([]int64{7, 8}, nil)
		}), []any{[]any{int64(7), int64(8)}}},
		{"list_view", build(arrow.ListViewOf(arrow.PrimitiveTypes.Int64), func(b array.Builder) {
			lb := b.(*array.ListViewBuilder)
			lb.AppendWithSize(true, 2)
			lb.ValueBuilder().(*array.Int64Builder).AppendValues([]int64{7, 8}, nil)
		}), []any{[]any{int64(7), int64(8)}}},
		{"struct", build(arrow.StructOf(
			arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
			arrow.Field{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
		), func(b array.Builder) {
			sb := b.(*array.StructBuilder)
			sb.Append(true)
			sb.FieldBuilder(0).(*array.Int64Builder).Append(1)
			sb.FieldBuilder(1).AppendNull()
			sb.AppendNull()
		}), []any{Item{"a": int64(1), "b": nil}, nil}},
		{"map (other)", build(arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64), func(b array.Builder) {
			mb := b.(*array.MapBuilder)
			mb.Append(true)
			mb.KeyBuilder().(*array.StringBuilder).Append("k")
			mb.ItemBuilder().(*array.Int64Builder).Append(1)
		}), []any{`[{"key":"k","value":1}]`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer c.arr.Release()
			if c.arr.Len() != len(c.want) {
				t.Fatalf("len = %d, want %d", c.arr.Len(), len(c.want))
			}
			for i, w := range c.want {
				got := ValueAt(c.arr, i)
				if tm, ok := got.(time.Time); ok {
					if tm.Location() != time.UTC || !tm.Equal(w.(time.Time)) {
						t.Errorf("row %d: got %v, want %v (UTC)", i, tm, w)
					}
					continue
				}
				if !reflect.DeepEqual(got, w) {
					t.Errorf("row %d: got %#v (%T), want %#v (%T)", i, got, got, w, w)
				}
			}
		})
	}
}

func TestValueAtDictionaryAndREE(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}
	db := array.NewDictionaryBuilder(mem, dt).(*array.BinaryDictionaryBuilder)
	defer db.Release()
	for _, s := range []string{"red", "green", "red"} {
		if err := db.AppendString(s); err != nil {
			t.Fatal(err)
		}
	}
	db.AppendNull()
	dict := db.NewArray()
	defer dict.Release()
	want := []any{"red", "green", "red", nil}
	for i, w := range want {
		if got := ValueAt(dict, i); got != w {
			t.Errorf("dict row %d: got %#v, want %#v", i, got, w)
		}
	}
	sliced := array.NewSlice(dict, 1, 4)
	defer sliced.Release()
	for i, w := range want[1:] {
		if got := ValueAt(sliced, i); got != w {
			t.Errorf("sliced dict row %d: got %#v, want %#v", i, got, w)
		}
	}

	rb := array.NewBuilder(mem, arrow.RunEndEncodedOf(arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64)).(*array.RunEndEncodedBuilder)
	defer rb.Release()
	rb.Append(2)
	rb.ValueBuilder().(*array.Int64Builder).Append(7)
	rb.Append(1)
	rb.ValueBuilder().(*array.Int64Builder).Append(9)
	ree := rb.NewArray()
	defer ree.Release()
	for i, w := range []any{int64(7), int64(7), int64(9)} {
		if got := ValueAt(ree, i); got != w {
			t.Errorf("ree row %d: got %#v, want %#v", i, got, w)
		}
	}
}

func TestValueAtSliced(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	items := []Item{
		{"i": 0, "s": "zero", "l": []any{0}, "st": Item{"a": 0}},
		{"i": 1, "s": "one", "l": []any{1, 1}, "st": Item{"a": 1}},
		{"i": nil, "s": nil, "l": nil, "st": nil},
		{"i": 3, "s": "three", "l": []any{3}, "st": Item{"a": 3}},
	}
	rec := mustFromItems(t, mem, items)
	defer rec.Release()
	sliced := rec.NewSlice(1, 4)
	defer sliced.Release()
	if sliced.Column(0).Data().Offset() == 0 {
		t.Fatal("expected a non-zero offset")
	}
	want := []Item{
		{"i": int64(1), "s": "one", "l": []any{int64(1), int64(1)}, "st": Item{"a": int64(1)}},
		{"i": nil, "s": nil, "l": nil, "st": nil},
		{"i": int64(3), "s": "three", "l": []any{int64(3)}, "st": Item{"a": int64(3)}},
	}
	if got := ToItems(sliced); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
}

func TestValueAtCopies(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := mustFromItems(t, mem, []Item{{"b": []byte{1, 2, 3}}})
	got := ValueAt(rec.Column(0), 0).([]byte)
	got[0] = 99
	if again := ValueAt(rec.Column(0), 0).([]byte); again[0] != 1 {
		t.Fatal("ValueAt returned a slice aliasing the array")
	}
	rec.Release()
}

func TestValueAtOutOfRange(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := mustFromItems(t, mem, []Item{{"x": 1}})
	defer rec.Release()
	if ValueAt(rec.Column(0), 1) != nil || ValueAt(rec.Column(0), -1) != nil || ValueAt(nil, 0) != nil {
		t.Fatal("out-of-range ValueAt should be nil")
	}
}

func TestToItemsNil(t *testing.T) {
	if ToItems(nil) != nil {
		t.Fatal("expected nil")
	}
}

func BenchmarkFromItems(b *testing.B) {
	items := make([]Item, 10000)
	for i := range items {
		items[i] = Item{"id": i, "name": "name", "score": float64(i) / 3, "ok": i%2 == 0}
	}
	mem := memory.NewGoAllocator()
	b.ReportAllocs()
	for b.Loop() {
		rec, err := FromItems(mem, items)
		if err != nil {
			b.Fatal(err)
		}
		rec.Release()
	}
}
