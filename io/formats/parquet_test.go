package formats

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"

	"github.com/shoal-data/shoal/io/storage"
)

// pqMemFile is a storage.File over bytes.
type pqMemFile struct {
	*bytes.Reader
	name string
}

func (f pqMemFile) Close() error { return nil }
func (f pqMemFile) Name() string { return f.name }

var _ storage.File = pqMemFile{}

func pqFile(name string, b []byte) pqMemFile { return pqMemFile{bytes.NewReader(b), name} }

// pqPoisonAlloc is a Go allocator that overwrites memory when it is freed,
// so a block whose buffers were freed under it reads as garbage.
type pqPoisonAlloc struct{}

func (pqPoisonAlloc) Allocate(n int) []byte { return memory.DefaultAllocator.Allocate(n) }
func (a pqPoisonAlloc) Reallocate(n int, b []byte) []byte {
	nb := a.Allocate(n)
	copy(nb, b)
	a.Free(b)
	return nb
}
func (pqPoisonAlloc) Free(b []byte) {
	for i := range b {
		b[i] = 0xA5
	}
}

// pqLimitAlloc fails, by panicking with a clear error (which Read turns
// into an error), once more than limit bytes would be outstanding.
type pqLimitAlloc struct {
	mem   memory.Allocator
	limit int64
	cur   atomic.Int64
	peak  atomic.Int64
}

func (a *pqLimitAlloc) grow(n int64) {
	c := a.cur.Add(n)
	if c > a.limit {
		a.cur.Add(-n)
		panic(fmt.Errorf("test allocator: %d bytes outstanding would exceed the limit of %d", c, a.limit))
	}
	for {
		p := a.peak.Load()
		if c <= p || a.peak.CompareAndSwap(p, c) {
			break
		}
	}
}

func (a *pqLimitAlloc) Allocate(n int) []byte {
	a.grow(int64(n))
	return a.mem.Allocate(n)
}

func (a *pqLimitAlloc) Reallocate(n int, b []byte) []byte {
	a.grow(int64(n - len(b)))
	return a.mem.Reallocate(n, b)
}

func (a *pqLimitAlloc) Free(b []byte) {
	a.cur.Add(-int64(len(b)))
	a.mem.Free(b)
}

// pqCheckedAlloc is a checked, poisoning allocator.
func pqCheckedAlloc() *memory.CheckedAllocator {
	return memory.NewCheckedAllocator(pqPoisonAlloc{})
}

var pqEpoch = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// pqSample builds rows [from, to) of the test table: nested columns come
// before flat ones, so a reader that confuses leaf and field indices reads
// the wrong column.
func pqSample(t testing.TB, mem memory.Allocator, from, to int) arrow.RecordBatch {
	t.Helper()
	sc := pqSampleSchema()
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	id := b.Field(0).(*array.Int64Builder)
	l := b.Field(1).(*array.ListBuilder)
	lv := l.ValueBuilder().(*array.Int64Builder)
	st := b.Field(2).(*array.StructBuilder)
	sa := st.FieldBuilder(0).(*array.Int32Builder)
	sb := st.FieldBuilder(1).(*array.StringBuilder)
	f := b.Field(3).(*array.Float64Builder)
	s := b.Field(4).(*array.StringBuilder)
	bo := b.Field(5).(*array.BooleanBuilder)
	ts := b.Field(6).(*array.TimestampBuilder)
	i32 := b.Field(7).(*array.Int32Builder)
	u := b.Field(8).(*array.Uint32Builder)
	for i := from; i < to; i++ {
		id.Append(int64(i))
		switch {
		case i%7 == 3:
			l.AppendNull()
		case i%5 == 0:
			l.Append(true) // empty list
		default:
			l.Append(true)
			for k := 0; k < i%3+1; k++ {
				lv.Append(int64(i*10 + k))
			}
		}
		if i%11 == 4 {
			st.AppendNull()
		} else {
			st.Append(true)
			sa.Append(int32(i * 2))
			if i%3 == 0 {
				sb.AppendNull()
			} else {
				sb.Append(fmt.Sprintf("b%d", i))
			}
		}
		if i%4 == 1 {
			f.AppendNull()
		} else {
			f.Append(float64(i)*0.5 - 10)
		}
		if i%6 == 2 {
			s.AppendNull()
		} else {
			s.Append(fmt.Sprintf("s%05d", i))
		}
		bo.Append(i%2 == 0)
		ts.Append(arrow.Timestamp(pqEpoch.Add(time.Duration(i) * time.Second).UnixMicro()))
		if i%9 == 8 {
			i32.AppendNull()
		} else {
			i32.Append(int32(i - 50))
		}
		u.Append(uint32(i * 3))
	}
	return b.NewRecordBatch()
}

func pqSampleSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "st", Type: arrow.StructOf(
			arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int32},
			arrow.Field{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
		), Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "u", Type: arrow.PrimitiveTypes.Uint32},
	}, nil)
}

// pqSampleRecs builds the test table as blocks of the given sizes.
func pqSampleRecs(t testing.TB, mem memory.Allocator, sizes ...int) []arrow.RecordBatch {
	var out []arrow.RecordBatch
	at := 0
	for _, n := range sizes {
		out = append(out, pqSample(t, mem, at, at+n))
		at += n
	}
	return out
}

func pqRelease(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

func pqEncode(t testing.TB, opts ParquetOptions, recs []arrow.RecordBatch) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Parquet(opts).Encode(context.Background(), &buf, recs[0].Schema(), recs); err != nil {
		t.Fatalf("encode: %v", err)
	}
	return buf.Bytes()
}

// pqReadAll reads f with req and returns the blocks emitted.
func pqReadAll(t testing.TB, p *ParquetFormat, f storage.File, meta *FileMeta, req ReadRequest) ([]arrow.RecordBatch, error) {
	t.Helper()
	var got []arrow.RecordBatch
	err := p.Read(context.Background(), f, meta, req, func(r arrow.RecordBatch) error {
		got = append(got, r)
		return nil
	})
	return got, err
}

// pqConcat concatenates column i of recs (with Go memory).
func pqConcat(t testing.TB, recs []arrow.RecordBatch, i int) arrow.Array {
	t.Helper()
	cols := make([]arrow.Array, 0, len(recs))
	for _, r := range recs {
		cols = append(cols, r.Column(i))
	}
	if len(cols) == 0 {
		t.Fatalf("no blocks to concatenate")
	}
	out, err := array.Concatenate(cols, memory.DefaultAllocator)
	if err != nil {
		t.Fatalf("concatenate: %v", err)
	}
	return out
}

func pqRows(recs []arrow.RecordBatch) int64 {
	var n int64
	for _, r := range recs {
		n += r.NumRows()
	}
	return n
}

// pqAssertColumnsEqual checks that got's columns named in names equal
// want's columns of the same name, across all blocks.
func pqAssertColumnsEqual(t testing.TB, want, got []arrow.RecordBatch, names []string) {
	t.Helper()
	if pqRows(want) != pqRows(got) {
		t.Fatalf("rows: got %d, want %d", pqRows(got), pqRows(want))
	}
	for _, name := range names {
		wi := want[0].Schema().FieldIndices(name)
		gi := got[0].Schema().FieldIndices(name)
		if len(wi) != 1 || len(gi) != 1 {
			t.Fatalf("column %s: in want %v, in got %v (got schema %s)", name, wi, gi, got[0].Schema())
		}
		w := pqConcat(t, want, wi[0])
		g := pqConcat(t, got, gi[0])
		if !arrow.TypeEqual(w.DataType(), g.DataType()) {
			t.Errorf("column %s: type %s, want %s", name, g.DataType(), w.DataType())
		} else if !pqArraysEqual(w, g) {
			t.Errorf("column %s differs:\ngot  %v\nwant %v", name, g, w)
		}
		w.Release()
		g.Release()
	}
}

// pqArraysEqual compares arrays exactly, but with NaN equal to NaN.
func pqArraysEqual(a, b arrow.Array) bool {
	return array.ApproxEqual(a, b, array.WithNaNsEqual(true), array.WithAbsTolerance(0))
}

func pqFieldNames(sc *arrow.Schema) []string {
	var out []string
	for _, f := range sc.Fields() {
		out = append(out, f.Name)
	}
	return out
}

func TestParquetFormatNames(t *testing.T) {
	p := Parquet(ParquetOptions{})
	if p.Format() != "parquet" || p.Ext() != ".parquet" {
		t.Fatalf("Format %q Ext %q", p.Format(), p.Ext())
	}
}

func TestParquetRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		compression string
		codec       compress.Compression
		dict        bool
	}{
		{"", compress.Codecs.Snappy, true},
		{"snappy", compress.Codecs.Snappy, true},
		{"zstd", compress.Codecs.Zstd, true},
		{"gzip", compress.Codecs.Gzip, false},
		{"lz4", compress.Codecs.Lz4Raw, true},
		{"none", compress.Codecs.Uncompressed, false},
	} {
		t.Run(fmt.Sprintf("%s/dict=%v", cmp.Or(tc.compression, "default"), tc.dict), func(t *testing.T) {
			mem := pqCheckedAlloc()
			defer mem.AssertSize(t, 0)
			in := pqSampleRecs(t, mem, 30, 1, 29, 40)
			defer pqRelease(in)
			data := pqEncode(t, ParquetOptions{Compression: tc.compression, DisableDictionary: !tc.dict}, in)

			// The codec reached the file.
			pr, err := file.NewParquetReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			cc, err := pr.MetaData().RowGroup(0).ColumnChunk(0)
			if err != nil {
				t.Fatal(err)
			}
			if cc.Compression() != tc.codec {
				t.Errorf("codec %s, want %s", cc.Compression(), tc.codec)
			}

			// KeepRequired: the schema written comes back exactly.
			p := Parquet(ParquetOptions{KeepRequired: true})
			f := pqFile("mem://roundtrip.parquet", data)
			meta, err := p.Inspect(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			if meta.Rows != 100 || len(meta.Units) != 1 || meta.Units[0].Rows != 100 || meta.Units[0].Bytes <= 0 {
				t.Fatalf("meta: rows %d units %+v", meta.Rows, meta.Units)
			}
			want := pqSampleSchema()
			if len(meta.Schema.Fields()) != len(want.Fields()) {
				t.Fatalf("schema %s, want %s", meta.Schema, want)
			}
			for i, fld := range want.Fields() {
				got := meta.Schema.Field(i)
				if got.Name != fld.Name || !arrow.TypeEqual(got.Type, fld.Type) {
					t.Errorf("field %d: %s %s, want %s %s", i, got.Name, got.Type, fld.Name, fld.Type)
				}
			}

			got, err := pqReadAll(t, p, f, meta, ReadRequest{Alloc: mem, Limit: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer pqRelease(got)
			for _, r := range got {
				if !r.Schema().Equal(meta.Schema) {
					t.Fatalf("block schema %s, inspected %s", r.Schema(), meta.Schema)
				}
			}
			pqAssertColumnsEqual(t, in, got, pqFieldNames(want))

			got2, err := pqReadAll(t, Parquet(ParquetOptions{BufferedStream: true, KeepRequired: true}), f, meta, ReadRequest{Alloc: mem, BatchRows: 9, Limit: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer pqRelease(got2)
			pqAssertColumnsEqual(t, in, got2, pqFieldNames(want))
		})
	}
}

func TestParquetEncodeOptions(t *testing.T) {
	mem := pqCheckedAlloc()
	defer mem.AssertSize(t, 0)
	in := pqSampleRecs(t, mem, 10)
	defer pqRelease(in)
	var buf bytes.Buffer
	err := Parquet(ParquetOptions{Compression: "lzo"}).Encode(context.Background(), &buf, in[0].Schema(), in)
	if err == nil || !strings.Contains(err.Error(), "lzo") {
		t.Fatalf("unknown codec: err %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Parquet(ParquetOptions{}).Encode(ctx, &buf, in[0].Schema(), in); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled encode: err %v", err)
	}
	// No blocks: a valid file with no rows.
	buf.Reset()
	if err := Parquet(ParquetOptions{}).Encode(context.Background(), &buf, in[0].Schema(), nil); err != nil {
		t.Fatal(err)
	}
	meta, err := Parquet(ParquetOptions{}).Inspect(context.Background(), pqFile("mem://empty.parquet", buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if meta.Rows != 0 || len(meta.Schema.Fields()) != len(in[0].Schema().Fields()) {
		t.Fatalf("empty file: %+v", meta)
	}
}

type pqFailWriter struct{ n int }

func (w *pqFailWriter) Write(p []byte) (int, error) {
	if w.n < len(p) {
		return 0, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestParquetEncodeWriteError(t *testing.T) {
	mem := pqCheckedAlloc()
	defer mem.AssertSize(t, 0)
	in := pqSampleRecs(t, mem, 50, 50)
	defer pqRelease(in)
	err := Parquet(ParquetOptions{RowGroupRows: 20}).Encode(context.Background(), &pqFailWriter{n: 100}, in[0].Schema(), in)
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err %v, want the writer's error", err)
	}
}

func TestParquetRowGroupsAndStats(t *testing.T) {
	mem := pqCheckedAlloc()
	defer mem.AssertSize(t, 0)
	in := pqSampleRecs(t, mem, 7, 30, 63)
	defer pqRelease(in)
	data := pqEncode(t, ParquetOptions{RowGroupRows: 25}, in)
	p := Parquet(ParquetOptions{})
	f := pqFile("mem://stats.parquet", data)
	meta, err := p.Inspect(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Rows != 100 || len(meta.Units) != 4 {
		t.Fatalf("rows %d, %d units", meta.Rows, len(meta.Units))
	}
	for u, unit := range meta.Units {
		lo, hi := u*25, u*25+24
		if unit.Rows != 25 || unit.Bytes <= 0 {
			t.Errorf("unit %d: rows %d bytes %d", u, unit.Rows, unit.Bytes)
		}
		// Expected statistics, from the generator: the values rise with i,
		// so min and max are the first and last non-null ones.
		var fs, ss, is []int
		for i := lo; i <= hi; i++ {
			if i%4 != 1 {
				fs = append(fs, i)
			}
			if i%6 != 2 {
				ss = append(ss, i)
			}
			if i%9 != 8 {
				is = append(is, i)
			}
		}
		fv := func(i int) float64 { return float64(i)*0.5 - 10 }
		sv := func(i int) string { return fmt.Sprintf("s%05d", i) }
		iv := func(i int) int64 { return int64(i - 50) }
		fmin, fmax, fnull := fv(fs[0]), fv(fs[len(fs)-1]), int64(25-len(fs))
		smin, smax, snull := sv(ss[0]), sv(ss[len(ss)-1]), int64(25-len(ss))
		imin, imax, inull := iv(is[0]), iv(is[len(is)-1]), int64(25-len(is))
		want := map[string]ColumnStats{
			"id":  {Min: int64(lo), Max: int64(hi), HasMinMax: true, NullCount: 0},
			"f":   {Min: fmin, Max: fmax, HasMinMax: true, NullCount: fnull},
			"s":   {Min: smin, Max: smax, HasMinMax: true, NullCount: snull},
			"b":   {Min: false, Max: true, HasMinMax: true, NullCount: 0},
			"i32": {Min: imin, Max: imax, HasMinMax: true, NullCount: inull},
			"u":   {Min: uint64(lo * 3), Max: uint64(hi * 3), HasMinMax: true, NullCount: 0},
		}
		for name, w := range want {
			g, ok := unit.Stats[name]
			if !ok {
				t.Errorf("unit %d: no stats for %s", u, name)
				continue
			}
			if g != w {
				t.Errorf("unit %d, %s: stats %#v, want %#v", u, name, g, w)
			}
		}
		for _, name := range []string{"ts", "l", "st"} {
			if g, ok := unit.Stats[name]; ok {
				t.Errorf("unit %d: stats for %s (%+v): want none", u, name, g)
			}
		}
	}

	// Each unit reads back exactly its rows.
	for u := range meta.Units {
		got, err := pqReadAll(t, p, f, meta, ReadRequest{Alloc: mem, Units: []int{u}, Columns: []string{"id"}, Limit: -1})
		if err != nil {
			t.Fatal(err)
		}
		ids := pqConcat(t, got, 0).(*array.Int64)
		if ids.Len() != 25 || ids.Value(0) != int64(u*25) || ids.Value(24) != int64(u*25+24) {
			t.Errorf("unit %d: ids %v", u, ids)
		}
		ids.Release()
		pqRelease(got)
	}
}

func TestParquetStatsZeroBounds(t *testing.T) {
	// A float column whose smallest value is 0 gets -0 as its lower bound
	// (the spec's advice, since writers may not order -0 and +0).
	mem := pqCheckedAlloc()
	defer mem.AssertSize(t, 0)
	b := array.NewFloat64Builder(mem)
	b.AppendValues([]float64{0, 1, 2}, nil)
	col := b.NewArray()
	b.Release()
	sc := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Float64}}, nil)
	rec := array.NewRecordBatch(sc, []arrow.Array{col}, 3)
	col.Release()
	defer rec.Release()
	data := pqEncode(t, ParquetOptions{}, []arrow.RecordBatch{rec})
	meta, err := Parquet(ParquetOptions{}).Inspect(context.Background(), pqFile("mem://zero.parquet", data))
	if err != nil {
		t.Fatal(err)
	}
	st := meta.Units[0].Stats["x"]
	lo, _ := st.Min.(float64)
	if !st.HasMinMax || lo != 0 || !math.Signbit(lo) || st.Max != float64(2) {
		t.Fatalf("stats %+v", st)
	}
}

func TestParquetProjection(t *testing.T) {
	mem := pqCheckedAlloc()
	defer mem.AssertSize(t, 0)
	in := pqSampleRecs(t, mem, 50, 50)
	defer pqRelease(in)
	data := pqEncode(t, ParquetOptions{RowGroupRows: 40}, in)
	p := Parquet(ParquetOptions{KeepRequired: true}) // compared with the schema written
	f := pqFile("mem://proj.parquet", data)
	meta, err := p.Inspect(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		columns []string
		want    []string // in the file's order
	}{
		{[]string{"s"}, []string{"s"}},
		{[]string{"u", "st", "nope"}, []string{"st", "u"}},
		{[]string{"i32", "l"}, []string{"l", "i32"}},
		{[]string{"st"}, []string{"st"}},
		{[]string{"ts", "f", "b", "id"}, []string{"id", "f", "b", "ts"}},
	} {
		t.Run(strings.Join(tc.columns, ","), func(t *testing.T) {
			got, err := pqReadAll(t, p, f, meta, ReadRequest{Alloc: mem, Columns: tc.columns, Limit: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer pqRelease(got)
			for _, r := range got {
				if names := pqFieldNames(r.Schema()); strings.Join(names, ",") != strings.Join(tc.want, ",") {
					t.Fatalf("columns %v, want %v", names, tc.want)
				}
			}
			pqAssertColumnsEqual(t, in, got, tc.want)
		})
	}
}

func TestParquetNoColumns(t *testing.T) {
	// A read that needs none of the file's columns (count(*), or only
	// columns other files have) still yields the rows.
	mem := pqCheckedAlloc()
	defer mem.AssertSize(t, 0)
	in := pqSampleRecs(t, mem, 100)
	defer pqRelease(in)
	data := pqEncode(t, ParquetOptions{RowGroupRows: 30}, in)
	p := Parquet(ParquetOptions{})
	f := pqFile("mem://nocols.parquet", data)
	for _, tc := range []struct {
		limit int64
		want  int64
	}{{-1, 100}, {45, 45}, {0, 0}} {
		got, err := pqReadAll(t, p, f, nil, ReadRequest{Alloc: mem, Columns: []string{"elsewhere"}, BatchRows: 16, Limit: tc.limit})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			if r.NumCols() != 0 || r.NumRows() > 16 {
				t.Errorf("block with %d columns, %d rows", r.NumCols(), r.NumRows())
			}
		}
		if n := pqRows(got); n != tc.want {
			t.Errorf("limit %d: %d rows, want %d", tc.limit, n, tc.want)
		}
		pqRelease(got)
	}
}

func TestParquetUnitsLimitBatch(t *testing.T) {
	mem := pqCheckedAlloc()
	defer mem.AssertSize(t, 0)
	in := pqSampleRecs(t, mem, 100)
	defer pqRelease(in)
	data := pqEncode(t, ParquetOptions{RowGroupRows: 20}, in) // 5 row groups
	p := Parquet(ParquetOptions{BatchRows: 1000})
	f := pqFile("mem://units.parquet", data)
	meta, err := p.Inspect(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Units) != 5 {
		t.Fatalf("%d units", len(meta.Units))
	}
	ids := func(recs []arrow.RecordBatch) []int64 {
		var out []int64
		for _, r := range recs {
			out = append(out, r.Column(0).(*array.Int64).Int64Values()...)
		}
		return out
	}
	seq := func(ranges ...[2]int) []int64 {
		var out []int64
		for _, r := range ranges {
			for i := r[0]; i < r[1]; i++ {
				out = append(out, int64(i))
			}
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		units    []int
		limit    int64
		batch    int
		want     []int64
		maxBatch int64
	}{
		{"all", nil, -1, 0, seq([2]int{0, 100}), 20},
		{"units 3,1", []int{3, 1}, -1, 0, seq([2]int{60, 80}, [2]int{20, 40}), 20},
		{"no units", []int{}, -1, 0, nil, 0},
		{"limit 0", nil, 0, 0, nil, 0},
		{"limit 25", nil, 25, 0, seq([2]int{0, 25}), 20},
		{"limit within unit", []int{4}, 5, 0, seq([2]int{80, 85}), 5},
		{"limit past end", []int{2}, 1000, 0, seq([2]int{40, 60}), 20},
		{"batch 7", nil, -1, 7, seq([2]int{0, 100}), 7},
		{"batch 7 limit 30", []int{1, 0}, 30, 7, seq([2]int{20, 40}, [2]int{0, 10}), 7},
		{"batch 1", []int{0}, 3, 1, seq([2]int{0, 3}), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pqReadAll(t, p, f, meta, ReadRequest{Alloc: mem, Columns: []string{"id", "st"}, Units: tc.units, Limit: tc.limit, BatchRows: tc.batch})
			if err != nil {
				t.Fatal(err)
			}
			defer pqRelease(got)
			if g := ids(got); fmt.Sprint(g) != fmt.Sprint(tc.want) {
				t.Fatalf("ids %v, want %v", g, tc.want)
			}
			for _, r := range got {
				if r.NumRows() == 0 || r.NumRows() > tc.maxBatch {
					t.Errorf("block of %d rows, want 1..%d", r.NumRows(), tc.maxBatch)
				}
				if r.NumCols() != 2 || r.Column(1).Len() != int(r.NumRows()) {
					t.Errorf("block columns %d", r.NumCols())
				}
			}
		})
	}
	for _, bad := range [][]int{{5}, {-1}, {0, 9}} {
		_, err := pqReadAll(t, p, f, meta, ReadRequest{Alloc: mem, Units: bad, Limit: -1})
		if err == nil || !strings.Contains(err.Error(), "mem://units.parquet") || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("units %v: err %v", bad, err)
		}
	}
}

func TestParquetEmitError(t *testing.T) {
	mem := pqCheckedAlloc()
	defer mem.AssertSize(t, 0)
	in := pqSampleRecs(t, mem, 100)
	defer pqRelease(in)
	data := pqEncode(t, ParquetOptions{RowGroupRows: 30}, in)
	p := Parquet(ParquetOptions{})
	f := pqFile("mem://emit.parquet", data)
	stop := errors.New("downstream closed")
	for _, failAt := range []int{1, 2, 4} {
		calls := 0
		err := p.Read(context.Background(), f, nil, ReadRequest{Alloc: mem, BatchRows: 10, Limit: -1}, func(r arrow.RecordBatch) error {
			r.Release()
			calls++
			if calls == failAt {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) {
			t.Errorf("fail at %d: err %v, want emit's error", failAt, err)
		}
		if calls != failAt {
			t.Errorf("fail at %d: emit called %d times", failAt, calls)
		}
	}
	// Also with a zero-column read.
	calls := 0
	err := p.Read(context.Background(), f, nil, ReadRequest{Alloc: mem, Columns: []string{}, BatchRows: 10, Limit: -1}, func(r arrow.RecordBatch) error {
		r.Release()
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("no columns: err %v after %d calls", err, calls)
	}
}

func TestParquetCancel(t *testing.T) {
	mem := pqCheckedAlloc()
	defer mem.AssertSize(t, 0)
	in := pqSampleRecs(t, mem, 100)
	defer pqRelease(in)
	data := pqEncode(t, ParquetOptions{RowGroupRows: 30}, in)
	p := Parquet(ParquetOptions{})
	f := pqFile("mem://cancel.parquet", data)

	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := p.Read(ctx, f, nil, ReadRequest{Alloc: mem, BatchRows: 10, Limit: -1}, func(r arrow.RecordBatch) error {
		r.Release()
		calls++
		if calls == 2 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || calls != 2 {
		t.Errorf("cancel during read: err %v after %d blocks", err, calls)
	}

	calls = 0
	err = p.Read(ctx, f, nil, ReadRequest{Alloc: mem, Limit: -1}, func(r arrow.RecordBatch) error {
		r.Release()
		calls++
		return nil
	})
	if !errors.Is(err, context.Canceled) || calls != 0 {
		t.Errorf("cancelled before: err %v after %d blocks", err, calls)
	}
	if _, err := p.Inspect(ctx, f); !errors.Is(err, context.Canceled) {
		t.Errorf("inspect cancelled: err %v", err)
	}
}

func TestParquetCorruptFiles(t *testing.T) {
	mem := pqCheckedAlloc()
	defer mem.AssertSize(t, 0)
	in := pqSampleRecs(t, mem, 100)
	defer pqRelease(in)
	data := pqEncode(t, ParquetOptions{RowGroupRows: 30, Compression: "none"}, in)
	p := Parquet(ParquetOptions{})

	// Broken footers fail Inspect with the file's name.
	for name, b := range map[string][]byte{
		"empty":     nil,
		"tiny":      []byte("PAR1PAR1"),
		"truncated": data[:len(data)-10],
		"no magic":  append(append([]byte{}, data[:len(data)-4]...), "XXXX"...),
		"encrypted": append(append([]byte{}, data[:len(data)-4]...), "PARE"...),
		"text":      []byte(strings.Repeat("not parquet at all\n", 10)),
	} {
		fname := "mem://" + strings.ReplaceAll(name, " ", "_") + ".parquet"
		_, err := p.Inspect(context.Background(), pqFile(fname, b))
		if err == nil || !strings.Contains(err.Error(), fname) {
			t.Errorf("%s: inspect err %v", name, err)
		}
		if name == "encrypted" && !strings.Contains(err.Error(), "unsupported feature") {
			t.Errorf("encrypted: err %v, want an unsupported feature", err)
		}
	}

	// Overwrite bytes across the data pages (not the footer): every read
	// must end in an error naming the file or in rows that decode; never a
	// panic, and nothing leaks.
	footer := int(uint32(data[len(data)-8]) | uint32(data[len(data)-7])<<8 | uint32(data[len(data)-6])<<16 | uint32(data[len(data)-5])<<24)
	body := len(data) - 8 - footer
	var failed int
	for off := 4; off < body; off += 37 {
		b := append([]byte{}, data...)
		for k := off; k < off+8 && k < body; k++ {
			b[k] ^= 0x5A
		}
		f := pqFile(fmt.Sprintf("mem://corrupt-%d.parquet", off), b)
		got, err := pqReadAll(t, p, f, nil, ReadRequest{Alloc: mem, Limit: -1})
		pqRelease(got)
		if err != nil {
			failed++
			if !strings.Contains(err.Error(), f.Name()) {
				t.Errorf("offset %d: error does not name the file: %v", off, err)
			}
		}
	}
	if failed == 0 {
		t.Errorf("no corruption detected at all")
	}
}

// pqRewriteFooter re-serializes data's footer after edit changes it.
func pqRewriteFooter(t *testing.T, data []byte, edit func(md *metadata.FileMetaData)) []byte {
	t.Helper()
	pr, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	md := pr.MetaData()
	footerLen := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	body := data[:len(data)-8-footerLen]
	edit(md)
	footer, err := md.Serialize(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte{}, body...)
	out = append(out, footer...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(footer)))
	return append(out, "PAR1"...)
}

func TestParquetBadFooters(t *testing.T) {
	mem := pqCheckedAlloc()
	defer mem.AssertSize(t, 0)
	in := pqSampleRecs(t, mem, 100)
	defer pqRelease(in)
	data := pqEncode(t, ParquetOptions{RowGroupRows: 50}, in)
	p := Parquet(ParquetOptions{})
	// Leaf 2 is st.a, a struct's child: pqarrow opens it on a goroutine of
	// its own, where arrow-go would make([]byte, length) before reading.
	for _, tc := range []struct {
		name string
		edit func(md *metadata.FileMetaData)
		want string
	}{
		{"huge chunk", func(md *metadata.FileMetaData) { md.RowGroups[1].Columns[2].MetaData.TotalCompressedSize = 1 << 40 }, "outside the file"},
		{"chunk past the end", func(md *metadata.FileMetaData) {
			m := md.RowGroups[0].Columns[2].MetaData
			m.DictionaryPageOffset = nil
			m.DataPageOffset = int64(len(data)) * 2
		}, "outside the file"},
		{"negative offset", func(md *metadata.FileMetaData) { md.RowGroups[0].Columns[2].MetaData.DataPageOffset = -5 }, "outside the file"},
		{"negative rows", func(md *metadata.FileMetaData) { md.RowGroups[1].NumRows = -1 }, "rows"},
		{"fewer rows than the data", func(md *metadata.FileMetaData) { md.RowGroups[0].NumRows = 10; md.NumRows = 60 }, ""},
		{"more rows than the data", func(md *metadata.FileMetaData) { md.RowGroups[0].NumRows = 70; md.NumRows = 120 }, ""},
		{"missing chunk", func(md *metadata.FileMetaData) { md.RowGroups[0].Columns = md.RowGroups[0].Columns[:3] }, "column chunks"},
		{"external chunk", func(md *metadata.FileMetaData) {
			s := "other.parquet"
			md.RowGroups[0].Columns[0].FilePath = &s
		}, "unsupported feature: column chunk in an external file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := pqFile("mem://"+strings.ReplaceAll(tc.name, " ", "-")+".parquet", pqRewriteFooter(t, data, tc.edit))
			meta, err := p.Inspect(context.Background(), f)
			if err == nil {
				var got []arrow.RecordBatch
				got, err = pqReadAll(t, p, f, meta, ReadRequest{Alloc: mem, Columns: []string{"st", "s"}, Limit: -1})
				pqRelease(got)
			}
			if err == nil {
				t.Fatalf("no error")
			}
			if !strings.Contains(err.Error(), f.Name()) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q: want the file's name and %q", err, tc.want)
			}
		})
	}
}
