package formats

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/io/storage"
)

// JSON lines are parsed by a small scanner of our own that decodes each
// value straight into the column's Arrow builder: no map, no interface
// value and (for ASCII strings without escapes) no copy per cell. Neither
// encoding/json (a map per row, then a second conversion) nor arrow-go's
// JSON reader (a schema up front, no line numbers) does that. The scanner
// accepts exactly RFC 8259 JSON (FuzzJSONRead checks it against
// encoding/json). Invalid UTF-8 in a string is an error unless
// JSONOptions.InvalidUTF8 asks to replace it with U+FFFD, as encoding/json
// does. (An escaped lone surrogate, "\ud800", is valid JSON and always
// reads as U+FFFD.)

// JSONOptions configure the JSON lines format.
type JSONOptions struct {
	// InferRows is how many non-blank lines Inspect samples to infer the
	// schema; 0 means 1000, negative means every line.
	InferRows int
	// Columns forces the types of top-level keys. A key listed here that
	// the sample lacks is added to the schema (after the sampled keys, by
	// name), which is how to declare keys that first appear late.
	Columns map[string]arrow.DataType
	// SkipBadRows skips malformed lines (invalid JSON, not an object, a
	// duplicate key, a key not in the schema, a value that does not fit its
	// column's type, checked for every column, read or not) instead of
	// failing the read.
	SkipBadRows bool
	// BadRows, when set, counts the lines Read skips (Inspect counts none).
	BadRows *atomic.Int64
	// InvalidUTF8 says what to do with a string (a key or a value) that is
	// not valid UTF-8: fail naming the line and key (the default), or
	// replace the bad bytes with U+FFFD (InvalidUTF8Replace). A bad string
	// is a bad line for SkipBadRows. InvalidUTF8Binary is not supported:
	// binary JSON values are base64 strings.
	InvalidUTF8 InvalidUTF8
	// Compression compresses the files a write makes: "gzip" (.jsonl.gz)
	// or "zstd" (.jsonl.zst); "" writes them plain. Reads tell a file's
	// compression from its name and ignore this.
	Compression string
}

// JSONFormat reads and writes JSON lines: one JSON object per line, blank
// lines skipped. A file whose first non-blank byte is '[' holds instead
// one top-level array of objects, read element by element alike (errors
// name the line an element starts on). It implements Reader (Format
// "json") and Encoder (Ext ".jsonl", the JSON Lines convention; Read
// looks at no file names and takes ".json" files alike).
//
// Inference over the sampled lines: numbers are int64 when every one is
// an integer that fits, else float64; strings are utf8, or date32 when
// every sampled one is a date (2024-01-05), or timestamp[us] (UTC when they
// carry a zone, naive when none does) when every one is an ISO 8601
// timestamp or date; true/false are bool; objects are structs whose fields merge
// across lines; arrays are lists of the merged element type; a key that
// held only nulls is of type null, which unifies with any type across
// files. Keys are ordered by first appearance. Where lines disagree
// (a number and a string, an object and an array) the column becomes
// utf8, and a utf8 column keeps any non-string value as its JSON text.
//
// A key missing from a line is null. A key that no sampled line had is an
// error naming the file, line and key (or, with SkipBadRows, a skipped
// line): silently dropping it would lose data, and InferRows or Columns
// fix it. Nested objects follow the same rule. Duplicate keys are errors.
// Lines of {} are rows without columns: a file of them has its row count
// and an empty schema, as has a file without lines (and no rows).
//
// Decoding to a type given by the request schema or Columns: integers to
// any integer type they fit, numbers to floats, strings to dates
// ("2006-01-02") and timestamps (RFC 3339, see CSVFormat), base64 strings
// to binary, arrays to list, large_list and fixed_size_list, objects to
// structs.
type JSONFormat struct {
	o         JSONOptions
	err       error // invalid options
	inferRows int
	bufSize   int // read buffer size; 0: the default (tests make it tiny)
}

// open reads f's records (those of range r, when set); expect is as for
// openLines. The caller closes the reader.
func (j *JSONFormat) open(f storage.File, r ByteRange, size int, expect int64) (jsonRecords, error) {
	if j.bufSize > 0 {
		size = j.bufSize
	}
	if r.End > 0 {
		return openLines(f, r, size, expect) // a split file is JSON lines
	}
	br, src, err := openSequential(f, size, expect)
	if err != nil {
		return nil, err
	}
	skipBOM(br)
	return openJSONRecords(br, src, f.Name()), nil
}

// JSON returns the JSON lines format with options o. Invalid options make
// every call fail with an error.
func JSON(o JSONOptions) *JSONFormat {
	f := &JSONFormat{o: o, inferRows: o.InferRows}
	if f.inferRows == 0 {
		f.inferRows = 1000
	}
	if o.InvalidUTF8 == InvalidUTF8Binary {
		f.err = fmt.Errorf("json: InvalidUTF8 %s is not supported (binary JSON values are base64 strings): use error or replace", o.InvalidUTF8)
	}
	if err := checkWriteCompression(o.Compression); err != nil {
		f.err = fmt.Errorf("json: %w", err)
	}
	return f
}

// parser returns a scanner with the format's options.
func (j *JSONFormat) parser() *jsonParser {
	return &jsonParser{lossy: j.o.InvalidUTF8 == InvalidUTF8Replace}
}

// Format implements Reader.
func (*JSONFormat) Format() string { return "json" }

// Ext implements Encoder.
func (j *JSONFormat) Ext() string { return ".jsonl" + compressionExt(j.o.Compression) }

// ---------------------------------------------------------------------------
// Scanner
// ---------------------------------------------------------------------------

// jsonMaxDepth bounds the nesting of arrays and objects.
const jsonMaxDepth = 1000

type jsonParser struct {
	data    []byte
	pos     int
	depth   int
	scratch []byte
	dry     bool // check values without appending them
	lossy   bool // replace invalid UTF-8 in strings instead of failing
}

func (p *jsonParser) reset(line []byte) {
	p.data, p.pos, p.depth = line, 0, 0
}

// jsonSyntaxError is invalid JSON at a byte offset of the line.
type jsonSyntaxError struct {
	off int
	msg string
}

func (e *jsonSyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.off+1, e.msg)
}

// jsonValueError is a value that does not fit its column, at a path
// ("a", "a.b", "a[]").
type jsonValueError struct {
	path string
	msg  string
}

func (e *jsonValueError) Error() string { return e.path + ": " + e.msg }

// under prefixes an error's path with a field name or "[]".
func under(err error, seg string) error {
	e, ok := err.(*jsonValueError)
	if !ok {
		return err
	}
	switch {
	case e.path == "":
		e.path = seg
	case e.path[0] == '[':
		e.path = seg + e.path
	default:
		e.path = seg + "." + e.path
	}
	return e
}

func (p *jsonParser) fail(msg string) error { return &jsonSyntaxError{p.pos, msg} }

func (p *jsonParser) unexpected() error {
	if p.pos >= len(p.data) {
		return p.fail("unexpected end of line")
	}
	return p.fail(fmt.Sprintf("unexpected character %q", p.data[p.pos]))
}

func (p *jsonParser) ws() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// peek is the byte at the cursor, 0 at the end.
func (p *jsonParser) peek() byte {
	if p.pos < len(p.data) {
		return p.data[p.pos]
	}
	return 0
}

func (p *jsonParser) literal(word string) error {
	if len(p.data)-p.pos >= len(word) && string(p.data[p.pos:p.pos+len(word)]) == word {
		p.pos += len(word)
		return nil
	}
	return p.unexpected()
}

// null consumes a null literal if one is at the cursor.
func (p *jsonParser) null() (bool, error) {
	if p.peek() != 'n' {
		return false, nil
	}
	return true, p.literal("null")
}

// str reads the string at the cursor, unescaped. The result aliases the
// line or p's scratch buffer: use it before the next call.
func (p *jsonParser) str() ([]byte, error) {
	d := p.data
	start := p.pos + 1
	i := start
	for i < len(d) {
		c := d[i]
		if c == '"' {
			p.pos = i + 1
			return d[start:i], nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(d[i:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	buf := append(p.scratch[:0], d[start:i]...)
	for i < len(d) {
		c := d[i]
		switch {
		case c == '"':
			p.pos = i + 1
			p.scratch = buf
			return buf, nil
		case c == '\\':
			if i+1 >= len(d) {
				p.pos = i
				return nil, p.fail("unterminated string")
			}
			switch e := d[i+1]; e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := hex4(d[i+2:])
				if !ok {
					p.pos = i
					return nil, p.fail(`invalid \u escape`)
				}
				i += 6
				if utf16.IsSurrogate(r) {
					r2, ok := rune(-1), false
					if i+1 < len(d) && d[i] == '\\' && d[i+1] == 'u' {
						r2, ok = hex4(d[i+2:])
					}
					if ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							r = dec
							i += 6
						} else {
							r = utf8.RuneError
						}
					} else {
						r = utf8.RuneError
					}
				}
				buf = utf8.AppendRune(buf, r)
				continue
			default:
				p.pos = i
				return nil, p.fail(fmt.Sprintf("invalid escape %q", "\\"+string(e)))
			}
			i += 2
		case c < 0x20:
			p.pos = i
			return nil, p.fail("control character in a string")
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			i++
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 {
				if !p.lossy {
					p.scratch = buf
					p.pos = i
					return nil, &jsonValueError{msg: fmt.Sprintf("invalid UTF-8 at byte %d of the line (set InvalidUTF8 to replace it)", i+1)}
				}
				buf = append(buf, "\uFFFD"...)
			} else {
				buf = append(buf, d[i:i+size]...)
			}
			i += size
		}
	}
	p.scratch = buf
	p.pos = len(d)
	return nil, p.fail("unterminated string")
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// number reads the number at the cursor and says whether it is written
// as an integer (no fraction or exponent).
func (p *jsonParser) number() ([]byte, bool, error) {
	d := p.data
	start, i := p.pos, p.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	default:
		p.pos = i
		return nil, false, p.unexpected()
	}
	integral := true
	if i < len(d) && d[i] == '.' {
		integral = false
		i++
		if i >= len(d) || !isDigit(d[i]) {
			p.pos = i
			return nil, false, p.fail("invalid number")
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		integral = false
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || !isDigit(d[i]) {
			p.pos = i
			return nil, false, p.fail("invalid number")
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	p.pos = i
	return d[start:i], integral, nil
}

// objStart consumes '{' and reports whether the object is empty (then
// its '}' is consumed too). Otherwise the cursor is at the first key.
func (p *jsonParser) objStart() (bool, error) {
	if p.peek() != '{' {
		return false, p.unexpected()
	}
	if p.depth++; p.depth > jsonMaxDepth {
		return false, p.fail("nested too deeply")
	}
	p.pos++
	p.ws()
	if p.peek() == '}' {
		p.pos++
		p.depth--
		return true, nil
	}
	return false, nil
}

// objKey reads a key and its colon; the cursor is then at the value.
func (p *jsonParser) objKey() ([]byte, error) {
	if p.peek() != '"' {
		return nil, p.unexpected()
	}
	k, err := p.str()
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.peek() != ':' {
		return nil, p.unexpected()
	}
	p.pos++
	p.ws()
	return k, nil
}

// objNext consumes a ',' (true: the cursor is at the next key) or the
// closing '}' (false).
func (p *jsonParser) objNext() (bool, error) {
	p.ws()
	switch p.peek() {
	case ',':
		p.pos++
		p.ws()
		return true, nil
	case '}':
		p.pos++
		p.depth--
		return false, nil
	}
	return false, p.unexpected()
}

// arrStart consumes '[' and reports whether the array is empty.
func (p *jsonParser) arrStart() (bool, error) {
	if p.peek() != '[' {
		return false, p.unexpected()
	}
	if p.depth++; p.depth > jsonMaxDepth {
		return false, p.fail("nested too deeply")
	}
	p.pos++
	p.ws()
	if p.peek() == ']' {
		p.pos++
		p.depth--
		return true, nil
	}
	return false, nil
}

// arrNext consumes a ',' (true) or the closing ']' (false).
func (p *jsonParser) arrNext() (bool, error) {
	p.ws()
	switch p.peek() {
	case ',':
		p.pos++
		p.ws()
		return true, nil
	case ']':
		p.pos++
		p.depth--
		return false, nil
	}
	return false, p.unexpected()
}

// skip checks and passes over the value at the cursor.
func (p *jsonParser) skip() error {
	switch c := p.peek(); {
	case c == '"':
		_, err := p.str()
		return err
	case c == '{':
		empty, err := p.objStart()
		if err != nil || empty {
			return err
		}
		for {
			if _, err := p.objKey(); err != nil {
				return err
			}
			if err := p.skip(); err != nil {
				return err
			}
			more, err := p.objNext()
			if err != nil || !more {
				return err
			}
		}
	case c == '[':
		empty, err := p.arrStart()
		if err != nil || empty {
			return err
		}
		for {
			if err := p.skip(); err != nil {
				return err
			}
			more, err := p.arrNext()
			if err != nil || !more {
				return err
			}
		}
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '-' || isDigit(c):
		_, _, err := p.number()
		return err
	}
	return p.unexpected()
}

// raw passes over the value at the cursor and returns its text.
func (p *jsonParser) raw() ([]byte, error) {
	start := p.pos
	if err := p.skip(); err != nil {
		return nil, err
	}
	return p.data[start:p.pos], nil
}

// mismatch passes over a value that does not fit type t and describes it.
func (p *jsonParser) mismatch(t arrow.DataType) error {
	v, err := p.raw()
	if err != nil {
		return err
	}
	return &jsonValueError{msg: fmt.Sprintf("cannot parse %s as %s", jsonSnippet(v), t)}
}

func jsonSnippet(v []byte) string {
	const max = 64
	if len(v) > max {
		return string(v[:max]) + "…"
	}
	return string(v)
}

// ---------------------------------------------------------------------------
// Inference
// ---------------------------------------------------------------------------

type jsonKind uint8

const (
	jkNull jsonKind = iota
	jkBool
	jkInt
	jkFloat
	jkString
	jkList
	jkStruct
)

// jsonNode is the merged type of the values seen at one place.
type jsonNode struct {
	kind  jsonKind
	elem  *jsonNode      // jkList
	names []string       // jkStruct, by first appearance
	kids  []*jsonNode    // jkStruct
	index map[string]int // jkStruct
	seen  []uint64       // jkStruct: generation of the object a key was last seen in
	gen   uint64
	// times says whether every string seen could be a date or a timestamp
	// (jkString): ISO 8601 text reads as a time type, as in CSV.
	times timeGuess
}

// toString makes n a plain string: values of mixed kinds are kept as text.
func (n *jsonNode) toString() {
	*n = jsonNode{kind: jkString, times: notTime}
}

func (n *jsonNode) scalar(k jsonKind) {
	switch {
	case n.kind == k:
	case n.kind == jkNull:
		n.kind = k
	case n.kind == jkInt && k == jkFloat:
		n.kind = jkFloat
	case n.kind == jkFloat && k == jkInt:
	default:
		n.toString()
	}
}

// observe merges the value at the cursor into n.
func (n *jsonNode) observe(p *jsonParser) error {
	c := p.peek()
	switch {
	case c == 'n':
		return p.literal("null")
	case n.kind == jkString && n.times == notTime:
		return p.skip()
	case c == '"':
		v, err := p.str()
		if err != nil {
			return err
		}
		if n.kind == jkNull || n.kind == jkString {
			n.times.observe(bytesView(v))
		}
		n.scalar(jkString)
	case c == 't' || c == 'f':
		if err := p.skip(); err != nil {
			return err
		}
		n.scalar(jkBool)
	case c == '-' || isDigit(c):
		v, integral, err := p.number()
		if err != nil {
			return err
		}
		k := jkFloat
		if integral {
			if _, err := strconv.ParseInt(bytesView(v), 10, 64); err == nil {
				k = jkInt
			}
		}
		n.scalar(k)
	case c == '[':
		switch n.kind {
		case jkNull:
			*n = jsonNode{kind: jkList, elem: &jsonNode{}}
		case jkList:
		default:
			n.toString()
			return p.skip()
		}
		empty, err := p.arrStart()
		if err != nil || empty {
			return err
		}
		for {
			if err := n.elem.observe(p); err != nil {
				return err
			}
			more, err := p.arrNext()
			if err != nil || !more {
				return err
			}
		}
	case c == '{':
		switch n.kind {
		case jkNull:
			*n = jsonNode{kind: jkStruct, index: map[string]int{}}
		case jkStruct:
		default:
			n.toString()
			return p.skip()
		}
		return n.observeObject(p)
	default:
		return p.unexpected()
	}
	return nil
}

// observeObject merges an object's keys into the struct node n.
func (n *jsonNode) observeObject(p *jsonParser) error {
	empty, err := p.objStart()
	if err != nil || empty {
		return err
	}
	n.gen++
	for {
		key, err := p.objKey()
		if err != nil {
			return err
		}
		i, ok := n.index[string(key)]
		if !ok {
			i = len(n.names)
			n.index[string(key)] = i
			n.names = append(n.names, string(key))
			n.kids = append(n.kids, &jsonNode{})
			n.seen = append(n.seen, 0)
		}
		if n.seen[i] == n.gen {
			return &jsonValueError{path: string(key), msg: "duplicate key"}
		}
		n.seen[i] = n.gen
		if err := n.kids[i].observe(p); err != nil {
			return under(err, n.names[i]) // key may alias the scanner's scratch buffer
		}
		more, err := p.objNext()
		if err != nil || !more {
			return err
		}
	}
}

func (n *jsonNode) arrowType() arrow.DataType {
	switch n.kind {
	case jkBool:
		return arrow.FixedWidthTypes.Boolean
	case jkInt:
		return arrow.PrimitiveTypes.Int64
	case jkFloat:
		return arrow.PrimitiveTypes.Float64
	case jkString:
		if t := n.times.typ(); t != nil {
			return t
		}
		return arrow.BinaryTypes.String
	case jkList:
		return arrow.ListOf(n.elem.arrowType())
	case jkStruct:
		return arrow.StructOf(n.fields()...)
	}
	return arrow.Null
}

func (n *jsonNode) fields() []arrow.Field {
	fs := make([]arrow.Field, len(n.names))
	for i, name := range n.names {
		fs[i] = arrow.Field{Name: name, Type: n.kids[i].arrowType(), Nullable: true}
	}
	return fs
}

// Inspect implements Reader: it samples up to InferRows non-blank lines and
// infers the schema. Rows is -1.
func (j *JSONFormat) Inspect(ctx context.Context, f storage.File) (meta *FileMeta, err error) {
	name := f.Name()
	defer recoverRead(name, &err)
	if j.err != nil {
		return nil, j.err
	}
	lr, err := j.open(f, ByteRange{}, 256<<10, inspectExpect)
	if err != nil {
		return nil, withFile(err, name)
	}
	defer lr.close()
	root := &jsonNode{kind: jkStruct, index: map[string]int{}}
	p := j.parser()
	for rows := 0; j.inferRows < 0 || rows < j.inferRows; {
		line, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, withFile(err, name)
		}
		p.reset(line)
		p.ws()
		if p.pos == len(line) {
			continue
		}
		if err := j.observeLine(root, p); err != nil {
			if j.o.SkipBadRows {
				continue
			}
			return nil, j.rowError(name, lr.lineNo(), err)
		}
		rows++
		if rows%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
	}
	fields := root.fields()
	for i, fld := range fields {
		if t, ok := j.o.Columns[fld.Name]; ok {
			fields[i].Type = t
		}
	}
	var extra []string
	for k := range j.o.Columns {
		if _, ok := root.index[k]; !ok {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	for _, k := range extra {
		fields = append(fields, arrow.Field{Name: k, Type: j.o.Columns[k], Nullable: true})
	}
	for _, fld := range fields {
		if _, err := newJSONDec(fld.Type, nil); err != nil {
			return nil, fmt.Errorf("%s: column %q: %w", name, fld.Name, err)
		}
	}
	_, array := lr.(*jsonArrayReader)
	return &FileMeta{Schema: arrow.NewSchema(fields, nil), Rows: -1, Splittable: !array && textCompression(name) == ""}, nil
}

// observeLine merges one line, which must hold one object, into root.
// Inference is transactional per line: a bad line leaves root as it was
// only in the sense that the line is reported (callers stop or skip it);
// a skipped line's keys may already be merged, which is harmless.
func (j *JSONFormat) observeLine(root *jsonNode, p *jsonParser) error {
	if p.peek() != '{' {
		return p.fail("a line must hold one JSON object")
	}
	if err := root.observeObject(p); err != nil {
		return err
	}
	p.ws()
	if p.pos != len(p.data) {
		return p.fail("unexpected data after the object")
	}
	return nil
}

func (j *JSONFormat) rowError(name string, line int, err error) error {
	switch e := err.(type) {
	case *jsonSyntaxError:
		return &RowError{File: name, Line: line, Msg: e.Error()}
	case *jsonValueError:
		return &RowError{File: name, Line: line, Column: e.path, Msg: e.msg}
	case *jsonUnknownKeyError:
		return &RowError{File: name, Line: line, Column: e.path,
			Msg: fmt.Sprintf("key is not in the schema inferred from the first %d lines (raise InferRows, or list it in Columns)", j.inferRows)}
	}
	return fmt.Errorf("%s line %d: %w", name, line, err)
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

// jsonUnknownKeyError is a key the schema does not have.
type jsonUnknownKeyError struct{ path string }

func (e *jsonUnknownKeyError) Error() string {
	return fmt.Sprintf("key %q is not in the schema", e.path)
}

// A jsonDec decodes values of one Arrow type into its builder (none when
// checking only, which always runs with p.dry set).
type jsonDec interface {
	// decode consumes the value at the cursor, null included.
	decode(p *jsonParser) error
	// appendNull appends a null for a missing key, unless p.dry.
	appendNull(p *jsonParser)
}

type nullAppender interface{ AppendNull() }

type jsonNullDec struct{ b nullAppender }

func (d *jsonNullDec) appendNull(p *jsonParser) {
	if !p.dry {
		d.b.AppendNull()
	}
}

func (d *jsonNullDec) decode(p *jsonParser) error {
	if ok, err := p.null(); ok || err != nil {
		if err == nil {
			d.appendNull(p)
		}
		return err
	}
	v, err := p.raw()
	if err != nil {
		return err
	}
	return &jsonValueError{msg: fmt.Sprintf("cannot parse %s as null (the key held only nulls where the schema was inferred: raise InferRows, or list it in Columns)", jsonSnippet(v))}
}

type jsonBoolDec struct {
	jsonNullDec
	b *array.BooleanBuilder
}

func (d *jsonBoolDec) decode(p *jsonParser) error {
	var v bool
	switch p.peek() {
	case 'n':
		if err := p.literal("null"); err != nil {
			return err
		}
		d.appendNull(p)
		return nil
	case 't':
		if err := p.literal("true"); err != nil {
			return err
		}
		v = true
	case 'f':
		if err := p.literal("false"); err != nil {
			return err
		}
	default:
		return p.mismatch(arrow.FixedWidthTypes.Boolean)
	}
	if !p.dry {
		d.b.Append(v)
	}
	return nil
}

// jsonNumDec decodes numbers with parse (which fails for text that does
// not fit) and appends them with put.
type jsonNumDec struct {
	jsonNullDec
	t     arrow.DataType
	parse func(v []byte, integral bool) bool
	put   func()
}

func (d *jsonNumDec) decode(p *jsonParser) error {
	c := p.peek()
	if c == 'n' {
		if err := p.literal("null"); err != nil {
			return err
		}
		d.appendNull(p)
		return nil
	}
	if c != '-' && !isDigit(c) {
		return p.mismatch(d.t)
	}
	v, integral, err := p.number()
	if err != nil {
		return err
	}
	if !d.parse(v, integral) {
		return &jsonValueError{msg: fmt.Sprintf("cannot parse %s as %s", jsonSnippet(v), d.t)}
	}
	if !p.dry {
		d.put()
	}
	return nil
}

func jsonIntDec[T int8 | int16 | int32 | int64](d *jsonNumDec, b array.Builder, bits int) {
	var x T
	lo, hi := int64(-1)<<(bits-1), int64(1)<<(bits-1)-1
	d.parse = func(v []byte, integral bool) bool {
		n, ok := parseInt64Text(v)
		x = T(n)
		return integral && ok && n >= lo && n <= hi
	}
	if b != nil {
		tb := b.(interface{ Append(T) })
		d.put = func() { tb.Append(x) }
	}
}

func jsonUintDec[T uint8 | uint16 | uint32 | uint64](d *jsonNumDec, b array.Builder, bits int) {
	var x T
	d.parse = func(v []byte, integral bool) bool {
		n, err := strconv.ParseUint(bytesView(v), 10, bits)
		x = T(n)
		return integral && err == nil
	}
	if b != nil {
		tb := b.(interface{ Append(T) })
		d.put = func() { tb.Append(x) }
	}
}

// jsonStringDec decodes strings, binary (from base64), dates and
// timestamps (from text). A string column also takes any other value as
// its JSON text.
type jsonStringDec struct {
	jsonNullDec
	t    arrow.DataType
	app  func([]byte)        // string and binary columns
	conv func(s []byte) bool // dates, timestamps, binary: checks and stages
	put  func()              // appends what conv staged
	buf  []byte              // base64 output
}

func (d *jsonStringDec) decode(p *jsonParser) error {
	switch p.peek() {
	case 'n':
		if err := p.literal("null"); err != nil {
			return err
		}
		d.appendNull(p)
		return nil
	case '"':
		s, err := p.str()
		if err != nil {
			return err
		}
		if d.conv != nil {
			if !d.conv(s) {
				return &jsonValueError{msg: fmt.Sprintf("cannot parse %s as %s", jsonSnippet(strconv.AppendQuote(nil, string(s))), d.t)}
			}
			if !p.dry {
				d.put()
			}
			return nil
		}
		if !p.dry {
			d.app(s)
		}
		return nil
	}
	if d.conv != nil {
		return p.mismatch(d.t)
	}
	v, err := p.raw()
	if err != nil {
		return err
	}
	if !p.dry {
		if !utf8.Valid(v) {
			// Strings inside the text may hold invalid UTF-8: replace it
			// as str does.
			d.buf = appendValidUTF8(d.buf[:0], v)
			v = d.buf
		}
		d.app(v)
	}
	return nil
}

type jsonListDec struct {
	jsonNullDec
	t     arrow.DataType
	lb    array.ListLikeBuilder
	elem  jsonDec
	fixed int // -1 unless fixed_size_list
}

func (d *jsonListDec) decode(p *jsonParser) error {
	switch p.peek() {
	case 'n':
		if err := p.literal("null"); err != nil {
			return err
		}
		d.appendNull(p)
		return nil
	case '[':
	default:
		return p.mismatch(d.t)
	}
	empty, err := p.arrStart()
	if err != nil {
		return err
	}
	if !p.dry {
		d.lb.Append(true)
	}
	n := 0
	for !empty {
		if err := d.elem.decode(p); err != nil {
			return under(err, "[]")
		}
		n++
		more, err := p.arrNext()
		if err != nil {
			return err
		}
		empty = !more
	}
	if d.fixed >= 0 && n != d.fixed {
		return &jsonValueError{msg: fmt.Sprintf("a list of %d values does not fit %s", n, d.t)}
	}
	return nil
}

// jsonFieldsDec decodes an object into named field decoders: a struct
// column, or (top) a whole line. A nil decoder skips its key's value; a
// check-only one decodes in dry mode.
type jsonFieldsDec struct {
	jsonNullDec
	t     arrow.DataType
	sb    *array.StructBuilder // nil at the top
	index map[string]int
	names []string
	decs  []jsonDec
	check []bool
	seen  []uint64
	gen   uint64
}

func (d *jsonFieldsDec) decode(p *jsonParser) error {
	switch p.peek() {
	case 'n':
		if err := p.literal("null"); err != nil {
			return err
		}
		d.appendNull(p)
		return nil
	case '{':
	default:
		return p.mismatch(d.t)
	}
	if d.sb != nil && !p.dry {
		d.sb.Append(true)
	}
	return d.object(p)
}

func (d *jsonFieldsDec) object(p *jsonParser) error {
	empty, err := p.objStart()
	if err != nil {
		return err
	}
	d.gen++
	for !empty {
		key, err := p.objKey()
		if err != nil {
			return err
		}
		i, ok := d.index[string(key)]
		if !ok {
			return &jsonUnknownKeyError{path: string(key)}
		}
		if d.seen[i] == d.gen {
			return &jsonValueError{path: string(key), msg: "duplicate key"}
		}
		d.seen[i] = d.gen
		switch {
		case d.decs[i] == nil:
			err = p.skip()
		case d.check[i] && !p.dry:
			p.dry = true
			err = d.decs[i].decode(p)
			p.dry = false
		default:
			err = d.decs[i].decode(p)
		}
		if err != nil {
			if u, ok := err.(*jsonUnknownKeyError); ok {
				u.path = d.names[i] + "." + u.path
				return u
			}
			return under(err, d.names[i])
		}
		more, err := p.objNext()
		if err != nil {
			return err
		}
		empty = !more
	}
	if !p.dry {
		for i, dec := range d.decs {
			if dec != nil && !d.check[i] && d.seen[i] != d.gen {
				dec.appendNull(p)
			}
		}
	}
	return nil
}

// newJSONDec makes the decoder of type t appending to b (nil: check only).
func newJSONDec(t arrow.DataType, b array.Builder) (jsonDec, error) {
	base := jsonNullDec{b: b}
	num := func() *jsonNumDec { return &jsonNumDec{jsonNullDec: base, t: t, put: func() {}} }
	switch t.ID() {
	case arrow.NULL:
		return &base, nil
	case arrow.BOOL:
		d := &jsonBoolDec{jsonNullDec: base}
		if b != nil {
			d.b = b.(*array.BooleanBuilder)
		}
		return d, nil
	case arrow.INT8:
		d := num()
		jsonIntDec[int8](d, b, 8)
		return d, nil
	case arrow.INT16:
		d := num()
		jsonIntDec[int16](d, b, 16)
		return d, nil
	case arrow.INT32:
		d := num()
		jsonIntDec[int32](d, b, 32)
		return d, nil
	case arrow.INT64:
		d := num()
		jsonIntDec[int64](d, b, 64)
		return d, nil
	case arrow.UINT8:
		d := num()
		jsonUintDec[uint8](d, b, 8)
		return d, nil
	case arrow.UINT16:
		d := num()
		jsonUintDec[uint16](d, b, 16)
		return d, nil
	case arrow.UINT32:
		d := num()
		jsonUintDec[uint32](d, b, 32)
		return d, nil
	case arrow.UINT64:
		d := num()
		jsonUintDec[uint64](d, b, 64)
		return d, nil
	case arrow.FLOAT32:
		d := num()
		var x float32
		d.parse = func(v []byte, _ bool) bool {
			f, err := strconv.ParseFloat(bytesView(v), 32)
			x = float32(f)
			return err == nil
		}
		if b != nil {
			fb := b.(*array.Float32Builder)
			d.put = func() { fb.Append(x) }
		}
		return d, nil
	case arrow.FLOAT64:
		d := num()
		var x float64
		d.parse = func(v []byte, _ bool) (ok bool) {
			x, ok = parseFloat64Text(v)
			return ok
		}
		if b != nil {
			fb := b.(*array.Float64Builder)
			d.put = func() { fb.Append(x) }
		}
		return d, nil
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		d := &jsonStringDec{jsonNullDec: base, t: t}
		if b != nil {
			d.app = bytesAppender(b)
		}
		return d, nil
	case arrow.BINARY, arrow.LARGE_BINARY:
		d := &jsonStringDec{jsonNullDec: base, t: t, put: func() {}}
		d.conv = func(s []byte) bool {
			var err error
			d.buf, err = base64.StdEncoding.AppendDecode(d.buf[:0], s)
			return err == nil
		}
		if b != nil {
			app := bytesAppender(b)
			d.put = func() { app(d.buf) }
		}
		return d, nil
	case arrow.DATE32, arrow.DATE64:
		d := &jsonStringDec{jsonNullDec: base, t: t, put: func() {}}
		var v time.Time
		d.conv = func(s []byte) bool {
			var ok bool
			v, ok = parseDateText(bytesView(s))
			return ok
		}
		switch x := b.(type) {
		case *array.Date32Builder:
			d.put = func() { x.Append(arrow.Date32FromTime(v)) }
		case *array.Date64Builder:
			d.put = func() { x.Append(arrow.Date64FromTime(v)) }
		}
		return d, nil
	case arrow.TIMESTAMP:
		d := &jsonStringDec{jsonNullDec: base, t: t, put: func() {}}
		unit := t.(*arrow.TimestampType).Unit
		var v arrow.Timestamp
		d.conv = func(s []byte) bool {
			tm, ok := parseTimestampText(bytesView(s), false)
			if !ok {
				return false
			}
			ts, err := arrow.TimestampFromTime(tm, unit)
			v = ts
			return err == nil
		}
		if b != nil {
			tb := b.(*array.TimestampBuilder)
			d.put = func() { tb.Append(v) }
		}
		return d, nil
	case arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST:
		d := &jsonListDec{jsonNullDec: base, t: t, fixed: -1}
		var vb array.Builder
		if b != nil {
			d.lb = b.(array.ListLikeBuilder)
			vb = d.lb.ValueBuilder()
		}
		if fl, ok := t.(*arrow.FixedSizeListType); ok {
			d.fixed = int(fl.Len())
		}
		elem, err := newJSONDec(t.(arrow.ListLikeType).Elem(), vb)
		if err != nil {
			return nil, err
		}
		d.elem = elem
		return d, nil
	case arrow.STRUCT:
		st := t.(*arrow.StructType)
		d := &jsonFieldsDec{jsonNullDec: base, t: t, index: make(map[string]int, st.NumFields())}
		if b != nil {
			d.sb = b.(*array.StructBuilder)
		}
		for i, f := range st.Fields() {
			var fb array.Builder
			if d.sb != nil {
				fb = d.sb.FieldBuilder(i)
			}
			dec, err := newJSONDec(f.Type, fb)
			if err != nil {
				return nil, err
			}
			if _, dup := d.index[f.Name]; dup {
				return nil, fmt.Errorf("struct %s has two fields %q", t, f.Name)
			}
			d.index[f.Name] = i
			d.names = append(d.names, f.Name)
			d.decs = append(d.decs, dec)
			d.check = append(d.check, false)
			d.seen = append(d.seen, 0)
		}
		return d, nil
	}
	return nil, fmt.Errorf("json cannot decode %s", t)
}

// Read implements Reader. The file is one unit, read from the start.
func (j *JSONFormat) Read(ctx context.Context, f storage.File, meta *FileMeta, req ReadRequest, emit func(arrow.RecordBatch) error) (err error) {
	name := f.Name()
	defer recoverRead(name, &err)
	if j.err != nil {
		return j.err
	}
	if req.Limit == 0 {
		return nil
	}
	if meta == nil || meta.Schema == nil {
		if meta, err = j.Inspect(ctx, f); err != nil {
			return err
		}
	}
	names := make([]string, meta.Schema.NumFields())
	for i, fld := range meta.Schema.Fields() {
		names[i] = fld.Name
	}
	proj := projectColumns(names, req.Columns)
	fields := make([]arrow.Field, len(proj))
	for k, i := range proj {
		fields[k] = outputField(meta.Schema.Field(i), req.Schema)
	}
	b := newBatcher(ctx, req, arrow.NewSchema(fields, nil), emit)
	defer b.release()

	top := &jsonFieldsDec{
		index: make(map[string]int, len(names)),
		names: names,
		decs:  make([]jsonDec, len(names)),
		check: make([]bool, len(names)),
		seen:  make([]uint64, len(names)),
	}
	for i, n := range names {
		if _, dup := top.index[n]; !dup {
			top.index[n] = i
		}
	}
	for k, i := range proj {
		dec, err := newJSONDec(fields[k].Type, b.builder(k))
		if err != nil {
			return fmt.Errorf("%s: column %q: %w", name, names[i], err)
		}
		top.decs[i] = dec
	}
	if j.o.SkipBadRows {
		// Check every column, so which lines survive does not depend on
		// the projection.
		for i := range names {
			if top.decs[i] == nil {
				dec, err := newJSONDec(outputField(meta.Schema.Field(i), req.Schema).Type, nil)
				if err != nil {
					return fmt.Errorf("%s: column %q: %w", name, names[i], err)
				}
				top.decs[i], top.check[i] = dec, true
			}
		}
	}

	lr, err := j.open(f, req.Range, seqBufSize, 0)
	if err != nil {
		return withFile(err, name)
	}
	defer lr.close()
	if l, ok := lr.(*lineReader); ok {
		defer func() { rangeLines(err, f, l) }()
	}
	p := j.parser()
	line := func(dry bool) error {
		p.pos, p.depth, p.dry = 0, 0, dry
		p.ws()
		if p.peek() != '{' {
			return p.fail("a line must hold one JSON object")
		}
		if err := top.object(p); err != nil {
			return err
		}
		p.ws()
		if p.pos != len(p.data) {
			return p.fail("unexpected data after the object")
		}
		return nil
	}
	for !b.full() {
		data, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return withFile(err, name)
		}
		p.reset(data)
		p.ws()
		if p.pos == len(data) {
			continue
		}
		if j.o.SkipBadRows {
			if err := line(true); err != nil {
				if j.o.BadRows != nil {
					j.o.BadRows.Add(1)
				}
				continue
			}
		}
		if err := line(false); err != nil {
			return j.rowError(name, lr.lineNo(), err)
		}
		if err := b.added(); err != nil {
			return err
		}
	}
	return b.flush()
}

// ---------------------------------------------------------------------------
// Encode
// ---------------------------------------------------------------------------

// Encode implements Encoder: one object per row with every column as a
// key (nulls written as null), in schema order. Strings are escaped as
// RFC 8259 requires (invalid UTF-8 becomes U+FFFD); binary values are
// base64 strings; dates "2006-01-02" and timestamps RFC 3339 strings (as
// CSVFormat writes them); floats are written so they read back exactly,
// with ".0" on integral values so they read back as floats, and NaN and
// infinities (which JSON cannot hold) as null. Lists become arrays,
// structs and maps with string keys objects, dictionaries their values;
// decimals are numbers; other scalar types are strings as Arrow prints
// them. arrow-go's array.RecordToJSON is not used: it builds a map per
// row, sorts the keys and fails on NaN.
func (j *JSONFormat) Encode(ctx context.Context, w io.Writer, schema *arrow.Schema, recs []arrow.RecordBatch) error {
	if j.err != nil {
		return j.err
	}
	return encodeCompressed(w, j.o.Compression, func(w io.Writer) error { return j.encode(ctx, w, schema, recs) })
}

func (j *JSONFormat) encode(ctx context.Context, w io.Writer, schema *arrow.Schema, recs []arrow.RecordBatch) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	nf := schema.NumFields()
	keys := make([][]byte, nf)
	for i, fld := range schema.Fields() {
		sep := byte(',')
		if i == 0 {
			sep = '{'
		}
		keys[i] = append(appendJSONString([]byte{sep}, fld.Name), ':')
	}
	encs := make([]jsonEnc, nf)
	var line []byte
	for _, rec := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if int(rec.NumCols()) != nf {
			return fmt.Errorf("json: record has %d columns, the schema %d", rec.NumCols(), nf)
		}
		for c := range nf {
			e, err := newJSONEnc(rec.Column(c))
			if err != nil {
				return fmt.Errorf("json: column %q: %w", schema.Field(c).Name, err)
			}
			encs[c] = e
		}
		for r := range int(rec.NumRows()) {
			line = line[:0]
			if nf == 0 {
				line = append(line, '{')
			}
			for c := range nf {
				line = append(line, keys[c]...)
				line = encs[c](line, r)
			}
			line = append(line, '}', '\n')
			if _, err := bw.Write(line); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// jsonEnc appends the JSON of row i of one array, null included.
type jsonEnc func(dst []byte, i int) []byte

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func nullable(arr arrow.Array, f jsonEnc) jsonEnc {
	if arr.NullN() == 0 {
		return f
	}
	return func(dst []byte, i int) []byte {
		if arr.IsNull(i) {
			return append(dst, "null"...)
		}
		return f(dst, i)
	}
}

func appendBase64(dst, v []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, v)
	return append(dst, '"')
}

func jsonFloat(dst []byte, v float64, bits int) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(dst, "null"...)
	}
	return appendFloat(dst, v, bits)
}

func newJSONEnc(arr arrow.Array) (jsonEnc, error) {
	var f jsonEnc
	switch a := arr.(type) {
	case *array.Null:
		return func(dst []byte, i int) []byte { return append(dst, "null"...) }, nil
	case *array.Boolean:
		f = func(dst []byte, i int) []byte { return strconv.AppendBool(dst, a.Value(i)) }
	case *array.Int8:
		f = func(dst []byte, i int) []byte { return strconv.AppendInt(dst, int64(a.Value(i)), 10) }
	case *array.Int16:
		f = func(dst []byte, i int) []byte { return strconv.AppendInt(dst, int64(a.Value(i)), 10) }
	case *array.Int32:
		f = func(dst []byte, i int) []byte { return strconv.AppendInt(dst, int64(a.Value(i)), 10) }
	case *array.Int64:
		f = func(dst []byte, i int) []byte { return strconv.AppendInt(dst, a.Value(i), 10) }
	case *array.Uint8:
		f = func(dst []byte, i int) []byte { return strconv.AppendUint(dst, uint64(a.Value(i)), 10) }
	case *array.Uint16:
		f = func(dst []byte, i int) []byte { return strconv.AppendUint(dst, uint64(a.Value(i)), 10) }
	case *array.Uint32:
		f = func(dst []byte, i int) []byte { return strconv.AppendUint(dst, uint64(a.Value(i)), 10) }
	case *array.Uint64:
		f = func(dst []byte, i int) []byte { return strconv.AppendUint(dst, a.Value(i), 10) }
	case *array.Float16:
		f = func(dst []byte, i int) []byte { return jsonFloat(dst, float64(a.Value(i).Float32()), 32) }
	case *array.Float32:
		f = func(dst []byte, i int) []byte { return jsonFloat(dst, float64(a.Value(i)), 32) }
	case *array.Float64:
		f = func(dst []byte, i int) []byte { return jsonFloat(dst, a.Value(i), 64) }
	case *array.String:
		f = func(dst []byte, i int) []byte { return appendJSONString(dst, a.Value(i)) }
	case *array.LargeString:
		f = func(dst []byte, i int) []byte { return appendJSONString(dst, a.Value(i)) }
	case *array.StringView:
		f = func(dst []byte, i int) []byte { return appendJSONString(dst, a.Value(i)) }
	case *array.Binary:
		f = func(dst []byte, i int) []byte { return appendBase64(dst, a.Value(i)) }
	case *array.LargeBinary:
		f = func(dst []byte, i int) []byte { return appendBase64(dst, a.Value(i)) }
	case *array.BinaryView:
		f = func(dst []byte, i int) []byte { return appendBase64(dst, a.Value(i)) }
	case *array.FixedSizeBinary:
		f = func(dst []byte, i int) []byte { return appendBase64(dst, a.Value(i)) }
	case *array.Date32:
		f = func(dst []byte, i int) []byte {
			return append(a.Value(i).ToTime().AppendFormat(append(dst, '"'), time.DateOnly), '"')
		}
	case *array.Date64:
		f = func(dst []byte, i int) []byte {
			return append(a.Value(i).ToTime().AppendFormat(append(dst, '"'), time.DateOnly), '"')
		}
	case *array.Timestamp:
		t := a.DataType().(*arrow.TimestampType)
		f = func(dst []byte, i int) []byte { return append(appendTimestamp(append(dst, '"'), a.Value(i), t), '"') }
	case *array.Decimal128, *array.Decimal256, *array.Decimal32, *array.Decimal64:
		f = func(dst []byte, i int) []byte { return append(dst, arr.ValueStr(i)...) }
	case *array.Dictionary:
		inner, err := newJSONEnc(a.Dictionary())
		if err != nil {
			return nil, err
		}
		f = func(dst []byte, i int) []byte { return inner(dst, a.GetValueIndex(i)) }
	case *array.Map:
		if !arrow.IsBaseBinary(a.Keys().DataType().ID()) || a.Keys().DataType().ID() == arrow.BINARY || a.Keys().DataType().ID() == arrow.LARGE_BINARY {
			return nil, fmt.Errorf("json cannot write map keys of type %s", a.Keys().DataType())
		}
		items, err := newJSONEnc(a.Items())
		if err != nil {
			return nil, err
		}
		keys := a.Keys()
		f = func(dst []byte, i int) []byte {
			start, end := a.ValueOffsets(i)
			dst = append(dst, '{')
			for k := start; k < end; k++ {
				if k > start {
					dst = append(dst, ',')
				}
				dst = appendJSONString(dst, keys.ValueStr(int(k)))
				dst = append(dst, ':')
				dst = items(dst, int(k))
			}
			return append(dst, '}')
		}
	case array.ListLike:
		switch a.DataType().ID() {
		case arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST:
		default:
			return nil, fmt.Errorf("json cannot write %s", arr.DataType())
		}
		elem, err := newJSONEnc(a.ListValues())
		if err != nil {
			return nil, err
		}
		f = func(dst []byte, i int) []byte {
			start, end := a.ValueOffsets(i)
			dst = append(dst, '[')
			for k := start; k < end; k++ {
				if k > start {
					dst = append(dst, ',')
				}
				dst = elem(dst, int(k))
			}
			return append(dst, ']')
		}
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		n := st.NumFields()
		kids := make([]jsonEnc, n)
		keys := make([][]byte, n)
		for k := range n {
			e, err := newJSONEnc(a.Field(k))
			if err != nil {
				return nil, err
			}
			kids[k] = e
			sep := byte(',')
			if k == 0 {
				sep = '{'
			}
			keys[k] = append(appendJSONString([]byte{sep}, st.Field(k).Name), ':')
		}
		f = func(dst []byte, i int) []byte {
			if n == 0 {
				return append(dst, '{', '}')
			}
			for k := range n {
				dst = append(dst, keys[k]...)
				dst = kids[k](dst, i)
			}
			return append(dst, '}')
		}
	default:
		if arrow.IsNested(arr.DataType().ID()) || arr.DataType().ID() == arrow.RUN_END_ENCODED {
			return nil, fmt.Errorf("json cannot write %s", arr.DataType())
		}
		f = func(dst []byte, i int) []byte { return appendJSONString(dst, arr.ValueStr(i)) }
	}
	return nullable(arr, f), nil
}

// Extensions implements Extensions: in a directory, other files are skipped.
func (*JSONFormat) Extensions() []string { return []string{".json", ".jsonl", ".ndjson"} }
