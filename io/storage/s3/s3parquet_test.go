package s3

import (
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/shoal-data/shoal/io/storage"
)

// countingFile counts the ReadAt calls a Parquet reader makes.
type countingFile struct {
	storage.File
	reads atomic.Int64
}

func (c *countingFile) ReadAt(p []byte, off int64) (int, error) {
	c.reads.Add(1)
	return c.File.ReadAt(p, off)
}

// TestS3ParquetCoalescing writes a Parquet file of several row groups and
// small pages to S3, reads it back with arrow-go, and checks the read
// cache turns the reader's many small reads into few GETs.
func TestS3ParquetCoalescing(t *testing.T) {
	fs, bucket := newTestS3(t, nil)
	ctx := t.Context()
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)

	const rows = 200_000
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64},
		{Name: "s", Type: arrow.BinaryTypes.String},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i := range rows {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.Float64Builder).Append(float64(i) / 3)
		b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("row-%07d", i))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	tbl := array.NewTableFromRecords(schema, []arrow.RecordBatch{rec})
	defer tbl.Release()

	p := bucket + "/t.parquet"
	w, err := fs.Create(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	props := parquet.NewWriterProperties(
		parquet.WithAllocator(mem), parquet.WithDataPageSize(8<<10), parquet.WithDictionaryDefault(false))
	if err := pqarrow.WriteTable(tbl, w, 50_000, props, pqarrow.DefaultWriterProps()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	// ReadTable reads column by column, each across all row groups;
	// ReadRowGroups one row group (all its columns) at a time, as a
	// streaming reader does.
	for _, c := range []struct {
		buffered, byRowGroup bool
	}{{true, false}, {false, false}, {true, true}, {false, true}} {
		f, err := fs.Open(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		cf := &countingFile{File: f}
		rprops := parquet.NewReaderProperties(mem)
		rprops.BufferedStreamEnabled = c.buffered
		rprops.BufferSize = 8 << 10
		pf, err := file.NewParquetReader(io.NewSectionReader(cf, 0, f.Size()), file.WithReadProps(rprops))
		if err != nil {
			t.Fatal(err)
		}
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 10_000}, mem)
		if err != nil {
			t.Fatal(err)
		}
		var tables []arrow.Table
		if c.byRowGroup {
			for rg := range pf.NumRowGroups() {
				got, err := fr.ReadRowGroups(ctx, []int{0, 1, 2}, []int{rg})
				if err != nil {
					t.Fatal(err)
				}
				tables = append(tables, got)
			}
		} else {
			got, err := fr.ReadTable(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tables = append(tables, got)
		}
		for i := range int(tbl.NumCols()) {
			var chunks []arrow.Array
			for _, got := range tables {
				chunks = append(chunks, got.Column(i).Data().Chunks()...)
			}
			col := arrow.NewChunked(tbl.Schema().Field(i).Type, chunks)
			if col.Len() != rows || !array.ChunkedEqual(col, tbl.Column(i).Data()) {
				t.Fatalf("%+v: column %d read back differs", c, i)
			}
			col.Release()
		}
		for _, got := range tables {
			got.Release()
		}
		pf.Close()
		f.Close()

		gets, reads := f.(*s3File).gets.Load(), cf.reads.Load()
		t.Logf("%+v: %d byte file, %d row groups, %d ReadAt calls, %d GETs", c, f.Size(), pf.NumRowGroups(), reads, gets)
		// About one GET per MiB touched, plus the footer. Reading column
		// by column passes over the file once per column, and the 4 cached
		// spans cannot hold a whole file's worth between passes.
		spans := f.Size()>>20 + 1
		limit := spans + 2
		if !c.byRowGroup {
			limit = spans*tbl.NumCols() + 2
		}
		if gets > limit || (c.buffered && gets*10 > reads) {
			t.Errorf("%+v: %d ReadAt calls made %d GETs; want at most %d and far fewer than the reads", c, reads, gets, limit)
		}
	}
}
