package blocks

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestRowGetters(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "u32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "dict", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String}, Nullable: true},
	}, nil)
	items := []Item{
		{"i64": -7, "i8": 3, "u32": 9, "f32": 0.5, "f64": 2.25, "s": "str", "ls": "large", "b": true, "l": []int{1}, "dict": "d"},
		{},
	}
	rec, err := FromItemsWithSchema(mem, schema, items)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()

	r := NewRow(rec, 0)
	if r.Index() != 0 || r.NumFields() != 10 || r.Schema() != rec.Schema() {
		t.Fatalf("Index=%d NumFields=%d", r.Index(), r.NumFields())
	}
	if !r.Has("s") || r.Has("missing") {
		t.Fatal("Has")
	}
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"Int64(i64)", r.Int64("i64"), int64(-7)},
		{"Int64(i8)", r.Int64("i8"), int64(3)},
		{"Int64(u32)", r.Int64("u32"), int64(9)},
		{"Float64(f64)", r.Float64("f64"), 2.25},
		{"Float64(f32)", r.Float64("f32"), 0.5},
		{"Float64(i64)", r.Float64("i64"), -7.0},
		{"Float64(u32)", r.Float64("u32"), 9.0},
		{"String(s)", r.String("s"), "str"},
		{"String(ls)", r.String("ls"), "large"},
		{"String(dict)", r.String("dict"), "d"},
		{"Bool(b)", r.Bool("b"), true},
		{"Get(i8)", r.Get("i8"), int64(3)},
		{"Get(l)", r.Get("l"), []any{int64(1)}},
		{"Get(dict)", r.Get("dict"), "d"},
		{"IsNull(s)", r.IsNull("s"), false},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
	wantItem := Item{"i64": int64(-7), "i8": int64(3), "u32": uint64(9), "f32": 0.5, "f64": 2.25, "s": "str",
		"ls": "large", "b": true, "l": []any{int64(1)}, "dict": "d"}
	if got := r.Item(); !reflect.DeepEqual(got, wantItem) {
		t.Errorf("Item = %#v", got)
	}

	// Row 1: every value is null.
	n := NewRow(rec, 1)
	if n.Index() != 1 {
		t.Fatal("Index")
	}
	for _, f := range schema.Fields() {
		if !n.IsNull(f.Name) || n.Get(f.Name) != nil {
			t.Errorf("%s: expected null", f.Name)
		}
	}
	if n.Int64("i64") != 0 || n.Float64("f64") != 0 || n.String("s") != "" || n.Bool("b") || n.String("dict") != "" {
		t.Error("null getters should return zero values")
	}
}

func TestRowSlicedRecord(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := mustFromItems(t, mem, []Item{{"x": 1, "s": "a"}, {"x": 2, "s": "b"}, {"x": 3, "s": "c"}})
	defer rec.Release()
	sl := rec.NewSlice(1, 3)
	defer sl.Release()
	r := NewRow(sl, 1)
	if r.Int64("x") != 3 || r.String("s") != "c" || r.Get("x") != int64(3) {
		t.Fatalf("sliced row: x=%d s=%q", r.Int64("x"), r.String("s"))
	}
}

func TestRowOutOfRangeAndZero(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := mustFromItems(t, mem, []Item{{"x": 1}})
	defer rec.Release()
	for _, c := range []struct {
		r    Row
		want string
	}{
		{NewRow(rec, 5), `Row.Get("x"): row 5 out of range [0, 1)`},
		{NewRow(rec, -1), `Row.Get("x"): row -1 out of range [0, 1)`},
		{Row{}, `Row.Get("x"): the zero Row has no columns`},
	} {
		if _, err := c.r.Lookup("x"); err == nil || err.Error() != c.want {
			t.Errorf("Lookup: %v, want %s", err, c.want)
		}
		if c.r.Item() != nil {
			t.Errorf("row %d: Item of a row out of range", c.r.Index())
		}
	}
	var z Row
	if z.Schema() != nil || z.NumFields() != 0 || z.Has("x") {
		t.Error("zero Row")
	}
}

func TestRowWideSchema(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	it := Item{}
	for i := range 40 {
		it[fmt.Sprintf("c%02d", i)] = i
	}
	rec := mustFromItems(t, mem, []Item{it})
	defer rec.Release()
	r := NewRow(rec, 0)
	if r.Int64("c33") != 33 || r.Float64("c07") != 7 || r.Get("c39") != int64(39) || r.Has("c40") {
		t.Fatal("wide schema lookups")
	}
}

func TestRowGettersDoNotAllocate(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := mustFromItems(t, mem, []Item{{"i": 1, "f": 1.5, "s": "abc", "b": true}})
	defer rec.Release()
	r := NewRow(rec, 0)
	var sink int
	allocs := testing.AllocsPerRun(100, func() {
		sink += int(r.Int64("i")) + int(r.Float64("f")) + len(r.String("s"))
		if r.Bool("b") && !r.IsNull("i") {
			sink++
		}
	})
	if allocs != 0 {
		t.Fatalf("typed getters allocated %.1f times per run", allocs)
	}
	_ = sink
}

func TestRowDuplicateColumnUsesFirst(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b1 := array.NewInt64Builder(mem)
	defer b1.Release()
	b1.Append(1)
	a1 := b1.NewArray()
	defer a1.Release()
	b1.Append(2)
	a2 := b1.NewArray()
	defer a2.Release()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "x", Type: arrow.PrimitiveTypes.Int64},
		{Name: "x", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	rec := array.NewRecordBatch(schema, []arrow.Array{a1, a2}, 1)
	defer rec.Release()
	if got := NewRow(rec, 0).Int64("x"); got != 1 {
		t.Fatalf("Int64 = %d, want the first column's 1", got)
	}
}

func TestRowGettersFailClearly(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := mustFromItems(t, mem, []Item{{"id": 1, "fare": 2.5, "name": "a", "ok": true}})
	defer rec.Release()
	r := NewRow(rec, 0)
	const cols = " (columns: fare float64, id int64, name utf8, ok bool)"
	for _, c := range []struct {
		getter func() error
		panics func()
		want   string
	}{
		{func() error { _, err := r.GetInt64("idd"); return err }, func() { r.Int64("idd") },
			`Row.Int64("idd"): no such column` + cols},
		{func() error { _, err := r.GetInt64("fare"); return err }, func() { r.Int64("fare") },
			`Row.Int64("fare"): column "fare" is float64; Int64 reads an integer column` + cols},
		{func() error { _, err := r.GetFloat64("name"); return err }, func() { r.Float64("name") },
			`Row.Float64("name"): column "name" is utf8; Float64 reads an integer or float column` + cols},
		{func() error { _, err := r.GetString("id"); return err }, func() { _ = r.String("id") },
			`Row.String("id"): column "id" is int64; String reads a utf8 column (or a dictionary of utf8)` + cols},
		{func() error { _, err := r.GetBool("name"); return err }, func() { r.Bool("name") },
			`Row.Bool("name"): column "name" is utf8; Bool reads a bool column` + cols},
		{func() error { _, err := r.Lookup("nme"); return err }, func() { r.Get("nme") },
			`Row.Get("nme"): no such column` + cols},
		{func() error { return nil }, func() { r.IsNull("nme") },
			`Row.IsNull("nme"): no such column` + cols},
	} {
		if err := c.getter(); err != nil && err.Error() != c.want {
			t.Errorf("error %q, want %q", err, c.want)
		} else if err == nil && !strings.HasPrefix(c.want, "Row.IsNull") {
			t.Errorf("no error, want %q", c.want)
		}
		func() {
			defer func() {
				var access *AccessError
				v := recover()
				if err, ok := v.(error); !ok || !errors.As(err, &access) || err.Error() != c.want {
					t.Errorf("panic %v, want a *AccessError saying %q", v, c.want)
				}
			}()
			c.panics()
		}()
	}
	// A right getter on a null column reads the zero value, without error.
	nulls := mustFromItems(t, mem, []Item{{"x": 1, "s": "a"}, {}})
	defer nulls.Release()
	n := NewRow(nulls, 1)
	if v, err := n.GetInt64("x"); v != 0 || err != nil || !n.IsNull("x") {
		t.Errorf("null x: %d, %v", v, err)
	}
	if v, err := n.GetString("s"); v != "" || err != nil {
		t.Errorf("null s: %q, %v", v, err)
	}
}
