package ops

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// firstNotNull is coalesce's reference: the first argument (a column name
// or a constant) not null in the row, as float64 when float is set.
func firstNotNull(float bool, args ...any) func(map[string]any) any {
	return func(r map[string]any) any {
		for _, a := range args {
			v := a
			if c, ok := a.(Expr); ok {
				name, _ := ColumnName(c)
				v = r[name]
			}
			if v == nil {
				continue
			}
			if float {
				f, _ := asFloat(v)
				return f
			}
			if i, ok := v.(int); ok {
				return int64(i)
			}
			return v
		}
		return nil
	}
}

func TestCoalesce(t *testing.T) {
	withFnBlock(t, func(mem memory.Allocator, b arrow.RecordBatch) {
		checkFn(t, mem, b, Call("coalesce", Col("i"), Col("i32"), Col("small")), firstNotNull(false, Col("i"), Col("i32"), Col("small")))
		checkFn(t, mem, b, Call("coalesce", Col("i32"), Col("f")), firstNotNull(true, Col("i32"), Col("f")))
		checkFn(t, mem, b, Call("coalesce", Col("f"), 0), firstNotNull(true, Col("f"), 0))
		checkFn(t, mem, b, Call("coalesce", nil, Col("i"), -1), firstNotNull(false, Col("i"), -1))
		checkFn(t, mem, b, Call("coalesce", Col("s"), Col("sub"), "?"), firstNotNull(false, Col("s"), Col("sub"), "?"))
		checkFn(t, mem, b, Call("coalesce", Col("ls")), firstNotNull(false, Col("ls")))
		checkFn(t, mem, b, Call("coalesce", Col("b"), false), firstNotNull(false, Col("b"), false))
		checkFn(t, mem, b, Call("coalesce", Col("d32"), Col("d32")), firstNotNull(false, Col("d32")))
		checkFn(t, mem, b, Call("coalesce", Col("tsz"), Col("tsz")), firstNotNull(false, Col("tsz")))
		checkFn(t, mem, b, Call("coalesce", Col("ts").Sub(Col("ts")), Col("ts").Sub(Col("ts"))), func(r map[string]any) any {
			if r["ts"] == nil {
				return nil
			}
			return int64(0)
		})
	})
	checkConst(t, Call("coalesce", nil, 2, 3.5), 2.0)
	checkConst(t, Call("coalesce", nil, nil), nil)
	checkConst(t, Call("coalesce", "x"), "x")
}

func TestIf(t *testing.T) {
	pick := func(cond string, then, els any, float bool) func(map[string]any) any {
		return func(r map[string]any) any {
			c, _ := r[cond].(bool)
			if c {
				return firstNotNull(float, then, nil)(r)
			}
			return firstNotNull(float, els, nil)(r)
		}
	}
	withFnBlock(t, func(mem memory.Allocator, b arrow.RecordBatch) {
		checkFn(t, mem, b, Call("if", Col("b"), Col("i"), Col("small")), pick("b", Col("i"), Col("small"), false))
		checkFn(t, mem, b, Call("if", Col("b"), Col("f"), 0), pick("b", Col("f"), 0, true))
		checkFn(t, mem, b, Call("if", Col("b"), "yes", Col("s")), pick("b", "yes", Col("s"), false))
		checkFn(t, mem, b, Call("if", Col("b"), nil, Col("ls")), pick("b", nil, Col("ls"), false))
		checkFn(t, mem, b, Call("if", Col("b"), Col("d64"), Col("d64")), pick("b", Col("d64"), Col("d64"), false))
		checkFn(t, mem, b, Call("if", Col("b"), Col("b"), true), pick("b", Col("b"), true, false))
		// A condition computed from columns; null where i is null takes else.
		checkFn(t, mem, b, Call("if", Col("i").Gt(0), Col("i"), Col("i").Neg()), func(r map[string]any) any {
			if r["i"] == nil {
				return nil
			}
			return max(r["i"].(int64), -r["i"].(int64))
		})
	})
	checkConst(t, Call("if", true, 1, 2), int64(1))
	checkConst(t, Call("if", nil, 1, 2), int64(2)) // a null condition takes else, as CASE WHEN
	checkConst(t, Call("if", false, "a", nil), nil)
}

func TestCondErrors(t *testing.T) {
	checkTypeError(t, Call("coalesce", Col("s"), 1), "needs arguments of one type")
	checkTypeError(t, Call("coalesce", Col("s"), Col("ls")), "needs arguments of one type")
	checkTypeError(t, Call("coalesce", Col("ts"), Col("tsz")), "needs arguments of one type")
	checkTypeError(t, Call("if", Col("i"), 1, 2), "needs a boolean condition")
	checkTypeError(t, Call("if", Col("b"), 1), "if takes 3 arguments, not 2")
	checkTypeError(t, Call("coalesce"), "coalesce takes at least 1 arguments, not 0")
}

func TestCondRoundTrip(t *testing.T) {
	checkRoundTrip(t, Call("coalesce", Col("f"), Col("i32"), 0))
	checkRoundTrip(t, Call("if", Col("b").Or(Col("i").IsNull()), Call("upper", Col("s")), Col("sub")))
}
