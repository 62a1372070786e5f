package formats

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/shoal-data/shoal/ops"
)

// pqPagedRows is the size of the paged test file.
const pqPagedRows = 20000

// pqPagedValue gives row x's y (null for x in [8000, 12000)) and s.
func pqPagedValue(x int64) (y float64, yNull bool, s string) {
	return float64(x) / 2, x >= 8000 && x < 12000, fmt.Sprintf("k%06d", x)
}

// pqPagedFile writes x (0..n-1 ascending), y and s in small pages with a
// page index, in row groups of 7000 rows (a page's rows end where a row
// group does).
func pqPagedFile(t testing.TB, pageIndex bool) []byte {
	return pqPagedFileDict(t, pageIndex, false)
}

// pqPagedFileDict is pqPagedFile with s dictionary-encoded when dict is set.
func pqPagedFileDict(t testing.TB, pageIndex, dict bool) []byte {
	t.Helper()
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "x", Type: arrow.PrimitiveTypes.Int64},
		{Name: "y", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String},
	}, nil)
	b := array.NewRecordBuilder(memory.NewGoAllocator(), sc)
	defer b.Release()
	for x := range int64(pqPagedRows) {
		y, null, s := pqPagedValue(x)
		b.Field(0).(*array.Int64Builder).Append(x)
		if null {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.Float64Builder).Append(y)
		}
		b.Field(2).(*array.StringBuilder).Append(s)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	props := parquet.NewWriterProperties(parquet.WithDictionaryDefault(false), parquet.WithDictionaryFor("s", dict), parquet.WithDataPageSize(1024),
		parquet.WithBatchSize(128), parquet.WithMaxRowGroupLength(7000), parquet.WithStats(true),
		parquet.WithPageIndexEnabled(pageIndex))
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(sc, &buf, props, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestParquetPageIndexSkipsPages: with a filter, a read decodes only the
// pages whose page index says they may match, every column seeked to the
// same rows: the rows it gives hold every matching row, with its own y and
// s, and far fewer rows than the file when the filter is selective. A file
// without a page index, or a filter the index cannot judge, reads all.
func TestParquetPageIndexSkipsPages(t *testing.T) {
	x, y, s := ops.Col("x"), ops.Col("y"), ops.Col("s")
	cases := []struct {
		name   string
		filter ops.Expr
		match  func(x int64) bool
		most   int64 // at most this many rows read (with the index)
	}{
		{"range", x.Ge(int64(3000)).And(x.Lt(int64(3100))), func(v int64) bool { return v >= 3000 && v < 3100 }, 1000},
		{"two ranges", x.Lt(int64(50)).Or(x.Gt(int64(19950))), func(v int64) bool { return v < 50 || v > 19950 }, 1000},
		{"two pieces of one row group", x.Lt(int64(50)).Or(x.Gt(int64(6000)).And(x.Lt(int64(6050)))),
			func(v int64) bool { return v < 50 || (v > 6000 && v < 6050) }, 1000},
		{"string", s.Eq("k004321"), func(v int64) bool { return v == 4321 }, 500},
		{"float", y.Between(100.0, 120.0), func(v int64) bool { return v >= 200 && v <= 240 }, 500},
		{"null pages", y.IsNull(), func(v int64) bool { _, n, _ := pqPagedValue(v); return n }, 6000},
		{"none", x.Lt(int64(0)), func(int64) bool { return false }, 0},
		{"unjudged", x.Mod(int64(1000)).Eq(int64(7)), func(v int64) bool { return v%1000 == 7 }, pqPagedRows},
	}
	p := Parquet(ParquetOptions{})
	for _, index := range []bool{true, false} {
		data := pqPagedFile(t, index)
		f := pqFile("paged.parquet", data)
		meta, err := p.Inspect(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range cases {
			for _, local := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/index=%v/local=%v", tc.name, index, local), func(t *testing.T) {
					mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
					defer mem.AssertSize(t, 0)
					req := ReadRequest{Alloc: mem, BatchRows: 300, Limit: -1, Filter: tc.filter, LocalFile: local}
					recs, err := pqReadAll(t, p, f, meta, req)
					defer pqRelease(recs)
					if err != nil {
						t.Fatal(err)
					}
					read := map[int64]bool{}
					last := int64(-1)
					for _, r := range recs {
						xs := r.Column(0).(*array.Int64).Int64Values()
						ys, ss := r.Column(1).(*array.Float64), r.Column(2).(*array.String)
						for i, v := range xs {
							if v <= last {
								t.Fatalf("row %d after row %d: rows repeated or out of order", v, last)
							}
							last = v
							read[v] = true
							wy, wnull, ws := pqPagedValue(v)
							if ys.IsNull(i) != wnull || (!wnull && ys.Value(i) != wy) || ss.Value(i) != ws {
								t.Fatalf("row x=%d: y=%v (null %v) s=%q, want y=%v (null %v) s=%q: columns misaligned",
									v, ys.Value(i), ys.IsNull(i), ss.Value(i), wy, wnull, ws)
							}
						}
					}
					for v := range int64(pqPagedRows) {
						if tc.match(v) && !read[v] {
							t.Fatalf("matching row x=%d was skipped", v)
						}
					}
					n := int64(len(read))
					switch {
					case !index && n != pqPagedRows:
						t.Errorf("read %d rows of a file without a page index, want all %d", n, pqPagedRows)
					case index && n > tc.most:
						t.Errorf("read %d rows, want at most %d: pages not skipped", n, tc.most)
					}
				})
			}
		}
	}
}

// TestParquetWritesPageIndex: files Shoal writes carry a page index unless
// the options turn it off.
func TestParquetWritesPageIndex(t *testing.T) {
	mem := memory.NewGoAllocator()
	rec := pqSample(t, mem, 0, 300)
	defer rec.Release()
	for _, off := range []bool{false, true} {
		data := pqEncode(t, ParquetOptions{DisablePageIndex: off}, []arrow.RecordBatch{rec})
		pr, err := file.NewParquetReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		rg, err := pr.GetPageIndexReader().RowGroup(0)
		if err != nil {
			t.Fatal(err)
		}
		leaf := pr.MetaData().Schema.ColumnIndexByName("id")
		var oi any
		if rg != nil {
			if o, err := rg.GetOffsetIndex(leaf); err == nil && o != nil {
				oi = o
			}
		}
		if (oi != nil) == off {
			t.Errorf("DisablePageIndex=%v: page index present = %v", off, oi != nil)
		}
		pr.Close()
	}
}

// TestParquetPageIndexWithDictionaryReads: pages are skipped the same way
// when the filter's string column is read as a dictionary (as a filter
// alone reading it asks), the dictionary page read before the seeks.
func TestParquetPageIndexWithDictionaryReads(t *testing.T) {
	p := Parquet(ParquetOptions{})
	f := pqFile("dict.parquet", pqPagedFileDict(t, true, true))
	meta, err := p.Inspect(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := ops.Col("s")
	req := ReadRequest{Alloc: mem, BatchRows: 300, Limit: -1, Filter: s.Ge("k004300").And(s.Lt("k004400")),
		DictColumns: []string{"s"}, LocalFile: true}
	recs, err := pqReadAll(t, p, f, meta, req)
	defer pqRelease(recs)
	if err != nil {
		t.Fatal(err)
	}
	read, found := 0, 0
	for _, r := range recs {
		xs := r.Column(0).(*array.Int64)
		d, ok := r.Column(2).(*array.Dictionary)
		if !ok {
			t.Fatalf("s is %s, want a dictionary", r.Column(2).DataType())
		}
		vals := d.Dictionary().(*array.String)
		for i := range xs.Len() {
			read++
			_, _, want := pqPagedValue(xs.Value(i))
			if got := vals.Value(d.GetValueIndex(i)); got != want {
				t.Fatalf("row x=%d: s=%q, want %q", xs.Value(i), got, want)
			}
			if want >= "k004300" && want < "k004400" {
				found++
			}
		}
	}
	if found != 100 || read >= pqPagedRows/4 {
		t.Errorf("read %d rows holding %d of the 100 matches: want all matches from a few pages", read, found)
	}
}
