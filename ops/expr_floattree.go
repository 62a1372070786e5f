package ops

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
)

// floatChunk is how many rows a float tree computes at a time: its
// intermediate results stay in the CPU's cache, as DuckDB's vectors do.
const floatChunk = 1024

// floatTree is a tree of float64 arithmetic (fare * 1.08 + tip -
// distance * 0.5) computed a chunk of rows at a time into one output
// column, instead of one column per operator. Leaves are columns (or
// any other expression, computed first) and constants.
type floatTree struct {
	op      arithOp
	l, r    *floatTree
	vals    []float64 // a leaf's values
	c       float64   // a constant leaf's value
	isConst bool
	scratch []float64 // an inner node's chunk
}

// isFloatArith reports whether e is arithmetic whose result is float64
// over blocks of schema s.
func isFloatArith(e Expr, s *arrow.Schema) bool {
	a, ok := e.n.(*arithNode)
	if !ok || a.label != "" {
		return false
	}
	t, err := a.dataType(s)
	return err == nil && t.ID() == arrow.FLOAT64
}

// fusesFloats reports whether a is worth computing as a float tree: float
// arithmetic with float arithmetic under it.
func (a *arithNode) fusesFloats(s *arrow.Schema) bool {
	return isFloatArith(Expr{a}, s) && (isFloatArith(a.l, s) || isFloatArith(a.r, s))
}

// buildFloatTree evaluates e's leaves over b; the caller releases what
// it returns in held.
func buildFloatTree(ec *evalCtx, e Expr, b arrow.RecordBatch, held *[]datum, valid *[]validity) (*floatTree, error) {
	n := int(b.NumRows())
	if isFloatArith(e, b.Schema()) {
		a := e.n.(*arithNode)
		l, err := buildFloatTree(ec, a.l, b, held, valid)
		if err != nil {
			return nil, err
		}
		r, err := buildFloatTree(ec, a.r, b, held, valid)
		if err != nil {
			return nil, err
		}
		if l.isConst && r.isConst {
			return &floatTree{c: floatOp(a.op, l.c, r.c), isConst: true}, nil
		}
		return &floatTree{op: a.op, l: l, r: r, scratch: make([]float64, floatChunk)}, nil
	}
	d, err := e.n.eval(ec, b)
	if err != nil {
		return nil, err
	}
	*held = append(*held, d)
	if p, owned, err := plain(ec, d); err != nil {
		return nil, fmt.Errorf("expression %s: %w", e, err)
	} else if owned {
		*held = append(*held, p)
		d = p
	}
	if d.isScalar() {
		if d.v == nil {
			return nil, errNullLeaf
		}
		c, ok := asFloat(d.v)
		if !ok {
			return nil, fmt.Errorf("expression %s: %s is not a number", e, d.typ)
		}
		return &floatTree{c: c, isConst: true}, nil
	}
	vals, vd, err := float64Operand(ec, d, n)
	if err != nil {
		return nil, fmt.Errorf("expression %s: %w", e, err)
	}
	*valid = append(*valid, vd)
	return &floatTree{vals: vals[:n], isConst: false}, nil
}

// errNullLeaf says a float tree has a null constant: its result is null.
var errNullLeaf = fmt.Errorf("null constant")

// into computes rows lo..hi of the tree into dst (an inner node) or
// returns the leaf's own values.
func (f *floatTree) into(lo, hi int, dst []float64) []float64 {
	if f.vals != nil {
		return f.vals[lo:hi]
	}
	dst = dst[:hi-lo]
	switch {
	case f.l.isConst:
		floatConstKernel(f.op, dst, f.r.into(lo, hi, f.r.scratch), f.l.c, true)
	case f.r.isConst:
		floatConstKernel(f.op, dst, f.l.into(lo, hi, f.l.scratch), f.r.c, false)
	default:
		floatKernel(f.op, dst, f.l.into(lo, hi, f.l.scratch), f.r.into(lo, hi, f.r.scratch))
	}
	return dst
}

// evalFloatTree computes a (see fusesFloats) over b into one float64
// column, null where any leaf is.
func (a *arithNode) evalFloatTree(ec *evalCtx, b arrow.RecordBatch) (datum, error) {
	var held []datum
	defer func() {
		for _, d := range held {
			d.release()
		}
	}()
	var valids []validity
	t, err := buildFloatTree(ec, Expr{a}, b, &held, &valids)
	if err == errNullLeaf {
		return scalarDatum(nil, arrow.PrimitiveTypes.Float64), nil
	}
	if err != nil {
		return datum{}, err
	}
	if t.isConst {
		return scalarDatum(t.c, arrow.PrimitiveTypes.Float64), nil
	}
	n := int(b.NumRows())
	buf, out := newFixed[float64](ec.mem, n)
	for lo := 0; lo < n; lo += floatChunk {
		hi := min(lo+floatChunk, n)
		if res := t.into(lo, hi, out[lo:hi]); &res[0] != &out[lo] {
			copy(out[lo:hi], res) // the tree is a single leaf
		}
	}
	return arrayDatum(makeFixed(arrow.PrimitiveTypes.Float64, n, buf, andValidity(ec.mem, n, valids...))), nil
}
