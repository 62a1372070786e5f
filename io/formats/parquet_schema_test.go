package formats

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

// pqWalkFields calls fn on every field of sc, nested ones included, with
// whether it is a map's key.
func pqWalkFields(sc *arrow.Schema, fn func(path string, f arrow.Field, mapKey bool)) {
	var walk func(path string, f arrow.Field, mapKey bool)
	walk = func(path string, f arrow.Field, mapKey bool) {
		path += "/" + f.Name
		fn(path, f, mapKey)
		switch t := f.Type.(type) {
		case *arrow.StructType:
			for _, c := range t.Fields() {
				walk(path, c, false)
			}
		case *arrow.MapType:
			walk(path, t.KeyField(), true)
			walk(path, t.ItemField(), false)
		case arrow.ListLikeType:
			walk(path, t.ElemField(), false)
		}
	}
	for _, f := range sc.Fields() {
		walk("", f, false)
	}
}

// TestParquetReadSchemaNormalized: by default a read schema has every
// field nullable (map keys aside) and no PARQUET:field_id metadata, at
// every depth, in Inspect and in every block read; KeepRequired keeps the
// file's REQUIRED fields non-nullable.
func TestParquetReadSchemaNormalized(t *testing.T) {
	dir := pqTestingPath(t, "data")
	ctx := context.Background()
	for _, name := range []string{"nested_maps.snappy.parquet", "nonnullable.impala.parquet", "list_columns.parquet", "old_list_structure.parquet", "alltypes_plain.parquet"} {
		t.Run(name, func(t *testing.T) {
			f := pqOpen(t, dir+"/"+name)
			mem := pqCheckedAlloc()
			defer mem.AssertSize(t, 0)
			meta, recs, err := pqInspectRead(ctx, Parquet(ParquetOptions{}), f, mem, 0)
			defer pqRelease(recs)
			if err != nil {
				t.Fatal(err)
			}
			check := func(sc *arrow.Schema) {
				pqWalkFields(sc, func(path string, fld arrow.Field, mapKey bool) {
					if fld.Metadata.FindKey(pqFieldIDKey) >= 0 {
						t.Errorf("%s carries %s", path, pqFieldIDKey)
					}
					if !fld.Nullable && !mapKey {
						t.Errorf("%s is not nullable", path)
					}
				})
			}
			check(meta.Schema)
			for _, r := range recs {
				check(r.Schema())
			}

			kmeta, krecs, err := pqInspectRead(ctx, Parquet(ParquetOptions{KeepRequired: true}), f, mem, 0)
			defer pqRelease(krecs)
			if err != nil {
				t.Fatal(err)
			}
			required := 0
			pqWalkFields(kmeta.Schema, func(path string, fld arrow.Field, mapKey bool) {
				if !fld.Nullable && !mapKey {
					required++
				}
			})
			if name == "nonnullable.impala.parquet" && required == 0 {
				t.Errorf("KeepRequired: no required field left in %s", kmeta.Schema)
			}
			for _, r := range krecs {
				if !r.Schema().Equal(kmeta.Schema) {
					t.Fatalf("KeepRequired: block schema %s, inspected %s", r.Schema(), kmeta.Schema)
				}
			}
		})
	}
}
