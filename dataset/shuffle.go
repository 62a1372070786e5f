package dataset

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
	"github.com/shoal-data/shoal/pipeline"
	"github.com/shoal-data/shoal/shuffle"
)

// RandomShuffle shuffles rows across the whole dataset: every row may land
// in any output block at any position. The output has blocks of up to
// about 64 MiB (at least two per worker, at most one per input block). The same seed over the same input
// blocks gives the same order. It runs as a map/reduce exchange whose parts
// live in the object store (and spill), so it works on data larger than
// memory.
func (d *Dataset) RandomShuffle(seed uint64) *Dataset {
	if d.err != nil {
		return d
	}
	a := shuffleArgs{Seed: seed}
	f := a.funcs()
	return d.with(&pipeline.Exchange{
		Input:         d.plan,
		Label:         fmt.Sprintf("RandomShuffle(seed=%d)", seed),
		KeepsRows:     true,
		ReadsColumns:  func(out []string) []string { return out },
		PartitionsFor: d.reducePartitions,
		Map:           f.Map,
		Reduce:        f.Reduce,
		Spec:          pipeline.ConstSpec(ops.MustSpec(shuffleKind, a)),
	})
}

// shuffleArgs describe a random shuffle: RandomShuffle, or with Balanced
// Repartition(n, Shuffle(true)).
type shuffleArgs struct {
	Seed     uint64 `json:"seed"`
	Balanced bool   `json:"balanced,omitempty"`
}

func (a shuffleArgs) funcs() pipeline.ExchangeFuncs {
	seed := a.Seed
	parts := shuffle.RandomParts
	if a.Balanced {
		parts = shuffle.BalancedParts
	}
	return pipeline.ExchangeFuncs{
		Map: func(tc *exec.TaskContext, index int, b, _ blocks.Block, n int) ([]blocks.Block, error) {
			return parts(tc, b, seed, index, n)
		},
		Reduce: func(tc *exec.TaskContext, j int, parts []blocks.Block) ([]blocks.Block, error) {
			return shuffle.ShuffleReduce(tc, parts, seed, j)
		},
	}
}

// shuffleInto spreads rows at random over exactly n blocks of near-equal
// size: each map deals its rows round-robin from a random starting block,
// in a random row order, and each reduce permutes what it got.
func (d *Dataset) shuffleInto(n int, seed uint64) *Dataset {
	a := shuffleArgs{Seed: seed, Balanced: true}
	f := a.funcs()
	return d.with(&pipeline.Exchange{
		Input:        d.plan,
		Label:        fmt.Sprintf("Repartition(%d, shuffle, seed=%d)", n, seed),
		Partitions:   n,
		KeepsRows:    true,
		ReadsColumns: func(out []string) []string { return out },
		Map:          f.Map,
		Reduce:       f.Reduce,
		Spec:         pipeline.ConstSpec(ops.MustSpec(shuffleKind, a)),
	})
}

// Unique is the distinct values of a column (null included once), one row
// each, in no particular order. It is a group-by whose table keeps no
// states: partial blocks carry the keys alone.
func (d *Dataset) Unique(col string) *Dataset {
	return d.aggregateBy([]string{col}, nil)
}

// RandomizeBlockOrder shuffles the order of the dataset's blocks, not the
// rows within them: a cheap partial shuffle, deterministic for a seed.
func (d *Dataset) RandomizeBlockOrder(seed uint64) *Dataset {
	if d.err != nil {
		return d
	}
	return d.with(&pipeline.AllToAll{
		Input: d.plan,
		Label: fmt.Sprintf("RandomizeBlockOrder(seed=%d)", seed),
		Plan: func(inputs []exec.ObjectRef) ([]pipeline.PlannedTask, error) {
			order := rand.New(rand.NewPCG(seed, 0)).Perm(len(inputs))
			tasks := make([]pipeline.PlannedTask, len(inputs))
			for i, k := range order {
				tasks[i] = pipeline.PassThroughTask(inputs[k])
			}
			return tasks, nil
		},
	})
}

// SortKey orders rows by one column; see Asc and Desc.
type SortKey = blocks.SortKey

// Asc sorts by col, smallest first; nulls come last.
func Asc(col string) SortKey { return SortKey{Column: col} }

// Desc sorts by col, largest first; nulls still come last.
func Desc(col string) SortKey { return SortKey{Column: col, Descending: true} }

// Sort orders the dataset by the keys, the first key first: numbers,
// strings, booleans, dates and times; NaN after every other float, nulls
// last. Range boundaries are chosen from samples of every block, rows are
// range-partitioned into output blocks of up to about 64 MiB (at least two
// per worker, at most one per input block), and each output block is sorted, so the blocks in order are sorted as a whole. Parts live
// in the object store and spill, so data larger than memory sorts.
func (d *Dataset) Sort(keys ...SortKey) *Dataset {
	if d.err != nil {
		return d
	}
	if len(keys) == 0 {
		return d.withErr(fmt.Errorf("dataset.Sort: no sort keys"))
	}
	cols := make([]string, len(keys))
	for i, k := range keys {
		cols[i] = k.Column
	}
	if s := d.plan.Schema(); s != nil {
		for _, c := range cols {
			if len(s.FieldIndices(c)) == 0 {
				return d.withErr(fmt.Errorf("dataset.Sort: %w", &blocks.UnknownColumnError{Column: c, Schema: s}))
			}
		}
	}
	keys = append([]SortKey(nil), keys...)
	a := sortArgs{Keys: keys}
	f := a.funcs()
	return d.with(&pipeline.Exchange{
		Input:     d.plan,
		Label:     "Sort(" + joinKeys(keys) + ")",
		KeepsRows: true,
		SortKeys:  keys,
		// A filter or a column selection after a sort may run before it:
		// fewer rows and columns to move, the same rows in the same order.
		FilterInputs:  func([]string) []int { return []int{0} },
		ReadsColumns:  func(out []string) []string { return withColumns(out, cols) },
		PartitionsFor: d.reducePartitions,
		Sample:        f.Sample,
		Prepare:       f.Prepare,
		Map:           f.Map,
		Reduce:        f.Reduce,
		Spec:          pipeline.ConstSpec(ops.MustSpec(sortKind, a)),
	})
}

// withColumns is out plus the columns of more it lacks; nil (every column)
// stays nil.
func withColumns(out, more []string) []string {
	if out == nil {
		return nil
	}
	need := slices.Clone(out)
	for _, c := range more {
		if !slices.Contains(need, c) {
			need = append(need, c)
		}
	}
	return need
}

// sortArgs describe a Sort. The range boundaries are not among them: the
// prepare task makes them into an object every map task takes as input.
type sortArgs struct {
	Keys []SortKey `json:"keys"`
}

func (a sortArgs) funcs() pipeline.ExchangeFuncs {
	keys := a.Keys
	cols := make([]string, len(keys))
	for i, k := range keys {
		cols[i] = k.Column
	}
	return pipeline.ExchangeFuncs{
		Sample: func(tc *exec.TaskContext, b blocks.Block) (blocks.Block, error) {
			return shuffle.SortSample(tc, b, cols)
		},
		Prepare: func(tc *exec.TaskContext, samples []blocks.Block, n int) (blocks.Block, error) {
			return shuffle.SortBoundaries(tc, samples, keys, n)
		},
		Map: func(tc *exec.TaskContext, _ int, b, bounds blocks.Block, n int) ([]blocks.Block, error) {
			return shuffle.RangeParts(tc, b, keys, bounds, n)
		},
		Reduce: func(tc *exec.TaskContext, _ int, parts []blocks.Block) ([]blocks.Block, error) {
			return shuffle.SortReduce(tc, parts, keys)
		},
	}
}

func joinKeys(keys []SortKey) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.String()
	}
	return strings.Join(parts, ", ")
}
