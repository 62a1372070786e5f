package ops

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
)

// Math functions. Integers stay int64 through abs, floor, ceil and round;
// everything else computes in float64. Domain errors follow DuckDB: the
// square root of a negative number and the logarithm of zero or a negative
// number are errors naming the row, not NaN or -Inf.

func init() {
	for _, op := range []struct {
		name    string
		keepInt bool
	}{{"abs", true}, {"floor", true}, {"ceil", true}, {"sqrt", false}, {"log", false}, {"exp", false}} {
		typ := numericResult(op.keepInt)
		name := op.name
		registerFunc(&ScalarFunc{Name: name, MinArgs: 1, MaxArgs: 1, Type: dictAware(typ),
			Eval: columnwise(typ, strict, func(ec *evalCtx, args []fnArg, out arrow.DataType, n int) (arrow.Array, error) {
				return mathUnary(ec, name, args[0], out, n)
			})})
	}
	registerFunc(&ScalarFunc{Name: "round", MinArgs: 1, MaxArgs: 2, Type: dictAware(roundType), Eval: columnwise(roundType, strict, roundKernel)})
	powType := numericResult(false)
	registerFunc(&ScalarFunc{Name: "pow", MinArgs: 2, MaxArgs: 2, Type: dictAware(powType), Eval: columnwise(powType, strict, powKernel)})
}

// mathUnary computes the one-argument function name over a number column.
func mathUnary(ec *evalCtx, name string, a fnArg, out arrow.DataType, n int) (arrow.Array, error) {
	valid := argValidity(ec.mem, n, a)
	fail := func(err error) (arrow.Array, error) {
		if valid != nil {
			valid.Release()
		}
		return nil, err
	}
	if out.ID() == arrow.INT64 {
		in, err := intsOf(a)
		if err != nil {
			return fail(err)
		}
		buf, vals := newFixed[int64](ec.mem, n)
		switch name {
		case "abs":
			for i := range vals {
				x := in[a.at(i)]
				if x == math.MinInt64 && a.valid(i) {
					buf.Release()
					return fail(fmt.Errorf("row %d: integer overflow (abs(%d) does not fit int64)", i, x))
				}
				vals[i] = max(x, -x)
			}
		default: // floor and ceil of an integer is the integer
			for i := range vals {
				vals[i] = in[a.at(i)]
			}
		}
		return makeFixed(out, n, buf, valid), nil
	}
	in, err := floatsOf(ec, a)
	if err != nil {
		return fail(err)
	}
	buf, vals := newFixed[float64](ec.mem, n)
	if a.stride == 0 {
		for i := range vals {
			vals[i] = in[0]
		}
	} else {
		copy(vals, in[:n])
	}
	// One tight loop per function over the copied values.
	switch name {
	case "abs":
		for i, x := range vals {
			vals[i] = math.Abs(x)
		}
	case "floor":
		for i, x := range vals {
			vals[i] = math.Floor(x)
		}
	case "ceil":
		for i, x := range vals {
			vals[i] = math.Ceil(x)
		}
	case "exp":
		for i, x := range vals {
			vals[i] = math.Exp(x)
		}
	case "sqrt", "log":
		bad := false
		for i, x := range vals {
			bad = bad || x < 0 || name == "log" && x == 0
			if name == "sqrt" {
				vals[i] = math.Sqrt(x)
			} else {
				vals[i] = math.Log(x)
			}
		}
		if bad {
			for i := range vals {
				x := in[a.at(i)]
				if !a.valid(i) {
					continue
				}
				if x < 0 {
					buf.Release()
					return fail(fmt.Errorf("row %d: cannot take the %s of a negative number (%g)", i, mathNoun[name], x))
				}
				if x == 0 && name == "log" {
					buf.Release()
					return fail(fmt.Errorf("row %d: cannot take the logarithm of zero", i))
				}
			}
		}
	}
	return makeFixed(out, n, buf, valid), nil
}

var mathNoun = map[string]string{"sqrt": "square root", "log": "logarithm"}

// roundType is round's result: int64 for an integer, float64 for a float;
// the digits must be an integer.
func roundType(ts []arrow.DataType) (arrow.DataType, error) {
	if len(ts) == 2 && ts[1].ID() != arrow.NULL && numClass(ts[1]) != 1 {
		return nil, errNeed("an integer number of digits")
	}
	return numericResult(true)(ts[:1])
}

// roundKernel rounds half away from zero to digits places after the point
// (before it when negative), as DuckDB does.
func roundKernel(ec *evalCtx, args []fnArg, out arrow.DataType, n int) (arrow.Array, error) {
	x := args[0]
	digits := []int64{0}
	dArg := fnArg{stride: 0}
	if len(args) == 2 {
		var err error
		if digits, err = intsOf(args[1]); err != nil {
			return nil, fmt.Errorf("digits: %w", err)
		}
		dArg = args[1]
	}
	valid := argValidity(ec.mem, n, args...)
	if out.ID() == arrow.INT64 {
		in, err := intsOf(x)
		if err != nil {
			if valid != nil {
				valid.Release()
			}
			return nil, err
		}
		buf, vals := newFixed[int64](ec.mem, n)
		for i := range vals {
			v, ok := roundInt(in[x.at(i)], digits[dArg.at(i)])
			if !ok && x.valid(i) && (len(args) == 1 || args[1].valid(i)) {
				buf.Release()
				if valid != nil {
					valid.Release()
				}
				return nil, fmt.Errorf("row %d: integer overflow (round(%d, %d) does not fit int64)", i, in[x.at(i)], digits[dArg.at(i)])
			}
			vals[i] = v
		}
		return makeFixed(out, n, buf, valid), nil
	}
	in, err := floatsOf(ec, x)
	if err != nil {
		if valid != nil {
			valid.Release()
		}
		return nil, err
	}
	buf, vals := newFixed[float64](ec.mem, n)
	if dArg.stride == 0 {
		// One scale for every row: the common round(x, 2).
		m := roundScale(digits[0])
		for i := range vals {
			vals[i] = roundScaled(in[x.at(i)], m)
		}
	} else {
		for i := range vals {
			vals[i] = roundFloat(in[x.at(i)], digits[i])
		}
	}
	return makeFixed(out, n, buf, valid), nil
}

// roundFloat is DuckDB's rounding of a double to d digits: half away from
// zero; where scaling overflows, x itself (0 for negative d).
func roundFloat(x float64, d int64) float64 { return roundScaled(x, roundScale(d)) }

// roundScale is the factor rounding to d digits scales by: 10^d, or
// -10^-d for negative d (the sign says to divide).
func roundScale(d int64) float64 {
	if d < 0 {
		return -math.Pow(10, float64(-d))
	}
	return math.Pow(10, float64(d))
}

func roundScaled(x, m float64) float64 {
	if m < 0 {
		r := math.Round(x/-m) * -m
		if math.IsInf(r, 0) || math.IsNaN(r) {
			return 0
		}
		return r
	}
	r := math.Round(x*m) / m
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return x
	}
	return r
}

// pow10 is 10^i for the exponents an int64 holds.
var pow10 = func() (p [19]int64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// roundInt rounds an integer to a multiple of 10^-d, half away from zero;
// false on overflow.
func roundInt(x, d int64) (int64, bool) {
	if d >= 0 {
		return x, true
	}
	if d < -18 { // 10^19 exceeds int64: every int64 rounds to 0
		return 0, true
	}
	m := pow10[-d]
	q, r := x/m, x%m
	switch {
	case r >= 0 && r >= m-r: // x > 0: round up when the rest is at least half
		q++
	case r < 0 && -r >= m+r:
		q--
	}
	v := q * m
	if v/m != q {
		return 0, false
	}
	return v, true
}

// powKernel is x to the power y in float64, IEEE (0^-1 is +Inf).
func powKernel(ec *evalCtx, args []fnArg, out arrow.DataType, n int) (arrow.Array, error) {
	valid := argValidity(ec.mem, n, args...)
	x, err := floatsOf(ec, args[0])
	if err == nil {
		var y []float64
		if y, err = floatsOf(ec, args[1]); err == nil {
			buf, vals := newFixed[float64](ec.mem, n)
			if args[1].stride == 0 {
				e := y[0]
				for i := range vals {
					vals[i] = math.Pow(x[args[0].at(i)], e)
				}
			} else {
				for i := range vals {
					vals[i] = math.Pow(x[args[0].at(i)], y[i])
				}
			}
			return makeFixed(out, n, buf, valid), nil
		}
	}
	if valid != nil {
		valid.Release()
	}
	return nil, err
}
