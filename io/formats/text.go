package formats

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/io/storage"
)

// This file holds the text and binary formats and the plumbing that the
// line-oriented formats (CSV, JSON lines, text) share: sequential reading,
// projection, batching, row errors and panic recovery.

// RowError is a malformed row in a text file (CSV, JSON lines): the file,
// the 1-based physical line the row (or the bad value) starts on, and the
// column to blame when there is one.
type RowError struct {
	File   string
	Line   int
	Column string
	Msg    string
}

func (e *RowError) Error() string {
	if e.Column != "" {
		return fmt.Sprintf("%s line %d, column %q: %s", e.File, e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("%s line %d: %s", e.File, e.Line, e.Msg)
}

// seqBufSize is the read size for whole-file sequential reads.
const seqBufSize = 1 << 20

// openSequential reads f from the start through a buffer of size bytes,
// from a stream (storage.NewStream: on S3, one GET for the expect bytes
// the caller expects to read, 0 meaning all), decompressed when the
// file's name says it is compressed. The caller closes the stream.
func openSequential(f storage.File, size int, expect int64) (*bufio.Reader, io.Closer, error) {
	if expect <= 0 || textCompression(f.Name()) != "" {
		expect = f.Size()
	}
	src := storage.NewStream(f, 0, expect)
	dec, err := decompressed(f.Name(), src)
	if err != nil {
		src.Close()
		return nil, nil, err
	}
	return bufio.NewReaderSize(dec, size), closers{dec, src}, nil
}

// inspectExpect is what a schema inference expects to read of a file.
const inspectExpect = 1 << 20

// rangeSlack is how far past its range's end a range's reader expects to
// read, to finish the range's last line.
const rangeSlack = 64 << 10

// expect is how many bytes a read of range r of f expects to read from
// from on: to r's end and a little past it, or to f's end.
func (r ByteRange) expect(f storage.File, from int64) int64 {
	if r.End > 0 {
		return r.End - from + rangeSlack
	}
	return f.Size() - from
}

// skipBOM drops a UTF-8 byte order mark at the start of r and says
// whether there was one.
func skipBOM(r *bufio.Reader) bool {
	if b, err := r.Peek(3); err == nil && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		_, _ = r.Discard(3)
		return true
	}
	return false
}

// openLines reads f's lines through a buffer of size bytes: from the
// start (past a byte order mark), or, for a range (see
// ReadRequest.Range), from the first line that starts in it, stopping
// before the first line that starts at or after its end. expect is how
// many bytes the caller expects to read (0: to the range's end, or the
// file's). The caller closes the reader.
func openLines(f storage.File, r ByteRange, size int, expect int64) (*lineReader, error) {
	if r.Start <= 0 {
		if expect <= 0 {
			expect = r.expect(f, 0)
		}
		br, src, err := openSequential(f, size, expect)
		if err != nil {
			return nil, err
		}
		lr := &lineReader{r: br, src: src, end: r.End}
		if skipBOM(br) {
			lr.pos = 3
		}
		return lr, nil
	}
	from := r.Start - 1 // a line starts at Start only if this byte ends one
	if expect <= 0 {
		expect = r.expect(f, from)
	}
	src := storage.NewStream(f, from, expect)
	lr := &lineReader{r: bufio.NewReaderSize(src, size), src: src, pos: from, end: r.End}
	if _, err := lr.next(); err != nil && err != io.EOF {
		lr.close()
		return nil, err
	}
	lr.line, lr.first = 0, lr.pos
	return lr, nil
}

// close releases the stream the reader reads.
func (l *lineReader) close() {
	if l.src != nil {
		l.src.Close()
		l.src = nil
	}
}

// fileLine turns a line number counted from a range's first line into
// the file's, counting the newlines before that line (read only when an
// error needs it).
func (l *lineReader) fileLine(f storage.File, line int) int {
	if l.first <= 0 || line <= 0 {
		return line
	}
	if l.base < 0 {
		return line
	}
	if l.base == 0 {
		n, err := countNewlines(f, l.first)
		if err != nil {
			l.base = -1
			return line
		}
		l.base = n
	}
	return l.base + line
}

// countNewlines counts the newlines in f's first n bytes.
func countNewlines(f storage.File, n int64) (int, error) {
	src := storage.NewStream(f, 0, n)
	defer src.Close()
	r := bufio.NewReaderSize(io.LimitReader(src, n), 1<<20)
	count := 0
	for {
		b, err := r.ReadSlice('\n')
		if len(b) > 0 && b[len(b)-1] == '\n' {
			count++
		}
		if err == io.EOF {
			return count, nil
		}
		if err != nil && err != bufio.ErrBufferFull {
			return count, err
		}
	}
}

// rangeLines fixes the line of a *RowError in err, from a read of a
// range, to count from the file's start.
func rangeLines(err error, f storage.File, l *lineReader) {
	var re *RowError
	if l != nil && l.first > 0 && errors.As(err, &re) {
		re.Line = l.fileLine(f, re.Line)
	}
}

// lineReader returns physical lines (with their terminators) of any length.
type lineReader struct {
	r    *bufio.Reader
	src  io.Closer // what r reads, closed by close
	long []byte    // holds a line longer than r's buffer
	line int       // lines returned so far
	pos  int64     // the file offset of the next line
	end  int64     // when set, the lines starting at or after end are not read

	// first is where a range's first line starts (0 when reading from the
	// file's start) and base the lines before it, once counted (-1: the
	// count failed).
	first int64
	base  int
}

// next returns the next line including its "\n" (absent on a final line
// that has none) and io.EOF after the last one. The slice is valid until
// the next call.
func (l *lineReader) next() ([]byte, error) {
	if l.end > 0 && l.pos >= l.end {
		return nil, io.EOF
	}
	b, err := l.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		l.long = append(l.long[:0], b...)
		for err == bufio.ErrBufferFull {
			b, err = l.r.ReadSlice('\n')
			l.long = append(l.long, b...)
		}
		b = l.long
	}
	if len(b) > 0 {
		l.line++
		l.pos += int64(len(b))
		if err == io.EOF {
			err = nil
		}
		return b, err
	}
	return nil, err
}

// trimEOL drops a trailing "\n" or "\r\n".
func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n > 1 && b[n-2] == '\r' {
			b = b[:n-2]
		}
	}
	return b
}

// bytesView views b as a string without copying, for parsing calls that do
// not keep their argument; the string is only valid while b is unchanged.
func bytesView(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// quoteSnippet renders a value for an error message, shortened when long.
func quoteSnippet(b []byte) string {
	const max = 64
	if len(b) > max {
		return fmt.Sprintf("%q…", b[:max])
	}
	return fmt.Sprintf("%q", b)
}

// recoverRead turns a panic inside a reader into an error naming the file.
// It must be deferred directly: defer recoverRead(f.Name(), &err).
func recoverRead(name string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: internal error while reading: %v", name, r)
	}
}

// projectColumns picks the columns to decode: want (nil: all of have, in
// file order) in want's order, without duplicates, keeping only names the
// file has. It returns indices into have.
func projectColumns(have []string, want []string) []int {
	if want == nil {
		idx := make([]int, len(have))
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	pos := make(map[string]int, len(have))
	for i := len(have) - 1; i >= 0; i-- {
		pos[have[i]] = i
	}
	var idx []int
	seen := make(map[string]bool, len(want))
	for _, name := range want {
		if i, ok := pos[name]; ok && !seen[name] {
			seen[name] = true
			idx = append(idx, i)
		}
	}
	return idx
}

// outputField is the field a column is decoded as: the request schema's
// field of that name when it has one (so every file of a dataset agrees),
// else the file's own.
func outputField(file arrow.Field, req *arrow.Schema) arrow.Field {
	if req != nil {
		if idx := req.FieldIndices(file.Name); len(idx) > 0 {
			f := req.Field(idx[0])
			f.Name = file.Name
			return f
		}
	}
	return file
}

// batcher accumulates rows in a record builder and emits a block every
// batchRows rows. With no columns it emits blocks that only carry a row
// count.
type batcher struct {
	ctx    context.Context
	schema *arrow.Schema
	mem    memory.Allocator
	rb     *array.RecordBuilder // nil when schema has no fields
	emit   func(arrow.RecordBatch) error
	batch  int
	limit  int64 // negative: none
	rows   int   // rows in the open batch
	total  int64 // rows emitted or open

	// utf8, when set, checks the string columns of each block before it
	// is emitted; lines holds the line each row of the open batch began on.
	utf8  *utf8Check
	lines []int
}

func newBatcher(ctx context.Context, req ReadRequest, schema *arrow.Schema, emit func(arrow.RecordBatch) error) *batcher {
	b := &batcher{ctx: ctx, schema: schema, emit: emit, batch: req.BatchRows, limit: req.Limit, mem: req.Alloc}
	if b.batch <= 0 {
		b.batch = DefaultBatchRows
	}
	if b.mem == nil {
		b.mem = memory.DefaultAllocator
	}
	if schema.NumFields() > 0 {
		b.rb = array.NewRecordBuilder(b.mem, schema)
	}
	return b
}

// reserve sizes the fixed-width builders for the rest of a batch at once,
// after its first row, so a block's columns are not copied each time a
// builder doubles.
func (b *batcher) reserve() {
	if b.rb == nil {
		return
	}
	n := b.batch - 1
	if b.limit >= 0 {
		n = int(min(int64(n), b.limit-b.total))
	}
	for i, f := range b.schema.Fields() {
		if _, ok := f.Type.(arrow.FixedWidthDataType); ok && n > 0 {
			b.rb.Field(i).Reserve(n)
		}
	}
}

// checkUTF8 makes the batcher check the string columns of its blocks, when
// it has any.
func (b *batcher) checkUTF8(c *utf8Check) {
	for _, f := range b.schema.Fields() {
		if isArrowString(f.Type) {
			b.utf8 = c
			b.lines = make([]int, 0, min(b.batch, DefaultBatchRows))
			return
		}
	}
}

// builder is the builder of output column i.
func (b *batcher) builder(i int) array.Builder { return b.rb.Field(i) }

// full reports whether the limit has been reached.
func (b *batcher) full() bool { return b.limit >= 0 && b.total >= b.limit }

// addedAt counts one appended row that began on line and emits the batch
// when it is complete.
func (b *batcher) addedAt(line int) error {
	if b.utf8 != nil {
		b.lines = append(b.lines, line)
	}
	return b.added()
}

// added counts one appended row and emits the batch when it is complete.
func (b *batcher) added() error {
	b.rows++
	b.total++
	if b.rows >= b.batch {
		return b.flush()
	}
	if b.rows == 1 {
		b.reserve()
	}
	return nil
}

// flush emits the open batch, if any.
func (b *batcher) flush() error {
	if b.rows == 0 {
		return nil
	}
	var rec arrow.RecordBatch
	if b.rb == nil {
		rec = array.NewRecordBatch(b.schema, nil, int64(b.rows))
	} else {
		rec = b.rb.NewRecordBatch()
	}
	b.rows = 0
	if err := b.ctx.Err(); err != nil {
		rec.Release()
		return err
	}
	if b.utf8 != nil {
		out, err := b.utf8.apply(b.mem, rec, b.lines)
		b.lines = b.lines[:0]
		if err != nil {
			rec.Release()
			return err
		}
		rec = out
	}
	return b.emit(rec)
}

func (b *batcher) release() {
	if b.rb != nil {
		b.rb.Release()
	}
}

// ---------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------

// TextOptions configure the text-lines format.
type TextOptions struct {
	// InvalidUTF8 says what to do with a line that is not valid UTF-8:
	// fail naming the line (the default), replace the bad bytes with
	// U+FFFD, or read the "text" column as binary (every line as it is).
	InvalidUTF8 InvalidUTF8
}

// TextFormat reads text files as one row per line, in a single string
// column "text". Line terminators ("\n" or "\r\n") are stripped; a final
// line without a terminator is a row; an empty file has no rows.
type TextFormat struct {
	o       TextOptions
	bufSize int // read buffer size; 0: the default (tests make it tiny)
}

// Text returns the text-lines format with default options.
func Text() *TextFormat { return TextWith(TextOptions{}) }

// TextWith returns the text-lines format with options o.
func TextWith(o TextOptions) *TextFormat { return &TextFormat{o: o} }

var (
	textSchema       = arrow.NewSchema([]arrow.Field{{Name: "text", Type: arrow.BinaryTypes.String}}, nil)
	textBinarySchema = arrow.NewSchema([]arrow.Field{{Name: "text", Type: arrow.BinaryTypes.Binary}}, nil)
)

func (t *TextFormat) schema() *arrow.Schema {
	if t.o.InvalidUTF8 == InvalidUTF8Binary {
		return textBinarySchema
	}
	return textSchema
}

// Format implements Reader.
func (*TextFormat) Format() string { return "text" }

// Inspect implements Reader. It reads nothing: the schema is fixed and the
// row count unknown.
func (t *TextFormat) Inspect(ctx context.Context, f storage.File) (*FileMeta, error) {
	return &FileMeta{Schema: t.schema(), Rows: -1, Splittable: textCompression(f.Name()) == ""}, nil
}

// Read implements Reader.
func (t *TextFormat) Read(ctx context.Context, f storage.File, meta *FileMeta, req ReadRequest, emit func(arrow.RecordBatch) error) (err error) {
	defer recoverRead(f.Name(), &err)
	if req.Limit == 0 {
		return nil
	}
	var fields []arrow.Field
	if len(projectColumns([]string{"text"}, req.Columns)) > 0 {
		fields = append(fields, outputField(t.schema().Field(0), req.Schema))
		if id := fields[0].Type.ID(); id != arrow.STRING && id != arrow.BINARY {
			return fmt.Errorf("%s: text column must be utf8 or binary, the request asks for %s", f.Name(), fields[0].Type)
		}
	}
	b := newBatcher(ctx, req, arrow.NewSchema(fields, nil), emit)
	defer b.release()
	b.checkUTF8(&utf8Check{file: f.Name(), mode: t.o.InvalidUTF8, hint: utf8Hint})
	var app func([]byte)
	if len(fields) > 0 {
		app = bytesAppender(b.builder(0))
	}
	size := seqBufSize
	if t.bufSize > 0 {
		size = t.bufSize
	}
	// Text keeps a byte order mark as data, so only a range that starts
	// past it opens through openLines.
	var lr *lineReader
	if req.Range.Start > 0 {
		if lr, err = openLines(f, req.Range, size, 0); err != nil {
			return withFile(err, f.Name())
		}
		defer func() { rangeLines(err, f, lr) }()
	} else {
		br, src, err := openSequential(f, size, req.Range.expect(f, 0))
		if err != nil {
			return withFile(err, f.Name())
		}
		lr = &lineReader{r: br, src: src, end: req.Range.End}
	}
	defer lr.close()
	for !b.full() {
		line, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return withFile(err, f.Name())
		}
		if app != nil {
			app(trimEOL(line))
		}
		if err := b.addedAt(lr.line); err != nil {
			return err
		}
	}
	return b.flush()
}

// ---------------------------------------------------------------------------
// Binary
// ---------------------------------------------------------------------------

// BinaryFormat reads each file as one row: "path" (string, the file's
// Name) and "bytes" (binary, the whole content). Files of 2 GiB or more do
// not fit a binary column and are an error.
type BinaryFormat struct{}

// Binary returns the whole-file binary format.
func Binary() *BinaryFormat { return &BinaryFormat{} }

var binarySchema = arrow.NewSchema([]arrow.Field{
	{Name: "path", Type: arrow.BinaryTypes.String},
	{Name: "bytes", Type: arrow.BinaryTypes.Binary},
}, nil)

// Format implements Reader.
func (*BinaryFormat) Format() string { return "binary" }

// Inspect implements Reader: one row, nothing read.
func (*BinaryFormat) Inspect(ctx context.Context, f storage.File) (*FileMeta, error) {
	return &FileMeta{Schema: binarySchema, Rows: 1}, nil
}

// Read implements Reader. The content is read straight into an Arrow
// buffer, and only when "bytes" is asked for.
func (*BinaryFormat) Read(ctx context.Context, f storage.File, meta *FileMeta, req ReadRequest, emit func(arrow.RecordBatch) error) (err error) {
	defer recoverRead(f.Name(), &err)
	if req.Limit == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	mem := req.Alloc
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	cols := projectColumns([]string{"path", "bytes"}, req.Columns)
	fields := make([]arrow.Field, 0, len(cols))
	arrs := make([]arrow.Array, 0, len(cols))
	defer func() {
		for _, a := range arrs {
			a.Release()
		}
	}()
	for _, c := range cols {
		fld := outputField(binarySchema.Field(c), req.Schema)
		if !arrow.TypeEqual(fld.Type, binarySchema.Field(c).Type) {
			return fmt.Errorf("%s: binary format column %q is %s, the request asks for %s", f.Name(), fld.Name, binarySchema.Field(c).Type, fld.Type)
		}
		var a arrow.Array
		if c == 0 {
			sb := array.NewStringBuilder(mem)
			sb.Append(f.Name())
			a = sb.NewArray()
			sb.Release()
		} else {
			a, err = readWholeBinary(mem, f)
			if err != nil {
				return err
			}
		}
		fields = append(fields, fld)
		arrs = append(arrs, a)
	}
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), arrs, 1)
	return emit(rec)
}

// readWholeBinary reads all of f into a one-element binary array.
func readWholeBinary(mem memory.Allocator, f storage.File) (arrow.Array, error) {
	size := f.Size()
	if size < 0 || size > math.MaxInt32 {
		return nil, fmt.Errorf("%s: %d bytes do not fit a binary value (limit 2 GiB)", f.Name(), size)
	}
	values := memory.NewResizableBuffer(mem)
	defer values.Release()
	values.Resize(int(size))
	n, err := f.ReadAt(values.Bytes(), 0)
	if n < int(size) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, withFile(err, f.Name())
	}
	offsets := memory.NewResizableBuffer(mem)
	defer offsets.Release()
	offsets.Resize(2 * arrow.Int32SizeBytes)
	offs := arrow.Int32Traits.CastFromBytes(offsets.Bytes())
	offs[0], offs[1] = 0, int32(size)
	data := array.NewData(arrow.BinaryTypes.Binary, 1, []*memory.Buffer{nil, offsets, values}, nil, 0, 0)
	defer data.Release()
	return array.MakeFromData(data), nil
}
