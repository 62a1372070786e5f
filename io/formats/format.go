// Package formats reads and writes file formats (Parquet, CSV, JSON lines,
// text, binary) as Arrow blocks, and turns a set of files into a
// Datasource that the streaming executor reads in parallel.
//
// A format implements Reader (Inspect a file, then Read parts of it) and,
// where it can be written, Encoder. Source and Sink do the rest for every
// format alike: listing, hive partitions, schema unification, task sizing,
// projection, predicate and limit pushdown, and atomic writes.
package formats

import (
	"context"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/io/storage"
	"github.com/shoal-data/shoal/ops"
)

// Reader reads one file format.
type Reader interface {
	// Format names the format: "parquet", "csv", "json", "text", "binary".
	Format() string
	// Inspect reads what can be known of a file cheaply (a Parquet footer,
	// a CSV header and sample) without decoding it all.
	Inspect(ctx context.Context, f storage.File) (*FileMeta, error)
	// Read decodes the parts of one file that req names and passes each
	// block to emit, which takes over its one reference. Read stops and
	// returns emit's error if emit fails.
	Read(ctx context.Context, f storage.File, meta *FileMeta, req ReadRequest, emit func(arrow.RecordBatch) error) error
}

// FileMeta is what Inspect learns about one file.
type FileMeta struct {
	// Schema is the file's own schema (for CSV and JSON, as inferred).
	Schema *arrow.Schema
	// Rows is the exact row count, or -1 when only a full read can tell.
	Rows int64
	// Units are the parts of the file that can be read independently
	// (Parquet row groups). Empty means the file is one unit.
	Units []Unit
	// Splittable says the file's records each start right after a
	// newline that no record spans, so that byte ranges of it can be read
	// apart (ReadRequest.Range): JSON lines and text always, CSV when its
	// sampled rows hold no newline inside a quoted field.
	Splittable bool
	// DataStart is where a splittable file's records start: past CSV's
	// header line, which no range reads as a record.
	DataStart int64

	// footer is what a format keeps from Inspect for Read (the Parquet
	// footer), valid for a file of size bytes.
	footer any
	size   int64
}

// Unit is an independently readable part of a file.
type Unit struct {
	Rows  int64
	Bytes int64
	// Stats holds column statistics by column name, where the file has them.
	Stats map[string]ColumnStats
}

// ColumnStats are a unit's statistics for one column. Min and Max are Go
// values of the column's kind: int64 for signed integers, uint64 for
// unsigned, float64 for floats, string for strings and binary, bool.
type ColumnStats struct {
	Min, Max  any
	HasMinMax bool
	NullCount int64 // -1 when unknown
}

// ReadRequest says what to read of a file.
type ReadRequest struct {
	// Alloc allocates the blocks' buffers.
	Alloc memory.Allocator
	// Columns lists the columns to decode, by name; nil means all. Columns
	// the file lacks are left out (the Source fills them with nulls).
	Columns []string
	// Units lists the units to read by index; nil means all.
	Units []int
	// Schema is the dataset's unified schema. Formats without types in the
	// file (CSV, JSON) decode to its types so every file agrees; nil means
	// use the file's own.
	Schema *arrow.Schema
	// BatchRows is the target number of rows per block (0: the format's default).
	BatchRows int
	// Limit stops the read after this many rows; negative means no limit.
	Limit int64
	// DictColumns lists string columns the caller would rather have as
	// dictionary arrays where the file stores them dictionary-encoded
	// (Parquet): a filter then compares each distinct value once. A format
	// may ignore it.
	DictColumns []string
	// Filter, when set, lets a format skip rows the filter certainly rules
	// out, judging by statistics finer than the units' (Parquet's page
	// index). The caller still evaluates it on every row it gets. The
	// filter's columns are the file's own, in the file's types.
	Filter ops.Expr
	// Recycle says the caller releases every block it is given before it
	// could matter and keeps no slice or string of its memory: a format
	// may then reuse the fixed-width buffers of released blocks for the
	// next ones (exec.TaskContext.ReadBlocksStayInTask).
	Recycle bool
	// LocalFile says the file is on a local disk, where many small reads
	// cost little: a format may then read in pieces to hold less memory.
	LocalFile bool
	// Range, when its End is set, reads only the records that start in
	// bytes [Start, End) of a Splittable file: the first one is the
	// record that begins at Start when the byte before it is a newline (or
	// Start is 0), else after the next newline; the last one is the last
	// that begins before End, read to its end wherever that is. Ranges
	// that tile a file read each record exactly once.
	Range ByteRange
}

// ByteRange is a range of a file's bytes, [Start, End); End 0 means the
// whole file.
type ByteRange struct {
	Start, End int64
}

// Encoder writes blocks as one file of a format.
type Encoder interface {
	// Ext is the file name extension, with its dot: ".parquet".
	Ext() string
	// Encode writes recs, which all have schema, to w as one file.
	Encode(ctx context.Context, w io.Writer, schema *arrow.Schema, recs []arrow.RecordBatch) error
}

// DefaultBatchRows is the block size readers aim for when the request names none.
const DefaultBatchRows = 64 * 1024
