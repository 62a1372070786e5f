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
// one task (a read task streaming its blocks): its hash tables and states
// live as long as the task, as DuckDB's thread-local tables do, so the task
// hashes each row once and outputs one partial state per key, where
// AggregateMap makes a table, a partial block and n parts per block.
//
// It starts with one table. Once that holds more than radixGroups groups
// (larger than the CPU caches), it moves it into its parts and from then on
// splits each block by partition first and keeps one table per partition
// (DuckDB's radix partitioning): every table stays small enough to stay
// cached, and a table is already its partition's part. Past maxTaskGroups
// groups in all it moves what it holds into its parts and starts over, so
// its memory stays bounded; when the keys do not repeat (Adaptive), later
// blocks pass through as rows (AggregateRows).
//
// Add borrows each block; Finish returns the n parts; Release frees what is
// held when Finish is not reached. Not safe for concurrent use.
type TaskAggregator struct {
	keys []string
	aggs []Agg
	n    int
	ad   *Adaptive

	tables      []taskTable // one, or one per partition; nil between flushes
	ints        []bool      // the tables' accumulators
	groups      int         // in all tables
	partitioned bool        // blocks are split by partition before their tables
	parts       [][]blocks.Block
}

// taskTable is one hash table of a TaskAggregator and its states.
type taskTable struct {
	grouper *blocks.Grouper // nil for a global aggregate, or before the first keyed block
	states  *aggStates
}

const (
	// radixGroups is the most groups one unpartitioned table holds: about
	// the size of a CPU's L2 cache in slots, keys and states.
	radixGroups = 1 << 16
	// maxTaskGroups is the most groups a task's tables hold before they
	// are moved into the parts: about 100 MB of keys and states.
	maxTaskGroups = 1 << 20
)

// NewTaskAggregator starts the map side of GroupBy(keys).Aggregate(aggs)
// (no keys: a global aggregate) splitting into n parts; ad may be nil.
func NewTaskAggregator(keys []string, aggs []Agg, n int, ad *Adaptive) *TaskAggregator {
	return &TaskAggregator{keys: keys, aggs: aggs, n: n, ad: ad, parts: make([][]blocks.Block, n)}
}

// Add folds b's rows into the task's tables.
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
	if a.tables != nil && !slices.Equal(ints, a.ints) {
		// A column's type changed between blocks: the states cannot mix.
		if err := a.flush(tc); err != nil {
			return err
		}
	}
	if a.tables == nil {
		tables := 1
		if a.partitioned {
			tables = a.n
		}
		a.ints, a.tables = ints, make([]taskTable, tables)
		for j := range a.tables {
			a.tables[j].states = newAggStates(a.aggs, ints)
			if len(a.keys) == 0 {
				a.tables[j].states.grow(1)
			}
		}
	}
	if len(a.keys) == 0 {
		return a.tables[0].states.add(cols, nil, b.NumRows())
	}
	added := 0
	if !a.partitioned {
		added, err = a.tables[0].add(b, cols, a.keys)
	} else {
		added, err = a.addSplit(tc, b)
	}
	if err != nil {
		return err
	}
	a.groups += added
	if a.ad != nil {
		a.ad.observe(b.NumRows(), int64(added))
	}
	switch {
	case a.groups >= maxTaskGroups:
		return a.flush(tc)
	case !a.partitioned && a.n > 1 && a.groups > radixGroups:
		a.partitioned = true
		return a.flush(tc)
	}
	return nil
}

// addSplit splits b by partition and folds each part into its table.
func (a *TaskAggregator) addSplit(tc *exec.TaskContext, b blocks.Block) (int, error) {
	p, err := blocks.HashPartition(b, a.keys, a.n)
	if err != nil {
		return 0, err
	}
	split, err := blocks.Scatter(tc.Alloc, b, p, a.n)
	if err != nil {
		return 0, err
	}
	defer releaseBlocks(split)
	added := 0
	for j, part := range split {
		if part.NumRows() == 0 {
			continue
		}
		_, cols, err := aggInputs(part, a.aggs)
		if err != nil {
			return added, err
		}
		k, err := a.tables[j].add(part, cols, a.keys)
		added += k
		if err != nil {
			return added, err
		}
	}
	return added, nil
}

// add folds b's rows (cols its aggregated columns) into the table and
// returns how many groups they added.
func (t *taskTable) add(b blocks.Block, cols []arrow.Array, keys []string) (int, error) {
	keyBlock, err := blocks.Select(b, keys)
	if err != nil {
		return 0, fmt.Errorf("group key %w", err)
	}
	defer keyBlock.Release()
	if t.grouper == nil {
		if t.grouper, err = blocks.NewGrouperFor(keyBlock.Schema(), min(int(b.NumRows()), 1<<16)); err != nil {
			return 0, err
		}
	}
	before := t.grouper.NumGroups()
	gids, err := t.grouper.Add(keyBlock, keys)
	if err != nil {
		return 0, err
	}
	t.states.grow(t.grouper.NumGroups())
	return t.grouper.NumGroups() - before, t.states.add(cols, gids, b.NumRows())
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

// flush moves the tables' partial states into the parts: a partitioned
// table is its partition's part; the one table is split by partition.
func (a *TaskAggregator) flush(tc *exec.TaskContext) error {
	tables := a.tables
	a.tables, a.groups = nil, 0
	defer func() {
		for _, t := range tables {
			if t.grouper != nil {
				t.grouper.Release()
			}
		}
	}()
	partials := make([]blocks.Block, len(tables))
	defer releaseBlocks(partials)
	for j, t := range tables {
		var keyOut blocks.Block
		var err error
		switch {
		case len(a.keys) == 0:
			keyOut = array.NewRecordBatch(arrow.NewSchema(nil, nil), nil, 1) // the one global group
		case t.grouper == nil: // no block reached this partition's table
			continue
		default:
			if keyOut, err = t.grouper.Keys(tc.Alloc); err != nil {
				return err
			}
		}
		partials[j], err = t.states.partial(tc.Alloc, keyOut)
		keyOut.Release()
		if err != nil {
			return err
		}
	}
	if len(tables) == a.n {
		for j, p := range partials {
			if p != nil {
				p.Retain()
				a.parts[j] = append(a.parts[j], p)
			}
		}
		return nil
	}
	if len(tables) == 0 || partials[0] == nil {
		return nil
	}
	ps, err := splitPartial(tc.Alloc, partials[0], a.keys, a.n)
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

// Release frees the tables and the parts held.
func (a *TaskAggregator) Release() {
	for _, t := range a.tables {
		if t.grouper != nil {
			t.grouper.Release()
		}
	}
	a.tables = nil
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
