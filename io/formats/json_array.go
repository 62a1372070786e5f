package formats

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// A JSON file is read as JSON lines (one object per line) unless its
// first non-blank byte is '[': then it holds one top-level array of
// objects (what many APIs and json.dump write), and each element is a
// record. Both readers hand the parser one record at a time with the line
// it starts on, so inference, decoding and errors are the same.

// jsonRecords yields the records of a JSON file.
type jsonRecords interface {
	// next returns the next record's bytes, valid until the next call,
	// and io.EOF after the last.
	next() ([]byte, error)
	// lineNo is the line the last record returned starts on.
	lineNo() int
	// close releases the stream the records are read from.
	close()
}

func (l *lineReader) lineNo() int { return l.line }

// openJSONRecords picks the reader for r's layout; src is what r reads.
func openJSONRecords(r *bufio.Reader, src io.Closer, name string) jsonRecords {
	for n := 1; ; n++ {
		b, err := r.Peek(n)
		if len(b) < n || err != nil {
			return &lineReader{r: r, src: src} // blank, or only blanks within the buffer
		}
		switch c := b[n-1]; c {
		case ' ', '\t', '\r', '\n':
			continue
		case '[':
			return &jsonArrayReader{r: r, src: src, name: name, line: 1}
		default:
			return &lineReader{r: r, src: src}
		}
	}
}

// jsonArrayReader yields the elements of one top-level JSON array.
type jsonArrayReader struct {
	r       *bufio.Reader
	src     io.Closer // what r reads
	name    string    // the file, for errors
	line    int       // the line the reader is on
	start   int       // the line the last element starts on
	buf     []byte
	opened  bool // '[' consumed
	closed  bool // ']' consumed
	elemEnd bool // an element was read: ',' or ']' comes next
}

func (a *jsonArrayReader) lineNo() int { return a.start }

// fail is a malformed top-level array, at the current line.
func (a *jsonArrayReader) fail(msg string) error {
	return &RowError{File: a.name, Line: a.line, Msg: "top-level JSON array: " + msg}
}

// skipSpace consumes blanks and returns the next byte, unread; io.EOF at
// the end.
func (a *jsonArrayReader) skipSpace() (byte, error) {
	for {
		c, err := a.r.ReadByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case '\n':
			a.line++
			continue
		case ' ', '\t', '\r':
			continue
		}
		return c, a.r.UnreadByte()
	}
}

func (a *jsonArrayReader) next() ([]byte, error) {
	if a.closed {
		return nil, io.EOF
	}
	c, err := a.skipSpace()
	if err != nil {
		return nil, a.eof(err)
	}
	if !a.opened {
		_, _ = a.r.ReadByte() // the '[' openJSONRecords saw
		a.opened = true
		if c, err = a.skipSpace(); err != nil {
			return nil, a.eof(err)
		}
		if c == ']' {
			_, _ = a.r.ReadByte()
			return nil, a.finish()
		}
	} else if a.elemEnd {
		_, _ = a.r.ReadByte()
		switch c {
		case ']':
			return nil, a.finish()
		case ',':
		default:
			return nil, a.fail(fmt.Sprintf("want ',' or ']' after an element, found %q", c))
		}
		if _, err = a.skipSpace(); err != nil {
			return nil, a.eof(err)
		}
	}
	a.start = a.line
	if err := a.value(); err != nil {
		return nil, err
	}
	a.elemEnd = true
	return a.buf, nil
}

// value reads one JSON value into buf: a string, an object or array
// (brackets matched outside strings), or a bare scalar up to the next
// separator. The parser checks it properly; this only finds its end.
func (a *jsonArrayReader) value() error {
	a.buf = a.buf[:0]
	depth, inString, escaped := 0, false, false
	for {
		c, err := a.r.ReadByte()
		if err != nil {
			if err == io.EOF && depth == 0 && !inString && len(a.buf) > 0 {
				return nil // a scalar at the end: the missing ']' is reported next
			}
			return a.eof(err)
		}
		if c == '\n' {
			a.line++
		}
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth == 0 { // a scalar ended by the array's ']'
				return a.r.UnreadByte()
			}
			depth--
		case depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n'):
			if c == '\n' {
				a.line--
			}
			return a.r.UnreadByte()
		}
		a.buf = append(a.buf, c)
		if depth == 0 && !inString && (c == '}' || c == ']' || c == '"') && (a.buf[0] == '{' || a.buf[0] == '[' || a.buf[0] == '"') {
			return nil
		}
	}
}

// finish consumes the closing ']' and checks that only blanks follow.
func (a *jsonArrayReader) finish() error {
	a.closed = true
	if c, err := a.skipSpace(); err == nil {
		return a.fail(fmt.Sprintf("unexpected %q after the array", c))
	} else if !errors.Is(err, io.EOF) {
		return err
	}
	return io.EOF
}

// eof turns the end of the input inside the array into an error.
func (a *jsonArrayReader) eof(err error) error {
	if errors.Is(err, io.EOF) {
		return a.fail("the file ends before the array's closing ']'")
	}
	return err
}

func (a *jsonArrayReader) close() {
	if a.src != nil {
		a.src.Close()
		a.src = nil
	}
}
