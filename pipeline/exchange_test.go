package pipeline

import (
	"io"
	"slices"
	"testing"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

// modExchange routes id to partition id % n and keeps, per reduce, the ids
// in the order the parts arrive.
func modExchange(in ops.Node, n int) *Exchange {
	return &Exchange{
		Input:      in,
		Label:      "Mod",
		Partitions: n,
		KeepsRows:  true,
		Map: func(tc *exec.TaskContext, _ int, b, _ blocks.Block, n int) ([]blocks.Block, error) {
			ids, err := blocks.Values[int64](b.Column(0))
			if err != nil {
				return nil, err
			}
			parts := make([]int32, len(ids))
			for i, v := range ids {
				parts[i] = int32(v % int64(n))
			}
			return blocks.Scatter(tc.Alloc, b, parts, n)
		},
		Reduce: func(tc *exec.TaskContext, _ int, parts []blocks.Block) ([]blocks.Block, error) {
			var keep []blocks.Block
			for _, p := range parts {
				if p.NumRows() > 0 {
					keep = append(keep, p)
				}
			}
			if len(keep) == 0 {
				return nil, nil
			}
			out, err := blocks.Concat(tc.Alloc, keep)
			if err != nil {
				return nil, err
			}
			return []blocks.Block{out}, nil
		},
	}
}

// TestExchangeMergesPartsEarly: with many partitions, parts of each group
// of 16 maps are merged before the reduce, and the output is exactly what
// it is without merging: partition j holds the ids = j mod n, in input order.
func TestExchangeMergesPartsEarly(t *testing.T) {
	for _, n := range []int{4, 20} { // below and above minMergePartitions
		rt := newRuntime(t, exec.WithObjectStoreMemory(1<<20), exec.WithSpillDir(t.TempDir()))
		src := &testSource{n: 50, rows: 100}
		root, err := Build(modExchange(&ops.Read{Source: src}, n), 4)
		if err != nil {
			t.Fatal(err)
		}
		ctx := testContext(t)
		s := Run(ctx, rt, root, Options{})
		var got []int64
		for {
			b, err := s.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, ref := range b.Refs {
				blk, err := rt.Get(ctx, ref)
				if err != nil {
					t.Fatal(err)
				}
				vals, _ := blocks.Values[int64](blk.Column(0))
				got = append(got, vals...)
				blk.Release()
				rt.Release(ref)
			}
		}
		s.Close()
		var want []int64
		for j := range int64(n) {
			for id := j; id < 5000; id += int64(n) {
				want = append(want, id)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("n=%d: output differs from the unmerged order (%d ids, want %d)", n, len(got), len(want))
		}
		merges := root.(*exchangeOp).merges
		if wantMerges := 3 * n; n >= minMergePartitions && merges != wantMerges {
			t.Errorf("n=%d: %d merge tasks, want %d (3 full groups of 16 maps, one per partition)", n, merges, wantMerges)
		} else if n < minMergePartitions && merges != 0 {
			t.Errorf("n=%d: %d merge tasks, want none", n, merges)
		}
	}
}
