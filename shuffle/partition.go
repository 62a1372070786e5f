package shuffle

import (
	"fmt"
	"math/rand/v2"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// SortSamplesPerBlock is how many key rows each block contributes to the
// choice of range boundaries.
const SortSamplesPerBlock = 64

// reduceSeedMix is XORed into a shuffle's seed for the reduce-side
// permutations, so they differ from the map-side ones.
const reduceSeedMix = 0x9e3779b97f4a7c15

// HashParts splits b into n parts by the hash of its key columns; an empty
// block (which may have no columns at all) is every part.
func HashParts(tc *exec.TaskContext, b blocks.Block, keys []string, n int) ([]blocks.Block, error) {
	if b.NumRows() == 0 {
		parts := make([]blocks.Block, n)
		for j := range parts {
			b.Retain()
			parts[j] = b
		}
		return parts, nil
	}
	p, err := blocks.HashPartition(b, keys, n)
	if err != nil {
		return nil, err
	}
	return blocks.Scatter(tc.Alloc, b, p, n)
}

// RandomParts splits b into n parts, each row into a random one, drawn
// from a PCG seeded by (seed, index), index being the block's input index.
func RandomParts(tc *exec.TaskContext, b blocks.Block, seed uint64, index, n int) ([]blocks.Block, error) {
	rng := rand.New(rand.NewPCG(seed, uint64(index)))
	return blocks.Scatter(tc.Alloc, b, blocks.RandomPartition(int(b.NumRows()), n, rng), n)
}

// BalancedParts splits b into n parts of near-equal size: it deals its
// rows round-robin from a random starting part, in a random row order,
// drawn from a PCG seeded by (seed, index).
func BalancedParts(tc *exec.TaskContext, b blocks.Block, seed uint64, index, n int) ([]blocks.Block, error) {
	rng := rand.New(rand.NewPCG(seed, uint64(index)))
	rows := int(b.NumRows())
	parts := make([]int32, rows)
	start := rng.IntN(n)
	for i, r := range rng.Perm(rows) {
		parts[r] = int32((start + i) % n)
	}
	return blocks.Scatter(tc.Alloc, b, parts, n)
}

// ShuffleReduce concatenates partition j's parts and permutes its rows
// with a PCG seeded from (seed, j), distinct from the map side's.
func ShuffleReduce(tc *exec.TaskContext, parts []blocks.Block, seed uint64, j int) ([]blocks.Block, error) {
	return shufflePartition(tc, parts, rand.New(rand.NewPCG(seed^reduceSeedMix, uint64(j))))
}

// shufflePartition concatenates a partition's parts and permutes its rows.
func shufflePartition(tc *exec.TaskContext, parts []blocks.Block, rng *rand.Rand) ([]blocks.Block, error) {
	var rows int64
	for _, p := range parts {
		rows += p.NumRows()
	}
	if rows == 0 {
		return nil, nil
	}
	all, err := blocks.Concat(tc.Alloc, parts)
	if err != nil {
		return nil, err
	}
	defer all.Release()
	perm := make([]int64, rows)
	for i := range perm {
		perm[i] = int64(i)
	}
	rng.Shuffle(len(perm), func(a, b int) { perm[a], perm[b] = perm[b], perm[a] })
	out, err := blocks.Take(tc.Alloc, all, perm)
	if err != nil {
		return nil, err
	}
	return []blocks.Block{out}, nil
}

// SortSample returns up to SortSamplesPerBlock evenly spaced rows of b's
// key columns cols; a void block is returned as is.
func SortSample(tc *exec.TaskContext, b blocks.Block, cols []string) (blocks.Block, error) {
	if blocks.IsVoid(b) {
		b.Retain()
		return b, nil
	}
	k, err := blocks.Select(b, cols)
	if err != nil {
		return nil, err
	}
	defer k.Release()
	rows := k.NumRows()
	take := min(rows, SortSamplesPerBlock)
	idx := make([]int64, take)
	for i := range idx {
		idx[i] = int64(i) * rows / take // evenly spaced
	}
	return blocks.Take(tc.Alloc, k, idx)
}

// SortBoundaries turns the samples of every block into the range
// boundaries of n partitions; with no sampled rows it is an empty block
// with no columns.
func SortBoundaries(tc *exec.TaskContext, samples []blocks.Block, keys []blocks.SortKey, n int) (blocks.Block, error) {
	var nonEmpty []blocks.Block
	for _, s := range samples {
		if s.NumRows() > 0 {
			nonEmpty = append(nonEmpty, s)
		}
	}
	if len(nonEmpty) == 0 {
		return blocks.Empty(tc.Alloc, arrow.NewSchema(nil, nil)), nil
	}
	all, err := blocks.Concat(tc.Alloc, nonEmpty)
	if err != nil {
		return nil, fmt.Errorf("sort keys: %w", err)
	}
	defer all.Release()
	return blocks.SampleBoundaries(all, keys, n)
}

// RangeParts splits b into n parts by the range boundaries bounds. An
// empty block, or empty boundaries, puts every row in part 0 and leaves
// the other parts empty.
func RangeParts(tc *exec.TaskContext, b blocks.Block, keys []blocks.SortKey, bounds blocks.Block, n int) ([]blocks.Block, error) {
	if b.NumRows() == 0 || bounds.NumRows() == 0 {
		parts := make([]blocks.Block, n)
		b.Retain()
		parts[0] = b
		for j := 1; j < n; j++ {
			parts[j] = blocks.Empty(tc.Alloc, b.Schema())
		}
		return parts, nil
	}
	p, err := blocks.RangePartition(b, keys, bounds)
	if err != nil {
		return nil, err
	}
	return blocks.Scatter(tc.Alloc, b, p, n)
}

// SortReduce concatenates a partition's non-empty parts and sorts them by
// keys: one block, or none when there are no rows.
func SortReduce(tc *exec.TaskContext, parts []blocks.Block, keys []blocks.SortKey) ([]blocks.Block, error) {
	var nonEmpty []blocks.Block
	for _, p := range parts {
		if p.NumRows() > 0 {
			nonEmpty = append(nonEmpty, p)
		}
	}
	if len(nonEmpty) == 0 {
		return nil, nil
	}
	all, err := blocks.Concat(tc.Alloc, nonEmpty)
	if err != nil {
		return nil, err
	}
	defer all.Release()
	out, err := blocks.Sort(tc.Alloc, all, keys)
	if err != nil {
		return nil, err
	}
	return []blocks.Block{out}, nil
}

// ConcatNonEmpty concatenates the blocks that have rows; nil when none
// has.
func ConcatNonEmpty(mem memory.Allocator, bs []blocks.Block) (blocks.Block, error) {
	var keep []blocks.Block
	for _, b := range bs {
		if b.NumRows() > 0 {
			keep = append(keep, b)
		}
	}
	if len(keep) == 0 {
		return nil, nil
	}
	return blocks.Concat(mem, keep)
}
