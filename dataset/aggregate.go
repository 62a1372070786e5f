package dataset

import (
	"context"
	"fmt"
	"math"
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

// moments is the mergeable state of one column's aggregation: counts, an
// exact integer sum, and mean and M2 for a numerically stable variance
// (two-pass within a block, Chan et al.'s merge across blocks).
type moments struct {
	isInt      bool
	count      int64
	isum       int64
	overflow   bool
	imin, imax int64
	fsum       float64
	fmin, fmax float64
	mean, m2   float64
}

var momentsSchema = arrow.NewSchema([]arrow.Field{
	{Name: "is_int", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "count", Type: arrow.PrimitiveTypes.Int64},
	{Name: "isum", Type: arrow.PrimitiveTypes.Int64},
	{Name: "overflow", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "imin", Type: arrow.PrimitiveTypes.Int64},
	{Name: "imax", Type: arrow.PrimitiveTypes.Int64},
	{Name: "fsum", Type: arrow.PrimitiveTypes.Float64},
	{Name: "fmin", Type: arrow.PrimitiveTypes.Float64},
	{Name: "fmax", Type: arrow.PrimitiveTypes.Float64},
	{Name: "mean", Type: arrow.PrimitiveTypes.Float64},
	{Name: "m2", Type: arrow.PrimitiveTypes.Float64},
}, nil)

func newMoments() moments {
	return moments{imin: math.MaxInt64, imax: math.MinInt64, fmin: math.Inf(1), fmax: math.Inf(-1)}
}

// momentsOf aggregates one numeric column. The type switch happens once per
// block; the loops run over typed Go slices.
func momentsOf(col arrow.Array) (moments, error) {
	m := newMoments()
	switch a := col.(type) {
	case *array.Int8:
		intMoments(&m, a.Int8Values(), a)
	case *array.Int16:
		intMoments(&m, a.Int16Values(), a)
	case *array.Int32:
		intMoments(&m, a.Int32Values(), a)
	case *array.Int64:
		intMoments(&m, a.Int64Values(), a)
	case *array.Uint8:
		intMoments(&m, a.Uint8Values(), a)
	case *array.Uint16:
		intMoments(&m, a.Uint16Values(), a)
	case *array.Uint32:
		intMoments(&m, a.Uint32Values(), a)
	case *array.Float32:
		floatMoments(&m, a.Float32Values(), a)
	case *array.Float64:
		floatMoments(&m, a.Float64Values(), a)
	case *array.Null:
		m.isInt = true
	default:
		return m, fmt.Errorf("column of type %s is not numeric", col.DataType())
	}
	return m, nil
}

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32
}

func intMoments[T integer](m *moments, vals []T, arr arrow.Array) {
	m.isInt = true
	nulls := arr.NullN() > 0
	var sum int64
	var fsum float64
	for i, v := range vals {
		if nulls && arr.IsNull(i) {
			continue
		}
		x := int64(v)
		s := sum + x
		if (s > sum) != (x > 0) && x != 0 {
			m.overflow = true
		}
		sum = s
		fsum += float64(x)
		m.count++
		m.imin = min(m.imin, x)
		m.imax = max(m.imax, x)
	}
	m.isum, m.fsum = sum, fsum
	if m.count == 0 {
		return
	}
	m.mean = fsum / float64(m.count)
	for i, v := range vals {
		if nulls && arr.IsNull(i) {
			continue
		}
		d := float64(v) - m.mean
		m.m2 += d * d
	}
}

func floatMoments[T float32 | float64](m *moments, vals []T, arr arrow.Array) {
	nulls := arr.NullN() > 0
	for i, v := range vals {
		if nulls && arr.IsNull(i) {
			continue
		}
		x := float64(v)
		m.fsum += x
		m.count++
		m.fmin = math.Min(m.fmin, x)
		m.fmax = math.Max(m.fmax, x)
	}
	if m.count == 0 {
		return
	}
	m.mean = m.fsum / float64(m.count)
	for i, v := range vals {
		if nulls && arr.IsNull(i) {
			continue
		}
		d := float64(v) - m.mean
		m.m2 += d * d
	}
}

// merge folds o into m.
func (m *moments) merge(o moments) {
	if o.count == 0 {
		m.isInt = m.isInt || o.isInt
		return
	}
	if m.count == 0 {
		*m = o
		return
	}
	n := m.count + o.count
	delta := o.mean - m.mean
	m.mean += delta * float64(o.count) / float64(n)
	m.m2 += o.m2 + delta*delta*float64(m.count)*float64(o.count)/float64(n)
	s := m.isum + o.isum
	if (s > m.isum) != (o.isum > 0) && o.isum != 0 {
		m.overflow = true
	}
	m.isum = s
	m.overflow = m.overflow || o.overflow
	m.fsum += o.fsum
	m.imin, m.imax = min(m.imin, o.imin), max(m.imax, o.imax)
	m.fmin, m.fmax = math.Min(m.fmin, o.fmin), math.Max(m.fmax, o.fmax)
	m.count = n
}

func (m moments) block(tc *exec.TaskContext) blocks.Block {
	b := array.NewRecordBuilder(tc.Alloc, momentsSchema)
	defer b.Release()
	b.Field(0).(*array.BooleanBuilder).Append(m.isInt)
	b.Field(1).(*array.Int64Builder).Append(m.count)
	b.Field(2).(*array.Int64Builder).Append(m.isum)
	b.Field(3).(*array.BooleanBuilder).Append(m.overflow)
	b.Field(4).(*array.Int64Builder).Append(m.imin)
	b.Field(5).(*array.Int64Builder).Append(m.imax)
	for i, v := range []float64{m.fsum, m.fmin, m.fmax, m.mean, m.m2} {
		b.Field(6 + i).(*array.Float64Builder).Append(v)
	}
	return b.NewRecordBatch()
}

func momentsFromBlock(b blocks.Block) moments {
	f := func(i int) float64 { return b.Column(i).(*array.Float64).Value(0) }
	n := func(i int) int64 { return b.Column(i).(*array.Int64).Value(0) }
	return moments{
		isInt: b.Column(0).(*array.Boolean).Value(0), count: n(1), isum: n(2),
		overflow: b.Column(3).(*array.Boolean).Value(0), imin: n(4), imax: n(5),
		fsum: f(6), fmin: f(7), fmax: f(8), mean: f(9), m2: f(10),
	}
}

// aggregate computes the moments of column col: each block is reduced to a
// one-row state inside its task (fused with the transforms before it), and
// the states are merged here.
func (d *Dataset) aggregate(ctx context.Context, method, col string) (moments, error) {
	total := newMoments()
	if d.err != nil {
		return total, d.err
	}
	if s := d.plan.Schema(); s != nil && len(s.FieldIndices(col)) == 0 {
		return total, fmt.Errorf("dataset.%s: %w", method, &blocks.UnknownColumnError{Column: col, Schema: s})
	}
	partial := &ops.OneToOne{
		Input: d.plan,
		Label: fmt.Sprintf("Partial%s(%s)", method, col),
		Fn: func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
			arr, err := blocks.Column(in, col)
			if err != nil {
				return nil, err
			}
			m, err := momentsOf(arr)
			if err != nil {
				return nil, fmt.Errorf("column %q: %w", col, err)
			}
			return m.block(tc), nil
		},
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
	m, err := d.aggregate(ctx, "Sum", col)
	if err != nil {
		return Number{}, err
	}
	if m.isInt {
		if m.overflow {
			return Number{}, fmt.Errorf("dataset.Sum(%q): int64 overflow", col)
		}
		return Number{isInt: true, valid: true, i: m.isum}, nil
	}
	return Number{valid: true, f: m.fsum}, nil
}

// Min returns the smallest value of a numeric column, skipping nulls; null
// when there is none.
func (d *Dataset) Min(ctx context.Context, col string) (Number, error) {
	m, err := d.aggregate(ctx, "Min", col)
	if err != nil || m.count == 0 {
		return Number{isInt: m.isInt}, err
	}
	if m.isInt {
		return Number{isInt: true, valid: true, i: m.imin}, nil
	}
	return Number{valid: true, f: m.fmin}, nil
}

// Max returns the largest value of a numeric column, skipping nulls; null
// when there is none.
func (d *Dataset) Max(ctx context.Context, col string) (Number, error) {
	m, err := d.aggregate(ctx, "Max", col)
	if err != nil || m.count == 0 {
		return Number{isInt: m.isInt}, err
	}
	if m.isInt {
		return Number{isInt: true, valid: true, i: m.imax}, nil
	}
	return Number{valid: true, f: m.fmax}, nil
}

// Mean returns the mean of a numeric column, skipping nulls; NaN when there
// is no value.
func (d *Dataset) Mean(ctx context.Context, col string) (float64, error) {
	m, err := d.aggregate(ctx, "Mean", col)
	if err != nil {
		return math.NaN(), err
	}
	if m.count == 0 {
		return math.NaN(), nil
	}
	return m.mean, nil
}

// Std returns the sample standard deviation (ddof=1, as Ray Data and pandas)
// of a numeric column, skipping nulls; NaN with fewer than two values.
func (d *Dataset) Std(ctx context.Context, col string) (float64, error) {
	m, err := d.aggregate(ctx, "Std", col)
	if err != nil {
		return math.NaN(), err
	}
	if m.count < 2 {
		return math.NaN(), nil
	}
	return math.Sqrt(m.m2 / float64(m.count-1)), nil
}
