package formats

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
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

// TestSourceDictionaryColumns: a source asked for a string column as a
// dictionary gives it so (values equal), locally and through its tasks'
// specs (rebuilt as another process would), and only for string columns
// it has.
func TestSourceDictionaryColumns(t *testing.T) {
	dir := t.TempDir()
	writeSampleFiles(t, dir, 100, 300)
	s := newTestSource(t, SourceOptions{Paths: []string{dir}})
	p, err := s.WithColumns([]string{"id", "s"})
	if err != nil {
		t.Fatal(err)
	}
	d := p.(*Source).WithDictionaryColumns([]string{"s", "id", "nope"}).(*Source)
	if fmt.Sprint(d.dictCols) != "[s]" {
		t.Errorf("dictionary columns %v, want [s] (id is not a string, nope not a column)", d.dictCols)
	}
	tasks, err := d.ReadTasks(1)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, task := range tasks {
		if task.Spec == nil || !strings.Contains(string(task.Spec.Args), `"dict_cols":["s"]`) {
			t.Fatalf("the task's spec does not carry the dictionary columns")
		}
		shipped, err := ops.BuildRead(*task.Spec)
		if err != nil {
			t.Fatal(err)
		}
		for _, read := range []ops.ReadFunc{task.Read, shipped} {
			blks, err := read(&exec.TaskContext{Context: context.Background(), Alloc: mem})
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range blks {
				col := b.Column(b.Schema().FieldIndices("s")[0])
				dict, ok := col.(*array.Dictionary)
				if !ok {
					t.Fatalf("s is %s, want a dictionary", col.DataType())
				}
				for i := range dict.Len() {
					id := b.Column(0).(*array.Int64).Value(i)
					want := pqSampleString(int(id))
					if dict.IsNull(i) != (want == nil) || (want != nil && dict.Dictionary().(*array.String).Value(dict.GetValueIndex(i)) != *want) {
						t.Fatalf("row id %d: s differs from what was written", id)
					}
				}
				b.Release()
			}
		}
	}
}

// pqSampleString is column s of pqSample's row id (nil: null).
func pqSampleString(id int) *string {
	if id%6 == 2 {
		return nil
	}
	v := fmt.Sprintf("s%05d", id)
	return &v
}
