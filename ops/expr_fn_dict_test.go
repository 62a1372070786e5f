package ops

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestFunctionsOverDictionaries checks that a dictionary-encoded column
// (as Parquet's dictionary pages give) computes what its decoded values
// do, both where the function runs once per dictionary entry and where the
// column is decoded first.
func TestFunctionsOverDictionaries(t *testing.T) {
	withFnBlock(t, func(mem memory.Allocator, b arrow.RecordBatch) {
		ctx := compute.WithAllocator(context.Background(), mem)
		schema := b.Schema()
		fields := append([]arrow.Field(nil), schema.Fields()...)
		cols := append([]arrow.Array(nil), b.Columns()...)
		var owned []arrow.Array
		defer func() {
			for _, a := range owned {
				a.Release()
			}
		}()
		for _, name := range []string{"s", "small", "d32"} {
			i := schema.FieldIndices(name)[0]
			dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: fields[i].Type}
			enc, err := compute.CastArray(ctx, b.Column(i), compute.SafeCastOptions(dt))
			if err != nil {
				// arrow-go may not cast to dictionaries: build one directly.
				bld := array.NewDictionaryBuilder(mem, dt)
				if err := bld.AppendArray(b.Column(i)); err != nil {
					t.Fatal(err)
				}
				enc = bld.NewArray()
				bld.Release()
			}
			owned = append(owned, enc)
			fields = append(fields, arrow.Field{Name: name + "_dict", Type: dt, Nullable: true})
			cols = append(cols, enc)
		}
		db := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, b.NumRows())
		defer db.Release()
		for _, c := range [][2]Expr{
			{Call("lower", Col("s_dict")), Call("lower", Col("s"))},
			{Call("length", Col("s_dict")), Call("length", Col("s"))},
			{Call("contains", Col("s_dict"), "a"), Call("contains", Col("s"), "a")},
			{Call("contains", Col("s_dict"), Col("sub")), Call("contains", Col("s"), Col("sub"))},
			{Call("substr", Col("s_dict"), 2, 2), Call("substr", Col("s"), 2, 2)},
			{Call("coalesce", Col("s_dict"), "none"), Call("coalesce", Col("s"), "none")},
			{Call("abs", Col("small_dict")), Call("abs", Col("small"))},
			{Call("year", Col("d32_dict")), Call("year", Col("d32"))},
			// Comparisons with a constant run once per dictionary entry.
			{Col("s_dict").Eq("a"), Col("s").Eq("a")},
			{Col("s_dict").Ge("b"), Col("s").Ge("b")},
			{Col("s_dict").Ne(""), Col("s").Ne("")},
			{Col("small_dict").Gt(3), Col("small").Gt(3)},
			{Col("small_dict").Lt(2.5), Col("small").Lt(2.5)},
			{Col("s_dict").Eq("a").And(Col("small_dict").Le(0)), Col("s").Eq("a").And(Col("small").Le(0))},
		} {
			if _, err := c[0].DataType(db.Schema()); err != nil {
				t.Fatalf("%s: %v", c[0], err)
			}
			got, err := c[0].Eval(context.Background(), mem, db)
			if err != nil {
				t.Fatalf("%s: %v", c[0], err)
			}
			want, err := c[1].Eval(context.Background(), mem, db)
			if err != nil {
				t.Fatal(err)
			}
			if !array.Equal(got, want) {
				t.Errorf("%s = %s, want %s", c[0], got, want)
			}
			got.Release()
			want.Release()
			// The same over a slice that starts inside the block.
			if n := db.NumRows(); n > 3 {
				part := db.NewSlice(1, n-1)
				got, err := c[0].Eval(context.Background(), mem, part)
				if err != nil {
					t.Fatalf("%s over a slice: %v", c[0], err)
				}
				want, err := c[1].Eval(context.Background(), mem, part)
				if err != nil {
					t.Fatal(err)
				}
				if !array.Equal(got, want) {
					t.Errorf("%s over a slice = %s, want %s", c[0], got, want)
				}
				got.Release()
				want.Release()
				part.Release()
			}
		}
	})
}
