package formats

import (
	"fmt"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// InvalidUTF8 says what a text reader (CSV, JSON lines, text) does with a
// value that is not valid UTF-8 where Arrow needs a string, which must be.
// Its text form ("error", "replace", "binary") is what it marshals to.
type InvalidUTF8 uint8

const (
	// InvalidUTF8Error fails the read with a *RowError naming the file,
	// line and column (the default).
	InvalidUTF8Error InvalidUTF8 = iota
	// InvalidUTF8Replace replaces each byte that is not part of valid
	// UTF-8 with U+FFFD, as Polars' encoding "utf8-lossy" and encoding/json
	// do.
	InvalidUTF8Replace
	// InvalidUTF8Binary reads a column whose sampled values hold invalid
	// UTF-8 as binary, bytes as they are, as pyarrow's CSV inference does
	// (CSV: columns Inspect infers; text: the "text" column is always
	// binary). Invalid UTF-8 in a column that is still utf8 (it came later
	// than the sample, or the schema says utf8) is an error as with
	// InvalidUTF8Error. JSON lines cannot: binary JSON values are base64.
	InvalidUTF8Binary
)

var invalidUTF8Names = [...]string{"error", "replace", "binary"}

func (m InvalidUTF8) String() string {
	if int(m) < len(invalidUTF8Names) {
		return invalidUTF8Names[m]
	}
	return fmt.Sprintf("InvalidUTF8(%d)", uint8(m))
}

// MarshalText implements encoding.TextMarshaler.
func (m InvalidUTF8) MarshalText() ([]byte, error) {
	if int(m) >= len(invalidUTF8Names) {
		return nil, fmt.Errorf("invalid InvalidUTF8 value %d", uint8(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler: "error", "replace" or
// "binary".
func (m *InvalidUTF8) UnmarshalText(b []byte) error {
	for i, n := range invalidUTF8Names {
		if string(b) == n {
			*m = InvalidUTF8(i)
			return nil
		}
	}
	return fmt.Errorf("invalid UTF-8 handling %q: want error, replace or binary", b)
}

// appendValidUTF8 appends b with each byte that is not part of valid UTF-8
// replaced by U+FFFD, as encoding/json does.
func appendValidUTF8(dst, b []byte) []byte {
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, b[:size]...)
		}
		b = b[size:]
	}
	return dst
}

// utf8Hint is what an invalid UTF-8 error suggests by default.
const utf8Hint = "set InvalidUTF8 to replace the bad bytes or read the column as binary"

// utf8Check checks the string columns of the blocks a line reader (CSV,
// text) builds before they are emitted: in bulk, one utf8.Valid over each
// column's value buffer, and value by value only when that fails.
type utf8Check struct {
	file string
	mode InvalidUTF8
	hint string // what the error suggests
}

// rowError describes the invalid value v of column col on line.
func (u *utf8Check) rowError(line int, col string, v []byte) *RowError {
	off := 0
	for off < len(v) {
		r, size := utf8.DecodeRune(v[off:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		off += size
	}
	return &RowError{File: u.file, Line: line, Column: col,
		Msg: fmt.Sprintf("invalid UTF-8 at byte %d of %s: %s", off+1, quoteSnippet(v), u.hint)}
}

// isArrowString says whether t holds strings that must be valid UTF-8.
func isArrowString(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return true
	}
	return false
}

// apply checks rec, whose row i began on line lines[i]. With
// InvalidUTF8Replace it returns rec with its invalid values replaced (and
// releases rec when it made a new block); otherwise an invalid value is a
// *RowError, and rec is still the caller's.
func (u *utf8Check) apply(mem memory.Allocator, rec arrow.RecordBatch, lines []int) (arrow.RecordBatch, error) {
	for i, col := range rec.Columns() {
		if !isArrowString(col.DataType()) {
			continue
		}
		bad := firstInvalidUTF8(col)
		if bad < 0 {
			continue
		}
		if u.mode != InvalidUTF8Replace {
			line := 0
			if bad < len(lines) {
				line = lines[bad]
			}
			return nil, u.rowError(line, rec.ColumnName(i), []byte(col.ValueStr(bad)))
		}
		cols := append([]arrow.Array(nil), rec.Columns()...)
		cols[i] = replaceInvalidUTF8(mem, col, bad)
		out := array.NewRecordBatch(rec.Schema(), cols, rec.NumRows())
		cols[i].Release()
		rec.Release()
		rec = out
	}
	return rec, nil
}

// firstInvalidUTF8 is the index of the first value of a string array that
// is not valid UTF-8, or -1.
func firstInvalidUTF8(a arrow.Array) int {
	var data []byte
	var starts func(yield func(int) bool)
	switch s := a.(type) {
	case *array.String:
		data, starts = s.ValueBytes(), offsetStarts(s.ValueOffsets())
	case *array.LargeString:
		data, starts = s.ValueBytes(), offsetStarts(s.ValueOffsets())
	}
	if data != nil || a.Len() == 0 {
		// Valid as a whole and no value starting inside a character means
		// every value is valid.
		ok := utf8.Valid(data)
		if ok {
			for o := range starts {
				if o < len(data) && !utf8.RuneStart(data[o]) {
					ok = false
					break
				}
			}
		}
		if ok {
			return -1
		}
	}
	for i := range a.Len() {
		if a.IsValid(i) && !utf8.ValidString(a.ValueStr(i)) {
			return i
		}
	}
	return -1
}

// offsetStarts yields where each value starts in the value buffer.
func offsetStarts[T int32 | int64](offs []T) func(yield func(int) bool) {
	return func(yield func(int) bool) {
		if len(offs) == 0 {
			return
		}
		base := offs[0]
		for _, o := range offs[:len(offs)-1] {
			if !yield(int(o - base)) {
				return
			}
		}
	}
}

// replaceInvalidUTF8 copies a string array with each invalid value (from
// index first on) made valid.
func replaceInvalidUTF8(mem memory.Allocator, a arrow.Array, first int) arrow.Array {
	b := array.NewBuilder(mem, a.DataType())
	defer b.Release()
	app := bytesAppender(b)
	var buf []byte
	for i := range a.Len() {
		if a.IsNull(i) {
			b.AppendNull()
			continue
		}
		v := []byte(a.ValueStr(i))
		if i >= first && !utf8.Valid(v) {
			buf = appendValidUTF8(buf[:0], v)
			v = buf
		}
		app(v)
	}
	return b.NewArray()
}
