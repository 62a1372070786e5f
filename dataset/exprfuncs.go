package dataset

import "github.com/shoal-data/shoal/ops"

// Functions over expressions. Each is null where an argument is null
// (except Coalesce and If), is type-checked when the plan is built ("needs
// a string"), and computes a whole column at a time. Operands after the
// first are Exprs or Go constants, as in the Expr methods.

// Conditionals.

// Coalesce is the first of its arguments that is not null in each row.
// The arguments are of one kind: numbers (integers with floats give
// float64), strings, booleans, or one time type.
func Coalesce(args ...any) Expr { return ops.Call("coalesce", args...) }

// If is then where cond is true and otherwise where cond is false or null,
// as SQL's CASE WHEN cond THEN then ELSE otherwise END.
func If(cond Expr, then, otherwise any) Expr { return ops.Call("if", cond, then, otherwise) }

// When starts a chain of conditions, as Polars' when/then/otherwise and
// SQL's CASE WHEN: When(c1).Then(v1).When(c2).Then(v2).Otherwise(v3) is
// v1 where c1 is true, else v2 where c2 is true, else v3 (a null condition
// counts as false). It is a nest of If, and prints as one.
func When(cond Expr) Condition { return Condition{cond: cond} }

// Condition is a When waiting for its Then.
type Condition struct {
	prior *Conditional
	cond  Expr
}

// Then gives the value where the condition is true.
func (c Condition) Then(v any) Conditional {
	branches := []whenBranch{{c.cond, v}}
	if c.prior != nil {
		branches = append(append([]whenBranch(nil), c.prior.branches...), branches...)
	}
	return Conditional{branches: branches}
}

// Conditional is a When...Then chain: add a condition with When, or end it
// with Otherwise.
type Conditional struct{ branches []whenBranch }

type whenBranch struct {
	cond Expr
	then any
}

// When adds a condition tried where the earlier ones are not true.
func (c Conditional) When(cond Expr) Condition { return Condition{prior: &c, cond: cond} }

// Otherwise gives the value where no condition is true (nil: null) and
// makes the expression.
func (c Conditional) Otherwise(v any) Expr {
	out := v
	for i := len(c.branches) - 1; i >= 0; i-- {
		out = If(c.branches[i].cond, c.branches[i].then, out)
	}
	return out.(Expr)
}

// Math. Abs, Floor, Ceil and Round keep integers as int64; the others,
// and all of them over floats, give float64.

// Abs is |x|; the absolute value of the smallest int64 is an overflow
// error naming the row.
func Abs(x Expr) Expr { return ops.Call("abs", x) }

// Round rounds x half away from zero (2.5 to 3, -2.5 to -3), as DuckDB
// does, to digits places after the point (before it when negative; none
// when left out).
func Round(x Expr, digits ...int) Expr {
	if len(digits) == 0 {
		return ops.Call("round", x)
	}
	return ops.Call("round", x, digits[0])
}

// Floor is the largest whole number not above x.
func Floor(x Expr) Expr { return ops.Call("floor", x) }

// Ceil is the smallest whole number not below x.
func Ceil(x Expr) Expr { return ops.Call("ceil", x) }

// Sqrt is the square root of x; a negative x is an error naming the row.
func Sqrt(x Expr) Expr { return ops.Call("sqrt", x) }

// Log is the natural logarithm of x; x of zero or below is an error
// naming the row, as in DuckDB.
func Log(x Expr) Expr { return ops.Call("log", x) }

// Exp is e to the power x.
func Exp(x Expr) Expr { return ops.Call("exp", x) }

// Pow is x to the power y.
func Pow(x Expr, y any) Expr { return ops.Call("pow", x, y) }

// Strings, utf8 or large_utf8. Lengths and positions count characters
// (code points), not bytes.

// Lower is s in lower case.
func Lower(s Expr) Expr { return ops.Call("lower", s) }

// Upper is s in upper case.
func Upper(s Expr) Expr { return ops.Call("upper", s) }

// Len is the number of characters of s, as int64.
func Len(s Expr) Expr { return ops.Call("length", s) }

// Contains is true where s contains sub (a string or a string column).
func Contains(s Expr, sub any) Expr { return ops.Call("contains", s, sub) }

// StartsWith is true where s begins with prefix.
func StartsWith(s Expr, prefix any) Expr { return ops.Call("starts_with", s, prefix) }

// EndsWith is true where s ends with suffix.
func EndsWith(s Expr, suffix any) Expr { return ops.Call("ends_with", s, suffix) }

// Substr is the part of s from character start (1 is the first; a
// negative start counts from the end) of length characters (to the end
// when left out; a negative length takes the characters before start),
// as SQL's and DuckDB's substring.
func Substr(s Expr, start any, length ...any) Expr {
	if len(length) == 0 {
		return ops.Call("substr", s, start)
	}
	return ops.Call("substr", s, start, length[0])
}

// Concat joins strings; it is null where any part is null, as SQL's ||
// (DuckDB's concat() would skip the null parts instead).
func Concat(parts ...any) Expr { return ops.Call("concat", parts...) }

// Dates and times: timestamps of any unit (read on the clock of their
// time zone when they have one, else as UTC), date32 and date64. Results
// are int64.

// Year is the year of t.
func Year(t Expr) Expr { return ops.Call("year", t) }

// Month is the month of t, 1 to 12.
func Month(t Expr) Expr { return ops.Call("month", t) }

// Day is the day of the month of t, 1 to 31.
func Day(t Expr) Expr { return ops.Call("day", t) }

// Hour is the hour of t, 0 to 23 (0 for a date).
func Hour(t Expr) Expr { return ops.Call("hour", t) }

// Minute is the minute of t, 0 to 59.
func Minute(t Expr) Expr { return ops.Call("minute", t) }

// DayOfWeek is the day of the week of t as DuckDB's dayofweek: 0 for
// Sunday to 6 for Saturday.
func DayOfWeek(t Expr) Expr { return ops.Call("dayofweek", t) }

// DiffSeconds is a - b in seconds (float64, with fractions). A date counts
// as its midnight UTC. For a duration instead, subtract: a.Sub(b).
func DiffSeconds(a Expr, b any) Expr { return ops.Call("diff_seconds", a, b) }

// DiffDays is the number of calendar days from b's date to a's (int64),
// as DuckDB's date_diff('day', b, a): each is read on its own zone's
// clock, so 23:59 to 00:01 the next day is one day.
func DiffDays(a Expr, b any) Expr { return ops.Call("diff_days", a, b) }
