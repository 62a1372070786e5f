package formats

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestParquetDictColumns: a top-level string column named in DictColumns
// arrives as a dictionary array with the same values (nulls included);
// names that are not such columns (a struct, a number, an unknown name)
// are ignored.
func TestParquetDictColumns(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := pqSample(t, mem, 0, 250)
	data := pqEncode(t, ParquetOptions{RowGroupRows: 100}, []arrow.RecordBatch{rec})
	rec.Release()
	path := filepath.Join(t.TempDir(), "d.parquet")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	p := Parquet(ParquetOptions{})
	f := pqOpen(t, path)
	meta, err := p.Inspect(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	read := func(dict []string) []arrow.RecordBatch {
		var out []arrow.RecordBatch
		req := ReadRequest{Alloc: mem, Columns: []string{"id", "s", "st", "f"}, BatchRows: 64, Limit: -1, DictColumns: dict}
		if err := p.Read(context.Background(), f, meta, req, func(r arrow.RecordBatch) error {
			out = append(out, r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	plain, dict := read(nil), read([]string{"s", "st", "f", "nope"})
	defer func() {
		for _, r := range append(plain, dict...) {
			r.Release()
		}
	}()
	if len(plain) != len(dict) {
		t.Fatalf("%d blocks, %d with DictColumns", len(plain), len(dict))
	}
	nulls := 0
	for i := range plain {
		for j, fld := range plain[i].Schema().Fields() {
			got := dict[i].Column(j)
			if fld.Name != "s" {
				if !array.Equal(plain[i].Column(j), got) {
					t.Errorf("column %s changed with DictColumns", fld.Name)
				}
				continue
			}
			d, ok := got.(*array.Dictionary)
			if !ok {
				t.Fatalf("s is %s with DictColumns, want a dictionary", got.DataType())
			}
			want := plain[i].Column(j).(*array.String)
			vals := d.Dictionary().(*array.String)
			for r := range want.Len() {
				if want.IsNull(r) != d.IsNull(r) {
					t.Fatalf("block %d row %d: null %v, want %v", i, r, d.IsNull(r), want.IsNull(r))
				}
				if want.IsNull(r) {
					nulls++
					continue
				}
				if v := vals.Value(d.GetValueIndex(r)); v != want.Value(r) {
					t.Fatalf("block %d row %d: %q, want %q", i, r, v, want.Value(r))
				}
			}
		}
	}
	if nulls == 0 {
		t.Errorf("the sample has no null strings: the test checks less than it says")
	}
}
