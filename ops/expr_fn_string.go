package ops

import (
	"bytes"
	"math"
	"unicode"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// String functions over utf8 and large_utf8 columns. Lengths and positions
// count characters (UTF-8 code points; an invalid byte counts as one), as
// DuckDB's length and substring do. Kernels slice the column's bytes by its
// offsets and write the result's bytes and offsets directly, so no Go
// string is made per row.

func init() {
	sameString := stringResult(nil)
	for _, name := range []string{"lower", "upper"} {
		upper := name == "upper"
		registerFunc(&ScalarFunc{Name: name, MinArgs: 1, MaxArgs: 1, Type: dictAware(sameString),
			Eval: columnwise(sameString, strictTotal, func(ec *evalCtx, args []fnArg, out arrow.DataType, n int) (arrow.Array, error) {
				return changeCase(ec, stringsOf(args[0]), upper, out, n)
			})})
	}
	lenType := stringResult(arrow.PrimitiveTypes.Int64)
	registerFunc(&ScalarFunc{Name: "length", MinArgs: 1, MaxArgs: 1, Type: dictAware(lenType), Eval: columnwise(lenType, strictTotal, lengthKernel)})
	matchType := stringResult(arrow.FixedWidthTypes.Boolean)
	for _, name := range []string{"contains", "starts_with", "ends_with"} {
		match := map[string]func(s, sub []byte) bool{"contains": bytes.Contains, "starts_with": bytes.HasPrefix, "ends_with": bytes.HasSuffix}[name]
		registerFunc(&ScalarFunc{Name: name, MinArgs: 2, MaxArgs: 2, Type: dictAware(matchType),
			Eval: columnwise(matchType, strictTotal, func(ec *evalCtx, args []fnArg, out arrow.DataType, n int) (arrow.Array, error) {
				return matchKernel(ec, stringsOf(args[0]), stringsOf(args[1]), match, n)
			})})
	}
	registerFunc(&ScalarFunc{Name: "substr", MinArgs: 2, MaxArgs: 3, Type: dictAware(substrType), Eval: columnwise(substrType, strictTotal, substrKernel)})
	registerFunc(&ScalarFunc{Name: "concat", MinArgs: 1, MaxArgs: -1, Type: dictAware(sameString), Eval: columnwise(sameString, strictTotal, concatKernel)})
}

// changeCase lowers (or uppers) every value: ASCII values byte by byte,
// others rune by rune as strings.ToLower does (an invalid byte becomes
// U+FFFD).
func changeCase(ec *evalCtx, s strArg, upper bool, out arrow.DataType, n int) (arrow.Array, error) {
	o := newStrOut(out, n, s.outBytes(n))
	for i := range n {
		v := s.value(i)
		start := len(o.data)
		o.data = append(o.data, v...)
		b, ascii := o.data[start:], true
		for j, c := range b {
			if c >= utf8.RuneSelf {
				ascii = false
				break
			}
			if upper && 'a' <= c && c <= 'z' {
				b[j] = c - 'a' + 'A'
			} else if !upper && 'A' <= c && c <= 'Z' {
				b[j] = c - 'A' + 'a'
			}
		}
		if !ascii {
			o.data = o.data[:start]
			for len(v) > 0 {
				r, size := utf8.DecodeRune(v)
				if upper {
					r = unicode.ToUpper(r)
				} else {
					r = unicode.ToLower(r)
				}
				o.data = utf8.AppendRune(o.data, r)
				v = v[size:]
			}
		}
		o.end()
	}
	return o.finish(ec.mem, argValidity(ec.mem, n, s.fnArg))
}

func lengthKernel(ec *evalCtx, args []fnArg, out arrow.DataType, n int) (arrow.Array, error) {
	s := stringsOf(args[0])
	buf, vals := newFixed[int64](ec.mem, n)
	for i := range vals {
		vals[i] = int64(utf8.RuneCount(s.value(i)))
	}
	return makeFixed(out, n, buf, argValidity(ec.mem, n, args...)), nil
}

// matchKernel tests every value against a pattern (a column, or a constant
// taken once).
func matchKernel(ec *evalCtx, s, sub strArg, match func(s, sub []byte) bool, n int) (arrow.Array, error) {
	buf := newBits(ec.mem, n)
	bits := buf.Bytes()
	if sub.stride == 0 {
		p := sub.value(0)
		for i := range n {
			if match(s.value(i), p) {
				bitutil.SetBit(bits, i)
			}
		}
	} else {
		for i := range n {
			if match(s.value(i), sub.value(i)) {
				bitutil.SetBit(bits, i)
			}
		}
	}
	return makeFixed(arrow.FixedWidthTypes.Boolean, n, buf, argValidity(ec.mem, n, s.fnArg, sub.fnArg)), nil
}

// newBits is a zeroed bitmap of n bits.
func newBits(mem memory.Allocator, n int) *memory.Buffer {
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(int(bitutil.BytesForBits(int64(n))))
	clear(buf.Bytes())
	return buf
}

func substrType(ts []arrow.DataType) (arrow.DataType, error) {
	for _, t := range ts[1:] {
		if t.ID() != arrow.NULL && numClass(t) != 1 {
			return nil, errNeed("an integer start and length")
		}
	}
	return stringResult(nil)(ts[:1])
}

// substrKernel is substr(s, start[, length]) by characters, 1-based, as
// DuckDB's substring: a negative start counts from the end, a negative
// length takes the characters before start.
func substrKernel(ec *evalCtx, args []fnArg, out arrow.DataType, n int) (arrow.Array, error) {
	s := stringsOf(args[0])
	starts, err := intsOf(args[1])
	if err != nil {
		return nil, err
	}
	lengths, lenArg := []int64{math.MaxInt64}, fnArg{}
	if len(args) == 3 {
		if lengths, err = intsOf(args[2]); err != nil {
			return nil, err
		}
		lenArg = args[2]
	}
	o := newStrOut(out, n, s.outBytes(n))
	for i := range n {
		v := s.value(i)
		size := utf8.RuneCount(v)
		from, to, ok := substrRange(int64(size), starts[args[1].at(i)], lengths[lenArg.at(i)])
		if ok {
			if size == len(v) { // one byte per character
				o.data = append(o.data, v[from:to]...)
			} else {
				o.data = append(o.data, runeSlice(v, int(from), int(to))...)
			}
		}
		o.end()
	}
	return o.finish(ec.mem, argValidity(ec.mem, n, args...))
}

// substrRange is the characters [start, end) of a string of size
// characters that substring(offset, length) takes; false for none.
func substrRange(size, offset, length int64) (start, end int64, ok bool) {
	length = max(min(length, size+1), -size-1) // no overflow below
	switch {
	case offset > 0:
		start = min(size, offset-1)
	case offset < 0:
		start = max(size+max(offset, -size), 0)
	default: // position 0 is one before the first character
		length--
	}
	if length == 0 {
		return 0, 0, false
	}
	if length > 0 {
		end = min(size, start+length)
	} else {
		end, start = start, max(0, start+length)
	}
	return start, end, start < end
}

// runeSlice is v's characters [from, to) as bytes.
func runeSlice(v []byte, from, to int) []byte {
	b, c := 0, 0
	for ; c < from; c++ {
		_, w := utf8.DecodeRune(v[b:])
		b += w
	}
	e := b
	for ; c < to; c++ {
		_, w := utf8.DecodeRune(v[e:])
		e += w
	}
	return v[b:e]
}

// concatKernel joins the arguments row by row; null where any is null, as
// SQL's || (DuckDB's concat() would skip nulls instead).
func concatKernel(ec *evalCtx, args []fnArg, out arrow.DataType, n int) (arrow.Array, error) {
	parts := make([]strArg, len(args))
	size := 0
	for i, a := range args {
		parts[i] = stringsOf(a)
		size += parts[i].outBytes(n)
	}
	o := newStrOut(out, n, size)
	for i := range n {
		for _, p := range parts {
			o.data = append(o.data, p.value(i)...)
		}
		o.end()
	}
	return o.finish(ec.mem, argValidity(ec.mem, n, args...))
}
