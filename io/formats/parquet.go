package formats

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/arrow-go/v18/parquet/schema"

	"github.com/shoal-data/shoal/internal/bufpool"
	"github.com/shoal-data/shoal/io/storage"
)

// DefaultParquetRowGroupRows is the row group size Encode aims for when
// ParquetOptions names none.
const DefaultParquetRowGroupRows = 1 << 20

// ParquetOptions configures the Parquet reader and encoder. The zero value
// is usable: snappy compression, dictionary encoding, row groups of
// DefaultParquetRowGroupRows rows, blocks of DefaultBatchRows rows.
type ParquetOptions struct {
	// BatchRows is the block size Read aims for when the request names none
	// (0: DefaultBatchRows).
	BatchRows int
	// BufferedStream reads column chunks through a 1 MiB buffer instead of
	// loading each whole column chunk of a row group into memory at once
	// (arrow-go loads it into Go memory, outside ReadRequest.Alloc): less
	// memory, more and smaller reads. Local files are always read so
	// (ReadRequest.LocalFile); set it to do the same on S3.
	BufferedStream bool

	// Compression is the codec Encode uses: "snappy" (the default when
	// empty), "zstd", "gzip", "lz4" (LZ4_RAW), "brotli" or "none".
	Compression string
	// CompressionLevel is the codec's level (0: the codec's default).
	CompressionLevel int
	// RowGroupRows is the number of rows per row group Encode writes
	// (0: DefaultParquetRowGroupRows). Blocks are buffered and split so that
	// every row group but the last holds exactly this many rows.
	RowGroupRows int64
	// DisableDictionary turns dictionary encoding off. By default it is on
	// for strings and for fixed-width columns whose first values repeat
	// (at most half of 4096 sampled values distinct), off for the others.
	DisableDictionary bool
	// DisablePageIndex leaves out the page index (each page's first row,
	// min, max and null count, written by default as parquet-mr does),
	// with which a filtered read skips the pages it rules out.
	DisablePageIndex bool

	// KeepRequired reads REQUIRED columns as non-nullable fields. By
	// default every field read is nullable, as CSV and JSON reads give
	// them, so that the same data has the same schema in any format.
	KeepRequired bool
	// Int96Unit is the unit INT96 timestamps (Spark's and Impala's legacy
	// encoding) are read as: "us" (the default, as DuckDB and Spark read
	// them; it holds every date of years 1 to 9999), "ns" (Impala's full
	// precision, failing on dates outside 1677-2262), "ms" or "s".
	Int96Unit string
}

// ParquetFormat reads and writes Apache Parquet files through arrow-go's
// parquet/pqarrow. It implements Reader and Encoder.
type ParquetFormat struct {
	opts ParquetOptions
}

var (
	_ Reader  = (*ParquetFormat)(nil)
	_ Encoder = (*ParquetFormat)(nil)
)

// Parquet returns the Parquet format with opts. Invalid write options
// (an unknown codec) are reported by Encode.
func Parquet(opts ParquetOptions) *ParquetFormat {
	return &ParquetFormat{opts: opts}
}

// Format is "parquet".
func (p *ParquetFormat) Format() string { return "parquet" }

// Ext is ".parquet".
func (p *ParquetFormat) Ext() string { return ".parquet" }

// parquetCodec maps an option name to a codec.
func parquetCodec(name string) (compress.Compression, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "snappy":
		return compress.Codecs.Snappy, nil
	case "zstd":
		return compress.Codecs.Zstd, nil
	case "gzip":
		return compress.Codecs.Gzip, nil
	case "lz4", "lz4_raw":
		return compress.Codecs.Lz4Raw, nil
	case "brotli":
		return compress.Codecs.Brotli, nil
	case "none", "uncompressed":
		return compress.Codecs.Uncompressed, nil
	}
	return compress.Codecs.Uncompressed, fmt.Errorf("parquet: unknown compression %q (want snappy, zstd, gzip, lz4, brotli or none)", name)
}

// recoverParquet turns a panic inside arrow-go (it has panicked on corrupt
// files before) into an error naming the file.
func recoverParquet(op, name string, err *error) {
	if r := recover(); r != nil {
		var cause error
		switch v := r.(type) {
		case error:
			cause = v
		default:
			cause = fmt.Errorf("%v", v)
		}
		var refused pqAllocRefused
		if errors.As(cause, &refused) {
			*err = fmt.Errorf("parquet: %s %s: %w", op, name, refused)
			return
		}
		if cause.Error() == "invalid logical type" {
			// arrow-go panics on a logical type newer than it knows, where
			// the spec would have it read the physical type.
			*err = fmt.Errorf("parquet: %s %s: unsupported feature: unknown logical type annotation", op, name)
			return
		}
		*err = fmt.Errorf("parquet: %s %s: corrupt or unsupported file (decoder panicked): %w", op, name, cause)
	}
}

// parquetMagic ends a Parquet file; parquetMagicEncrypted ends one whose
// footer is encrypted.
var (
	parquetMagic          = []byte("PAR1")
	parquetMagicEncrypted = []byte("PARE")
)

// pqTailRead is how much of a file's end openParquet reads at once.
const pqTailRead = 64 << 10

// openParquet opens the footer of f, which it reads through src (f itself,
// or a pqChecksumReader over f); mem allocates the reader's page and
// decompression buffers.
func (p *ParquetFormat) openParquet(f storage.File, src io.ReaderAt, mem memory.Allocator, buffered bool) (*file.Reader, error) {
	size := f.Size()
	if size < 12 {
		return nil, fmt.Errorf("parquet: %s: not a Parquet file, or truncated: %d bytes, too few for one", f.Name(), size)
	}
	// The last 8 bytes are the footer's length and the magic: checking
	// them here says what is wrong in words arrow-go does not use. One
	// read of the file's tail usually holds the footer too (on S3, one
	// request instead of two).
	tail := make([]byte, min(size, pqTailRead))
	if _, err := f.ReadAt(tail, size-int64(len(tail))); err != nil && err != io.EOF {
		return nil, withFile(fmt.Errorf("parquet: reading the footer: %w", err), f.Name())
	}
	switch magic := tail[len(tail)-4:]; {
	case bytes.Equal(magic, parquetMagicEncrypted):
		return nil, fmt.Errorf("parquet: %s: unsupported feature: encrypted footer (PARE)", f.Name())
	case !bytes.Equal(magic, parquetMagic):
		return nil, fmt.Errorf("parquet: %s: not a Parquet file, or truncated: its last 4 bytes (of %d) are %q, not the magic %q", f.Name(), size, magic, parquetMagic)
	}
	n := int64(binary.LittleEndian.Uint32(tail[len(tail)-8:]))
	if n > size-12 {
		return nil, fmt.Errorf("parquet: %s: truncated, or not a Parquet file: the footer says its metadata takes %d bytes, more than the file's %d bytes hold", f.Name(), n, size)
	}
	var raw []byte
	if n+8 <= int64(len(tail)) {
		raw = tail[int64(len(tail))-8-n : len(tail)-8]
	} else {
		raw = make([]byte, n)
		if _, err := f.ReadAt(raw, size-8-n); err != nil && err != io.EOF {
			return nil, withFile(fmt.Errorf("parquet: reading the footer: %w", err), f.Name())
		}
	}
	md, err := pqParseFooter(raw)
	if err != nil {
		return nil, fmt.Errorf("parquet: %s: corrupt footer (%d bytes): %w", f.Name(), size, err)
	}
	md.SetSourceFileSize(size)
	pr, err := file.NewParquetReader(io.NewSectionReader(src, 0, size), file.WithReadProps(pqReaderProps(mem, buffered)), file.WithMetadata(md))
	if err != nil {
		return nil, fmt.Errorf("parquet: %s: %w", f.Name(), err)
	}
	if md == nil || md.Schema == nil {
		return nil, fmt.Errorf("parquet: %s: footer has no schema", f.Name())
	}
	if err := checkParquetMeta(md, size); err != nil {
		return nil, fmt.Errorf("parquet: %s: %w", f.Name(), err)
	}
	return pr, nil
}

// checkParquetMeta rejects footers that a careful reader cannot trust or
// that use features this reader does not support.
func checkParquetMeta(md *metadata.FileMetaData, size int64) error {
	if md.NumRows < 0 {
		return fmt.Errorf("footer says %d rows", md.NumRows)
	}
	ncols := md.Schema.NumColumns()
	var sum int64
	for i, rg := range md.GetRowGroups() {
		if rg == nil {
			return fmt.Errorf("row group %d: missing metadata", i)
		}
		if rg.NumRows < 0 || rg.NumRows > math.MaxInt64-sum {
			return fmt.Errorf("row group %d: footer says %d rows", i, rg.NumRows)
		}
		sum += rg.NumRows
		if len(rg.Columns) != ncols {
			return fmt.Errorf("row group %d: %d column chunks for %d leaf columns", i, len(rg.Columns), ncols)
		}
		for j, cc := range rg.Columns {
			col := md.Schema.Column(j).Path()
			switch {
			case cc == nil:
				return fmt.Errorf("row group %d, column %s: missing column chunk", i, col)
			case cc.FilePath != nil && *cc.FilePath != "":
				return fmt.Errorf("row group %d, column %s: unsupported feature: column chunk in an external file (%q)", i, col, *cc.FilePath)
			case cc.CryptoMetadata != nil || len(cc.EncryptedColumnMetadata) > 0:
				return fmt.Errorf("row group %d, column %s: unsupported feature: encrypted column", i, col)
			case cc.MetaData == nil:
				return fmt.Errorf("row group %d, column %s: column chunk has no metadata", i, col)
			}
			// arrow-go reads a column chunk with make([]byte, length)
			// before it checks the read, on a goroutine of its own for a
			// struct's children: a corrupt length would kill the process.
			m := cc.MetaData
			start, length := pqChunkStart(m.DataPageOffset, m.DictionaryPageOffset), m.TotalCompressedSize
			if start < 0 || length < 0 || length > size || start > size-length {
				return fmt.Errorf("row group %d, column %s: column chunk [%d, %d+%d) lies outside the file (%d bytes)", i, col, start, start, length, size)
			}
		}
	}
	// A footer whose num_rows disagrees with its row groups is tolerated:
	// parquet-rs 0.3 wrote 0 there. The row groups are what Read decodes
	// (and checks), so Inspect reports their sum.
	return nil
}

// pqChunkStart is where arrow-go starts reading a column chunk: its
// dictionary page when it has one before the data pages.
func pqChunkStart(dataPageOffset int64, dictionaryPageOffset *int64) int64 {
	if d := dictionaryPageOffset; d != nil && *d > 0 && *d < dataPageOffset {
		return *d
	}
	return dataPageOffset
}

// parquetRows is the file's row count: the sum of its row groups.
func parquetRows(md *metadata.FileMetaData) int64 {
	var sum int64
	for _, rg := range md.GetRowGroups() {
		sum += rg.NumRows
	}
	return sum
}

// Inspect reads the footer: schema, row count, and per row group its rows,
// compressed bytes and the statistics of top-level primitive columns that
// can be trusted.
func (p *ParquetFormat) Inspect(ctx context.Context, f storage.File) (meta *FileMeta, err error) {
	defer recoverParquet("inspect", f.Name(), &err)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pr, err := p.openParquet(f, f, memory.DefaultAllocator, p.opts.BufferedStream)
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	md := pr.MetaData()
	rep, err := pqRepairsOf(md, p.opts.Int96Unit)
	if err != nil {
		return nil, err
	}
	props := pqarrow.ArrowReadProperties{}
	sc, err := pqarrow.FromParquet(md.Schema, &props, md.KeyValueMetadata())
	if err != nil {
		return nil, fmt.Errorf("parquet: %s: converting the schema: %w", f.Name(), err)
	}
	meta = &FileMeta{Schema: pqNormalizeSchema(sc, p.opts.KeepRequired, rep), Rows: parquetRows(md), footer: md, size: f.Size()}
	statCols := parquetStatColumns(md.Schema)
	for i := 0; i < pr.NumRowGroups(); i++ {
		rgm := md.RowGroup(i)
		u := Unit{Rows: rgm.NumRows(), Bytes: rgm.TotalCompressedSize()}
		if u.Bytes <= 0 {
			u.Bytes = 0
			for j := 0; j < rgm.NumColumns(); j++ {
				if cc, err := rgm.ColumnChunk(j); err == nil {
					u.Bytes += cc.TotalCompressedSize()
				}
			}
		}
		for _, j := range statCols {
			cc, err := rgm.ColumnChunk(j)
			if err != nil {
				continue
			}
			if st, ok := parquetColumnStats(md, i, j, cc); ok {
				if u.Stats == nil {
					u.Stats = make(map[string]ColumnStats)
				}
				u.Stats[md.Schema.Column(j).Name()] = st
			}
		}
		meta.Units = append(meta.Units, u)
	}
	return meta, nil
}

// parquetStatColumns lists the leaf indices of the top-level, non-repeated
// primitive columns whose statistics Inspect may report.
func parquetStatColumns(sc *schema.Schema) []int {
	var out []int
	seen := map[string]int{}
	for j := 0; j < sc.NumColumns(); j++ {
		c := sc.Column(j)
		node := c.SchemaNode()
		if node.Parent() != sc.Root() || node.RepetitionType() == parquet.Repetitions.Repeated {
			continue
		}
		seen[c.Name()]++
		out = append(out, j)
	}
	// A name the file holds twice cannot key a stats map.
	out = pqFilterInts(out, func(j int) bool { return seen[sc.Column(j).Name()] == 1 })
	return out
}

func pqFilterInts(s []int, keep func(int) bool) []int {
	out := s[:0]
	for _, v := range s {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

// parquetStatKind is the Go kind a column's statistics decode to.
type parquetStatKind int

const (
	pqStatNone parquetStatKind = iota
	pqStatInt
	pqStatUint
	pqStatFloat
	pqStatString
	pqStatBool
)

func parquetStatKindOf(c *schema.Column) parquetStatKind {
	lt := c.LogicalType()
	plainInt := func() (signed, ok bool) {
		if lt == nil {
			return true, true
		}
		switch t := lt.(type) {
		case schema.NoLogicalType:
			return true, true
		case schema.IntLogicalType:
			return t.IsSigned(), true
		}
		return false, false
	}
	switch c.PhysicalType() {
	case parquet.Types.Int32, parquet.Types.Int64:
		signed, ok := plainInt()
		switch {
		case !ok:
			return pqStatNone
		case signed:
			return pqStatInt
		default:
			return pqStatUint
		}
	case parquet.Types.Float, parquet.Types.Double:
		if lt == nil || lt.Equals(schema.NoLogicalType{}) {
			return pqStatFloat
		}
	case parquet.Types.Boolean:
		if lt == nil || lt.Equals(schema.NoLogicalType{}) {
			return pqStatBool
		}
	case parquet.Types.ByteArray:
		if lt != nil && lt.Equals(schema.StringLogicalType{}) {
			return pqStatString
		}
	}
	return pqStatNone
}

// parquetColumnStats decodes the statistics of leaf j in row group rg from
// the raw footer, reporting only what it can trust: min and max both set,
// exact, decodable, in the column's sort order and min <= max; null count
// only where the file sets it.
func parquetColumnStats(md *metadata.FileMetaData, rg, j int, cc *metadata.ColumnChunkMetaData) (ColumnStats, bool) {
	col := md.Schema.Column(j)
	kind := parquetStatKindOf(col)
	if kind == pqStatNone {
		return ColumnStats{}, false
	}
	raw := md.RowGroups[rg].Columns[j].MetaData.Statistics
	if raw == nil {
		return ColumnStats{}, false
	}
	st := ColumnStats{NullCount: -1}
	if raw.NullCount != nil && *raw.NullCount >= 0 {
		st.NullCount = *raw.NullCount
	}
	min, max, ok := pqRawMinMax(col, raw.MinValue, raw.MaxValue, raw.Min, raw.Max, raw.IsMinValueExact, raw.IsMaxValueExact)
	if ok {
		// arrow-go knows which writer versions wrote wrong statistics
		// (PARQUET-251 and friends).
		if set, err := cc.StatsSet(); err != nil || !set {
			ok = false
		}
	}
	if ok {
		st.Min, st.Max, st.HasMinMax = pqDecodeStats(kind, col, min, max)
	}
	if !st.HasMinMax && st.NullCount < 0 {
		return ColumnStats{}, false
	}
	return st, true
}

// pqRawMinMax picks which encoded min and max to believe. min_value and
// max_value are in the column's type-defined order; the deprecated min and
// max were written in signed order, so they hold only for signed types (or
// when min == max).
func pqRawMinMax(col *schema.Column, minValue, maxValue, minOld, maxOld []byte, minExact, maxExact *bool) (min, max []byte, ok bool) {
	if (minExact != nil && !*minExact) || (maxExact != nil && !*maxExact) {
		return nil, nil, false // truncated bounds, not values
	}
	if col.ColumnOrder() == parquet.ColumnOrders.TypeDefinedOrder && minValue != nil && maxValue != nil {
		return minValue, maxValue, true
	}
	if minOld == nil || maxOld == nil {
		return nil, nil, false
	}
	if col.SortOrder() == schema.SortSIGNED || col.PhysicalType() == parquet.Types.Boolean || bytes.Equal(minOld, maxOld) {
		return minOld, maxOld, true
	}
	return nil, nil, false
}

func pqDecodeStats(kind parquetStatKind, col *schema.Column, minb, maxb []byte) (min, max any, ok bool) {
	switch kind {
	case pqStatInt:
		lo, ok1 := pqDecodeInt(col.PhysicalType(), minb)
		hi, ok2 := pqDecodeInt(col.PhysicalType(), maxb)
		if ok1 && ok2 && lo <= hi {
			return lo, hi, true
		}
	case pqStatUint:
		lo, ok1 := pqDecodeUint(col.PhysicalType(), minb)
		hi, ok2 := pqDecodeUint(col.PhysicalType(), maxb)
		if ok1 && ok2 && lo <= hi {
			return lo, hi, true
		}
	case pqStatFloat:
		lo, ok1 := pqDecodeFloat(col.PhysicalType(), minb)
		hi, ok2 := pqDecodeFloat(col.PhysicalType(), maxb)
		if ok1 && ok2 && !math.IsNaN(lo) && !math.IsNaN(hi) && lo <= hi {
			// The spec asks readers to widen a zero bound to the signed
			// zero that covers both.
			if lo == 0 {
				lo = math.Copysign(0, -1)
			}
			if hi == 0 {
				hi = 0
			}
			return lo, hi, true
		}
	case pqStatString:
		lo, hi := string(minb), string(maxb)
		if lo <= hi {
			return lo, hi, true
		}
	case pqStatBool:
		if len(minb) == 1 && len(maxb) == 1 && minb[0] <= 1 && maxb[0] <= 1 && minb[0] <= maxb[0] {
			return minb[0] == 1, maxb[0] == 1, true
		}
	}
	return nil, nil, false
}

func pqDecodeInt(t parquet.Type, b []byte) (int64, bool) {
	switch {
	case t == parquet.Types.Int32 && len(b) == 4:
		return int64(int32(binary.LittleEndian.Uint32(b))), true
	case t == parquet.Types.Int64 && len(b) == 8:
		return int64(binary.LittleEndian.Uint64(b)), true
	}
	return 0, false
}

func pqDecodeUint(t parquet.Type, b []byte) (uint64, bool) {
	switch {
	case t == parquet.Types.Int32 && len(b) == 4:
		return uint64(binary.LittleEndian.Uint32(b)), true
	case t == parquet.Types.Int64 && len(b) == 8:
		return binary.LittleEndian.Uint64(b), true
	}
	return 0, false
}

func pqDecodeFloat(t parquet.Type, b []byte) (float64, bool) {
	switch {
	case t == parquet.Types.Float && len(b) == 4:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), true
	case t == parquet.Types.Double && len(b) == 8:
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), true
	}
	return 0, false
}

// parquetField is one top-level field chosen for a read.
type parquetField struct {
	name   string
	leaves []int
}

// pqLeafIndices lists the leaf column indices under a manifest field.
func pqLeafIndices(sf *pqarrow.SchemaField, out []int) []int {
	if len(sf.Children) == 0 {
		if sf.IsLeaf() {
			out = append(out, sf.ColIndex)
		}
		return out
	}
	for i := range sf.Children {
		out = pqLeafIndices(&sf.Children[i], out)
	}
	return out
}

// Read decodes the columns and row groups that req names and passes blocks
// of about req.BatchRows rows to emit. Row groups are read one at a time, so
// a failure names its row group, and each row group must decode to exactly
// the rows its footer promises.
func (p *ParquetFormat) Read(ctx context.Context, f storage.File, meta *FileMeta, req ReadRequest, emit func(arrow.RecordBatch) error) (err error) {
	name := f.Name()
	defer recoverParquet("read", name, &err)
	if err := ctx.Err(); err != nil {
		return err
	}
	if req.Limit == 0 {
		return nil
	}
	base := req.Alloc
	if base == nil {
		base = memory.DefaultAllocator
	}
	mem := newPQReadAlloc(base, req.Recycle)
	defer mem.sweep() // after every reader below is released
	norm := &pqNormalizer{keepRequired: p.opts.KeepRequired, mem: base}
	emitRaw := emit
	emit = func(r arrow.RecordBatch) error {
		out, err := norm.normalize(r)
		if err != nil {
			return pqEmitError{fmt.Errorf("parquet: %s: %w", name, err)}
		}
		return emitRaw(out)
	}
	batch := req.BatchRows
	if batch <= 0 {
		batch = p.opts.BatchRows
	}
	if batch <= 0 {
		batch = DefaultBatchRows
	}

	var pr *file.Reader
	src := newPQChecksumReader(f)
	// On a local disk small reads are cheap: stream each column chunk
	// through a buffer rather than hold it whole (a wide row group's chunks
	// are tens of MB); on S3 each read is a request, so chunks come whole.
	buffered := p.opts.BufferedStream || req.LocalFile
	if md, ok := meta.footerFor(f); ok {
		// The footer was read and checked by Inspect: skip reading it again
		// (on S3, a round trip per task).
		pr, err = file.NewParquetReader(io.NewSectionReader(src, 0, f.Size()), file.WithReadProps(pqReaderProps(mem, buffered)), file.WithMetadata(md))
		if err != nil {
			return fmt.Errorf("parquet: %s: %w", name, err)
		}
	} else if pr, err = p.openParquet(f, src, mem, buffered); err != nil {
		return err
	}
	defer pr.Close()
	if norm.rep, err = pqRepairsOf(pr.MetaData(), p.opts.Int96Unit); err != nil {
		return err
	}
	nrg := pr.NumRowGroups()
	if meta != nil && len(meta.Units) > 0 && len(meta.Units) != nrg {
		return fmt.Errorf("parquet: %s: file has %d row groups, %d when inspected (changed since?)", name, nrg, len(meta.Units))
	}

	units := req.Units
	if units == nil {
		units = make([]int, nrg)
		for i := range units {
			units[i] = i
		}
	}
	for _, u := range units {
		if u < 0 || u >= nrg {
			return fmt.Errorf("parquet: %s: row group %d out of range (file has %d)", name, u, nrg)
		}
	}
	src.track(pr.MetaData(), units)

	props := pqarrow.ArrowReadProperties{BatchSize: int64(batch)}
	for _, leaf := range pqDictLeaves(pr.MetaData(), req.DictColumns, units) {
		props.SetReadDict(leaf, true)
	}
	fr, err := pqarrow.NewFileReader(pr, props, mem)
	if err != nil {
		return fmt.Errorf("parquet: %s: converting the schema: %w", name, err)
	}
	var want map[string]bool
	if req.Columns != nil {
		want = make(map[string]bool, len(req.Columns))
		for _, c := range req.Columns {
			want[c] = true
		}
	}
	var fields []parquetField
	var leaves []int
	for i := range fr.Manifest.Fields {
		sf := &fr.Manifest.Fields[i]
		if want != nil && !want[sf.Field.Name] {
			continue
		}
		l := pqLeafIndices(sf, nil)
		if len(l) == 0 {
			return fmt.Errorf("parquet: %s: column %s: unsupported feature: field without leaf columns", name, sf.Field.Name)
		}
		fields = append(fields, parquetField{name: sf.Field.Name, leaves: l})
		leaves = append(leaves, l...)
	}

	remaining := req.Limit // negative: no limit
	for _, rg := range units {
		if remaining == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rows := pr.MetaData().RowGroups[rg].NumRows
		if rows == 0 {
			continue
		}
		var n int64
		ranges, all := pqPageRanges(pr, rg, req.Filter)
		if !all {
			if len(ranges) == 0 {
				continue // no page may match the filter
			}
			rows = 0
			for _, r := range ranges {
				rows += r.end - r.start
			}
		}
		if len(leaves) == 0 {
			n, err = pqEmitEmptyRows(ctx, rows, remaining, int64(batch), emit)
		} else {
			n, err = pqReadRowGroup(ctx, fr, mem, rg, leaves, ranges, remaining, emit)
		}
		if cerr := src.failed(); cerr != nil {
			// Whatever arrow-go made of the failed read, the cause is this.
			return fmt.Errorf("parquet: %s: %w", name, cerr)
		}
		if err != nil {
			var ee pqEmitError
			if errors.As(err, &ee) {
				return ee.err
			}
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return err
			}
			var refused pqAllocRefused
			where := ""
			if !errors.As(err, &refused) {
				where = pqDiagnoseColumn(ctx, fr, mem, rg, fields)
			}
			return fmt.Errorf("parquet: %s: row group %d%s: %w", name, rg, where, err)
		}
		if remaining < 0 || n < remaining {
			if n != rows {
				return fmt.Errorf("parquet: %s: row group %d: decoded %d rows, footer says %d", name, rg, n, rows)
			}
		}
		if remaining > 0 {
			remaining -= n
		}
	}
	return nil
}

// pqDictLeaves lists the leaf columns of the named top-level string columns
// that the first row group read stores dictionary-encoded: decoding them as
// dictionary arrays keeps one copy of each distinct value, and a filter
// compares each once.
func pqDictLeaves(md *metadata.FileMetaData, names []string, units []int) []int {
	if len(names) == 0 || len(units) == 0 {
		return nil
	}
	rg := md.RowGroup(units[0])
	var out []int
	for _, name := range names {
		leaf := md.Schema.ColumnIndexByName(name)
		if leaf < 0 {
			continue
		}
		col := md.Schema.Column(leaf)
		if col.PhysicalType() != parquet.Types.ByteArray || col.MaxRepetitionLevel() > 0 || col.ColumnPath().String() != name {
			continue
		}
		cc, err := rg.ColumnChunk(leaf)
		if err != nil {
			continue
		}
		if cc.HasDictionaryPage() {
			out = append(out, leaf)
		}
	}
	return out
}

// pqReaderProps are the reader properties of a read whose buffers mem
// allocates, streaming column chunks through pqStreamBuffer when buffered.
func pqReaderProps(mem memory.Allocator, buffered bool) *parquet.ReaderProperties {
	props := parquet.NewReaderProperties(mem)
	props.BufferedStreamEnabled = buffered
	props.BufferSize = pqStreamBuffer
	return props
}

// pqStreamBuffer is the read size of a buffered column chunk stream: large
// enough that a chunk costs few system calls, small enough that a task
// holds about a MiB per column.
const pqStreamBuffer = 1 << 20

// pqEmitError carries an error from emit, which Read returns as it is.
type pqEmitError struct{ err error }

func (e pqEmitError) Error() string { return e.err.Error() }

// pqEmitEmptyRows emits blocks without columns for a read that asks for none
// of the file's columns: only the row count matters.
func pqEmitEmptyRows(ctx context.Context, rows, remaining, batch int64, emit func(arrow.RecordBatch) error) (int64, error) {
	if remaining >= 0 && remaining < rows {
		rows = remaining
	}
	sc := arrow.NewSchema(nil, nil)
	var n int64
	for n < rows {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k := min(batch, rows-n)
		if err := emit(array.NewRecordBatch(sc, nil, k)); err != nil {
			return n, pqEmitError{err}
		}
		n += k
	}
	return n, nil
}

// pqReadRowGroup reads one row group's leaves and emits its blocks, at most
// remaining rows of them (negative: all), and only the rows in ranges when
// it is not nil. It returns the rows emitted.
func pqReadRowGroup(ctx context.Context, fr *pqarrow.FileReader, mem *pqReadAlloc, rg int, leaves []int, ranges []pqRowRange, remaining int64, emit func(arrow.RecordBatch) error) (n int64, err error) {
	inEmit := false
	defer func() {
		if r := recover(); r != nil {
			if inEmit {
				err = pqEmitError{fmt.Errorf("parquet: emit panicked: %v", r)}
				return
			}
			if e, ok := r.(pqAllocRefused); ok {
				err = e
				return
			}
			// The caller adds the file, row group and column.
			err = fmt.Errorf("corrupt or unsupported data (decoder panicked): %v", r)
		}
	}()
	rr, err := pqOpenRowGroup(ctx, fr, mem, rg, leaves)
	if err != nil {
		return 0, err
	}
	defer rr.Release()
	if ranges == nil {
		ranges = []pqRowRange{{0, -1}} // all rows, to the end
	}
	for _, r := range ranges {
		if r.start > 0 {
			if err := rr.SeekToRow(r.start); err != nil {
				return n, fmt.Errorf("seeking to row %d: %w", r.start, err)
			}
		}
		left := r.end - r.start // negative: to the end
		for left != 0 && (remaining < 0 || n < remaining) {
			if err := ctx.Err(); err != nil {
				return n, err
			}
			rec, err := rr.Read()
			if err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return n, err
			}
			if rec == nil {
				break
			}
			rows := rec.NumRows()
			if rows == 0 {
				continue
			}
			keep := rows
			if left > 0 {
				keep = min(keep, left)
			}
			if remaining >= 0 {
				keep = min(keep, remaining-n)
			}
			// The reader owns rec and releases it on the next Read or
			// Release: the block we emit holds its own reference.
			var out arrow.RecordBatch
			if keep < rows {
				out = rec.NewSlice(0, keep)
			} else {
				rec.Retain()
				out = rec
			}
			mem.handOver(out)
			inEmit = true
			if err := emit(out); err != nil {
				return n, pqEmitError{err}
			}
			inEmit = false
			n += keep
			if left > 0 {
				left -= keep
			}
		}
	}
	return n, nil
}

// pqOpenRowGroup opens a record reader over one row group's leaves, with the
// allocator guarded while pqarrow builds readers on its own goroutines.
func pqOpenRowGroup(ctx context.Context, fr *pqarrow.FileReader, mem *pqReadAlloc, rg int, leaves []int) (rr pqarrow.RecordReader, err error) {
	mem.guarded.Store(true)
	defer func() {
		mem.guarded.Store(false)
		if rerr := mem.refusal(); rerr != nil {
			if rr != nil {
				rr.Release()
			}
			rr, err = nil, rerr
		}
	}()
	return fr.GetRecordReader(ctx, leaves, []int{rg})
}

// pqDiagnoseColumn finds which column of a row group fails to decode, by
// decoding each requested field alone, and returns ", column NAME" (or ""
// when no single column fails, or there is only one).
func pqDiagnoseColumn(ctx context.Context, fr *pqarrow.FileReader, mem *pqReadAlloc, rg int, fields []parquetField) (out string) {
	if len(fields) == 0 {
		return ""
	}
	if len(fields) == 1 {
		return ", column " + fields[0].name
	}
	defer func() {
		if r := recover(); r != nil {
			out = ""
		}
	}()
	for _, fld := range fields {
		if ctx.Err() != nil {
			return ""
		}
		_, err := pqDrainRowGroup(ctx, fr, mem, rg, fld.leaves)
		if err != nil {
			return ", column " + fld.name
		}
	}
	return ""
}

// pqDrainRowGroup decodes and drops a row group's leaves, returning the row count.
func pqDrainRowGroup(ctx context.Context, fr *pqarrow.FileReader, mem *pqReadAlloc, rg int, leaves []int) (n int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	rr, err := pqOpenRowGroup(ctx, fr, mem, rg, leaves)
	if err != nil {
		return 0, err
	}
	defer rr.Release()
	for rr.Next() {
		n += rr.RecordBatch().NumRows()
	}
	return n, rr.Err()
}

// pqSerializeSchema is sc as pqarrow stores it under "ARROW:schema": an
// IPC stream of the schema and no batch (what flight.SerializeSchema
// writes; written here so that Shoal links no Flight package through it).
func pqSerializeSchema(sc *arrow.Schema) []byte {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(sc), ipc.WithAllocator(memory.DefaultAllocator))
	w.Close()
	return buf.Bytes()
}

// Encode writes recs as one Parquet file with the arrow schema stored in
// the file, so that types (time zones, large strings, ...) round-trip.
func (p *ParquetFormat) Encode(ctx context.Context, w io.Writer, sc *arrow.Schema, recs []arrow.RecordBatch) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parquet: encode: writer panicked: %v", r)
		}
	}()
	codec, err := parquetCodec(p.opts.Compression)
	if err != nil {
		return err
	}
	rgRows := p.opts.RowGroupRows
	if rgRows <= 0 {
		rgRows = DefaultParquetRowGroupRows
	}
	wopts := []parquet.WriterProperty{
		parquet.WithCompression(codec),
		parquet.WithMaxRowGroupLength(rgRows),
		parquet.WithDictionaryDefault(!p.opts.DisableDictionary),
		parquet.WithStats(true),
		parquet.WithPageIndexEnabled(!p.opts.DisablePageIndex),
		parquet.WithCreatedBy("shoal (arrow-go parquet)"),
	}
	if p.opts.CompressionLevel != 0 {
		wopts = append(wopts, parquet.WithCompressionLevel(p.opts.CompressionLevel))
	}
	if !p.opts.DisableDictionary {
		wopts = append(wopts, plainColumns(sc, recs)...)
	}
	props := parquet.NewWriterProperties(wopts...)
	writeSchema := sc
	if !p.opts.DisableDictionary {
		if ws, dicts := dictStrings(memory.DefaultAllocator, sc, recs); ws != nil {
			defer func() {
				for _, r := range dicts {
					r.Release()
				}
			}()
			writeSchema, recs = ws, dicts
		}
	}
	var aopts []pqarrow.WriterOption
	if writeSchema == sc {
		aopts = append(aopts, pqarrow.WithStoreSchema())
	} // else the file stores sc, not the dictionaries, below (see dictStrings)
	aprops := pqarrow.NewArrowWriterProperties(aopts...)
	fw, err := pqarrow.NewFileWriter(writeSchema, w, props, aprops)
	if err != nil {
		return fmt.Errorf("parquet: encode: creating the writer for schema %s: %w", sc, err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = fw.Close()
		}
	}()
	if writeSchema != sc {
		if err := fw.AppendKeyValueMetadata("ARROW:schema", base64.StdEncoding.EncodeToString(pqSerializeSchema(sc))); err != nil {
			return fmt.Errorf("parquet: encode: storing the schema: %w", err)
		}
	}
	for i, rec := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if rec.NumRows() == 0 {
			continue
		}
		if err := fw.WriteBuffered(rec); err != nil {
			return fmt.Errorf("parquet: encode: writing block %d (%d rows): %w", i, rec.NumRows(), err)
		}
	}
	closed = true
	if err := fw.Close(); err != nil {
		return fmt.Errorf("parquet: encode: closing the file: %w", err)
	}
	return nil
}

// pqReadAlloc is the allocator one Read hands arrow-go. It does two things
// arrow-go's own handling cannot.
//
// Leftovers: arrow-go's decoders do not release everything they allocate
// (the DELTA_* decoders' scratch buffers; a page reader's buffer when
// opening a column chunk fails). With a Go allocator the garbage collector
// takes them, but an accounting allocator would count them as held for
// ever. pqReadAlloc tracks what the read allocates; buffers that reach an
// emitted block are handed over, and when the read ends (every arrow-go
// reader released) whatever else is outstanding is freed. A later Free of
// such a buffer (a finalizer in arrow-go's buffer pool) is ignored.
//
// Refusals: an allocator may refuse memory by panicking. On the reading
// goroutine Read recovers that; but pqarrow builds a struct's child readers
// on goroutines of its own, where a panic would kill the process. While
// guarded (around GetRecordReader) a refusal is recorded and answered from
// the Go heap instead (those allocations are small: page header buffers),
// and the read fails as soon as GetRecordReader returns.
//
// Recycling: over Go's heap, buffers of bufpool.MinSize or more (a batch's
// values, pages) come from bufpool. arrow-go's own scratch goes back when
// arrow-go frees it; a buffer handed over in a block goes back only when
// the read may recycle (recycleFixed) and it belongs to a fixed-width
// column, since a string's bytes may be aliased by Go strings that outlive
// the block.
type pqReadAlloc struct {
	mem     memory.Allocator
	guarded atomic.Bool

	mu       sync.Mutex
	live     map[*byte]pqReadBuf
	swept    map[*byte]struct{}
	fallback map[*byte]struct{}
	refused  error
	done     bool

	// pool: large buffers come from bufpool. recycleFixed: the blocks this
	// read emits are the read task's own (ReadRequest.Recycle), so their
	// fixed-width buffers go back to bufpool when freed.
	pool, recycleFixed bool
}

type pqReadBuf struct {
	b      []byte
	handed bool
	// pooled: from bufpool, not the allocator under pqReadAlloc; recycle:
	// handed over in a block whose reader frees it only when done with it
	// (see Recycle), so Free puts it back.
	pooled, recycle bool
}

// pqAllocRefused is the panic value pqReadAlloc raises when the allocator
// under it refuses memory.
type pqAllocRefused struct{ err error }

func (e pqAllocRefused) Error() string { return "allocator refused memory: " + e.err.Error() }
func (e pqAllocRefused) Unwrap() error { return e.err }

var _ memory.Allocator = (*pqReadAlloc)(nil)

// newPQReadAlloc wraps mem for one read. Where mem is Go's heap, large
// buffers come from bufpool instead (an accounting or checking allocator
// sees every buffer), and with recycle the fixed-width buffers of the
// blocks the read emits go back to it when freed.
func newPQReadAlloc(mem memory.Allocator, recycle bool) *pqReadAlloc {
	_, goHeap := mem.(*memory.GoAllocator)
	return &pqReadAlloc{mem: mem, live: make(map[*byte]pqReadBuf), pool: goHeap, recycleFixed: recycle && goHeap}
}

func pqBufKey(b []byte) *byte {
	if len(b) == 0 {
		return nil
	}
	return &b[0]
}

// try runs an allocation of the allocator under a, turning a panic into an
// error.
func pqTry(f func() []byte) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = e
			} else {
				err = fmt.Errorf("%v", r)
			}
		}
	}()
	return f(), nil
}

// refuse records a refusal, then either answers from the Go heap (when
// guarded) or panics for Read to recover.
func (a *pqReadAlloc) refuse(size int, err error) []byte {
	a.mu.Lock()
	if a.refused == nil {
		a.refused = fmt.Errorf("%d bytes: %w", size, err)
	}
	a.mu.Unlock()
	if !a.guarded.Load() {
		panic(pqAllocRefused{fmt.Errorf("%d bytes: %w", size, err)})
	}
	b := make([]byte, size)
	if k := pqBufKey(b); k != nil {
		a.mu.Lock()
		if a.fallback == nil {
			a.fallback = make(map[*byte]struct{})
		}
		a.fallback[k] = struct{}{}
		a.mu.Unlock()
	}
	return b
}

// refusal is the first refusal the read met, if any.
func (a *pqReadAlloc) refusal() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.refused == nil {
		return nil
	}
	return pqAllocRefused{a.refused}
}

func (a *pqReadAlloc) track(b []byte, handed, pooled bool) {
	if k := pqBufKey(b); k != nil {
		a.mu.Lock()
		delete(a.swept, k)
		if !handed && !a.done {
			a.live[k] = pqReadBuf{b: b, pooled: pooled}
		} else {
			a.live[k] = pqReadBuf{handed: true, pooled: pooled}
		}
		a.mu.Unlock()
	}
}

func (a *pqReadAlloc) Allocate(size int) []byte {
	if a.pool && size >= bufpool.MinSize {
		// Large buffers (a batch's values) come from the pool: the read
		// task's earlier batches give theirs back once consumed.
		b := bufpool.Get(size)
		a.track(b, false, true)
		return b
	}
	b, err := pqTry(func() []byte { return a.mem.Allocate(size) })
	if err != nil {
		return a.refuse(size, err)
	}
	a.track(b, false, false)
	return b
}

func (a *pqReadAlloc) Reallocate(size int, b []byte) []byte {
	k := pqBufKey(b)
	a.mu.Lock()
	_, fb := a.fallback[k]
	e, tracked := a.live[k]
	a.mu.Unlock()
	if tracked && e.pooled && size <= cap(b) {
		if size > len(b) {
			clear(b[len(b):size]) // a recycled buffer's tail holds old bytes
		}
		return b[:size]
	}
	if fb || a.guarded.Load() || (tracked && e.pooled) || (a.pool && size >= bufpool.MinSize) {
		// Allocate anew (recovering a refusal) rather than hand the
		// allocator a buffer it did not make.
		nb := a.Allocate(size)
		copy(nb, b)
		a.Free(b)
		return nb
	}
	nb, err := pqTry(func() []byte { return a.mem.Reallocate(size, b) })
	if err != nil {
		return a.refuse(size, err) // b stays valid and tracked
	}
	if k != nil {
		a.mu.Lock()
		delete(a.live, k)
		a.mu.Unlock()
	}
	a.track(nb, !tracked || e.handed, false)
	return nb
}

func (a *pqReadAlloc) Free(b []byte) {
	k := pqBufKey(b)
	if k == nil {
		a.mem.Free(b)
		return
	}
	a.mu.Lock()
	e, tracked := a.live[k]
	_, swept := a.swept[k]
	_, fb := a.fallback[k]
	if tracked {
		delete(a.live, k)
	}
	if fb {
		delete(a.fallback, k)
	}
	a.mu.Unlock()
	if fb || (swept && !tracked) {
		return // Go heap, or freed when the read ended
	}
	if e.pooled {
		// arrow-go's own scratch, or a block's buffer its reader is done
		// with, goes back; a handed-over buffer someone else may still
		// read (a string's bytes) is left to the garbage collector.
		if !e.handed || e.recycle {
			bufpool.Put(b)
		}
		return
	}
	a.mem.Free(b)
}

// handOver marks the buffers of a block about to be emitted as the
// consumer's.
func (a *pqReadAlloc) handOver(rec arrow.RecordBatch) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, col := range rec.Columns() {
		a.handOverData(col.Data())
	}
}

func (a *pqReadAlloc) handOverData(d arrow.ArrayData) {
	if d == nil {
		return
	}
	if ad, ok := d.(*array.Data); ok && ad == nil {
		return // Dictionary() returns a typed nil
	}
	_, fixed := d.DataType().(arrow.FixedWidthDataType)
	recycle := fixed && a.recycleFixed && d.DataType().ID() != arrow.DICTIONARY
	for _, buf := range d.Buffers() {
		if buf == nil {
			continue
		}
		if k := pqBufKey(buf.Buf()); k != nil {
			if e, ok := a.live[k]; ok && !e.handed {
				a.live[k] = pqReadBuf{handed: true, pooled: e.pooled, recycle: recycle && e.pooled}
			}
		}
	}
	for _, c := range d.Children() {
		a.handOverData(c)
	}
	a.handOverData(d.Dictionary())
}

// sweep frees what arrow-go left behind once the read has released all its
// readers; buffers allocated later (by a consumer) pass straight through.
func (a *pqReadAlloc) sweep() {
	a.mu.Lock()
	var orphans, pooled [][]byte
	for k, e := range a.live {
		if e.handed {
			continue
		}
		if e.pooled {
			pooled = append(pooled, e.b)
		} else {
			orphans = append(orphans, e.b)
		}
		delete(a.live, k)
		if a.swept == nil {
			a.swept = make(map[*byte]struct{})
		}
		a.swept[k] = struct{}{}
	}
	a.done = true
	a.mu.Unlock()
	for _, b := range orphans {
		a.mem.Free(b)
	}
	for _, b := range pooled {
		bufpool.Put(b)
	}
}

// footerFor returns the footer Inspect read, when meta came from Inspect
// of a file of f's size.
func (m *FileMeta) footerFor(f storage.File) (*metadata.FileMetaData, bool) {
	if m == nil || m.footer == nil || m.size != f.Size() {
		return nil, false
	}
	md, ok := m.footer.(*metadata.FileMetaData)
	return md, ok
}

// Extensions implements Extensions: in a directory, other files are skipped.
func (*ParquetFormat) Extensions() []string { return []string{".parquet", ".parq", ".pq"} }
