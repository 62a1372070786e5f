package ops

import (
	"context"
	"github.com/apache/arrow-go/v18/arrow/array"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// strFn applies f to non-null strings of the named columns.
func strFn(f func(s ...string) any, cols ...string) func(map[string]any) any {
	return func(r map[string]any) any {
		vals := make([]string, len(cols))
		for i, c := range cols {
			if r[c] == nil {
				return nil
			}
			vals[i] = r[c].(string)
		}
		return f(vals...)
	}
}

func TestStringFunctions(t *testing.T) {
	withFnBlock(t, func(mem memory.Allocator, b arrow.RecordBatch) {
		for _, col := range []string{"s", "ls"} {
			checkFn(t, mem, b, Call("lower", Col(col)), strFn(func(s ...string) any { return strings.ToLower(s[0]) }, col))
			checkFn(t, mem, b, Call("upper", Col(col)), strFn(func(s ...string) any { return strings.ToUpper(s[0]) }, col))
			checkFn(t, mem, b, Call("length", Col(col)), strFn(func(s ...string) any { return int64(utf8.RuneCountInString(s[0])) }, col))
			checkFn(t, mem, b, Call("contains", Col(col), Col("sub")), strFn(func(s ...string) any { return strings.Contains(s[0], s[1]) }, col, "sub"))
			checkFn(t, mem, b, Call("starts_with", Col(col), Col("sub")), strFn(func(s ...string) any { return strings.HasPrefix(s[0], s[1]) }, col, "sub"))
			checkFn(t, mem, b, Call("ends_with", Col(col), Col("sub")), strFn(func(s ...string) any { return strings.HasSuffix(s[0], s[1]) }, col, "sub"))
			for _, sub := range []string{"", "a", "ab", "ß", "語"} {
				checkFn(t, mem, b, Call("contains", Col(col), sub), strFn(func(s ...string) any { return strings.Contains(s[0], sub) }, col))
				checkFn(t, mem, b, Call("starts_with", Col(col), sub), strFn(func(s ...string) any { return strings.HasPrefix(s[0], sub) }, col))
				checkFn(t, mem, b, Call("ends_with", Col(col), sub), strFn(func(s ...string) any { return strings.HasSuffix(s[0], sub) }, col))
			}
			checkFn(t, mem, b, Call("concat", Col(col), "-", Col("sub")), strFn(func(s ...string) any { return s[0] + "-" + s[1] }, col, "sub"))
			for _, start := range []int64{-20, -3, -1, 0, 1, 2, 5, 100} {
				for _, length := range []int64{-2, 0, 1, 3, 1000} {
					checkFn(t, mem, b, Call("substr", Col(col), start, length), func(r map[string]any) any {
						if r[col] == nil {
							return nil
						}
						return substrRef(r[col].(string), start, length)
					})
				}
			}
			checkFn(t, mem, b, Call("substr", Col(col), Col("small")), func(r map[string]any) any {
				if r[col] == nil || r["small"] == nil {
					return nil
				}
				return substrRef(r[col].(string), r["small"].(int64), 1<<40)
			})
		}
		checkFn(t, mem, b, Call("concat", Col("s"), Col("ls")), strFn(func(s ...string) any { return s[0] + s[1] }, "s", "ls"))
	})
	for _, c := range []struct {
		e    Expr
		want any
	}{
		{Call("lower", "ÄrGER"), "ärger"},
		{Call("upper", "straße"), strings.ToUpper("straße")}, // as Go's unicode tables: one rune each
		{Call("length", "日本語"), int64(3)},
		{Call("length", ""), int64(0)},
		{Call("substr", "Hello", 2, 3), "ell"},
		{Call("substr", "Hello", -3), "llo"},
		{Call("substr", "Hello", 0, 2), "H"},
		{Call("substr", "日本語テキスト", 2, 2), "本語"},
		{Call("concat", "a", nil, "b"), nil}, // SQL's ||
		{Call("concat", "a", "", "b"), "ab"},
		{Call("contains", "abc", ""), true},
		{Call("contains", nil, "a"), nil},
		{Call("ends_with", "abc", "bc"), true},
	} {
		checkConst(t, c.e, c.want)
	}
}

// substrRef is DuckDB's substring over a slice of characters (an invalid
// byte is one character, kept as it is).
func substrRef(s string, start, length int64) string {
	var chars []string
	for b := s; len(b) > 0; {
		_, w := utf8.DecodeRuneInString(b)
		chars = append(chars, b[:w])
		b = b[w:]
	}
	size := int64(len(chars))
	from, to, ok := int64(0), int64(0), true
	switch {
	case start > 0:
		from = min(size, start-1)
	case start < 0:
		from = max(size+start, 0)
	default:
		length--
		ok = length > 0
	}
	if !ok || length == 0 {
		return ""
	}
	if length > 0 {
		to = min(size, from+length)
	} else {
		from, to = max(0, from+length), from
	}
	if from >= to {
		return ""
	}
	return strings.Join(chars[from:to], "")
}

func TestStringTypeErrors(t *testing.T) {
	checkTypeError(t, Call("lower", Col("i")), "needs a string")
	checkTypeError(t, Call("contains", Col("s"), 1), "needs a string")
	checkTypeError(t, Call("substr", Col("s"), 1.5), "needs an integer start and length")
	checkTypeError(t, Call("substr", Col("s")), "substr takes 2 to 3 arguments, not 1")
	checkTypeError(t, Call("concat", Col("s"), Col("d32")), "column d32 is date32")
	if got, err := Call("concat", Col("s"), Col("ls")).DataType(fnSchema(t)); err != nil || got.ID() != arrow.LARGE_STRING {
		t.Fatalf("concat of utf8 and large_utf8 is %v (%v), want large_utf8", got, err)
	}
}

func fnSchema(t *testing.T) *arrow.Schema {
	b := fnBlock(t, memory.NewGoAllocator(), 1)
	defer b.Release()
	return b.Schema()
}

func TestStringRoundTrip(t *testing.T) {
	checkRoundTrip(t, Call("concat", Call("upper", Col("s")), "/", Call("substr", Col("ls"), -3, 2)))
	checkRoundTrip(t, And(Call("contains", Col("s"), "ab"), Call("starts_with", Col("s"), Col("sub")).Eq(false), Call("length", Col("s")).Gt(2)))
}

// TestStringEmptyBuffers evaluates the string functions over a column of
// no rows whose offsets buffer is missing, as some writers produce.
func TestStringEmptyBuffers(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	data := array.NewData(arrow.BinaryTypes.String, 0, []*memory.Buffer{nil, nil, nil}, nil, 0, 0)
	col := array.MakeFromData(data)
	data.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	b := array.NewRecordBatch(schema, []arrow.Array{col}, 0)
	col.Release()
	defer b.Release()
	for _, e := range []Expr{Call("lower", Col("s")), Call("length", Col("s")), Call("contains", Col("s"), "a"),
		Call("substr", Col("s"), 2), Call("concat", Col("s"), Col("s")), Call("coalesce", Col("s"), "x"), Call("if", Col("s").Eq("a"), Col("s"), "b")} {
		got, err := e.Eval(context.Background(), mem, b)
		if err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		if got.Len() != 0 {
			t.Errorf("%s: %d rows", e, got.Len())
		}
		got.Release()
	}
}
