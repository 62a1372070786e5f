package shuffle

import (
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// TaskAggregator is the map side of an aggregation over all the blocks of
// one task (a read task streaming its blocks): one hash table and its
// states live as long as the task, as DuckDB's thread-local tables do, so
// the task hashes each row into it once and outputs one partial state per
// key, where AggregateMap makes a table, a partial block and n parts per
// block. Past maxTaskGroups groups it moves what it holds into its parts
// and starts a new table, so its memory stays bounded; when the keys do not
// repeat (Adaptive), later blocks pass through as rows (AggregateRows).
//
// Add borrows each block; Finish returns the n parts; Release frees what is
// held when Finish is not reached. Not safe for concurrent use.
type TaskAggregator struct {
	keys []string
	aggs []Agg
	n    int
	ad   *Adaptive

	grouper *blocks.Grouper // nil between tables, and for a global aggregate
	states  *aggStates      // nil between tables
	ints    []bool          // the current table's accumulators
	parts   [][]blocks.Block
}

// maxTaskGroups is the most groups a task's table holds before it is moved
// into the parts: about 100 MB of keys and states.
const maxTaskGroups = 1 << 20

// NewTaskAggregator starts the map side of GroupBy(keys).Aggregate(aggs)
// (no keys: a global aggregate) splitting into n parts; ad may be nil.
func NewTaskAggregator(keys []string, aggs []Agg, n int, ad *Adaptive) *TaskAggregator {
	return &TaskAggregator{keys: keys, aggs: aggs, n: n, ad: ad, parts: make([][]blocks.Block, n)}
}

// Add folds b's rows into the task's table.
func (a *TaskAggregator) Add(tc *exec.TaskContext, b blocks.Block) error {
	if blocks.IsVoid(b) {
		return nil
	}
	if len(a.keys) > 0 && a.ad != nil && a.ad.skip.Load() {
		if err := a.flush(tc); err != nil {
			return err
		}
		ps, err := AggregateMap(tc, b, a.keys, a.aggs, a.n, a.ad)
		if err != nil {
			return err
		}
		a.addParts(ps)
		return nil
	}
	ints, cols, err := aggInputs(b, a.aggs)
	if err != nil {
		return err
	}
	if a.states != nil && !slices.Equal(ints, a.ints) {
		// A column's type changed between blocks: the states cannot mix.
		if err := a.flush(tc); err != nil {
			return err
		}
	}
	if a.states == nil {
		a.ints, a.states = ints, newAggStates(a.aggs, ints)
		if len(a.keys) == 0 {
			a.states.grow(1)
		}
	}
	var gids []int32
	if len(a.keys) > 0 {
		keyBlock, err := blocks.Select(b, a.keys)
		if err != nil {
			return fmt.Errorf("group key %w", err)
		}
		if a.grouper == nil {
			if a.grouper, err = blocks.NewGrouperFor(keyBlock.Schema(), min(int(b.NumRows()), 1<<16)); err != nil {
				keyBlock.Release()
				return err
			}
		}
		before := a.grouper.NumGroups()
		gids, err = a.grouper.Add(keyBlock, a.keys)
		keyBlock.Release()
		if err != nil {
			return err
		}
		a.states.grow(a.grouper.NumGroups())
		if a.ad != nil {
			a.ad.observe(b.NumRows(), int64(a.grouper.NumGroups()-before))
		}
	}
	if err := a.states.add(cols, gids, b.NumRows()); err != nil {
		return err
	}
	if a.grouper != nil && a.grouper.NumGroups() >= maxTaskGroups {
		return a.flush(tc)
	}
	return nil
}

// aggInputs checks b's aggregated columns and says which accumulate in
// int64.
func aggInputs(b blocks.Block, aggs []Agg) ([]bool, []arrow.Array, error) {
	ints := make([]bool, len(aggs))
	cols := make([]arrow.Array, len(aggs))
	for k, a := range aggs {
		if a.kind == aggCount {
			continue
		}
		col, err := blocks.Column(b, a.col)
		if err != nil {
			return nil, nil, fmt.Errorf("aggregate %s: %w", a.Name(), err)
		}
		if !IsNumericType(col.DataType()) {
			return nil, nil, fmt.Errorf("aggregate %s: column %q is %s, not numeric", a.Name(), a.col, col.DataType())
		}
		ints[k] = isIntegerType(col.DataType()) && a.kind != aggMean && a.kind != aggStd
		cols[k] = col
	}
	return ints, cols, nil
}

// flush moves the table's partial states into the parts.
func (a *TaskAggregator) flush(tc *exec.TaskContext) error {
	if a.states == nil {
		return nil
	}
	st := a.states
	a.states = nil
	var partial blocks.Block
	var err error
	if a.grouper == nil {
		keyOut := array.NewRecordBatch(arrow.NewSchema(nil, nil), nil, 1) // the one global group
		partial, err = st.partial(tc.Alloc, keyOut)
		keyOut.Release()
	} else {
		g := a.grouper
		a.grouper = nil
		defer g.Release()
		var keyOut blocks.Block
		if keyOut, err = g.Keys(tc.Alloc); err != nil {
			return err
		}
		partial, err = st.partial(tc.Alloc, keyOut)
		keyOut.Release()
	}
	if err != nil {
		return err
	}
	defer partial.Release()
	if a.n == 1 {
		partial.Retain()
		a.addParts([]blocks.Block{partial})
		return nil
	}
	p, err := blocks.HashPartition(partial, a.keys, a.n)
	if err != nil {
		return err
	}
	ps, err := blocks.Scatter(tc.Alloc, partial, p, a.n)
	if err != nil {
		return err
	}
	a.addParts(ps)
	return nil
}

func (a *TaskAggregator) addParts(ps []blocks.Block) {
	for j, p := range ps {
		a.parts[j] = append(a.parts[j], p)
	}
}

// Finish returns the task's n parts: part j of every table and block that
// passed through, concatenated. Every Add must have been given a block of
// the input's schema at least once (an empty one will do).
func (a *TaskAggregator) Finish(tc *exec.TaskContext) ([]blocks.Block, error) {
	if err := a.flush(tc); err != nil {
		return nil, err
	}
	out := make([]blocks.Block, a.n)
	for j, ps := range a.parts {
		if len(ps) == 0 {
			releaseBlocks(out)
			return nil, fmt.Errorf("aggregate: the task aggregated no block")
		}
		b, err := blocks.ConcatParts(tc.Alloc, ps)
		if err != nil {
			releaseBlocks(out)
			return nil, err
		}
		out[j] = b
	}
	return out, nil
}

// Release frees the table and the parts held.
func (a *TaskAggregator) Release() {
	if a.grouper != nil {
		a.grouper.Release()
		a.grouper = nil
	}
	a.states = nil
	for j, ps := range a.parts {
		releaseBlocks(ps)
		a.parts[j] = nil
	}
}

func releaseBlocks(bs []blocks.Block) {
	for _, b := range bs {
		if b != nil {
			b.Release()
		}
	}
}
