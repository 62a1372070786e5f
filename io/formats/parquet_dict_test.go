package formats

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

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

// TestParquetRepetitiveStringsWrittenAsDictionaries: a string column whose
// values repeat is written through arrow-go's dictionary path (one
// dictionary for the blocks of a file) and reads back as the strings it
// was, nulls included, with statistics; the stored schema says utf8, so
// pqarrow alone reads strings too. A column of distinct strings and a
// file with more distinct values than dictStringMax take the plain path.
func TestParquetRepetitiveStringsWrittenAsDictionaries(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "pay", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "uniq", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}, nil)
	pays := []string{"card", "cash", "dispute", "unknown"}
	block := func(lo, n int) arrow.RecordBatch {
		b := array.NewRecordBuilder(mem, sc)
		defer b.Release()
		for i := lo; i < lo+n; i++ {
			if i%17 == 0 {
				b.Field(0).AppendNull()
			} else {
				b.Field(0).(*array.StringBuilder).Append(pays[i%len(pays)])
			}
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("u%07d", i))
			b.Field(2).(*array.Int64Builder).Append(int64(i))
		}
		return b.NewRecordBatch()
	}
	recs := []arrow.RecordBatch{block(0, 3000), block(3000, 5000)}
	defer pqRelease(recs)

	ws, dicts := dictStrings(mem, sc, recs)
	if ws == nil || ws.Field(0).Type.ID() != arrow.DICTIONARY || ws.Field(1).Type.ID() != arrow.STRING {
		t.Fatalf("dictionary schema %v: want pay as a dictionary, uniq as strings", ws)
	}
	if d0, d1 := dicts[0].Column(0).(*array.Dictionary), dicts[1].Column(0).(*array.Dictionary); d0.Dictionary().Data() != d1.Dictionary().Data() || d0.Dictionary().Len() != 4 {
		t.Errorf("the blocks do not share one dictionary of 4 values")
	}
	pqRelease(dicts)

	data := pqEncode(t, ParquetOptions{}, recs)
	f := pqFile("d.parquet", data)
	p := Parquet(ParquetOptions{})
	meta, got, err := pqInspectRead(context.Background(), p, f, mem, 0)
	defer pqRelease(got)
	if err != nil {
		t.Fatal(err)
	}
	if !meta.Schema.Equal(sc) {
		t.Fatalf("read schema %s, want %s", meta.Schema, sc)
	}
	pqAssertColumnsEqual(t, recs, got, []string{"pay", "uniq", "n"})
	st, ok := meta.Units[0].Stats["pay"]
	if !ok || !st.HasMinMax || st.Min != "card" || st.Max != "unknown" || st.NullCount != int64(8000/17+1) {
		t.Errorf("pay statistics %+v, want card..unknown with %d nulls", st, 8000/17+1)
	}

	// pqarrow alone reads strings, and the chunk is dictionary-encoded.
	pr, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		t.Fatal(err)
	}
	asc, err := fr.Schema()
	if err != nil || asc.Field(0).Type.ID() != arrow.STRING {
		t.Fatalf("pqarrow reads pay as %v (%v), want utf8", asc, err)
	}
	cc, err := pr.MetaData().RowGroup(0).ColumnChunk(0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cc.Encodings(), parquet.Encodings.RLEDict) && !slices.Contains(cc.Encodings(), parquet.Encodings.PlainDict) {
		t.Errorf("pay's encodings %v: not dictionary-encoded", cc.Encodings())
	}

	// More distinct values than dictStringMax after a repetitive start:
	// written as strings, read back the same.
	big := func() arrow.RecordBatch {
		b := array.NewStringBuilder(mem)
		defer b.Release()
		for i := range dictStringMax + 10_000 {
			if i < dictSample {
				b.Append(pays[i%len(pays)])
			} else {
				b.Append(fmt.Sprint(i))
			}
		}
		col := b.NewArray()
		defer col.Release()
		s1 := arrow.NewSchema([]arrow.Field{{Name: "pay", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
		return array.NewRecordBatch(s1, []arrow.Array{col}, int64(col.Len()))
	}()
	defer big.Release()
	if ws, _ := dictStrings(mem, big.Schema(), []arrow.RecordBatch{big}); ws != nil {
		t.Errorf("a column past dictStringMax distinct values was converted")
	}

	// The empty string among the values: written as strings, so that its
	// statistics count "" (see dictStringMax), and a filter on "" finds it.
	withEmpty := func() arrow.RecordBatch {
		b := array.NewStringBuilder(mem)
		defer b.Release()
		for i := range 1000 {
			b.Append([]string{"card", "", "cash"}[i%3])
		}
		col := b.NewArray()
		defer col.Release()
		s1 := arrow.NewSchema([]arrow.Field{{Name: "pay", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
		return array.NewRecordBatch(s1, []arrow.Array{col}, int64(col.Len()))
	}()
	defer withEmpty.Release()
	if ws, _ := dictStrings(mem, withEmpty.Schema(), []arrow.RecordBatch{withEmpty}); ws != nil {
		t.Errorf("a column holding the empty string was converted")
	}
	em, err := p.Inspect(context.Background(), pqFile("empty.parquet", pqEncode(t, ParquetOptions{}, []arrow.RecordBatch{withEmpty})))
	if err != nil {
		t.Fatal(err)
	}
	if st := em.Units[0].Stats["pay"]; !st.HasMinMax || st.Min != "" || st.Max != "cash" {
		t.Errorf("statistics of a column holding \"\": %+v, want min \"\" and max cash", st)
	}
	_, again, err := pqInspectRead(context.Background(), p, pqFile("big.parquet", pqEncode(t, ParquetOptions{}, []arrow.RecordBatch{big})), mem, 0)
	defer pqRelease(again)
	if err != nil {
		t.Fatal(err)
	}
	pqAssertColumnsEqual(t, []arrow.RecordBatch{big}, again, []string{"pay"})
}
