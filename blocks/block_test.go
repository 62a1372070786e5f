package blocks

import (
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/util"
)

func checkedMem(t *testing.T) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

func mustItems(t *testing.T, mem memory.Allocator, items []Item) Block {
	t.Helper()
	b, err := FromItems(mem, items)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ids(t *testing.T, b Block, col string) []any {
	t.Helper()
	var out []any
	for _, it := range ToItems(b) {
		out = append(out, it[col])
	}
	return out
}

// Size must agree with arrow's own accounting on records that share no
// buffers, including nested and dictionary columns.
func TestSizeMatchesArrowAccounting(t *testing.T) {
	mem := checkedMem(t)
	b := mustItems(t, mem, []Item{
		{"i": 1, "s": "abc", "l": []any{1, 2}, "st": Item{"x": 1.5}},
		{"i": nil, "s": "de", "l": nil, "st": nil},
	})
	defer b.Release()
	if got, want := Size(b), util.TotalRecordSize(b); got != want || got == 0 {
		t.Errorf("Size = %d, arrow says %d", got, want)
	}

	db := array.NewDictionaryBuilder(mem, &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}).(*array.BinaryDictionaryBuilder)
	defer db.Release()
	for _, s := range []string{"a", "b", "a"} {
		if err := db.AppendString(s); err != nil {
			t.Fatal(err)
		}
	}
	dict := db.NewArray()
	defer dict.Release()
	rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "d", Type: dict.DataType()}}, nil), []arrow.Array{dict}, 3)
	defer rec.Release()
	if got, want := Size(rec), util.TotalRecordSize(rec); got != want {
		t.Errorf("dictionary: Size = %d, arrow says %d", got, want)
	}
	if Size(nil) != 0 {
		t.Error("Size(nil) != 0")
	}
}

func TestSplitSliceConcatTake(t *testing.T) {
	mem := checkedMem(t)
	items := make([]Item, 10)
	for i := range items {
		items[i] = Item{"id": i}
	}
	b := mustItems(t, mem, items)
	defer b.Release()

	parts := Split(b, 4)
	if len(parts) != 3 || parts[0].NumRows() != 4 || parts[2].NumRows() != 2 {
		t.Fatalf("Split(4) of 10 rows: %d parts", len(parts))
	}
	empty := Empty(mem, b.Schema())
	all, err := Concat(mem, append([]Block{empty}, parts...))
	empty.Release()
	for _, p := range parts {
		p.Release()
	}
	if err != nil {
		t.Fatal(err)
	}
	defer all.Release()
	if !array.RecordEqual(all, b) {
		t.Errorf("Concat(Split(b)) != b")
	}

	taken, err := Take(mem, b, []int64{9, 0, 3})
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Release()
	if got := ids(t, taken, "id"); len(got) != 3 || got[0] != int64(9) || got[1] != int64(0) || got[2] != int64(3) {
		t.Errorf("Take = %v", got)
	}
	if _, err := Take(mem, b, []int64{10}); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("Take out of range: %v", err)
	}
	if _, err := Concat(mem, nil); err == nil {
		t.Error("Concat of nothing: no error")
	}
}

// Blocks a per-row function typed differently (null, int, float, a missing
// column, a void block) concatenate under their unified schema.
func TestConcatUnifiesSchemas(t *testing.T) {
	mem := checkedMem(t)
	a := mustItems(t, mem, []Item{{"x": nil, "y": "a"}})
	b := mustItems(t, mem, []Item{{"x": 2, "y": "b"}})
	c := mustItems(t, mem, []Item{{"x": 2.5}})
	void := mustItems(t, mem, nil)
	defer func() {
		for _, blk := range []Block{a, b, c, void} {
			blk.Release()
		}
	}()
	out, err := Concat(mem, []Block{a, void, b, c})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if s := out.Schema(); s.Field(0).Type.ID() != arrow.FLOAT64 || s.Field(1).Type.ID() != arrow.STRING {
		t.Errorf("unified schema %s", s)
	}
	if got := ids(t, out, "x"); got[0] != nil || got[1] != 2.0 || got[2] != 2.5 {
		t.Errorf("x = %v", got)
	}
	if got := ids(t, out, "y"); got[2] != nil {
		t.Errorf("missing y should be null, got %v", got)
	}

	s := mustItems(t, mem, []Item{{"x": "text"}})
	defer s.Release()
	_, err = Concat(mem, []Block{b, s})
	var conflict *SchemaConflictError
	if !errors.As(err, &conflict) || conflict.Column != "x" || !strings.Contains(err.Error(), "int64") || !strings.Contains(err.Error(), "utf8") {
		t.Errorf("conflict error = %v", err)
	}
}

func TestUnifySchemasWidening(t *testing.T) {
	f := func(t arrow.DataType) *arrow.Schema {
		return arrow.NewSchema([]arrow.Field{{Name: "v", Type: t}}, nil)
	}
	cases := []struct{ a, b, want arrow.DataType }{
		{arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int64},
		{arrow.PrimitiveTypes.Uint8, arrow.PrimitiveTypes.Uint32, arrow.PrimitiveTypes.Uint32},
		{arrow.PrimitiveTypes.Uint32, arrow.PrimitiveTypes.Int16, arrow.PrimitiveTypes.Int64},
		{arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64},
		{arrow.Null, arrow.BinaryTypes.String, arrow.BinaryTypes.String},
	}
	for _, c := range cases {
		s, err := UnifySchemas(f(c.a), f(c.b))
		if err != nil || !arrow.TypeEqual(s.Field(0).Type, c.want) {
			t.Errorf("%s + %s = %v, %v; want %s", c.a, c.b, s, err, c.want)
		}
	}
}

func TestColumnEdits(t *testing.T) {
	mem := checkedMem(t)
	b := mustItems(t, mem, []Item{{"a": 1, "b": "x"}})
	defer b.Release()
	if _, err := Column(b, "zz"); err == nil || !strings.Contains(err.Error(), `"zz"`) || !strings.Contains(err.Error(), "[a b]") {
		t.Errorf("Column(zz): %v", err)
	}
	sel, err := Select(b, []string{"b", "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer sel.Release()
	if sel.Schema().Field(0).Name != "b" {
		t.Errorf("Select order: %s", sel.Schema())
	}
	col := NumericArray([]float64{9})
	defer col.Release()
	wc, err := WithColumn(b, "a", col)
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Release()
	if wc.NumCols() != 2 || wc.Schema().Field(0).Type.ID() != arrow.FLOAT64 {
		t.Errorf("WithColumn replace: %s", wc.Schema())
	}
	long := NumericArray([]float64{1, 2})
	defer long.Release()
	if _, err := WithColumn(b, "c", long); err == nil {
		t.Error("WithColumn with the wrong length: no error")
	}
	if _, err := Values[int32](b.Column(0)); err == nil {
		t.Error("Values[int32] of an int64 column: no error")
	}
}
