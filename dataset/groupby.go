package dataset

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
	"github.com/shoal-data/shoal/pipeline"
	"github.com/shoal-data/shoal/shuffle"
)

// Agg is an aggregation for GroupBy(...).Aggregate and Dataset.Aggregate:
// CountRows, SumOf, MinOf, MaxOf, MeanOf and StdOf over a column, their
// ...Expr forms over any numeric expression (SumOfExpr(Col("price").Mul(Lit(1).Sub(Col("disc"))))),
// and CountOf. The expression is computed in the same pass as the filter
// and the partial aggregation, never as a column of its own.
//
// The output column is named by As (or Alias), by default by the
// expression's alias, or "count()", "sum(x)", "sum(price * (1 - disc))",
// and so on.
type Agg struct {
	as   string
	agg  shuffle.Agg
	expr Expr // the aggregated expression; zero for CountRows
}

// As is a with the output column called name:
// SumOfExpr(Col("price").Mul(Col("qty"))).As("revenue").
func (a Agg) As(name string) Agg { a.as = name; return a }

// Alias is As, named as Expr.Alias is.
func (a Agg) Alias(name string) Agg { return a.As(name) }

// Name is the output column's name.
func (a Agg) Name() string {
	switch {
	case a.as != "":
		return a.as
	case a.expr.IsZero():
		return a.agg.Name()
	}
	kind := strings.TrimSuffix(a.agg.OnColumn("").Name(), "()")
	if c, ok := ops.ColumnName(a.expr); ok && a.expr.Name() == c {
		return kind + "(" + c + ")"
	}
	if alias := a.expr.Name(); alias != a.expr.String() {
		return alias
	}
	return kind + "(" + a.expr.String() + ")"
}

func colAgg(make func(string) shuffle.Agg, col string) Agg {
	return Agg{agg: make(col), expr: Col(col)}
}

func exprAgg(make func(string) shuffle.Agg, e Expr) Agg { return Agg{agg: make(""), expr: e} }

// CountRows counts the rows of each group.
func CountRows() Agg { return Agg{agg: shuffle.CountRows()} }

// CountOf counts the rows of each group where e is not null.
func CountOf(e Expr) Agg {
	a := exprAgg(shuffle.CountOf, e.IsNotNull().Cast(arrow.PrimitiveTypes.Int64))
	a.as = "count(" + e.String() + ")"
	if _, isCol := ops.ColumnName(e); !isCol && e.Name() != e.String() {
		a.as = e.Name()
	}
	return a
}

// SumOf sums a numeric column (int64 for integer columns, checked for
// overflow; float64 otherwise). A group with no values sums to null.
func SumOf(col string) Agg { return colAgg(shuffle.SumOf, col) }

// SumOfExpr sums a numeric expression, as SumOf sums a column.
func SumOfExpr(e Expr) Agg { return exprAgg(shuffle.SumOf, e) }

// MinOf is the smallest value of a numeric column, NaN only when every
// value is NaN (NaN orders above every other float, as in Sort and Min).
func MinOf(col string) Agg { return colAgg(shuffle.MinOf, col) }

// MinOfExpr is the smallest value of a numeric expression.
func MinOfExpr(e Expr) Agg { return exprAgg(shuffle.MinOf, e) }

// MaxOf is the largest value of a numeric column, NaN as soon as one value
// is NaN (as Max).
func MaxOf(col string) Agg { return colAgg(shuffle.MaxOf, col) }

// MaxOfExpr is the largest value of a numeric expression.
func MaxOfExpr(e Expr) Agg { return exprAgg(shuffle.MaxOf, e) }

// MeanOf is the mean of a numeric column's non-null values.
func MeanOf(col string) Agg { return colAgg(shuffle.MeanOf, col) }

// MeanOfExpr is the mean of a numeric expression's non-null values.
func MeanOfExpr(e Expr) Agg { return exprAgg(shuffle.MeanOf, e) }

// StdOf is the sample standard deviation (ddof=1) of a numeric column,
// computed with Welford's update per block and Chan's merge across blocks,
// so it stays accurate for large means; null below two values.
func StdOf(col string) Agg { return colAgg(shuffle.StdOf, col) }

// StdOfExpr is the sample standard deviation of a numeric expression.
func StdOfExpr(e Expr) Agg { return exprAgg(shuffle.StdOf, e) }

// Grouped is a dataset grouped by key columns; its methods aggregate each group.
type Grouped struct {
	d    *Dataset
	keys []string
}

// GroupBy groups rows by the values of the key columns (nulls form a
// group, as in SQL). Aggregations run as a hash exchange with partial
// aggregation on the map side: each block is reduced to one row per key
// before anything moves.
func (d *Dataset) GroupBy(keys ...string) *Grouped {
	return &Grouped{d: d, keys: append([]string(nil), keys...)}
}

// Count counts the rows of each group, in the column "count()".
func (g *Grouped) Count() *Dataset { return g.Aggregate(CountRows()) }

// Sum sums each column per group.
func (g *Grouped) Sum(cols ...string) *Dataset { return g.Aggregate(each(SumOf, cols)...) }

// Min is each column's smallest value per group.
func (g *Grouped) Min(cols ...string) *Dataset { return g.Aggregate(each(MinOf, cols)...) }

// Max is each column's largest value per group.
func (g *Grouped) Max(cols ...string) *Dataset { return g.Aggregate(each(MaxOf, cols)...) }

// Mean is each column's mean per group.
func (g *Grouped) Mean(cols ...string) *Dataset { return g.Aggregate(each(MeanOf, cols)...) }

// Std is each column's sample standard deviation per group.
func (g *Grouped) Std(cols ...string) *Dataset { return g.Aggregate(each(StdOf, cols)...) }

func each(f func(string) Agg, cols []string) []Agg {
	out := make([]Agg, len(cols))
	for i, c := range cols {
		out[i] = f(c)
	}
	return out
}

// Aggregate computes several aggregations per group at once: one row per
// group with the key columns, then one column per aggregation.
func (g *Grouped) Aggregate(aggs ...Agg) *Dataset {
	if len(g.keys) == 0 {
		return g.d.withErr(errors.New("dataset.GroupBy: no key columns (use Dataset.Aggregate for a global aggregate)"))
	}
	if len(aggs) == 0 {
		return g.d.withErr(errors.New("dataset.Aggregate: no aggregations"))
	}
	return g.d.aggregateBy(g.keys, aggs)
}

// Aggregate computes aggregations over the whole dataset: one row.
func (d *Dataset) Aggregate(aggs ...Agg) *Dataset { return d.aggregateBy(nil, aggs) }

func (d *Dataset) aggregateBy(keys []string, userAggs []Agg) *Dataset {
	if d.err != nil {
		return d
	}
	if len(userAggs) == 0 && len(keys) == 0 {
		return d.withErr(errors.New("dataset.Aggregate: no aggregations"))
	}
	if s := d.plan.Schema(); s != nil {
		for _, c := range keys {
			if len(s.FieldIndices(c)) == 0 {
				return d.withErr(fmt.Errorf("dataset.GroupBy: key %w", &blocks.UnknownColumnError{Column: c, Schema: s}))
			}
		}
	}
	// An aggregated expression that is not just a column is computed into
	// a hidden column by one expression stage, which merges with the
	// stages before it and runs in the aggregation's map task.
	aggs := make([]shuffle.Agg, len(userAggs))
	var steps ops.Program
	for i, a := range userAggs {
		sa := a.agg
		if c, isCol := ops.ColumnName(a.expr); isCol {
			sa = sa.OnColumn(c)
		} else if !a.expr.IsZero() {
			hidden := fmt.Sprintf("__shoal_agg%d", i)
			steps = append(steps, ops.Step{Kind: ops.StepWith, Name: hidden, Expr: a.expr})
			sa = sa.OnColumn(hidden)
		}
		sa.As = a.Name()
		aggs[i] = sa
	}
	if len(steps) > 0 {
		if s := d.plan.Schema(); s != nil {
			if _, err := steps.Schema(s); err != nil {
				return d.withErr(fmt.Errorf("dataset.Aggregate: %w", err))
			}
		}
		d = d.oneToOne(ops.NewExprStage(steps))
	}
	if s := d.plan.Schema(); s != nil {
		for i, a := range aggs {
			if a.IsCount() {
				continue
			}
			what := fmt.Sprintf("column %q", a.Column())
			if !userAggs[i].expr.IsZero() {
				what = "expression " + userAggs[i].expr.String()
			}
			idx := s.FieldIndices(a.Column())
			if len(idx) == 0 {
				return d.withErr(fmt.Errorf("dataset.Aggregate(%s): %w", a.Name(), &blocks.UnknownColumnError{Column: a.Column(), Schema: s}))
			}
			if !shuffle.IsNumericType(s.Field(idx[0]).Type) {
				return d.withErr(fmt.Errorf("dataset.Aggregate(%s): %s is %s, not numeric", a.Name(), what, s.Field(idx[0]).Type))
			}
		}
	}
	// Read only the keys and the aggregated columns: the selection is pushed
	// into the source, which then decodes nothing else.
	if s := d.plan.Schema(); s != nil {
		need := map[string]bool{}
		for _, k := range keys {
			need[k] = true
		}
		for _, a := range aggs {
			if !a.IsCount() {
				need[a.Column()] = true
			}
		}
		if len(need) > 0 && len(need) < s.NumFields() {
			var cols []string
			for _, f := range s.Fields() {
				if need[f.Name] {
					cols = append(cols, f.Name)
				}
			}
			d = d.SelectColumns(cols...)
		}
	}
	var outSchema *arrow.Schema
	if s := d.plan.Schema(); s != nil {
		outSchema = shuffle.AggregateSchema(s, keys, aggs)
	}
	label := fmt.Sprintf("Aggregate%v", aggLabels(aggs))
	partitions := 0
	switch {
	case len(aggs) == 0: // the distinct keys: the table without states
		label = fmt.Sprintf("Unique%v", keys)
	case len(keys) > 0:
		label = fmt.Sprintf("GroupBy%v.%s", keys, label)
	default:
		partitions = 1
	}
	// One per run of the plan would be exact; one per plan node is what the
	// closure can hold, and what one run learns holds for the next. Tasks
	// run elsewhere get its decision as data when they are dispatched.
	adapt := &shuffle.Adaptive{}
	a := aggregateArgs{Keys: keys, Aggs: aggs}
	f := a.funcs(adapt)
	return d.with(&pipeline.Exchange{
		Input:         d.plan,
		Label:         label,
		Partitions:    partitions,
		PartitionsFor: d.hashPartitions,
		OutSchema:     outSchema,
		Map:           f.Map,
		MapTask:       f.MapTask,
		Reduce:        f.Reduce,
		ObserveMap:    adapt.Observe,
		// Partial states merge in the reduce whatever blocks they came
		// from: the map may run inside the read tasks, so a scan, filter
		// and partial aggregate make one pass without the object store.
		FuseReads: true,
		// String keys may come dictionary-encoded from Parquet: the
		// grouper hashes each distinct value once. Not a key that is also
		// aggregated (the aggregations take plain columns).
		DictionaryKeys: dictionaryKeys(keys, aggs),
		// A filter on the keys alone (SQL's HAVING on a key) keeps or drops
		// whole groups: it may run before the aggregation, on fewer rows.
		FilterInputs: func(cols []string) []int {
			if len(keys) == 0 || len(cols) == 0 {
				return nil
			}
			for _, c := range cols {
				if !slices.Contains(keys, c) {
					return nil
				}
			}
			return []int{0}
		},
		Spec: func() *ops.Spec {
			now := a
			now.Skip = adapt.Skipping()
			spec, err := ops.NewSpec(aggregateKind, now)
			if err != nil {
				return nil
			}
			return spec
		},
	})
}

// dictionaryKeys are the keys no aggregation reads.
func dictionaryKeys(keys []string, aggs []shuffle.Agg) []string {
	var out []string
	for _, k := range keys {
		if !slices.ContainsFunc(aggs, func(a shuffle.Agg) bool { return a.Column() == k }) {
			out = append(out, k)
		}
	}
	return out
}

// aggregateArgs describe GroupBy(keys).Aggregate(aggs) (no keys: a global
// aggregate). Skip is the adaptive decision to stop pre-aggregating.
type aggregateArgs struct {
	Keys []string      `json:"keys,omitempty"`
	Aggs []shuffle.Agg `json:"aggs"`
	Skip bool          `json:"skip,omitempty"`
}

func (a aggregateArgs) funcs(adapt *shuffle.Adaptive) pipeline.ExchangeFuncs {
	keys, aggs := a.Keys, a.Aggs
	return pipeline.ExchangeFuncs{
		Map: func(tc *exec.TaskContext, _ int, b, _ blocks.Block, n int) ([]blocks.Block, error) {
			return shuffle.AggregateMap(tc, b, keys, aggs, n, adapt)
		},
		// Inside a read task: one hash table for all its blocks.
		MapTask: func(_, n int) pipeline.TaskMapper {
			return shuffle.NewTaskAggregator(keys, aggs, n, adapt)
		},
		Reduce: func(tc *exec.TaskContext, _ int, parts []blocks.Block) ([]blocks.Block, error) {
			return shuffle.AggregateReduce(tc, parts, keys, aggs)
		},
	}
}

// reduceTargetBytes is the most input a reduce task of a groupby or join
// aims for: large enough that per-part costs vanish, small enough to hold;
// less when the store budget is small.
const reduceTargetBytes = 64 << 20

// reducePartitions picks the reduce count of a hash exchange whose output
// size follows its input's: enough tasks to keep every worker busy, more
// only as the data needs them, never more than the input blocks. Each
// map splits its block into this many parts, so fewer partitions mean
// fewer, larger parts.
func (d *Dataset) reducePartitions(inputs int, bytes int64) int {
	cpus := max(d.cfg.rt.Resources().CPUs, 1)
	target := int64(reduceTargetBytes)
	if budget := d.cfg.rt.Stats().Budget; budget > 0 {
		// Every worker's reduce holds its whole partition: keep them all
		// within about half the store.
		target = max(min(target, budget/int64(2*cpus)), 1<<20)
	}
	n := max(2*cpus, int((bytes+target-1)/target))
	return max(1, min(n, inputs))
}

// hashPartitions is reducePartitions for exchanges whose reduces build
// hash tables (aggregations, joins): at least 16 per CPU where there are
// that many input blocks, so each reduce's table is small enough to stay in
// the CPU's caches, as DuckDB radix-partitions its tables (a million keys
// make 32 tables of 31K on 2 CPUs: unique -25%, joins -15%, groupby_1m
// -14% against 4 tables).
func (d *Dataset) hashPartitions(inputs int, bytes int64) int {
	cpus := max(d.cfg.rt.Resources().CPUs, 1)
	return max(d.reducePartitions(inputs, bytes), min(16*cpus, inputs))
}

func aggLabels(aggs []shuffle.Agg) []string {
	out := make([]string, len(aggs))
	for i, a := range aggs {
		out[i] = a.Name()
	}
	return out
}
