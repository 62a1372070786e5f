package ops

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// FoldConstants computes once, at planning, every part of an expression
// stage that reads no column (1 + 2, Lit(1).Sub(0.05), Year of a constant
// date), simplifies AND and OR with constant terms, and drops filters that
// fold to true (a stage left with nothing to do goes). A part whose
// evaluation fails stays as written, so the error comes at run time with
// its row.
func FoldConstants(n Node) Node {
	o, ok := n.(*OneToOne)
	if !ok || o.Program == nil {
		return n
	}
	var p Program
	changed := false
	for _, st := range o.Program {
		folded := st
		switch st.Kind {
		case StepFilter, StepWith:
			folded.Expr = FoldExpr(st.Expr)
			changed = changed || folded.Expr.n != st.Expr.n
		case StepSelect:
			folded.Exprs = make([]Expr, len(st.Exprs))
			for i, e := range st.Exprs {
				folded.Exprs[i] = FoldExpr(e)
				changed = changed || folded.Exprs[i].n != e.n
			}
		}
		if st.Kind == StepFilter {
			if v, ok := LiteralValue(folded.Expr); ok && v == true {
				changed = true
				continue
			}
		}
		p = append(p, folded)
	}
	if !changed {
		return n
	}
	if len(p) == 0 {
		return o.Input
	}
	return o.withProgram(p)
}

// FoldExpr is e with its constant parts computed.
func FoldExpr(e Expr) Expr {
	return Transform(e, func(x Expr) Expr {
		if l, ok := x.n.(*Logical); ok {
			return simplifyLogical(l, x)
		}
		switch x.n.(type) {
		case *literalNode, *colRef, *alias:
			return x
		}
		if len(x.Columns()) > 0 {
			return x
		}
		if v, t, ok := constantValue(x); ok && (v == nil && t.ID() == arrow.NULL || v != nil && arrow.TypeEqual(t, literalType(v))) {
			return Lit(v)
		}
		return x
	})
}

// simplifyLogical drops the true terms of an AND (false of an OR) and
// gives the constant when a term decides it.
func simplifyLogical(l *Logical, x Expr) Expr {
	var terms []Expr
	for _, t := range l.Terms {
		v, isConst := LiteralValue(t)
		b, isBool := v.(bool)
		switch {
		case isConst && isBool && b == l.And:
			continue // true AND x is x; false OR x is x
		case isConst && isBool:
			return Lit(!l.And) // false AND x is false; true OR x is true
		}
		terms = append(terms, t)
	}
	switch {
	case len(terms) == len(l.Terms):
		return x
	case len(terms) == 0:
		return Lit(l.And)
	case len(terms) == 1:
		return terms[0]
	}
	return Expr{&Logical{And: l.And, Terms: terms}}
}

// constantValue evaluates an expression that reads no column.
func constantValue(e Expr) (any, arrow.DataType, bool) {
	b := array.NewRecordBatch(arrow.NewSchema(nil, nil), nil, 1)
	defer b.Release()
	d, err := e.n.eval(&evalCtx{ctx: context.Background(), mem: memory.DefaultAllocator}, b)
	if err != nil {
		return nil, nil, false
	}
	defer d.release()
	if d.isScalar() {
		return d.v, d.typ, true
	}
	if d.arr.Len() != 1 {
		return nil, nil, false
	}
	s, err := scalar.GetScalar(d.arr, 0)
	if err != nil {
		return nil, nil, false
	}
	v := fromScalar(s)
	if v == nil && s.IsValid() {
		return nil, nil, false // a type fromScalar does not know
	}
	return v, d.typ, true
}

// MergeExprStages merges an expression stage into the expression stage
// below it: one program, one pass over each block (see Program).
func MergeExprStages(n Node) Node {
	up, ok := n.(*OneToOne)
	if !ok || up.Program == nil || !plainStage(up) || up.BatchRows != 0 {
		return n
	}
	low, ok := up.Input.(*OneToOne)
	if !ok || low.Program == nil || !plainStage(low) || TaskCPUs(low.CPUs) != TaskCPUs(up.CPUs) {
		return n
	}
	merged := append(append(Program{}, low.Program...), up.Program...)
	return low.withProgram(merged)
}

// MergeSelection makes a column selection (SelectColumns, and the one an
// aggregation puts before itself) over an expression stage the program's
// last step, so the program knows which columns it must keep: a filter
// then gathers only those.
func MergeSelection(n Node) Node {
	up, ok := n.(*OneToOne)
	if !ok || up.Project == nil || up.Program != nil || !plainStage(up) || up.BatchRows != 0 {
		return n
	}
	low, ok := up.Input.(*OneToOne)
	if !ok || low.Program == nil || !plainStage(low) || TaskCPUs(low.CPUs) != TaskCPUs(up.CPUs) {
		return n
	}
	sel := Step{Kind: StepSelect}
	for _, c := range up.Project {
		sel.Exprs = append(sel.Exprs, Col(c))
	}
	return low.withProgram(append(append(Program{}, low.Program...), sel))
}

// plainStage is a stage that runs as a task with no cap of its own.
func plainStage(o *OneToOne) bool { return o.Actors == nil && o.MaxConcurrency == 0 }
