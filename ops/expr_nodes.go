package ops

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/shoal-data/shoal/blocks"
)

// colRef reads a column.
type colRef struct{ name string }

func (c *colRef) String() string { return quoteIdent(c.name) }

// quoteIdent prints a column name bare when it is a plain identifier and
// in double quotes otherwise, as SQL does.
func quoteIdent(s string) string {
	plain := s != ""
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func (c *colRef) columns(add func(string)) { add(c.name) }
func (c *colRef) dataType(s *arrow.Schema) (arrow.DataType, error) {
	idx := s.FieldIndices(c.name)
	if len(idx) == 0 {
		return nil, unknownColumn(s, c.name)
	}
	return s.Field(idx[0]).Type, nil
}
func (c *colRef) eval(_ *evalCtx, b arrow.RecordBatch) (datum, error) {
	col, err := exprColumn(b, c.name)
	if err != nil {
		return datum{}, err
	}
	col.Retain()
	return arrayDatum(col), nil
}
func (c *colRef) mayMatch(StatsFunc) bool      { return true }
func (c *colRef) children() []Expr             { return nil }
func (c *colRef) withChildren([]Expr) exprNode { return c }

// literalNode is a constant; orig is the Go value as given (so it encodes
// back to the same type), v its normalized form, nil for null.
type literalNode struct {
	orig any
	v    any
	typ  arrow.DataType
	err  error
}

func newLiteral(orig any) *literalNode {
	if orig == nil {
		return &literalNode{typ: arrow.Null}
	}
	v, ok := literal(orig)
	if !ok {
		return &literalNode{orig: orig, err: fmt.Errorf("unsupported constant of type %T (use an integer, float, string, bool or time.Time)", orig)}
	}
	return &literalNode{orig: orig, v: v, typ: literalType(v)}
}

// literalType is the arrow type of a normalized constant.
func literalType(v any) arrow.DataType {
	switch v.(type) {
	case int64:
		return arrow.PrimitiveTypes.Int64
	case uint64:
		return arrow.PrimitiveTypes.Uint64
	case float64:
		return arrow.PrimitiveTypes.Float64
	case string:
		return arrow.BinaryTypes.String
	case bool:
		return arrow.FixedWidthTypes.Boolean
	case time.Time:
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	}
	return arrow.Null
}

func (l *literalNode) String() string { return formatLiteral(l.v) }

func formatLiteral(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return "'" + strings.ReplaceAll(x, "'", "''") + "'"
	case float64:
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eIN") {
			s += ".0" // 100.0, not 100: the type shows
		}
		return s
	case time.Time:
		return "TIMESTAMP '" + x.Format(time.RFC3339Nano) + "'"
	}
	return fmt.Sprint(v)
}

func (l *literalNode) columns(func(string)) {}
func (l *literalNode) dataType(*arrow.Schema) (arrow.DataType, error) {
	if l.err != nil {
		return nil, l.err
	}
	return l.typ, nil
}
func (l *literalNode) eval(*evalCtx, arrow.RecordBatch) (datum, error) {
	if l.err != nil {
		return datum{}, l.err
	}
	return scalarDatum(l.v, l.typ), nil
}
func (l *literalNode) mayMatch(StatsFunc) bool {
	b, isBool := l.v.(bool)
	return !isBool || b
}
func (l *literalNode) children() []Expr             { return nil }
func (l *literalNode) withChildren([]Expr) exprNode { return l }

// alias names its operand's result.
type alias struct {
	x    Expr
	name string
}

func (a *alias) String() string                                       { return a.x.String() + " AS " + quoteIdent(a.name) }
func (a *alias) columns(add func(string))                             { a.x.n.columns(add) }
func (a *alias) dataType(s *arrow.Schema) (arrow.DataType, error)     { return a.x.n.dataType(s) }
func (a *alias) eval(ec *evalCtx, b arrow.RecordBatch) (datum, error) { return a.x.n.eval(ec, b) }
func (a *alias) mayMatch(stats StatsFunc) bool                        { return a.x.n.mayMatch(stats) }
func (a *alias) children() []Expr                                     { return []Expr{a.x} }
func (a *alias) withChildren(c []Expr) exprNode                       { return &alias{x: c[0], name: a.name} }

// cast converts its operand with arrow's safe cast.
type cast struct {
	x  Expr
	to arrow.DataType
}

func (c *cast) String() string {
	to := "<no type>"
	if c.to != nil {
		to = c.to.String()
	}
	return "CAST(" + c.x.String() + " AS " + to + ")"
}
func (c *cast) columns(add func(string)) { c.x.n.columns(add) }
func (c *cast) dataType(s *arrow.Schema) (arrow.DataType, error) {
	if c.to == nil {
		return nil, fmt.Errorf("expression %s: no type to cast to", c)
	}
	from, err := c.x.n.dataType(s)
	if err != nil {
		return nil, err
	}
	if from.ID() != arrow.NULL && !arrow.TypeEqual(from, c.to) && !compute.CanCast(from, c.to) {
		return nil, typeError(c, "cannot cast to "+c.to.String(), []Expr{c.x}, []arrow.DataType{from})
	}
	return c.to, nil
}
func (c *cast) eval(ec *evalCtx, b arrow.RecordBatch) (datum, error) {
	if c.to == nil {
		return datum{}, fmt.Errorf("expression %s: no type to cast to", c)
	}
	d, err := c.x.n.eval(ec, b)
	if err != nil {
		return datum{}, err
	}
	defer d.release()
	if arrow.TypeEqual(d.typ, c.to) {
		if d.arr != nil {
			d.arr.Retain()
		}
		return d, nil
	}
	if d.isScalar() {
		if d.v == nil {
			return scalarDatum(nil, c.to), nil
		}
		s, err := toScalar(d.v, d.typ)
		if err != nil {
			return datum{}, fmt.Errorf("expression %s: %w", c, err)
		}
		out, err := s.CastTo(c.to)
		if err != nil {
			return datum{}, fmt.Errorf("expression %s: %w", c, err)
		}
		return scalarDatum(fromScalar(out), c.to), nil
	}
	out, err := blocks.Cast(ec.ctx, ec.mem, d.arr, c.to)
	if err != nil {
		return datum{}, fmt.Errorf("expression %s: %w", c, err)
	}
	return arrayDatum(out), nil
}
func (c *cast) mayMatch(StatsFunc) bool        { return true }
func (c *cast) children() []Expr               { return []Expr{c.x} }
func (c *cast) withChildren(k []Expr) exprNode { return &cast{x: k[0], to: c.to} }

// negate is -x.
type negate struct{ x Expr }

func (n *negate) String() string           { return "-" + paren(n.x) }
func (n *negate) columns(add func(string)) { n.x.n.columns(add) }
func (n *negate) dataType(s *arrow.Schema) (arrow.DataType, error) {
	t, err := n.x.n.dataType(s)
	if err != nil {
		return nil, err
	}
	switch numClass(t) {
	case 1:
		return arrow.PrimitiveTypes.Int64, nil
	case 2:
		return arrow.PrimitiveTypes.Float64, nil
	}
	if t.ID() == arrow.NULL {
		return t, nil
	}
	return nil, typeError(n, "cannot negate", []Expr{n.x}, []arrow.DataType{t})
}
func (n *negate) eval(ec *evalCtx, b arrow.RecordBatch) (datum, error) {
	sub := &arithNode{op: opSub, l: Lit(int64(0)), r: n.x, label: n.String()}
	return sub.eval(ec, b)
}
func (n *negate) mayMatch(StatsFunc) bool        { return true }
func (n *negate) children() []Expr               { return []Expr{n.x} }
func (n *negate) withChildren(c []Expr) exprNode { return &negate{x: c[0]} }

// paren is e's text, in parentheses when it is an operator expression.
func paren(e Expr) string {
	switch e.n.(type) {
	case *arithNode, *comparison, *Cmp, *Logical, *NullCheck:
		return "(" + e.String() + ")"
	}
	return e.String()
}

// checkBool is a boolean operand's type check.
func checkBool(n exprNode, s *arrow.Schema, terms ...Expr) error {
	for _, t := range terms {
		typ, err := t.n.dataType(s)
		if err != nil {
			return err
		}
		if typ.ID() != arrow.BOOL && typ.ID() != arrow.NULL {
			return typeError(n, "needs a boolean", []Expr{t}, []arrow.DataType{typ})
		}
	}
	return nil
}

// not is NOT x.
type not struct{ x Expr }

func (n *not) String() string           { return "NOT " + paren(n.x) }
func (n *not) columns(add func(string)) { n.x.n.columns(add) }
func (n *not) dataType(s *arrow.Schema) (arrow.DataType, error) {
	return arrow.FixedWidthTypes.Boolean, checkBool(n, s, n.x)
}
func (n *not) eval(ec *evalCtx, b arrow.RecordBatch) (datum, error) {
	d, err := n.x.n.eval(ec, b)
	if err != nil {
		return datum{}, err
	}
	defer d.release()
	if d.isScalar() {
		if v, ok := d.v.(bool); ok {
			return scalarDatum(!v, arrow.FixedWidthTypes.Boolean), nil
		}
		return scalarDatum(nil, arrow.FixedWidthTypes.Boolean), nil
	}
	// Flip the value bits; the validity stays as it is.
	rows := d.arr.Len()
	data := d.arr.Data()
	vals := memory.NewResizableBuffer(ec.mem)
	vals.Resize(int(bitutil.BytesForBits(int64(rows))))
	bitutil.CopyBitmap(data.Buffers()[1].Bytes(), data.Offset(), rows, vals.Bytes(), 0)
	for i, b := range vals.Bytes() {
		vals.Bytes()[i] = ^b
	}
	return arrayDatum(makeFixed(arrow.FixedWidthTypes.Boolean, rows, vals, andValidity(ec.mem, rows, validityOf(d.arr)))), nil
}

// mayMatch of NOT: only NOT of a constant is known here.
func (n *not) mayMatch(StatsFunc) bool        { return true }
func (n *not) children() []Expr               { return []Expr{n.x} }
func (n *not) withChildren(c []Expr) exprNode { return &not{x: c[0]} }

// NullCheck is IS NULL or IS NOT NULL.
type NullCheck struct {
	x    Expr
	Null bool
}

func (n *NullCheck) String() string {
	if n.Null {
		return paren(n.x) + " IS NULL"
	}
	return paren(n.x) + " IS NOT NULL"
}

func (n *NullCheck) columns(add func(string)) { n.x.n.columns(add) }
func (n *NullCheck) dataType(s *arrow.Schema) (arrow.DataType, error) {
	if _, err := n.x.n.dataType(s); err != nil {
		return nil, err
	}
	return arrow.FixedWidthTypes.Boolean, nil
}

func (n *NullCheck) eval(ec *evalCtx, b arrow.RecordBatch) (datum, error) {
	d, err := n.x.n.eval(ec, b)
	if err != nil {
		return datum{}, err
	}
	defer d.release()
	if d.isScalar() {
		return scalarDatum(d.isNull() == n.Null, arrow.FixedWidthTypes.Boolean), nil
	}
	col := d.arr
	rows := col.Len()
	vals := memory.NewResizableBuffer(ec.mem)
	vals.Resize(int(bitutil.BytesForBits(int64(rows))))
	bits := vals.Bytes()
	switch vd := validityOf(col); {
	case vd.bits != nil:
		bitutil.CopyBitmap(vd.bits, int(vd.offset), rows, bits, 0)
		if n.Null {
			for i := range bits {
				bits[i] = ^bits[i]
			}
		}
	case col.DataType().ID() == arrow.NULL:
		bitutil.SetBitsTo(bits, 0, int64(rows), n.Null)
	default:
		bitutil.SetBitsTo(bits, 0, int64(rows), !n.Null)
	}
	return arrayDatum(makeFixed(arrow.FixedWidthTypes.Boolean, rows, vals, nil)), nil
}

func (n *NullCheck) mayMatch(stats StatsFunc) bool {
	c, ok := n.x.n.(*colRef)
	if !ok {
		return true
	}
	min, _, nulls, ok := stats(c.name)
	if !ok || nulls < 0 {
		return true
	}
	if n.Null {
		return nulls > 0
	}
	// IS NOT NULL fails only where every value is null, which stats show
	// as no min/max and some nulls.
	return min != nil || nulls == 0
}
func (n *NullCheck) children() []Expr               { return []Expr{n.x} }
func (n *NullCheck) withChildren(c []Expr) exprNode { return &NullCheck{x: c[0], Null: n.Null} }

// Logical combines boolean terms with AND or OR.
type Logical struct {
	And   bool
	Terms []Expr
}

func (l *Logical) String() string {
	op := " OR "
	if l.And {
		op = " AND "
	}
	parts := make([]string, len(l.Terms))
	for i, t := range l.Terms {
		parts[i] = t.String()
		if inner, ok := t.n.(*Logical); ok && inner.And != l.And {
			parts[i] = "(" + parts[i] + ")"
		}
	}
	return strings.Join(parts, op)
}

func (l *Logical) columns(add func(string)) {
	for _, t := range l.Terms {
		t.n.columns(add)
	}
}

func (l *Logical) dataType(s *arrow.Schema) (arrow.DataType, error) {
	return arrow.FixedWidthTypes.Boolean, checkBool(l, s, l.Terms...)
}

func (l *Logical) eval(ec *evalCtx, b arrow.RecordBatch) (datum, error) {
	if len(l.Terms) == 0 {
		return scalarDatum(l.And, arrow.FixedWidthTypes.Boolean), nil
	}
	if l.And {
		if out, ok := fastAnd(ec.mem, l.Terms, b); ok {
			return arrayDatum(out), nil
		}
	}
	acc, err := l.Terms[0].n.eval(ec, b)
	if err != nil {
		return datum{}, err
	}
	fn := "or_kleene"
	if l.And {
		fn = "and_kleene"
	}
	ctx := compute.WithAllocator(ec.ctx, ec.mem)
	for _, t := range l.Terms[1:] {
		next, err := t.n.eval(ec, b)
		if err != nil {
			acc.release()
			return datum{}, err
		}
		if acc.isScalar() && next.isScalar() {
			acc = scalarDatum(kleene(l.And, acc.v, next.v), arrow.FixedWidthTypes.Boolean)
			continue
		}
		a, _ := acc.computeDatum()
		c, _ := next.computeDatum()
		out, err := compute.CallFunction(ctx, fn, nil, a, c)
		a.Release()
		c.Release()
		acc.release()
		next.release()
		if err != nil {
			return datum{}, fmt.Errorf("expression %s: %w", l, err)
		}
		if acc, err = fromCompute(out); err != nil {
			return datum{}, err
		}
	}
	return acc, nil
}

// kleene is a AND b (or OR) on constants, nil for null.
func kleene(and bool, a, b any) any {
	av, aok := a.(bool)
	bv, bok := b.(bool)
	switch {
	case and && (aok && !av || bok && !bv):
		return false
	case !and && (aok && av || bok && bv):
		return true
	case aok && bok:
		return and
	}
	return nil
}

func (l *Logical) mayMatch(stats StatsFunc) bool {
	for _, t := range l.Terms {
		m := t.n.mayMatch(stats)
		if l.And && !m {
			return false
		}
		if !l.And && m {
			return true
		}
	}
	return l.And || len(l.Terms) == 0
}
func (l *Logical) children() []Expr { return l.Terms }
func (l *Logical) withChildren(c []Expr) exprNode {
	return &Logical{And: l.And, Terms: append([]Expr(nil), c...)}
}
