package dataset

import (
	"context"
	"fmt"
	"math"
	"runtime"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
	"github.com/shoal-data/shoal/pipeline"
)

// SplitOption configures Split and TrainTestSplit.
type SplitOption func(*splitConfig)

type splitConfig struct {
	equal   bool
	shuffle bool
	seed    uint64
	epochs  int // StreamingSplit's epochs; 0: as many as the workers want
}

// SplitEpochs fixes the number of epochs of a StreamingSplit: each shard
// iterates k times, and an iteration past the k-th yields an error
// instead of a new run of the plan. Shard.More tells a worker's loop when
// to stop. Without it a shard iterates as many epochs as its worker wants.
func SplitEpochs(k int) SplitOption { return func(c *splitConfig) { c.epochs = k } }

// Equal makes Split cut rows so that the splits' row counts differ by at
// most one (the first ones get the extra rows), slicing blocks where needed.
// Without it Split cuts only between blocks.
func Equal(on bool) SplitOption { return func(c *splitConfig) { c.equal = on } }

// SplitShuffle shuffles the rows with RandomShuffle(seed) before splitting.
func SplitShuffle(seed uint64) SplitOption {
	return func(c *splitConfig) { c.shuffle, c.seed = true, seed }
}

func splitOptions(opts []SplitOption) splitConfig {
	var c splitConfig
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

// Split runs the plan once and divides its rows, in order, into n
// materialized datasets (each keeps its blocks in the object store; see
// Materialize). By default it cuts only between blocks, choosing the cuts
// whose row counts come closest to n equal parts, so a split may be empty
// when there are fewer blocks than splits. With Equal(true) the row counts
// differ by at most one. With SplitShuffle(seed) the rows are shuffled first.
func (d *Dataset) Split(ctx context.Context, n int, opts ...SplitOption) ([]*Dataset, error) {
	const method = "dataset.Split"
	if d.err != nil {
		return nil, d.err
	}
	if n <= 0 {
		return nil, fmt.Errorf("%s: split count must be positive, got %d", method, n)
	}
	cfg := splitOptions(opts)
	return d.shuffled(cfg).splitBy(ctx, method, func(rows []int64, total int64) ([]int64, error) {
		if cfg.equal {
			return equalBounds(total, n), nil
		}
		return blockBounds(rows, n), nil
	})
}

// SplitAt runs the plan once and cuts its rows at the given row indices,
// into len(indices)+1 materialized datasets: rows [0, indices[0]),
// [indices[0], indices[1]), ..., [indices[last], count). The indices must be
// in non-decreasing order and within [0, count]; equal indices give empty
// splits.
func (d *Dataset) SplitAt(ctx context.Context, indices ...int64) ([]*Dataset, error) {
	const method = "dataset.SplitAt"
	if d.err != nil {
		return nil, d.err
	}
	for i, ix := range indices {
		if ix < 0 {
			return nil, fmt.Errorf("%s: index %d is negative (%d)", method, i, ix)
		}
		if i > 0 && ix < indices[i-1] {
			return nil, fmt.Errorf("%s: indices out of order: index %d (%d) is less than index %d (%d)", method, i, ix, i-1, indices[i-1])
		}
	}
	indices = append([]int64(nil), indices...)
	return d.splitBy(ctx, method, func(_ []int64, total int64) ([]int64, error) {
		for i, ix := range indices {
			if ix > total {
				return nil, fmt.Errorf("%s: index %d (%d) is out of range: the dataset has %d rows", method, i, ix, total)
			}
		}
		return append(append([]int64{0}, indices...), total), nil
	})
}

// SplitProportionately runs the plan once and cuts its rows, in order, into
// len(fractions)+1 materialized datasets, as Ray Data's
// split_proportionately: split i has about fractions[i] of the rows (the
// cuts are at floor(count × running sum of the fractions)), and the last
// split has the rest. Each fraction must be in (0, 1) and their sum below 1.
func (d *Dataset) SplitProportionately(ctx context.Context, fractions ...float64) ([]*Dataset, error) {
	return d.splitProportionately(ctx, "dataset.SplitProportionately", fractions)
}

func (d *Dataset) splitProportionately(ctx context.Context, method string, fractions []float64) ([]*Dataset, error) {
	if d.err != nil {
		return nil, d.err
	}
	if len(fractions) == 0 {
		return nil, fmt.Errorf("%s: no fractions", method)
	}
	var sum float64
	for i, f := range fractions {
		if !(f > 0 && f < 1) {
			return nil, fmt.Errorf("%s: fraction %d is %v, want one in (0, 1)", method, i, f)
		}
		sum += f
	}
	if sum >= 1 {
		return nil, fmt.Errorf("%s: fractions sum to %v, want less than 1 (the last split gets the rest)", method, sum)
	}
	fractions = append([]float64(nil), fractions...)
	return d.splitBy(ctx, method, func(_ []int64, total int64) ([]int64, error) {
		bounds := []int64{0}
		var cum float64
		for _, f := range fractions {
			cum += f
			bounds = append(bounds, max(bounds[len(bounds)-1], floorRows(float64(total)*cum)))
		}
		return append(bounds, total), nil
	})
}

// TrainTestSplit runs the plan once and splits it into a training and a test
// dataset, both materialized, as Ray Data's train_test_split: the test set
// is the last testFraction of the rows (the first floor(count × (1 -
// testFraction)) rows train). Give SplitShuffle(seed) to shuffle the rows
// first; Equal has no effect here. testFraction must be in (0, 1).
func (d *Dataset) TrainTestSplit(ctx context.Context, testFraction float64, opts ...SplitOption) (train, test *Dataset, err error) {
	const method = "dataset.TrainTestSplit"
	if d.err != nil {
		return nil, nil, d.err
	}
	if !(testFraction > 0 && testFraction < 1) {
		return nil, nil, fmt.Errorf("%s: test fraction is %v, want one in (0, 1)", method, testFraction)
	}
	parts, err := d.shuffled(splitOptions(opts)).splitProportionately(ctx, method, []float64{1 - testFraction})
	if err != nil {
		return nil, nil, err
	}
	return parts[0], parts[1], nil
}

// floorRows is floor(x), forgiving float error just below a whole number
// (10 × 0.7 is 7.000000000000001 but 100 × 0.29 is 28.999999999999996).
func floorRows(x float64) int64 {
	if r := math.Round(x); math.Abs(x-r) <= 1e-9*max(1, math.Abs(x)) {
		return int64(r)
	}
	return int64(math.Floor(x))
}

func (d *Dataset) shuffled(cfg splitConfig) *Dataset {
	if cfg.shuffle {
		return d.RandomShuffle(cfg.seed)
	}
	return d
}

// equalBounds cuts total rows into n parts whose sizes differ by at most one.
func equalBounds(total int64, n int) []int64 {
	bounds := make([]int64, n+1)
	base, extra := total/int64(n), total%int64(n)
	for k := range n {
		bounds[k+1] = bounds[k] + base
		if int64(k) < extra {
			bounds[k+1]++
		}
	}
	return bounds
}

// blockBounds cuts blocks of the given row counts into n runs of blocks:
// cut k falls at the block boundary closest to k/n of the rows.
func blockBounds(rows []int64, n int) []int64 {
	cum := make([]int64, len(rows)+1)
	for i, r := range rows {
		cum[i+1] = cum[i] + r
	}
	total := cum[len(rows)]
	dist := func(p, k int) int64 {
		x := cum[p]*int64(n) - int64(k)*total
		return max(x, -x)
	}
	bounds := make([]int64, n+1)
	p := 0
	for k := 1; k < n; k++ {
		for p < len(rows) && dist(p+1, k) < dist(p, k) {
			p++
		}
		bounds[k] = cum[p]
	}
	bounds[n] = total
	return bounds
}

// splitBy materializes d and cuts its rows at the bounds cut returns (given
// the blocks' row counts and the total; bounds[0] is 0 and the last bound is
// the total). Whole blocks are shared between d's materialization and the
// splits; a block that straddles a cut is sliced and each part is stored.
func (d *Dataset) splitBy(ctx context.Context, method string, cut func(rows []int64, total int64) ([]int64, error)) ([]*Dataset, error) {
	refs, schema, err := d.materializeRefs(ctx)
	if err != nil {
		return nil, err
	}
	rt := d.cfg.rt
	defer func() {
		for _, r := range refs {
			rt.Release(r)
		}
	}()
	rows := make([]int64, len(refs))
	var total int64
	for i, r := range refs {
		rows[i] = r.Rows
		total += r.Rows
	}
	bounds, err := cut(rows, total)
	if err != nil {
		return nil, err
	}
	parts := make([][]exec.ObjectRef, len(bounds)-1)
	fail := func(err error) ([]*Dataset, error) {
		for _, p := range parts {
			for _, r := range p {
				rt.Release(r)
			}
		}
		return nil, err
	}
	var off int64 // first row of refs[i]
	i := 0
	for k := range parts {
		lo, hi := bounds[k], bounds[k+1]
		for i < len(refs) && off+refs[i].Rows <= lo {
			off += refs[i].Rows
			i++
		}
		for j, o := i, off; j < len(refs) && o < hi; o, j = o+refs[j].Rows, j+1 {
			r := refs[j]
			a, b := max(lo, o)-o, min(hi, o+r.Rows)-o
			if a == b {
				continue // an empty block, or an empty split
			}
			if a == 0 && b == r.Rows {
				rt.Retain(r)
				parts[k] = append(parts[k], r)
				continue
			}
			ref, err := d.putSlice(ctx, r, a, b)
			if err != nil {
				return fail(fmt.Errorf("%s: %w", method, err))
			}
			parts[k] = append(parts[k], ref)
		}
	}
	out := make([]*Dataset, len(parts))
	for k, p := range parts {
		out[k] = d.refsDataset(p, schema)
	}
	return out, nil
}

// putSlice stores rows [a, b) of the block ref names as a block of its own.
func (d *Dataset) putSlice(ctx context.Context, ref exec.ObjectRef, a, b int64) (exec.ObjectRef, error) {
	return exec.PutSlice(ctx, d.cfg.rt, ref, a, b, "Split")
}

// materializeRefs runs d's plan and returns its blocks' references, which
// the caller must release, and the schema.
func (d *Dataset) materializeRefs(ctx context.Context) ([]exec.ObjectRef, *arrow.Schema, error) {
	if d.err != nil {
		return nil, nil, d.err
	}
	var refs []exec.ObjectRef
	rt := d.cfg.rt
	err := d.forEachBundle(ctx, d.plan, func(b pipeline.Bundle) error {
		for _, r := range b.Refs {
			rt.Retain(r) // forEachBundle releases the bundle's own reference
			refs = append(refs, r)
		}
		return nil
	})
	if err != nil {
		for _, r := range refs {
			rt.Release(r)
		}
		return nil, nil, err
	}
	schema := d.plan.Schema()
	if schema == nil && len(refs) > 0 {
		schema = refs[0].Schema
	}
	return refs, schema, nil
}

// refsDataset is a dataset over refs, taking over their references: they are
// released when the dataset (and every dataset derived from it) is garbage
// collected, as with Materialize.
func (d *Dataset) refsDataset(refs []exec.ObjectRef, schema *arrow.Schema) *Dataset {
	rt := d.cfg.rt
	node := &ops.Refs{Refs: refs, OutSchema: schema}
	if len(refs) > 0 {
		runtime.AddCleanup(node, func(refs []exec.ObjectRef) {
			for _, r := range refs {
				rt.Release(r)
			}
		}, refs)
	}
	return d.with(node)
}
