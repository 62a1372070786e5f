package dataset

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
	"github.com/shoal-data/shoal/pipeline"
)

// Number is the result of Sum, Min or Max: an exact int64 for integer
// columns, a float64 otherwise, or null when there was no value to aggregate.
type Number struct {
	isInt bool
	valid bool
	i     int64
	f     float64
}

// IsNull reports that there was no non-null value (Min or Max of nothing).
func (n Number) IsNull() bool { return !n.valid }

// IsInt reports whether the column was of an integer type.
func (n Number) IsInt() bool { return n.isInt }

// Int64 is the value as an int64 (truncated if the column was floating point).
func (n Number) Int64() int64 {
	if n.isInt {
		return n.i
	}
	return int64(n.f)
}

// Float64 is the value as a float64.
func (n Number) Float64() float64 {
	if n.isInt {
		return float64(n.i)
	}
	return n.f
}

func (n Number) String() string {
	switch {
	case !n.valid:
		return "null"
	case n.isInt:
		return strconv.FormatInt(n.i, 10)
	}
	return strconv.FormatFloat(n.f, 'g', -1, 64)
}

// moments is the mergeable state of one column's aggregation. Integer and
// floating-point values are kept apart, so blocks that a per-row Map typed
// differently still merge exactly: integers in a 128-bit sum (exact, with
// overflow found at the end), floats in a float64 sum. The variance uses M2,
// computed by two passes within a block and merged with Chan et al.'s formula.
type moments struct {
	ints, floats int64 // values seen of each kind
	lo           uint64
	hi           int64 // the integer sum as 128 bits: hi*2^64 + lo
	fsum         float64
	imin, imax   int64
	fmin, fmax   float64
	m2           float64
}

// need says which statistics a method reads, so kernels skip the rest.
type need uint8

const (
	needSum need = 1 << iota
	needMinMax
	needVar
)

// newMoments is the state of no values: each extreme at its identity (NaN
// for the float minimum: blocks.MinFloat orders NaN above +Inf).
func newMoments() moments {
	return moments{imin: math.MaxInt64, imax: math.MinInt64, fmin: math.NaN(), fmax: math.Inf(-1)}
}

func (m *moments) count() int64 { return m.ints + m.floats }

// isInt reports that every value was an integer (and there was at least one).
func (m *moments) isInt() bool { return m.ints > 0 && m.floats == 0 }

// intSum is the exact integer sum and whether it fits an int64.
func (m *moments) intSum() (int64, bool) {
	return int64(m.lo), m.hi == int64(m.lo)>>63
}

// sum is the sum of all values as a float64.
func (m *moments) sum() float64 {
	if s, ok := m.intSum(); ok {
		return m.fsum + float64(s)
	}
	return m.fsum + float64(m.hi)*(1<<64) + float64(m.lo)
}

func (m *moments) mean() float64 { return m.sum() / float64(m.count()) }

// min is the smallest value, integers and floats together, with NaN above
// every number (blocks.MinFloat): NaN only when every value was NaN.
func (m *moments) min() float64 { return m.extreme(m.imin, m.fmin, blocks.MinFloat) }

// max is the largest value: NaN as soon as one value was NaN.
func (m *moments) max() float64 { return m.extreme(m.imax, m.fmax, blocks.MaxFloat) }

// extreme combines the integer and float extremes i and f with pick,
// taking only the kinds of value that were seen.
func (m *moments) extreme(i int64, f float64, pick func(a, b float64) float64) float64 {
	switch {
	case m.floats == 0:
		return float64(i)
	case m.ints == 0:
		return f
	}
	return pick(float64(i), f)
}

// momentsOf aggregates one numeric column. The type switch happens once per
// block; the loops run over typed Go slices with their state in locals.
func momentsOf(col arrow.Array, n need) (moments, error) {
	m := newMoments()
	switch a := col.(type) {
	case *array.Int8:
		intMoments(&m, a.Int8Values(), a, n)
	case *array.Int16:
		intMoments(&m, a.Int16Values(), a, n)
	case *array.Int32:
		intMoments(&m, a.Int32Values(), a, n)
	case *array.Int64:
		intMoments(&m, a.Int64Values(), a, n)
	case *array.Uint8:
		intMoments(&m, a.Uint8Values(), a, n)
	case *array.Uint16:
		intMoments(&m, a.Uint16Values(), a, n)
	case *array.Uint32:
		intMoments(&m, a.Uint32Values(), a, n)
	case *array.Uint64:
		vals := a.Uint64Values()
		if slices.ContainsFunc(vals, func(v uint64) bool { return v > math.MaxInt64 }) {
			// Beyond int64: aggregate as floats rather than wrap.
			fs := make([]float64, len(vals))
			for i, v := range vals {
				fs[i] = float64(v)
			}
			floatMoments(&m, fs, a, n)
		} else {
			intMoments(&m, vals, a, n)
		}
	case *array.Float32:
		floatMoments(&m, a.Float32Values(), a, n)
	case *array.Float64:
		floatMoments(&m, a.Float64Values(), a, n)
	case *array.Null:
	default:
		return m, fmt.Errorf("column of type %s is not numeric", col.DataType())
	}
	return m, nil
}

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// validValues returns vals without its null slots: the kernels then run
// tight loops with no per-value validity test.
func validValues[T any](vals []T, arr arrow.Array) []T {
	if arr.NullN() == 0 {
		return vals
	}
	out := make([]T, 0, len(vals)-arr.NullN())
	for i, v := range vals {
		if arr.IsValid(i) {
			out = append(out, v)
		}
	}
	return out
}

// intMoments: callers pass uint64 values only when they all fit an int64.
func intMoments[T integer](m *moments, vals []T, arr arrow.Array, n need) {
	vals = validValues(vals, arr)
	if len(vals) == 0 {
		return
	}
	m.ints = int64(len(vals))
	m.lo, m.hi = sum128(vals)
	if n&needMinMax != 0 {
		imin, imax := m.imin, m.imax
		for _, v := range vals {
			imin, imax = min(imin, int64(v)), max(imax, int64(v))
		}
		m.imin, m.imax = imin, imax
	}
	if n&needVar != 0 {
		mean, m2 := m.mean(), 0.0
		for _, v := range vals {
			d := float64(v) - mean
			m2 += d * d
		}
		m.m2 = m2
	}
}

// sum128 adds integers exactly. The fast loop sums in int64 and ORs the
// magnitudes: if every |x| < 2^(63-bits(len)), no partial sum can overflow
// and the int64 sum is exact. Otherwise it adds again in 128 bits.
func sum128[T integer](vals []T) (lo uint64, hi int64) {
	var s int64
	var mag uint64
	for _, v := range vals {
		x := int64(v)
		s += x
		mag |= uint64(x ^ x>>63)
	}
	if bits.Len64(mag)+bits.Len(uint(len(vals))) < 63 {
		return uint64(s), s >> 63
	}
	for _, v := range vals {
		x := int64(v)
		var c uint64
		lo, c = bits.Add64(lo, uint64(x), 0)
		hi += int64(c) + x>>63
	}
	return lo, hi
}

func floatMoments[T float32 | float64](m *moments, vals []T, arr arrow.Array, n need) {
	vals = validValues(vals, arr)
	if len(vals) == 0 {
		return
	}
	m.floats = int64(len(vals))
	var sum float64
	for _, v := range vals {
		sum += float64(v)
	}
	m.fsum = sum
	if n&needMinMax != 0 {
		fmin, fmax := m.fmin, m.fmax
		for _, v := range vals {
			fmin, fmax = blocks.MinFloat(fmin, float64(v)), blocks.MaxFloat(fmax, float64(v))
		}
		m.fmin, m.fmax = fmin, fmax
	}
	if n&needVar != 0 {
		mean, m2 := sum/float64(len(vals)), 0.0
		for _, v := range vals {
			d := float64(v) - mean
			m2 += d * d
		}
		m.m2 = m2
	}
}

// merge folds o into m.
func (m *moments) merge(o moments) {
	if o.count() == 0 {
		return
	}
	if m.count() == 0 {
		*m = o
		return
	}
	na, nb := float64(m.count()), float64(o.count())
	delta := o.mean() - m.mean()
	m.m2 += o.m2 + delta*delta*na*nb/(na+nb)
	var c uint64
	m.lo, c = bits.Add64(m.lo, o.lo, 0)
	m.hi += o.hi + int64(c)
	m.ints += o.ints
	m.floats += o.floats
	m.fsum += o.fsum
	m.imin, m.imax = min(m.imin, o.imin), max(m.imax, o.imax)
	m.fmin, m.fmax = blocks.MinFloat(m.fmin, o.fmin), blocks.MaxFloat(m.fmax, o.fmax)
}

var momentsSchema = func() *arrow.Schema {
	names := []string{"ints", "floats", "lo", "hi", "imin", "imax", "fsum", "fmin", "fmax", "m2"}
	fields := make([]arrow.Field, len(names))
	for i, n := range names {
		fields[i] = arrow.Field{Name: n, Type: arrow.PrimitiveTypes.Int64}
		if i >= 6 {
			fields[i].Type = arrow.PrimitiveTypes.Float64
		}
	}
	return arrow.NewSchema(fields, nil)
}()

// block encodes the state as a one-row block. Columns wrap one-element Go
// slices: no builders, which cost more than the aggregation of a small block.
func (m moments) block() blocks.Block {
	cols := []arrow.Array{
		blocks.NumericArray([]int64{m.ints}), blocks.NumericArray([]int64{m.floats}),
		blocks.NumericArray([]int64{int64(m.lo)}), blocks.NumericArray([]int64{m.hi}),
		blocks.NumericArray([]int64{m.imin}), blocks.NumericArray([]int64{m.imax}),
		blocks.NumericArray([]float64{m.fsum}), blocks.NumericArray([]float64{m.fmin}),
		blocks.NumericArray([]float64{m.fmax}), blocks.NumericArray([]float64{m.m2}),
	}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	return array.NewRecordBatch(momentsSchema, cols, 1)
}

func momentsFromBlock(b blocks.Block) moments {
	n := func(i int) int64 { return b.Column(i).(*array.Int64).Value(0) }
	f := func(i int) float64 { return b.Column(i).(*array.Float64).Value(0) }
	return moments{
		ints: n(0), floats: n(1), lo: uint64(n(2)), hi: n(3), imin: n(4), imax: n(5),
		fsum: f(6), fmin: f(7), fmax: f(8), m2: f(9),
	}
}

// planSchema is the plan's static schema, nil when unknown or when the
// dataset holds an error instead of a plan.
func (d *Dataset) planSchema() *arrow.Schema {
	if d.plan == nil {
		return nil
	}
	return d.plan.Schema()
}

// intColumn reports whether the plan types col as an integer, for results
// over no values at all.
func intColumn(schema *arrow.Schema, col string) bool {
	if schema == nil {
		return false
	}
	idx := schema.FieldIndices(col)
	if len(idx) == 0 {
		return false
	}
	switch schema.Field(idx[0]).Type.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return true
	}
	return false
}

// aggregate computes the moments of column col: each block is reduced to a
// one-row state inside its task (fused with the transforms before it), and
// the states are merged here.
func (d *Dataset) aggregate(ctx context.Context, method, col string, n need) (moments, error) {
	total := newMoments()
	if d.err != nil {
		return total, d.err
	}
	if s := d.plan.Schema(); s != nil && len(s.FieldIndices(col)) == 0 {
		return total, fmt.Errorf("dataset.%s: %w", method, &blocks.UnknownColumnError{Column: col, Schema: s})
	}
	input := d.plan
	if s := d.plan.Schema(); s != nil && s.NumFields() > 1 {
		input = d.SelectColumns(col).plan // pushed into the source: decode only col
	}
	partial := &ops.OneToOne{
		Input: input,
		Label: fmt.Sprintf("Partial%s(%s)", method, col),
		Fn:    momentsFn(col, n),
		Spec:  ops.MustSpec(momentsKind, momentsArgs{Column: col, Need: n}),
	}
	rt := d.cfg.rt
	err := d.forEachBundle(ctx, partial, func(b pipeline.Bundle) error {
		for _, ref := range b.Refs {
			blk, err := rt.Get(ctx, ref)
			if err != nil {
				return err
			}
			total.merge(momentsFromBlock(blk))
			blk.Release()
		}
		return nil
	})
	if err != nil {
		return total, fmt.Errorf("dataset.%s(%q): %w", method, col, err)
	}
	return total, nil
}

// Sum adds up a numeric column, skipping nulls. Integer columns sum exactly
// as int64 (an overflow is an error); the sum of no values is 0.
func (d *Dataset) Sum(ctx context.Context, col string) (Number, error) {
	m, err := d.aggregate(ctx, "Sum", col, needSum)
	switch {
	case err != nil:
		return Number{}, err
	case m.isInt() || m.count() == 0 && intColumn(d.planSchema(), col):
		s, ok := m.intSum()
		if !ok {
			return Number{}, fmt.Errorf("dataset.Sum(%q): int64 overflow", col)
		}
		return Number{isInt: true, valid: true, i: s}, nil
	}
	return Number{valid: true, f: m.sum()}, nil
}

// Min returns the smallest value of a numeric column, skipping nulls; null
// when there is none. NaN orders above every other float, as in Sort (and
// DuckDB, Spark, PostgreSQL): Min is NaN only when every value is NaN.
func (d *Dataset) Min(ctx context.Context, col string) (Number, error) {
	m, err := d.aggregate(ctx, "Min", col, needMinMax)
	return extreme(m, err, intColumn(d.planSchema(), col), m.imin, m.min())
}

// Max returns the largest value of a numeric column, skipping nulls; null
// when there is none. Max is NaN as soon as one value is NaN, since NaN
// orders above every other float (as in DuckDB; Polars' max skips NaN, its
// nan_max does this).
func (d *Dataset) Max(ctx context.Context, col string) (Number, error) {
	m, err := d.aggregate(ctx, "Max", col, needMinMax)
	return extreme(m, err, intColumn(d.planSchema(), col), m.imax, m.max())
}

func extreme(m moments, err error, intCol bool, i int64, f float64) (Number, error) {
	switch {
	case err != nil:
		return Number{}, err
	case m.count() == 0:
		return Number{isInt: intCol}, nil
	case m.isInt():
		return Number{isInt: true, valid: true, i: i}, nil
	}
	return Number{valid: true, f: f}, nil
}

// Mean returns the mean of a numeric column, skipping nulls; NaN when there
// is no value.
func (d *Dataset) Mean(ctx context.Context, col string) (float64, error) {
	m, err := d.aggregate(ctx, "Mean", col, needSum)
	if err != nil || m.count() == 0 {
		return math.NaN(), err
	}
	return m.mean(), nil
}

// Std returns the sample standard deviation (ddof=1, as Ray Data and pandas)
// of a numeric column, skipping nulls; NaN with fewer than two values.
func (d *Dataset) Std(ctx context.Context, col string) (float64, error) {
	m, err := d.aggregate(ctx, "Std", col, needSum|needVar)
	if err != nil || m.count() < 2 {
		return math.NaN(), err
	}
	return math.Sqrt(m.m2 / float64(m.count()-1)), nil
}

// momentsArgs describe the partial aggregation of a column's moments.
type momentsArgs struct {
	Column string `json:"column"`
	Need   need   `json:"need"`
}

// momentsFn reduces each block to a one-row state of col's moments.
func momentsFn(col string, n need) ops.BlockFn {
	return func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		if blocks.IsVoid(in) {
			return newMoments().block(), nil
		}
		arr, err := blocks.Column(in, col)
		if err != nil {
			return nil, err
		}
		m, err := momentsOf(arr, n)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", col, err)
		}
		return m.block(), nil
	}
}
