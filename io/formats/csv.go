package formats

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/io/storage"
)

// Why a parser of our own rather than encoding/csv or arrow-go's arrow/csv:
//
//   - encoding/csv turns "\r\n" inside a quoted field into "\n", so a value
//     written with a CRLF in it does not read back the same, and the
//     csv-spectrum case newlines_crlf (which expects the CRLF kept, as RFC
//     4180 says) cannot pass. It also cannot tell a quoted empty field ("")
//     from an empty one, which is how this format keeps an empty string
//     apart from a null, and it allocates a string per record.
//   - arrow/csv is built on encoding/csv (same limits), infers types from
//     the first block only, reports no line numbers, and has no per-row
//     skipping.
//
// The parser below keeps encoding/csv's grammar otherwise (quotes, doubled
// quotes, embedded newlines, LazyQuotes, comment lines, blank lines skipped,
// a trailing "\r" at end of file dropped), except that a quote inside an
// unquoted field is literal without LazyQuotes (csv-spectrum's
// location_coordinates case needs it; Python's csv and pandas agree).
// FuzzCSVParser checks it against encoding/csv. Fields are parsed in place
// into a reused buffer.

// CSVOptions configure the CSV format. The zero value reads RFC 4180 files
// with a header line and inferred column types.
type CSVOptions struct {
	// Delimiter separates fields; 0 means ','. It may not be '"', '\r',
	// '\n', or the Comment rune.
	Delimiter rune
	// NoHeader says the first line is data; columns are then named
	// "column0", "column1", …. Without it, empty header names become
	// "column<i>" and repeated names get a suffix ("a", "a_1").
	NoHeader bool
	// NullValues are the field texts that mean null. nil means the default
	// {"", "NULL"}; an empty, non-nil slice means none. In string and binary
	// columns only an unquoted field is null (so `""` is an empty string
	// and `"NULL"` the text NULL); in other columns quoting does not matter
	// and an empty field is always null.
	NullValues []string
	// Compression compresses the files a write makes: "gzip" (.csv.gz) or
	// "zstd" (.csv.zst); "" writes them plain. Reads tell a file's
	// compression from its name and ignore this.
	Compression string
	// Columns forces the types of the named columns (inference still runs
	// for the others). Supported: bool, signed and unsigned integers,
	// float32, float64, utf8, large_utf8, utf8_view, binary, large_binary,
	// date32, date64, timestamp (any unit and zone) and null.
	Columns map[string]arrow.DataType
	// InferRows is how many data rows Inspect samples to infer types; 0
	// means 1000, negative means every row. A later value that does not
	// parse as its column's type is a bad row.
	InferRows int
	// AllStrings skips inference: every column not in Columns is utf8.
	AllStrings bool
	// SkipBadRows skips malformed rows (bad quoting, wrong field count, a
	// value that does not parse as its column's type, checked for every
	// column, read or not) instead of failing the read.
	SkipBadRows bool
	// BadRows, when set, counts the rows Read skips (Inspect counts none).
	BadRows *atomic.Int64
	// Comment, when set, starts comment lines, which are skipped.
	Comment rune
	// LazyQuotes takes a quote inside a quoted field that is neither
	// doubled nor closing the field as a literal quote (and a quoted field
	// still open at the end of the file as ending there), as encoding/csv's
	// LazyQuotes does. A quote inside an unquoted field (12'3") is always
	// literal, as in most CSV readers (encoding/csv needs LazyQuotes).
	LazyQuotes bool
	// InvalidUTF8 says what to do with a header name or a value of a
	// string column that is not valid UTF-8: fail (the default, naming the
	// line and column), replace the bad bytes with U+FFFD, or infer such
	// columns as binary. A bad value is a bad row for SkipBadRows.
	InvalidUTF8 InvalidUTF8
	// NewlinesInValues says quoted fields may hold newlines anywhere in
	// the files, so each is read whole by one task. Without it a large
	// file is read in byte ranges by parallel tasks unless the rows
	// sampled for inference hold such a newline; a range read that meets
	// one later fails, naming the line and this option.
	NewlinesInValues bool
}

// CSVFormat reads and writes CSV files. It implements Reader and Encoder.
//
// Inference picks per column the narrowest type that every non-null
// sampled value parses as: int64, float64, bool ("true"/"false" in any
// case), date32 ("2006-01-02"), timestamp[us, tz=UTC] (RFC 3339 with an
// offset, dates allowed among them), else utf8. Numbers with leading zeros
// ("007", a zip code "08123") stay strings. A column with no non-null
// sampled value is utf8. Hex and underscore forms never infer as numbers.
//
// Decoding a column to a type given by the request schema or Columns is
// more lenient than inference: leading zeros and hex floats parse, bool
// also takes 1/0/t/f, a timestamp may use a space for the 'T' and omit the
// offset (then it is UTC), and a date reads as midnight UTC.
//
// Strings must be valid UTF-8, as Arrow requires: see CSVOptions.InvalidUTF8.
//
// A file without a header line (empty, or only blank lines) has no
// columns and no rows; a file with only a header line has its columns
// (utf8, or the types Columns or the request schema give) and no rows.
type CSVFormat struct {
	o         CSVOptions
	err       error
	delim     []byte
	comment   []byte
	nulls     map[string]bool
	nullMax   int       // longest null value
	nullFirst [256]bool // first bytes of the non-empty null values
	writeNull string    // text written for a null: "" when that is a null value
	lineNull  string    // text written for a null that would otherwise make a blank line
	inferRows int
	bufSize   int // read buffer size; 0: the default (tests make it tiny)
}

// CSV returns the CSV format with options o. Invalid options (a bad
// delimiter or comment rune) make every call fail with an error.
func CSV(o CSVOptions) *CSVFormat {
	c := &CSVFormat{o: o, inferRows: o.InferRows}
	if o.Delimiter == 0 {
		o.Delimiter = ','
		c.o.Delimiter = ','
	}
	if c.inferRows == 0 {
		c.inferRows = 1000
	}
	valid := func(r rune) bool {
		return r != 0 && r != '"' && r != '\r' && r != '\n' && utf8.ValidRune(r) && r != utf8.RuneError
	}
	switch {
	case !valid(o.Delimiter):
		c.err = fmt.Errorf("csv: invalid delimiter %q", o.Delimiter)
	case o.Comment != 0 && !valid(o.Comment):
		c.err = fmt.Errorf("csv: invalid comment rune %q", o.Comment)
	case o.Comment == o.Delimiter:
		c.err = fmt.Errorf("csv: comment rune and delimiter are both %q", o.Comment)
	}
	if err := checkWriteCompression(o.Compression); err != nil && c.err == nil {
		c.err = fmt.Errorf("csv: %w", err)
	}
	c.delim = utf8.AppendRune(nil, o.Delimiter)
	if o.Comment != 0 {
		c.comment = utf8.AppendRune(nil, o.Comment)
	}
	nulls := o.NullValues
	if nulls == nil {
		nulls = []string{"", "NULL"}
	}
	c.nulls = make(map[string]bool, len(nulls))
	for _, s := range nulls {
		c.nulls[s] = true
		c.nullMax = max(c.nullMax, len(s))
		if s != "" {
			c.nullFirst[s[0]] = true
		}
		if c.writeNull == "" && s != "" {
			c.writeNull = s
		}
	}
	c.lineNull = c.writeNull
	if c.nulls[""] {
		c.writeNull = ""
	}
	if c.lineNull == "" {
		c.lineNull = `""`
	}
	return c
}

// Format implements Reader.
func (*CSVFormat) Format() string { return "csv" }

// Ext implements Encoder.
func (c *CSVFormat) Ext() string { return ".csv" + compressionExt(c.o.Compression) }

// ---------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------

// csvSyntaxError is malformed quoting at a line.
type csvSyntaxError struct {
	line int
	msg  string
}

func (e *csvSyntaxError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// csvParser reads CSV records. After next returns nil the record's fields
// are field(0) … field(n-1), valid until the following call.
type csvParser struct {
	lr      lineReader
	end     int64 // when set, records starting at or after it are not read
	delim   []byte
	comment []byte
	lazy    bool

	rec     []byte // the fields of a record with quotes, unquoted, end to end
	data    []byte // the record's fields: rec, or the line itself when it holds no quote
	starts  []int  // start of each field in data
	ends    []int  // end of each field in data
	quoted  []bool // whether each field was quoted
	lines   []int  // the line each field starts on
	recLine int    // the line the record starts on
	// multiLine says a record read so far spanned lines (a quoted field
	// held a newline).
	multiLine bool
	// headerEnd is the offset past the header line, once read.
	headerEnd int64
}

func (c *CSVFormat) newParser(f storage.File, bufSize int, expect int64) (*csvParser, error) {
	return c.newRangeParser(f, ByteRange{}, bufSize, expect)
}

// newRangeParser reads the records of f that start in r (all of them
// when r.End is 0); see ReadRequest.Range. expect is as for openLines.
// The caller closes p.lr.
func (c *CSVFormat) newRangeParser(f storage.File, r ByteRange, bufSize int, expect int64) (*csvParser, error) {
	if c.bufSize > 0 {
		bufSize = c.bufSize
	}
	lr, err := openLines(f, r, bufSize, expect)
	if err != nil {
		return nil, err
	}
	end := lr.end
	lr.end = 0 // records stop at end, lines within a record do not
	return &csvParser{lr: *lr, end: end, delim: c.delim, comment: c.comment, lazy: c.o.LazyQuotes}, nil
}

// readLine returns the next physical line with its terminator; a final
// "\r" before end of file is dropped (as encoding/csv does).
func (p *csvParser) readLine() ([]byte, error) {
	b, err := p.lr.next()
	if err == nil && len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b, err
}

// eolLen is the length of b's line terminator: 2 for "\r\n", 1 for "\n".
func eolLen(b []byte) int {
	n := len(b)
	if n > 0 && b[n-1] == '\n' {
		if n > 1 && b[n-2] == '\r' {
			return 2
		}
		return 1
	}
	return 0
}

func (p *csvParser) nfields() int { return len(p.ends) }

func (p *csvParser) field(i int) []byte { return p.data[p.starts[i]:p.ends[i]] }

// endField ends a field copied into rec, which holds the fields end to end.
func (p *csvParser) endField(quoted bool, line int) {
	start := 0
	if n := len(p.ends); n > 0 {
		start = p.ends[n-1]
	}
	p.addField(start, len(p.rec), quoted, line)
}

func (p *csvParser) addField(start, end int, quoted bool, line int) {
	p.starts = append(p.starts, start)
	p.ends = append(p.ends, end)
	p.quoted = append(p.quoted, quoted)
	p.lines = append(p.lines, line)
}

func (p *csvParser) indexDelim(b []byte) int {
	if len(p.delim) == 1 {
		return bytes.IndexByte(b, p.delim[0])
	}
	return bytes.Index(b, p.delim)
}

// next reads the next record. It returns io.EOF at the end, a
// *csvSyntaxError for bad quoting (the rest of that line is dropped, so
// the next call goes on after it), or the storage error.
func (p *csvParser) next() error {
	err := p.record()
	if err == nil && p.lr.line != p.recLine {
		p.multiLine = true
	}
	return err
}

func (p *csvParser) record() error {
	var line []byte
	var err error
	for {
		if p.end > 0 && p.lr.pos >= p.end {
			return io.EOF
		}
		line, err = p.readLine()
		if err != nil {
			return err
		}
		if p.comment != nil && bytes.HasPrefix(line, p.comment) {
			continue
		}
		if eolLen(line) == len(line) {
			continue // blank line
		}
		break
	}
	p.rec, p.starts, p.ends, p.quoted, p.lines = p.rec[:0], p.starts[:0], p.ends[:0], p.quoted[:0], p.lines[:0]
	p.recLine = p.lr.line
	if bytes.IndexByte(line, '"') < 0 {
		// No quote on the line: the fields are the line's bytes between
		// delimiters, viewed where the reader holds them rather than
		// copied (valid until the next record is read).
		body := line[:len(line)-eolLen(line)]
		p.data = body
		for pos := 0; ; {
			i := p.indexDelim(body[pos:])
			if i < 0 {
				p.addField(pos, len(body), false, p.recLine)
				return nil
			}
			p.addField(pos, pos+i, false, p.recLine)
			pos += i + len(p.delim)
		}
	}
	defer func() { p.data = p.rec }()
	for {
		if len(line) == 0 || line[0] != '"' {
			// An unquoted field runs to the delimiter or the end of the line.
			i := p.indexDelim(line)
			field := line
			if i >= 0 {
				field = line[:i]
			} else {
				field = line[:len(line)-eolLen(line)]
			}
			p.rec = append(p.rec, field...)
			p.endField(false, p.lr.line)
			if i < 0 {
				return nil
			}
			line = line[i+len(p.delim):]
			continue
		}
		// A quoted field runs to the closing quote, across lines.
		start := p.lr.line
		line = line[1:]
	quoted:
		for {
			i := bytes.IndexByte(line, '"')
			switch {
			case i >= 0:
				p.rec = append(p.rec, line[:i]...)
				line = line[i+1:]
				switch {
				case len(line) > 0 && line[0] == '"':
					p.rec = append(p.rec, '"')
					line = line[1:]
				case bytes.HasPrefix(line, p.delim):
					line = line[len(p.delim):]
					p.endField(true, start)
					break quoted
				case eolLen(line) == len(line):
					p.endField(true, start)
					return nil
				case p.lazy:
					p.rec = append(p.rec, '"')
				default:
					return &csvSyntaxError{p.lr.line, `extraneous or missing " in a quoted field`}
				}
			case len(line) > 0:
				p.rec = append(p.rec, line...)
				line, err = p.readLine()
				if err != nil && err != io.EOF {
					return err
				}
			default:
				if !p.lazy {
					return &csvSyntaxError{start, "quoted field not closed before the end of the file"}
				}
				p.endField(true, start)
				return nil
			}
		}
	}
}

// header reads the header (or, with NoHeader, the first record, which then
// stays in p as pending data) and returns the column names. With NoHeader
// and SkipBadRows, malformed records before the first good one are skipped
// (and counted when count is set); a malformed header is always an error.
func (c *CSVFormat) header(p *csvParser, name string, count bool) (names []string, pending bool, err error) {
	for {
		err := p.next()
		if err == io.EOF {
			return nil, false, nil
		}
		if se, ok := err.(*csvSyntaxError); ok {
			if c.o.NoHeader && c.o.SkipBadRows {
				if count && c.o.BadRows != nil {
					c.o.BadRows.Add(1)
				}
				continue
			}
			return nil, false, &RowError{File: name, Line: se.line, Msg: se.msg}
		}
		if err != nil {
			return nil, false, withFile(err, name)
		}
		break
	}
	n := p.nfields()
	if c.o.NoHeader {
		names = make([]string, n)
		for i := range names {
			names[i] = "column" + strconv.Itoa(i)
		}
		return names, true, nil
	}
	p.headerEnd = p.lr.pos
	raw := make([]string, n)
	for i := range raw {
		v := p.field(i)
		if !utf8.Valid(v) {
			if c.o.InvalidUTF8 == InvalidUTF8Error {
				return nil, false, &RowError{File: name, Line: p.lines[i], Column: "column" + strconv.Itoa(i),
					Msg: fmt.Sprintf("header name %s is not valid UTF-8 (set InvalidUTF8 to replace it)", quoteSnippet(v))}
			}
			v = appendValidUTF8(nil, v)
		}
		raw[i] = string(v)
	}
	return csvColumnNames(raw), false, nil
}

// csvColumnNames makes header names usable: an empty name becomes
// "column<i>", a repeated one gets the first free suffix "_1", "_2", ….
func csvColumnNames(raw []string) []string {
	names := make([]string, len(raw))
	used := make(map[string]bool, len(raw))
	for i, s := range raw {
		if s == "" {
			s = "column" + strconv.Itoa(i)
		}
		if !used[s] {
			used[s] = true
			names[i] = s
		}
	}
	for i, s := range raw {
		if names[i] != "" {
			continue
		}
		if s == "" {
			s = "column" + strconv.Itoa(i)
		}
		for k := 1; ; k++ {
			cand := s + "_" + strconv.Itoa(k)
			if !used[cand] {
				used[cand] = true
				names[i] = cand
				break
			}
		}
	}
	return names
}

// ---------------------------------------------------------------------------
// Inspect
// ---------------------------------------------------------------------------

// Inspect implements Reader: it reads the header and up to InferRows rows
// and infers the column types. Rows is -1.
func (c *CSVFormat) Inspect(ctx context.Context, f storage.File) (meta *FileMeta, err error) {
	defer recoverRead(f.Name(), &err)
	if c.err != nil {
		return nil, c.err
	}
	p, err := c.newParser(f, 256<<10, inspectExpect)
	if err != nil {
		return nil, withFile(err, f.Name())
	}
	defer p.lr.close()
	schema, err := c.infer(ctx, p, f.Name())
	if err != nil {
		return nil, err
	}
	return &FileMeta{Schema: schema, Rows: -1, Splittable: !c.o.NewlinesInValues && !p.multiLine && textCompression(f.Name()) == "", DataStart: p.headerEnd}, nil
}

var timestampUTCus arrow.DataType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

// timestampNaiveUs is the type inferred for timestamps without a zone
// ("2024-01-05 13:22:10"): wall-clock times, as DuckDB's TIMESTAMP and
// Polars' naive Datetime read them.
var timestampNaiveUs arrow.DataType = &arrow.TimestampType{Unit: arrow.Microsecond}

func (c *CSVFormat) infer(ctx context.Context, p *csvParser, name string) (*arrow.Schema, error) {
	names, pending, err := c.header(p, name, false)
	if err != nil {
		return nil, err
	}
	guesses := make([]csvGuess, len(names))
	binary := c.o.InvalidUTF8 == InvalidUTF8Binary
	if c.o.AllStrings {
		// Only UTF-8 validity is left to sample for.
		for i := range guesses {
			guesses[i] = csvGuess{seen: true, notInt: true, notFloat: true, notBool: true, timeGuess: notTime}
		}
	}
	if (!c.o.AllStrings || binary) && len(names) > 0 {
		for rows := 0; c.inferRows < 0 || rows < c.inferRows; {
			if !pending {
				err := p.next()
				if err == io.EOF {
					break
				}
				if se, ok := err.(*csvSyntaxError); ok {
					if c.o.SkipBadRows {
						continue
					}
					return nil, &RowError{File: name, Line: se.line, Msg: se.msg}
				}
				if err != nil {
					return nil, withFile(err, name)
				}
			}
			pending = false
			if p.nfields() != len(names) {
				if c.o.SkipBadRows {
					continue
				}
				return nil, c.widthError(p, name, len(names))
			}
			for i := range guesses {
				if v := p.field(i); !c.typedNull(v) {
					guesses[i].observe(v, binary)
				}
			}
			rows++
			if rows%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
		}
	}
	fields := make([]arrow.Field, len(names))
	for i, n := range names {
		t := guesses[i].typ()
		if forced, ok := c.o.Columns[n]; ok {
			if !csvSupported(forced) {
				return nil, fmt.Errorf("%s: column %q: csv cannot decode %s", name, n, forced)
			}
			t = forced
		}
		fields[i] = arrow.Field{Name: n, Type: t, Nullable: true}
	}
	return arrow.NewSchema(fields, nil), nil
}

// utf8Hint is what an invalid UTF-8 error suggests.
func (c *CSVFormat) utf8Hint() string {
	if c.o.InvalidUTF8 == InvalidUTF8Binary {
		return fmt.Sprintf("the column holds only valid UTF-8 in the rows sampled for inference (%d): raise InferRows, or declare it binary in Columns", c.inferRows)
	}
	return utf8Hint
}

func (c *CSVFormat) widthError(p *csvParser, name string, want int) *RowError {
	return &RowError{File: name, Line: p.recLine, Msg: fmt.Sprintf("%d fields, the header has %d", p.nfields(), want)}
}

// typedNull says whether a field is null in a column that is not a string:
// empty, or one of the null values, quoted or not.
func (c *CSVFormat) typedNull(v []byte) bool {
	return len(v) == 0 || c.isNullText(v)
}

// isNullText says whether v is one of the null values, mostly without a
// map lookup.
func (c *CSVFormat) isNullText(v []byte) bool {
	if len(v) > c.nullMax || len(v) > 0 && !c.nullFirst[v[0]] {
		return false
	}
	return c.nulls[string(v)]
}

// csvGuess collects what the sampled values of one column could be.
type csvGuess struct {
	seen                      bool
	notInt, notFloat, notBool bool
	timeGuess
	notUTF8 bool // seen invalid UTF-8 (sampled with InvalidUTF8Binary)
}

// observe narrows the guess by one value; checkUTF8 samples its validity.
func (g *csvGuess) observe(v []byte, checkUTF8 bool) {
	g.seen = true
	if checkUTF8 && !g.notUTF8 && !utf8.Valid(v) {
		g.notUTF8 = true
	}
	s := bytesView(v)
	if !g.notInt && !looksInt(s) {
		g.notInt = true
	}
	if !g.notFloat && !looksFloat(s) {
		g.notFloat = true
	}
	if !g.notBool && !strings.EqualFold(s, "true") && !strings.EqualFold(s, "false") {
		g.notBool = true
	}
	g.timeGuess.observe(s)
}

func (g *csvGuess) typ() arrow.DataType {
	switch {
	case !g.seen:
		return arrow.BinaryTypes.String
	case !g.notInt:
		return arrow.PrimitiveTypes.Int64
	case !g.notFloat:
		return arrow.PrimitiveTypes.Float64
	case !g.notBool:
		return arrow.FixedWidthTypes.Boolean
	}
	if t := g.timeGuess.typ(); t != nil {
		return t
	}
	if g.notUTF8 {
		return arrow.BinaryTypes.Binary
	}
	return arrow.BinaryTypes.String
}

// leadingZero reports a number whose integer part starts with a 0 followed
// by another digit ("007"): an identifier or a code more likely than a number.
func leadingZero(s string) bool {
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	return len(s) > 1 && s[0] == '0' && s[1] >= '0' && s[1] <= '9'
}

// looksInt says whether inference may take s as an int64.
func looksInt(s string) bool {
	if leadingZero(s) {
		return false
	}
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

// looksFloat says whether inference may take s as a float64: decimal
// notation, or NaN and infinities.
func looksFloat(s string) bool {
	if s == "" || leadingZero(s) || strings.ContainsAny(s, "xX_") {
		return false
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// parseDateText parses "2006-01-02".
func parseDateText(s string) (time.Time, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, s)
	return t, err == nil
}

// timestampShape says whether inference takes s as an ISO 8601
// timestamp: a date, 'T' or a space, hh:mm:ss, optional fractional
// seconds and an optional zone ("Z" or ±hh:mm); and whether it has the
// zone.
func timestampShape(s string) (zoned, ok bool) {
	if len(s) < 19 || (s[10] != 'T' && s[10] != ' ') {
		return false, false
	}
	if _, ok := parseTimestampText(s, false); !ok {
		return false, false
	}
	rest := s[19:]
	return len(rest) > max(fractionLen(rest), 0), true
}

// parseTimestampText parses an RFC 3339 timestamp,
// 2006-01-02T15:04:05[.fraction](Z|±07:00), with 1 to 9 fraction digits.
// Strictly (for inference) that is all; otherwise the 'T' may be a space
// or 't', the 'Z' a 'z', a missing offset means UTC, and a bare date is
// midnight UTC. The instant must fall in the years 0000-9999 in UTC, so
// that it can be written back as RFC 3339.
func parseTimestampText(s string, strict bool) (time.Time, bool) {
	if len(s) < 19 {
		if !strict {
			return parseDateText(s)
		}
		return time.Time{}, false
	}
	digits := func(s string) bool {
		for i := range len(s) {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return true
	}
	if !digits(s[0:4]) || s[4] != '-' || !digits(s[5:7]) || s[7] != '-' || !digits(s[8:10]) ||
		!digits(s[11:13]) || s[13] != ':' || !digits(s[14:16]) || s[16] != ':' || !digits(s[17:19]) {
		return time.Time{}, false
	}
	canonical := s[10] == 'T'
	if !canonical && (strict || s[10] != ' ' && s[10] != 't') {
		return time.Time{}, false
	}
	rest := s[19:]
	n := fractionLen(rest)
	if n < 0 {
		return time.Time{}, false
	}
	rest = rest[n:]
	switch {
	case rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && digits(rest[1:3]) && rest[3] == ':' && digits(rest[4:6]):
	case strict:
		return time.Time{}, false
	case rest == "z" || rest == "":
		canonical = false
	default:
		return time.Time{}, false
	}
	if !canonical {
		b := make([]byte, 0, len(s)+1)
		b = append(b, s[:10]...)
		b = append(b, 'T')
		b = append(b, s[11:len(s)-len(rest)]...)
		b = append(b, 'Z')
		if len(rest) == 6 {
			b = append(b[:len(b)-1], rest...)
		}
		s = string(b)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return time.Time{}, false
	}
	return t, true
}

// ---------------------------------------------------------------------------
// Read
// ---------------------------------------------------------------------------

// csvCol decodes one column: parse checks a field and stages its value,
// put appends the staged value, null appends a null. A check-only column
// (for SkipBadRows) has no builder and put and null do nothing.
type csvCol struct {
	name  string
	field int
	typ   arrow.DataType
	str   bool // string-like: null only when unquoted and listed
	utf8  bool // a string column: its values must be valid UTF-8
	parse func(v []byte) bool
	put   func()
	null  func()

	// Set for the common types, so that a read that stops at the first
	// bad row decodes and appends in one step, without closures.
	kind csvKind
	i64  *array.Int64Builder
	f64  *array.Float64Builder
	ts   *array.TimestampBuilder
	unit arrow.TimeUnit
	app  func([]byte) // strings and binaries
}

// csvKind picks decodeInto's direct path for a column.
type csvKind uint8

const (
	csvOther csvKind = iota // parse, then put
	csvInt64
	csvFloat64
	csvTimestamp
	csvBytes
)

// decodeInto appends field v of a row to the column: a null, or its value
// when it parses. It returns false when v does not parse.
func (c *CSVFormat) decodeInto(col *csvCol, v []byte, quoted bool) bool {
	if c.fieldNull(col, v, quoted) {
		col.null()
		return true
	}
	switch col.kind {
	case csvBytes:
		col.app(v)
		return true
	case csvInt64:
		x, ok := parseInt64Text(v)
		if ok {
			col.i64.Append(x)
		}
		return ok
	case csvFloat64:
		x, ok := parseFloat64Text(v)
		if ok {
			col.f64.Append(x)
		}
		return ok
	case csvTimestamp:
		x, ok := parseTimestampUnit(v, col.unit)
		if ok {
			col.ts.Append(x)
		}
		return ok
	}
	if !col.parse(v) {
		return false
	}
	col.put()
	return true
}

// csvSupported says whether a CSV column can decode to t.
func csvSupported(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.NULL, arrow.BOOL, arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64, arrow.FLOAT32, arrow.FLOAT64,
		arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW, arrow.BINARY, arrow.LARGE_BINARY,
		arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP:
		return true
	}
	return false
}

func csvIntCol[T int8 | int16 | int32 | int64](col *csvCol, b array.Builder, bits int) {
	var v T
	lo, hi := int64(-1)<<(bits-1), int64(1)<<(bits-1)-1
	col.parse = func(s []byte) bool {
		x, ok := parseInt64Text(s)
		v = T(x)
		return ok && x >= lo && x <= hi
	}
	if b != nil {
		tb := b.(interface{ Append(T) })
		col.put = func() { tb.Append(v) }
	}
}

func csvUintCol[T uint8 | uint16 | uint32 | uint64](col *csvCol, b array.Builder, bits int) {
	var v T
	col.parse = func(s []byte) bool {
		x, err := strconv.ParseUint(bytesView(s), 10, bits)
		v = T(x)
		return err == nil
	}
	if b != nil {
		tb := b.(interface{ Append(T) })
		col.put = func() { tb.Append(v) }
	}
}

// newCSVCol makes the decoder of a column of type t appending to b (nil:
// check only).
func newCSVCol(name string, field int, t arrow.DataType, b array.Builder) (*csvCol, error) {
	col := &csvCol{name: name, field: field, typ: t, put: func() {}, null: func() {}}
	if b != nil {
		col.null = b.AppendNull
	}
	switch t.ID() {
	case arrow.NULL:
		col.parse = func([]byte) bool { return false }
	case arrow.BOOL:
		var v bool
		col.parse = func(s []byte) bool {
			switch {
			case strings.EqualFold(bytesView(s), "true"):
				v = true
			case strings.EqualFold(bytesView(s), "false"):
				v = false
			default:
				x, err := strconv.ParseBool(bytesView(s))
				if err != nil {
					return false
				}
				v = x
			}
			return true
		}
		if b != nil {
			bb := b.(*array.BooleanBuilder)
			col.put = func() { bb.Append(v) }
		}
	case arrow.INT8:
		csvIntCol[int8](col, b, 8)
	case arrow.INT16:
		csvIntCol[int16](col, b, 16)
	case arrow.INT32:
		csvIntCol[int32](col, b, 32)
	case arrow.INT64:
		csvIntCol[int64](col, b, 64)
		if ib, ok := b.(*array.Int64Builder); ok {
			col.kind, col.i64 = csvInt64, ib
		}
	case arrow.UINT8:
		csvUintCol[uint8](col, b, 8)
	case arrow.UINT16:
		csvUintCol[uint16](col, b, 16)
	case arrow.UINT32:
		csvUintCol[uint32](col, b, 32)
	case arrow.UINT64:
		csvUintCol[uint64](col, b, 64)
	case arrow.FLOAT32:
		var v float32
		col.parse = func(s []byte) bool {
			x, err := strconv.ParseFloat(bytesView(s), 32)
			v = float32(x)
			return err == nil
		}
		if b != nil {
			fb := b.(*array.Float32Builder)
			col.put = func() { fb.Append(v) }
		}
	case arrow.FLOAT64:
		var v float64
		col.parse = func(s []byte) (ok bool) {
			v, ok = parseFloat64Text(s)
			return ok
		}
		if b != nil {
			fb := b.(*array.Float64Builder)
			col.put = func() { fb.Append(v) }
			col.kind, col.f64 = csvFloat64, fb
		}
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW, arrow.BINARY, arrow.LARGE_BINARY:
		col.str = true
		col.utf8 = isArrowString(t)
		var v []byte
		col.parse = func(s []byte) bool { v = s; return true }
		if b != nil {
			app := bytesAppender(b)
			col.put = func() { app(v) }
			col.kind, col.app = csvBytes, app
		}
	case arrow.DATE32, arrow.DATE64:
		var v time.Time
		col.parse = func(s []byte) bool {
			t, ok := parseDateText(bytesView(s))
			v = t
			return ok
		}
		if b != nil {
			if db, ok := b.(*array.Date32Builder); ok {
				col.put = func() { db.Append(arrow.Date32FromTime(v)) }
			} else {
				db := b.(*array.Date64Builder)
				col.put = func() { db.Append(arrow.Date64FromTime(v)) }
			}
		}
	case arrow.TIMESTAMP:
		unit := t.(*arrow.TimestampType).Unit
		var v arrow.Timestamp
		col.parse = func(s []byte) bool {
			ts, ok := parseTimestampUnit(s, unit)
			v = ts
			return ok
		}
		if b != nil {
			tb := b.(*array.TimestampBuilder)
			col.put = func() { tb.Append(v) }
			col.kind, col.ts, col.unit = csvTimestamp, tb, unit
		}
	default:
		return nil, fmt.Errorf("column %q: csv cannot decode %s", name, t)
	}
	return col, nil
}

// bytesAppender returns the append-bytes function of a string or binary
// builder, which copies without converting to a Go string.
func bytesAppender(b array.Builder) func([]byte) {
	switch x := b.(type) {
	case *array.StringBuilder:
		return x.BinaryBuilder.Append
	case *array.LargeStringBuilder:
		return x.BinaryBuilder.Append
	case *array.StringViewBuilder:
		return x.BinaryViewBuilder.Append
	case *array.BinaryBuilder:
		return x.Append
	case *array.BinaryViewBuilder:
		return x.Append
	}
	panic(fmt.Sprintf("no bytes appender for %T", b))
}

// stage checks the fields of the current record for col, staging values.
// It returns false (and the line) for a value that does not parse.
func (c *CSVFormat) stage(col *csvCol, p *csvParser, isNull []bool, k int) bool {
	v := p.field(col.field)
	isNull[k] = c.fieldNull(col, v, p.quoted[col.field])
	return isNull[k] || col.parse(v)
}

// fieldNull says whether field v of col is null: in a string column only
// when unquoted and one of the null values, elsewhere also when empty.
func (c *CSVFormat) fieldNull(col *csvCol, v []byte, quoted bool) bool {
	if col.str {
		return !quoted && c.isNullText(v)
	}
	return c.typedNull(v)
}

// Read implements Reader. The file is one unit, read from the start.
func (c *CSVFormat) Read(ctx context.Context, f storage.File, meta *FileMeta, req ReadRequest, emit func(arrow.RecordBatch) error) (err error) {
	name := f.Name()
	defer recoverRead(name, &err)
	if c.err != nil {
		return c.err
	}
	if req.Limit == 0 {
		return nil
	}
	if meta == nil || meta.Schema == nil {
		if meta, err = c.Inspect(ctx, f); err != nil {
			return err
		}
	}
	ranged, rng := req.Range.End > 0, req.Range
	if ranged && rng.Start > 0 && rng.Start < meta.DataStart {
		rng.Start = meta.DataStart // the header is no range's record
	}
	if ranged && rng.Start >= rng.End {
		return nil
	}
	// The parser gets no End (records, not lines, stop at it: see p.end),
	// so it is told what the range expects to read.
	p, err := c.newRangeParser(f, ByteRange{Start: rng.Start}, seqBufSize, rng.expect(f, max(rng.Start-1, 0)))
	if err != nil {
		return withFile(err, name)
	}
	defer p.lr.close()
	defer func() { rangeLines(err, f, &p.lr) }()
	var names []string
	var pending bool
	if rng.Start > 0 {
		// Past the header: the columns are the file's, as inspected.
		for _, fld := range meta.Schema.Fields() {
			names = append(names, fld.Name)
		}
	} else if names, pending, err = c.header(p, name, true); err != nil || names == nil {
		return err
	}
	p.end = rng.End // the header, read whole above, is no record of the range
	// Each column's type: the request's, else the file's as inspected.
	fileField := func(i int) arrow.Field {
		fld := arrow.Field{Name: names[i], Type: arrow.BinaryTypes.String, Nullable: true}
		if idx := meta.Schema.FieldIndices(names[i]); len(idx) > 0 {
			fld.Type = meta.Schema.Field(idx[0]).Type
		}
		return outputField(fld, req.Schema)
	}
	proj := projectColumns(names, req.Columns)
	fields := make([]arrow.Field, len(proj))
	for k, i := range proj {
		fields[k] = fileField(i)
	}
	b := newBatcher(ctx, req, arrow.NewSchema(fields, nil), emit)
	defer b.release()
	check := &utf8Check{file: name, mode: c.o.InvalidUTF8, hint: c.utf8Hint()}
	b.checkUTF8(check)
	// Skipping a bad row needs each value checked before the row is added.
	checkEach := c.o.SkipBadRows && c.o.InvalidUTF8 != InvalidUTF8Replace
	cols := make([]*csvCol, 0, len(names))
	for k, i := range proj {
		col, err := newCSVCol(names[i], i, fields[k].Type, b.builder(k))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		cols = append(cols, col)
	}
	out := len(cols)
	if c.o.SkipBadRows {
		// Check every column, so which rows survive does not depend on the
		// projection.
		read := make([]bool, len(names))
		for _, i := range proj {
			read[i] = true
		}
		for i := range names {
			if !read[i] {
				fld := fileField(i)
				col, err := newCSVCol(fld.Name, i, fld.Type, nil)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				cols = append(cols, col)
			}
		}
	}
	isNull := make([]bool, len(cols))
	bad := func(e *RowError) error {
		if c.o.SkipBadRows {
			if c.o.BadRows != nil {
				c.o.BadRows.Add(1)
			}
			return nil
		}
		return e
	}
rows:
	for !b.full() {
		if !pending {
			err := p.next()
			if err == io.EOF {
				break
			}
			if se, ok := err.(*csvSyntaxError); ok {
				if err := bad(&RowError{File: name, Line: se.line, Msg: se.msg}); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return withFile(err, name)
			}
		}
		pending = false
		if ranged && p.multiLine {
			// This file was split on the word of its sampled rows, and a
			// quoted newline means any range may have started inside a
			// field: no row of it can be trusted.
			return &RowError{File: name, Line: p.recLine, Msg: fmt.Sprintf("a quoted field holds a newline, which the first %d rows sampled did not show, so the file was read in parallel byte ranges: read it with CSVOptions{NewlinesInValues: true}", c.inferRows)}
		}
		if p.nfields() != len(names) {
			if err := bad(c.widthError(p, name, len(names))); err != nil {
				return err
			}
			continue
		}
		if !c.o.SkipBadRows {
			// The first bad value fails the read: decode and append at once.
			for _, col := range cols {
				if !c.decodeInto(col, p.field(col.field), p.quoted[col.field]) {
					return &RowError{File: name, Line: p.lines[col.field], Column: col.name,
						Msg: fmt.Sprintf("cannot parse %s as %s", quoteSnippet(p.field(col.field)), col.typ)}
				}
			}
			if err := b.addedAt(p.recLine); err != nil {
				return err
			}
			continue
		}
		for k, col := range cols {
			if !c.stage(col, p, isNull, k) {
				e := &RowError{File: name, Line: p.lines[col.field], Column: col.name,
					Msg: fmt.Sprintf("cannot parse %s as %s", quoteSnippet(p.field(col.field)), col.typ)}
				if err := bad(e); err != nil {
					return err
				}
				continue rows
			}
			if checkEach && col.utf8 && !isNull[k] && !utf8.Valid(p.field(col.field)) {
				if err := bad(check.rowError(p.lines[col.field], col.name, p.field(col.field))); err != nil {
					return err
				}
				continue rows
			}
		}
		for k, col := range cols[:out] {
			if isNull[k] {
				col.null()
			} else {
				col.put()
			}
		}
		if err := b.addedAt(p.recLine); err != nil {
			return err
		}
	}
	return b.flush()
}

// ---------------------------------------------------------------------------
// Encode
// ---------------------------------------------------------------------------

// Encode implements Encoder: a header line, then one line per row, fields
// quoted only when needed (RFC 4180, "\n" line ends). A null is an empty
// field (or the first non-empty NullValues entry when "" is not a null
// value, or the row would be a blank line); an empty string is written as
// "" and a string equal to a null value is quoted, so both read back as
// strings. Floats use the shortest form that reads back exactly, with ".0"
// added to integral values so they read back as floats; timestamps are RFC
// 3339 with nanoseconds (in UTC when the type has a zone, without an
// offset when it has none); dates are 2006-01-02; binary values are
// written raw. Decimals, times of day and durations are written as Arrow
// prints them; nested types are an error.
func (c *CSVFormat) Encode(ctx context.Context, w io.Writer, schema *arrow.Schema, recs []arrow.RecordBatch) error {
	if c.err != nil {
		return c.err
	}
	return encodeCompressed(w, c.o.Compression, func(w io.Writer) error { return c.encode(ctx, w, schema, recs) })
}

func (c *CSVFormat) encode(ctx context.Context, w io.Writer, schema *arrow.Schema, recs []arrow.RecordBatch) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	var line, scratch []byte
	for i, fld := range schema.Fields() {
		if i > 0 {
			line = append(line, c.delim...)
		}
		line = c.appendField(line, []byte(fld.Name), true, i == 0)
	}
	line = append(line, '\n')
	if _, err := bw.Write(line); err != nil {
		return err
	}
	nf := schema.NumFields()
	fmts := make([]csvFormatter, nf)
	for _, rec := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if int(rec.NumCols()) != nf {
			return fmt.Errorf("csv: record has %d columns, the schema %d", rec.NumCols(), nf)
		}
		for j := range nf {
			f, err := newCSVFormatter(rec.Column(j))
			if err != nil {
				return fmt.Errorf("csv: column %q: %w", schema.Field(j).Name, err)
			}
			fmts[j] = f
		}
		for r := range int(rec.NumRows()) {
			line = line[:0]
			for j := range nf {
				if j > 0 {
					line = append(line, c.delim...)
				}
				col := rec.Column(j)
				if col.IsNull(r) {
					if nf == 1 && c.writeNull == "" {
						// An empty line would be skipped as blank.
						line = append(line, c.lineNull...)
					} else {
						line = append(line, c.writeNull...)
					}
					continue
				}
				scratch = fmts[j].format(scratch[:0], r)
				line = c.appendField(line, scratch, fmts[j].str, j == 0)
			}
			line = append(line, '\n')
			if _, err := bw.Write(line); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

var utf8BOM = []byte("\xEF\xBB\xBF")

// appendField appends v, quoted when reading it back would need it.
func (c *CSVFormat) appendField(dst, v []byte, str, first bool) []byte {
	need := len(v) == 0 && str ||
		bytes.Contains(v, c.delim) || bytes.ContainsAny(v, "\"\r\n") ||
		len(v) > 0 && (v[0] == ' ' || v[0] == '\t') ||
		first && (c.comment != nil && bytes.HasPrefix(v, c.comment) || bytes.HasPrefix(v, utf8BOM)) ||
		str && c.nulls[string(v)] ||
		string(v) == `\.`
	if !need {
		return append(dst, v...)
	}
	dst = append(dst, '"')
	for {
		i := bytes.IndexByte(v, '"')
		if i < 0 {
			break
		}
		dst = append(dst, v[:i+1]...)
		dst = append(dst, '"')
		v = v[i+1:]
	}
	dst = append(dst, v...)
	return append(dst, '"')
}

// csvFormatter appends the text of row i of one column (not null).
type csvFormatter struct {
	format func(dst []byte, i int) []byte
	str    bool
}

// appendFloat formats a float so it reads back exactly and as a float.
func appendFloat(dst []byte, v float64, bits int) []byte {
	start := len(dst)
	dst = strconv.AppendFloat(dst, v, 'g', -1, bits)
	if !bytes.ContainsAny(dst[start:], ".eEnN") {
		dst = append(dst, '.', '0')
	}
	return dst
}

// appendTimestamp formats a timestamp as RFC 3339 with nanoseconds, in UTC
// with "Z" when the type has a zone and without an offset when not.
func appendTimestamp(dst []byte, v arrow.Timestamp, t *arrow.TimestampType) []byte {
	tm := v.ToTime(t.Unit).UTC()
	if t.TimeZone == "" {
		return tm.AppendFormat(dst, "2006-01-02T15:04:05.999999999")
	}
	return tm.AppendFormat(dst, time.RFC3339Nano)
}

func newCSVFormatter(arr arrow.Array) (csvFormatter, error) {
	switch a := arr.(type) {
	case *array.Null:
		return csvFormatter{format: func(dst []byte, i int) []byte { return dst }}, nil
	case *array.Boolean:
		return csvFormatter{format: func(dst []byte, i int) []byte { return strconv.AppendBool(dst, a.Value(i)) }}, nil
	case *array.Int8:
		return csvFormatter{format: func(dst []byte, i int) []byte { return strconv.AppendInt(dst, int64(a.Value(i)), 10) }}, nil
	case *array.Int16:
		return csvFormatter{format: func(dst []byte, i int) []byte { return strconv.AppendInt(dst, int64(a.Value(i)), 10) }}, nil
	case *array.Int32:
		return csvFormatter{format: func(dst []byte, i int) []byte { return strconv.AppendInt(dst, int64(a.Value(i)), 10) }}, nil
	case *array.Int64:
		return csvFormatter{format: func(dst []byte, i int) []byte { return strconv.AppendInt(dst, a.Value(i), 10) }}, nil
	case *array.Uint8:
		return csvFormatter{format: func(dst []byte, i int) []byte { return strconv.AppendUint(dst, uint64(a.Value(i)), 10) }}, nil
	case *array.Uint16:
		return csvFormatter{format: func(dst []byte, i int) []byte { return strconv.AppendUint(dst, uint64(a.Value(i)), 10) }}, nil
	case *array.Uint32:
		return csvFormatter{format: func(dst []byte, i int) []byte { return strconv.AppendUint(dst, uint64(a.Value(i)), 10) }}, nil
	case *array.Uint64:
		return csvFormatter{format: func(dst []byte, i int) []byte { return strconv.AppendUint(dst, a.Value(i), 10) }}, nil
	case *array.Float16:
		return csvFormatter{format: func(dst []byte, i int) []byte { return appendFloat(dst, float64(a.Value(i).Float32()), 32) }}, nil
	case *array.Float32:
		return csvFormatter{format: func(dst []byte, i int) []byte { return appendFloat(dst, float64(a.Value(i)), 32) }}, nil
	case *array.Float64:
		return csvFormatter{format: func(dst []byte, i int) []byte { return appendFloat(dst, a.Value(i), 64) }}, nil
	case *array.String:
		return csvFormatter{format: func(dst []byte, i int) []byte { return append(dst, a.Value(i)...) }, str: true}, nil
	case *array.LargeString:
		return csvFormatter{format: func(dst []byte, i int) []byte { return append(dst, a.Value(i)...) }, str: true}, nil
	case *array.StringView:
		return csvFormatter{format: func(dst []byte, i int) []byte { return append(dst, a.Value(i)...) }, str: true}, nil
	case *array.Binary:
		return csvFormatter{format: func(dst []byte, i int) []byte { return append(dst, a.Value(i)...) }, str: true}, nil
	case *array.LargeBinary:
		return csvFormatter{format: func(dst []byte, i int) []byte { return append(dst, a.Value(i)...) }, str: true}, nil
	case *array.BinaryView:
		return csvFormatter{format: func(dst []byte, i int) []byte { return append(dst, a.Value(i)...) }, str: true}, nil
	case *array.FixedSizeBinary:
		return csvFormatter{format: func(dst []byte, i int) []byte { return append(dst, a.Value(i)...) }, str: true}, nil
	case *array.Date32:
		return csvFormatter{format: func(dst []byte, i int) []byte { return a.Value(i).ToTime().AppendFormat(dst, time.DateOnly) }}, nil
	case *array.Date64:
		return csvFormatter{format: func(dst []byte, i int) []byte { return a.Value(i).ToTime().AppendFormat(dst, time.DateOnly) }}, nil
	case *array.Timestamp:
		t := a.DataType().(*arrow.TimestampType)
		return csvFormatter{format: func(dst []byte, i int) []byte { return appendTimestamp(dst, a.Value(i), t) }}, nil
	case *array.Dictionary:
		inner, err := newCSVFormatter(a.Dictionary())
		if err != nil {
			return csvFormatter{}, err
		}
		return csvFormatter{format: func(dst []byte, i int) []byte { return inner.format(dst, a.GetValueIndex(i)) }, str: inner.str}, nil
	}
	if arrow.IsNested(arr.DataType().ID()) {
		return csvFormatter{}, fmt.Errorf("csv cannot hold nested type %s", arr.DataType())
	}
	return csvFormatter{format: func(dst []byte, i int) []byte { return append(dst, arr.ValueStr(i)...) }}, nil
}

// Extensions implements Extensions: in a directory, other files are skipped.
func (*CSVFormat) Extensions() []string { return []string{".csv", ".tsv", ".txt"} }
