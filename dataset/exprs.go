package dataset

import (
	"errors"
	"fmt"
	"strings"

	"github.com/shoal-data/shoal/ops"
)

// Expr is an expression Shoal can see into: columns, constants,
// arithmetic, comparisons, boolean logic, casts and functions, evaluated a
// column at a time. Build one with Col and Lit and use it in Where,
// WithColumn, Select and the aggregations. The semantics are SQL's: null
// in, null out; a comparison with null is null, which Where counts as
// false; integer division by zero is null; integer overflow is an error
// naming the expression and row; an integer with a float computes in
// float64. A type mismatch (a string plus a number) is an error when the
// plan is built, naming the expression, the column and both types.
type Expr = ops.Expr

// Col is the column called name: Col("fare").Gt(10).
func Col(name string) Expr { return ops.Col(name) }

// Lit is a constant: a Go integer, float, string, bool, time.Time, or nil
// for null: Lit(1).Sub(Col("discount")).
func Lit(v any) Expr { return ops.Lit(v) }

// And is true where every predicate is.
func And(terms ...Expr) Expr { return ops.And(terms...) }

// Or is true where any predicate is.
func Or(terms ...Expr) Expr { return ops.Or(terms...) }

// Not is true where e is false (null where e is null).
func Not(e Expr) Expr { return e.Not() }

// Where keeps the rows for which the predicate is true (null counts as
// false). Unlike Filter, which runs a Go function on each row, Where runs
// vectorized and the optimizer hands it to file sources: Parquet row
// groups whose statistics rule it out and hive partitions that do not
// match are never read.
func (d *Dataset) Where(e Expr) *Dataset {
	if d.err != nil {
		return d
	}
	if e.IsZero() {
		return d.withErr(errors.New("dataset.Where: no predicate (the zero Expr)"))
	}
	return d.exprStage("Where("+e.String()+")", ops.Step{Kind: ops.StepFilter, Expr: e})
}

// WithColumn sets column name to e for every row: it replaces a column of
// that name in place, or adds one at the end.
//
//	trips.WithColumn("minutes", dataset.DiffSeconds(dataset.Col("dropoff"), dataset.Col("pickup")).Div(60))
func (d *Dataset) WithColumn(name string, e Expr) *Dataset {
	if d.err != nil {
		return d
	}
	if name == "" {
		return d.withErr(errors.New("dataset.WithColumn: empty column name"))
	}
	if e.IsZero() {
		return d.withErr(fmt.Errorf("dataset.WithColumn(%q): no expression (the zero Expr)", name))
	}
	return d.exprStage(fmt.Sprintf("WithColumn(%s, %s)", name, e), ops.Step{Kind: ops.StepWith, Name: name, Expr: e})
}

// Select keeps exactly the given expressions, in order, each a column
// named by its alias (Col("fare").Mul(1.1).Alias("fare_eur")), or by the
// column's own name for a plain column, or else by the expression's text.
func (d *Dataset) Select(exprs ...Expr) *Dataset {
	if d.err != nil {
		return d
	}
	parts := make([]string, len(exprs))
	for i, e := range exprs {
		if e.IsZero() {
			return d.withErr(fmt.Errorf("dataset.Select: expression %d is the zero Expr", i))
		}
		parts[i] = e.String()
	}
	return d.exprStage("Select("+strings.Join(parts, ", ")+")", ops.Step{Kind: ops.StepSelect, Exprs: append([]Expr(nil), exprs...)})
}

// exprStage appends an expression stage, type-checked against the schema
// now when the schema is known.
func (d *Dataset) exprStage(label string, st ops.Step) *Dataset {
	p := ops.Program{st}
	if s := d.plan.Schema(); s != nil {
		if _, err := p.Schema(s); err != nil {
			return d.withErr(fmt.Errorf("dataset.%s: %w", label, err))
		}
	}
	return d.oneToOne(ops.NewExprStage(p))
}
