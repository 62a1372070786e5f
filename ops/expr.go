package ops

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/shoal-data/shoal/blocks"
)

// Expr is a computation over a block's columns that Shoal can see into,
// unlike a Go closure: a column, a constant, arithmetic, comparisons,
// boolean logic, casts and functions, as one tree. It is evaluated a whole
// column at a time with typed kernels; the optimizer folds constants,
// pushes predicates into file sources (which skip files and Parquet row
// groups their statistics rule out) and reads only the columns the
// expressions use. It prints as SQL and travels to cluster nodes as JSON.
//
// Build one from Col and Lit: Col("fare").Gt(10).And(Col("city").Eq("Oslo")),
// Col("price").Mul(Lit(1).Sub(Col("disc"))).Alias("revenue").
//
// Semantics follow SQL: null in, null out; comparisons with null are null
// (false in a filter); integer division by zero is null; integer overflow
// is an error naming the expression and row; an integer with a float
// computes in float64; floats follow IEEE (NaN equals nothing).
//
// The zero Expr is no expression: IsZero reports it, and every operation
// taking one refuses it with an error.
type Expr struct{ n exprNode }

// exprNode is one node of an expression tree.
type exprNode interface {
	String() string
	// columns calls add for each column the node reads.
	columns(add func(string))
	// dataType is the node's result type over a block of schema s, or an
	// error naming the expression when the types do not fit.
	dataType(s *arrow.Schema) (arrow.DataType, error)
	// eval computes the node over b.
	eval(ec *evalCtx, b arrow.RecordBatch) (datum, error)
	// mayMatch answers for boolean nodes whether a row could be true given
	// column statistics; true when unsure.
	mayMatch(stats StatsFunc) bool
	// children are the operand expressions, in order; withChildren
	// rebuilds the node over new ones (the optimizer's rewrites).
	children() []Expr
	withChildren(c []Expr) exprNode
}

// evalCtx is what kernels need: the caller's context and allocator.
type evalCtx struct {
	ctx context.Context
	mem memory.Allocator
}

// StatsFunc gives what is known of a column's values in a part of a file.
// min and max are int64, uint64, float64, string or bool. ok with both nil
// means every value is null; ok=false means nothing is known.
type StatsFunc func(col string) (min, max any, nulls int64, ok bool)

// Col is the column called name.
func Col(name string) Expr { return Expr{&colRef{name: name}} }

// Lit is a constant: a Go integer, float, string, bool, time.Time, or nil
// for a null. An Expr passed to Lit is returned as it is.
func Lit(v any) Expr {
	if e, ok := v.(Expr); ok {
		return fix(e)
	}
	return Expr{newLiteral(v)}
}

// IsZero reports whether e is the zero Expr, which is no expression.
func (e Expr) IsZero() bool { return e.n == nil }

// String renders the expression as SQL: `fare > 10 AND city = 'Oslo'`.
func (e Expr) String() string {
	if e.n == nil {
		return "<no expression>"
	}
	return e.n.String()
}

// Columns are the columns the expression reads, each once, in the order
// they first appear.
func (e Expr) Columns() []string {
	if e.n == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	e.n.columns(func(c string) {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	})
	return out
}

// errNoExpr is what operations on the zero Expr return.
var errNoExpr = errors.New("no expression (the zero Expr)")

// DataType is the expression's result type over blocks of schema s. A
// column s lacks, or operand types that do not fit (a string plus a
// number), is an error naming the expression, the column and the types:
// checking a plan with it finds such mistakes before anything runs.
func (e Expr) DataType(s *arrow.Schema) (arrow.DataType, error) {
	if e.n == nil {
		return nil, errNoExpr
	}
	return e.n.dataType(s)
}

// Eval computes the expression for every row of b: an array with one value
// per row, which the caller releases. A constant result is repeated.
func (e Expr) Eval(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch) (arrow.Array, error) {
	if e.n == nil {
		return nil, errNoExpr
	}
	d, err := e.n.eval(&evalCtx{ctx: ctx, mem: mem}, b)
	if err != nil {
		return nil, err
	}
	return d.toArray(mem, int(b.NumRows()))
}

// MayMatch reports whether a row could make the (boolean) expression true,
// given the range of each column's values. It answers true when unsure;
// false lets a source skip the data.
func (e Expr) MayMatch(stats StatsFunc) bool {
	if e.n == nil {
		return true
	}
	return e.n.mayMatch(stats)
}

// Children are the operands of the expression's top node.
func (e Expr) Children() []Expr {
	if e.n == nil {
		return nil
	}
	return e.n.children()
}

// Name is the column name the expression gives its result: the alias, or
// a column's own name, or the expression's text.
func (e Expr) Name() string {
	switch n := e.n.(type) {
	case *alias:
		return n.name
	case *colRef:
		return n.name
	}
	return e.String()
}

// Alias names the expression's result column (in Select and aggregations).
func (e Expr) Alias(name string) Expr { return Expr{&alias{x: fix(e), name: name}} }

// unalias is the expression under any aliases.
func unalias(e Expr) Expr {
	for {
		a, ok := e.n.(*alias)
		if !ok {
			return e
		}
		e = a.x
	}
}

// fix is e, or for the zero Expr a node that reports it, so that an
// expression built from one prints and fails cleanly.
func fix(e Expr) Expr {
	if e.n == nil {
		return Expr{&noExpr{}}
	}
	return e
}

// operand turns a method's argument (an Expr or a Go constant) into an Expr.
func operand(v any) Expr { return Lit(v) }

// Arithmetic. The operand is an Expr or a Go constant.

// Add is e + v.
func (e Expr) Add(v any) Expr { return arith(opAdd, e, operand(v)) }

// Sub is e - v. Timestamps subtract to a duration and dates to a number of
// days.
func (e Expr) Sub(v any) Expr { return arith(opSub, e, operand(v)) }

// Mul is e * v.
func (e Expr) Mul(v any) Expr { return arith(opMul, e, operand(v)) }

// Div is e / v: truncating for two integers (null where v is 0), float
// division otherwise.
func (e Expr) Div(v any) Expr { return arith(opDiv, e, operand(v)) }

// Mod is the remainder of e / v, with e's sign (null where an integer v is 0).
func (e Expr) Mod(v any) Expr { return arith(opMod, e, operand(v)) }

// Neg is -e.
func (e Expr) Neg() Expr { return Expr{&negate{x: fix(e)}} }

// Comparisons. The operand is an Expr or a Go constant; the result is
// null where either side is null.

// Eq is e = v.
func (e Expr) Eq(v any) Expr { return compare(Eq, e, operand(v)) }

// Ne is e != v.
func (e Expr) Ne(v any) Expr { return compare(Ne, e, operand(v)) }

// Lt is e < v.
func (e Expr) Lt(v any) Expr { return compare(Lt, e, operand(v)) }

// Le is e <= v.
func (e Expr) Le(v any) Expr { return compare(Le, e, operand(v)) }

// Gt is e > v.
func (e Expr) Gt(v any) Expr { return compare(Gt, e, operand(v)) }

// Ge is e >= v.
func (e Expr) Ge(v any) Expr { return compare(Ge, e, operand(v)) }

// Between is lo <= e AND e <= hi.
func (e Expr) Between(lo, hi any) Expr { return And(e.Ge(lo), e.Le(hi)) }

// IsIn is true where e equals one of vs (Exprs or constants), null where e
// is null.
func (e Expr) IsIn(vs ...any) Expr {
	terms := make([]Expr, len(vs))
	for i, v := range vs {
		terms[i] = e.Eq(v)
	}
	if len(terms) == 0 {
		return Lit(false)
	}
	return Or(terms...)
}

// In is IsIn.
func (e Expr) In(vs ...any) Expr { return e.IsIn(vs...) }

// IsNull is true where e is null (never null itself).
func (e Expr) IsNull() Expr { return Expr{&NullCheck{x: fix(e), Null: true}} }

// IsNotNull is true where e is not null.
func (e Expr) IsNotNull() Expr { return Expr{&NullCheck{x: fix(e)}} }

// Boolean logic, with SQL's three values: false AND null is false, true OR
// null is true.

// And is e AND every other.
func (e Expr) And(others ...Expr) Expr { return And(append([]Expr{e}, others...)...) }

// Or is e OR any other.
func (e Expr) Or(others ...Expr) Expr { return Or(append([]Expr{e}, others...)...) }

// Not is NOT e (null stays null).
func (e Expr) Not() Expr { return Expr{&not{x: fix(e)}} }

// Cast converts e to type t as arrow's safe cast does: a value that does
// not fit (300 to int8, "x" to a number) is an error naming the row.
func (e Expr) Cast(t arrow.DataType) Expr { return Expr{&cast{x: fix(e), to: t}} }

// And is true where every term is true.
func And(terms ...Expr) Expr { return Expr{&Logical{And: true, Terms: flatten(true, terms)}} }

// noExpr stands for a zero Expr used as an operand.
type noExpr struct{}

func (noExpr) String() string                                  { return "<no expression>" }
func (noExpr) columns(func(string))                            {}
func (noExpr) dataType(*arrow.Schema) (arrow.DataType, error)  { return nil, errNoExpr }
func (noExpr) eval(*evalCtx, arrow.RecordBatch) (datum, error) { return datum{}, errNoExpr }
func (noExpr) mayMatch(StatsFunc) bool                         { return true }
func (noExpr) children() []Expr                                { return nil }
func (n *noExpr) withChildren([]Expr) exprNode                 { return n }

// Or is true where any term is true.
func Or(terms ...Expr) Expr { return Expr{&Logical{Terms: flatten(false, terms)}} }

// flatten lifts the terms of nested ANDs (ORs) into one list, so
// a.And(b).And(c) is one node of three terms that fast paths see whole.
func flatten(and bool, terms []Expr) []Expr {
	var out []Expr
	for _, t := range terms {
		if l, ok := t.n.(*Logical); ok && l.And == and {
			out = append(out, l.Terms...)
			continue
		}
		out = append(out, fix(t))
	}
	return out
}

// AndExpr joins e with more terms by AND; a zero e gives just the terms.
func AndExpr(e Expr, more ...Expr) Expr {
	if e.IsZero() && len(more) == 1 {
		return more[0]
	}
	if e.IsZero() {
		return And(more...)
	}
	return And(append([]Expr{e}, more...)...)
}

// FilterBlock keeps the rows of b where e is true. The result carries one
// reference for the caller.
func FilterBlock(ctx context.Context, mem memory.Allocator, e Expr, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	return FilterProject(ctx, mem, e, b, nil)
}

// FilterProject is FilterBlock keeping only the columns named in keep, in
// b's order (nil: all), so a column only the filter reads is never gathered.
func FilterProject(ctx context.Context, mem memory.Allocator, e Expr, b arrow.RecordBatch, keep []string) (arrow.RecordBatch, error) {
	mask, err := e.Eval(ctx, mem, b)
	if err != nil {
		return nil, err
	}
	defer mask.Release()
	if keep != nil && int(b.NumCols()) > len(keep) {
		b = keepColumns(b, keep)
		defer b.Release()
	}
	if mask.DataType().ID() == arrow.NULL {
		return blocks.Take(mem, b, nil) // WHERE NULL keeps no row
	}
	m, ok := mask.(*array.Boolean)
	if !ok {
		return nil, fmt.Errorf("filter %s: the expression is %s, not boolean", e, mask.DataType())
	}
	return applyMask(mem, m, b)
}

// UnknownColumn is returned by Expr.Eval for a column the block lacks.
type UnknownColumn struct {
	Column    string
	Available []string
}

func (e *UnknownColumn) Error() string {
	return fmt.Sprintf("expression: unknown column %q (have %s)", e.Column, strings.Join(e.Available, ", "))
}

func exprColumn(b arrow.RecordBatch, name string) (arrow.Array, error) {
	idx := b.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil, unknownColumn(b.Schema(), name)
	}
	return b.Column(idx[0]), nil
}

func unknownColumn(s *arrow.Schema, name string) error {
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	return &UnknownColumn{Column: name, Available: names}
}

// TypeError is a plan-time type mismatch: the expression, and for each
// operand its text and type.
type TypeError struct {
	Expr     string
	Operands []string // "name (utf8)"
	Reason   string
}

func (e *TypeError) Error() string {
	return fmt.Sprintf("expression %s: %s: %s", e.Expr, e.Reason, strings.Join(e.Operands, " and "))
}

func typeError(e exprNode, reason string, operands []Expr, types []arrow.DataType) error {
	te := &TypeError{Expr: e.String(), Reason: reason}
	for i, o := range operands {
		what := o.String()
		if c, ok := o.n.(*colRef); ok {
			what = "column " + c.String()
		}
		te.Operands = append(te.Operands, fmt.Sprintf("%s is %s", what, types[i]))
	}
	return te
}

// Walk calls fn for e and each expression under it, parents first.
func Walk(e Expr, fn func(Expr)) {
	if e.n == nil {
		return
	}
	fn(e)
	for _, c := range e.n.children() {
		Walk(c, fn)
	}
}

// Transform rebuilds e bottom-up, replacing each node by fn's result.
func Transform(e Expr, fn func(Expr) Expr) Expr {
	if e.n == nil {
		return e
	}
	kids := e.n.children()
	if len(kids) > 0 {
		next := make([]Expr, len(kids))
		changed := false
		for i, c := range kids {
			next[i] = Transform(c, fn)
			changed = changed || next[i].n != c.n
		}
		if changed {
			e = Expr{e.n.withChildren(next)}
		}
	}
	return fn(e)
}

// ColumnName is the column e reads when e is just a column (or an alias
// of one), and false otherwise.
func ColumnName(e Expr) (string, bool) {
	if c, ok := unalias(e).n.(*colRef); ok {
		return c.name, true
	}
	return "", false
}

// LiteralValue is e's constant when e is a literal, and false otherwise.
func LiteralValue(e Expr) (any, bool) {
	if l, ok := unalias(e).n.(*literalNode); ok {
		return l.v, true
	}
	return nil, false
}
