package ops

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// floatFn applies f to a non-null number, nil stays nil.
func floatFn(col string, f func(float64) float64) func(map[string]any) any {
	return func(r map[string]any) any {
		if r[col] == nil {
			return nil
		}
		x, _ := asFloat(r[col])
		return f(x)
	}
}

func TestMathFunctions(t *testing.T) {
	withFnBlock(t, func(mem memory.Allocator, b arrow.RecordBatch) {
		for _, col := range []string{"f", "f32", "i32", "small"} {
			isInt := col == "i32" || col == "small"
			intOrFloat := func(f func(float64) float64) func(map[string]any) any {
				if !isInt {
					return floatFn(col, f)
				}
				return func(r map[string]any) any { return r[col] } // floor and ceil keep integers
			}
			checkFn(t, mem, b, Call("floor", Col(col)), intOrFloat(math.Floor))
			checkFn(t, mem, b, Call("ceil", Col(col)), intOrFloat(math.Ceil))
			checkFn(t, mem, b, Call("exp", Col(col)), floatFn(col, math.Exp))
			if isInt {
				checkFn(t, mem, b, Call("abs", Col(col)), func(r map[string]any) any {
					if r[col] == nil {
						return nil
					}
					return max(r[col].(int64), -r[col].(int64))
				})
			} else {
				checkFn(t, mem, b, Call("abs", Col(col)), floatFn(col, math.Abs))
				checkFn(t, mem, b, Call("sqrt", Call("abs", Col(col))), floatFn(col, func(x float64) float64 { return math.Sqrt(math.Abs(x)) }))
			}
		}
		checkFn(t, mem, b, Call("log", Call("abs", Col("f32")).Add(1)), floatFn("f32", func(x float64) float64 { return math.Log(math.Abs(x) + 1) }))
		pow := func(y string) func(map[string]any) any {
			return func(r map[string]any) any {
				if r["f"] == nil || r[y] == nil {
					return nil
				}
				yv, _ := asFloat(r[y])
				return math.Pow(r["f"].(float64), yv)
			}
		}
		checkFn(t, mem, b, Call("pow", Col("f"), Col("small")), pow("small"))
		checkFn(t, mem, b, Call("pow", Col("f"), 2), func(r map[string]any) any {
			if r["f"] == nil {
				return nil
			}
			return math.Pow(r["f"].(float64), 2)
		})
	})
}

// roundRef is rounding to d digits written the obvious way, half away
// from zero, as DuckDB does.
func roundRef(x float64, d int64) float64 {
	scale := math.Pow(10, float64(d))
	if d < 0 {
		r := math.Round(x/math.Pow(10, float64(-d))) * math.Pow(10, float64(-d))
		if math.IsInf(r, 0) || math.IsNaN(r) {
			return 0
		}
		return r
	}
	r := math.Round(x*scale) / scale
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return x
	}
	return r
}

// roundIntRef rounds an integer to 10^-d with big-enough arithmetic.
func roundIntRef(x, d int64) (int64, bool) {
	if d >= 0 {
		return x, true
	}
	if d < -18 {
		return 0, true
	}
	m := int64(math.Pow10(int(-d)))
	q := x / m
	r := x - q*m
	if 2*abs64(r) >= m || abs64(r) > m/2 {
		if x < 0 {
			q--
		} else {
			q++
		}
	}
	if q > math.MaxInt64/m || q < math.MinInt64/m {
		return 0, false
	}
	return q * m, true
}

func abs64(x int64) int64 { return max(x, -x) }

func TestRound(t *testing.T) {
	withFnBlock(t, func(mem memory.Allocator, b arrow.RecordBatch) {
		for _, d := range []int64{0, 1, 2, -1, -2} {
			checkFn(t, mem, b, Call("round", Col("f"), d), func(r map[string]any) any {
				if r["f"] == nil {
					return nil
				}
				return roundRef(r["f"].(float64), d)
			})
			checkFn(t, mem, b, Call("round", Col("i32"), d), func(r map[string]any) any {
				if r["i32"] == nil {
					return nil
				}
				v, _ := roundIntRef(r["i32"].(int64), d)
				return v
			})
		}
		checkFn(t, mem, b, Call("round", Col("f")), func(r map[string]any) any {
			if r["f"] == nil {
				return nil
			}
			return math.Round(r["f"].(float64))
		})
		checkFn(t, mem, b, Call("round", Col("f"), Col("small")), func(r map[string]any) any {
			if r["f"] == nil || r["small"] == nil {
				return nil
			}
			return roundRef(r["f"].(float64), r["small"].(int64))
		})
	})
	// Half away from zero, as DuckDB (not Go's banker's rounding).
	for _, c := range []struct {
		e    Expr
		want any
	}{
		{Call("round", 2.5), 3.0},
		{Call("round", -2.5), -3.0},
		{Call("round", 0.125, 2), 0.13},
		{Call("round", 1234.5678, -2), 1200.0},
		{Call("round", 125, -1), int64(130)},
		{Call("round", -125, -1), int64(-130)},
		{Call("round", -124, -1), int64(-120)},
		{Call("round", 42, 3), int64(42)},
		{Call("round", int64(math.MaxInt64), -30), int64(0)},
		{Call("round", 1e300, 400), 1e300},
		{Call("round", nil, 2), nil},
	} {
		checkConst(t, c.e, c.want)
	}
	for _, x := range []int64{0, 5, -5, 15, -15, 149, -150, math.MaxInt64 / 10, math.MinInt64 / 10} {
		for d := int64(-20); d <= 0; d++ {
			got, gotOK := roundInt(x, d)
			want, wantOK := roundIntRef(x, d)
			if got != want || gotOK != wantOK {
				t.Errorf("roundInt(%d, %d) = %d %v, want %d %v", x, d, got, gotOK, want, wantOK)
			}
		}
	}
}

func TestMathErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true}}, nil)
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	bld.Field(0).(*array.Int64Builder).AppendValues([]int64{1, math.MinInt64, 3, math.MaxInt64}, []bool{true, false, true, true})
	bld.Field(1).(*array.Float64Builder).AppendValues([]float64{1, -4, 0, 2}, []bool{true, false, true, true})
	b := bld.NewRecordBatch()
	defer b.Release()
	// Abs of MinInt64 in a null row is no error; in a valid one it is.
	for _, c := range []struct {
		e       Expr
		wantErr string
	}{
		{Call("abs", Col("x")), ""},
		{Call("sqrt", Col("f")), ""}, // -4 is in a null row
		{Call("abs", Col("x").Sub(2).Sub(Lit(math.MaxInt64))), "row 0: integer overflow (abs(-9223372036854775808) does not fit int64)"},
		{Call("round", Col("x"), -1), "row 3: integer overflow (round(9223372036854775807, -1)"},
		{Call("log", Col("f")), "row 2: cannot take the logarithm of zero"},
		{Call("log", Col("f").Mul(0)), "row 0: cannot take the logarithm of zero"},
		{Call("sqrt", Col("f").Sub(1.5)), "row 0: cannot take the square root of a negative number (-0.5)"},
		{Call("log", Lit(-1.0)), "cannot take the logarithm of a negative number (-1)"},
		{Call("abs", Lit(int64(math.MinInt64))), "integer overflow"},
	} {
		got, err := c.e.Eval(context.Background(), mem, b)
		if c.wantErr == "" {
			if err != nil {
				t.Errorf("%s: %v", c.e, err)
			} else {
				got.Release()
			}
			continue
		}
		if err == nil {
			got.Release()
			t.Errorf("%s: no error, want %q", c.e, c.wantErr)
		} else if !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), c.e.String()) {
			t.Errorf("%s: error %q, want it to name the expression and say %q", c.e, err, c.wantErr)
		}
	}
	checkTypeError(t, Call("abs", Col("s")), "needs a number")
	checkTypeError(t, Call("round", Col("f"), 1.5), "needs an integer number of digits")
	checkTypeError(t, Call("pow", Col("f"), Col("s")), "needs a number")
	checkTypeError(t, Call("sqrt"), "sqrt takes 1 arguments, not 0")
	checkTypeError(t, Call("sqrt", Col("ts")), "column ts is timestamp")
}

func TestMathRoundTrip(t *testing.T) {
	checkRoundTrip(t, Call("round", Call("pow", Col("f"), 2), 1))
	checkRoundTrip(t, Call("abs", Call("floor", Col("i32")).Add(Call("ceil", Col("f")))))
	checkRoundTrip(t, Call("exp", Call("log", Call("sqrt", Call("abs", Col("f32")).Add(1)))))
}
