package dataset

import (
	"fmt"
	"math/rand/v2"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/pipeline"
)

// RandomShuffle shuffles rows across the whole dataset: every row may land
// in any output block at any position. The same seed over the same input
// blocks gives the same order. It runs as a map/reduce exchange whose parts
// live in the object store (and spill), so it works on data larger than
// memory.
func (d *Dataset) RandomShuffle(seed uint64) *Dataset {
	if d.err != nil {
		return d
	}
	return d.with(&pipeline.Exchange{
		Input:     d.plan,
		Label:     fmt.Sprintf("RandomShuffle(seed=%d)", seed),
		KeepsRows: true,
		Map: func(tc *exec.TaskContext, index int, b, _ blocks.Block, n int) ([]blocks.Block, error) {
			rng := rand.New(rand.NewPCG(seed, uint64(index)))
			return blocks.Scatter(tc.Alloc, b, blocks.RandomPartition(int(b.NumRows()), n, rng), n)
		},
		Reduce: func(tc *exec.TaskContext, j int, parts []blocks.Block) ([]blocks.Block, error) {
			return shufflePartition(tc, parts, rand.New(rand.NewPCG(seed^0x9e3779b97f4a7c15, uint64(j))))
		},
	})
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
				tasks[i] = pipeline.PlannedTask{Inputs: []exec.ObjectRef{inputs[k]}, Run: passThrough}
			}
			return tasks, nil
		},
	})
}

func passThrough(_ *exec.TaskContext, in []blocks.Block) ([]blocks.Block, error) {
	in[0].Retain()
	return []blocks.Block{in[0]}, nil
}
