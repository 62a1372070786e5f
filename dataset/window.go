package dataset

import (
	"context"
	"fmt"
	"iter"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
	"github.com/shoal-data/shoal/pipeline"
)

// Pipeline is a dataset cut into windows of blocks, each window then
// processed as a small dataset of its own, as Ray's DatasetPipeline: made by
// Window. The dataset's own plan runs once per epoch as one streaming run
// (its stages overlap, and an actor stage keeps its actors across windows);
// the per-window stages (ForEachWindow, MapBatches, RandomShuffleEachWindow)
// run on each window while the next window is read and the previous one is
// consumed. A window is the unit of per-window all-to-all work, such as a
// shuffle that must not wait for the whole dataset, and it bounds the
// memory such work holds.
type Pipeline struct {
	base     *Dataset
	blocks   int
	epochs   int
	prefetch int
	stages   []func(w Window) *Dataset
	err      error
}

// Window is one window of a Pipeline, numbered from 0 across epochs, with
// its per-window stages applied.
type Window struct {
	Index int
	Epoch int
	*Dataset
}

// Window cuts the dataset's output into windows of blocksPerWindow blocks.
func (d *Dataset) Window(blocksPerWindow int) *Pipeline {
	p := &Pipeline{base: d, blocks: blocksPerWindow, epochs: 1, prefetch: 1, err: d.err}
	if p.err == nil && blocksPerWindow <= 0 {
		p.err = fmt.Errorf("dataset.Window: blocks per window must be positive, got %d", blocksPerWindow)
	}
	return p
}

func (p *Pipeline) with(stage func(w Window) *Dataset) *Pipeline {
	c := *p
	c.stages = append(append([]func(Window) *Dataset(nil), p.stages...), stage)
	return &c
}

// Repeat runs the pipeline epochs times; the dataset's plan runs again each
// epoch, so Materialize it first to read the source once.
func (p *Pipeline) Repeat(epochs int) *Pipeline {
	c := *p
	c.epochs = epochs
	if c.err == nil && epochs <= 0 {
		c.err = fmt.Errorf("dataset.Pipeline.Repeat: epoch count must be positive, got %d", epochs)
	}
	return &c
}

// PrefetchWindows sets how many windows are computed ahead of the one being
// consumed (default 1). Each holds its blocks in the object store.
func (p *Pipeline) PrefetchWindows(n int) *Pipeline {
	c := *p
	c.prefetch = max(n, 0)
	return &c
}

// ForEachWindow adds a per-window stage: fn gets each window's dataset and
// returns the dataset to use instead.
func (p *Pipeline) ForEachWindow(fn func(w Window) *Dataset) *Pipeline {
	if fn == nil && p.err == nil {
		c := *p
		c.err = nilFunc("Pipeline.ForEachWindow")
		return &c
	}
	return p.with(fn)
}

// MapBatches adds a per-window MapBatches.
func (p *Pipeline) MapBatches(fn BatchFunc, opts ...MapBatchesOption) *Pipeline {
	return p.with(func(w Window) *Dataset { return w.MapBatches(fn, opts...) })
}

// RandomShuffleEachWindow shuffles the rows within each window: window i is
// RandomShuffle(seed+i), so windows and epochs differ and a seed repeats.
func (p *Pipeline) RandomShuffleEachWindow(seed uint64) *Pipeline {
	return p.with(func(w Window) *Dataset { return w.RandomShuffle(seed + uint64(w.Index)) })
}

type windowResult struct {
	w   Window
	err error
}

// Iter yields the windows in order, each materialized with its stages
// applied; while the caller works on one, the next ones are computed. An
// error is yielded once and ends the iteration. Breaking out stops the
// work and waits for it.
func (p *Pipeline) Iter(ctx context.Context) iter.Seq2[Window, error] {
	return func(yield func(Window, error) bool) {
		if p.err != nil {
			yield(Window{}, p.err)
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		out := make(chan windowResult, p.prefetch)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(out)
			p.produce(ctx, out)
		}()
		defer func() {
			cancel()
			for range out { // let the producer finish; its windows are dropped
			}
			wg.Wait()
		}()
		for r := range out {
			if !yield(r.w, r.err) || r.err != nil {
				return
			}
		}
		if err := ctx.Err(); err != nil {
			yield(Window{}, err)
		}
	}
}

// produce runs the base plan each epoch, cuts its output into windows, runs
// each window's stages and sends the result.
func (p *Pipeline) produce(ctx context.Context, out chan<- windowResult) {
	rt := p.base.cfg.rt
	send := func(r windowResult) bool {
		select {
		case out <- r:
			return true
		case <-ctx.Done():
			return false
		}
	}
	index := 0
	for epoch := range p.epochs {
		var refs []exec.ObjectRef
		release := func() {
			for _, r := range refs {
				rt.Release(r)
			}
			refs = nil
		}
		flush := func() error {
			if len(refs) == 0 {
				return nil
			}
			w, err := p.window(ctx, refs, index, epoch)
			release()
			if err != nil {
				return err
			}
			index++
			if !send(windowResult{w: w}) {
				return ctx.Err()
			}
			return nil
		}
		err := p.base.forEachBundle(ctx, p.base.plan, func(b pipeline.Bundle) error {
			for _, r := range b.Refs {
				rt.Retain(r) // the bundle's own reference goes when this returns
				refs = append(refs, r)
				if len(refs) == p.blocks {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
		release()
		if err != nil {
			if ctx.Err() == nil {
				send(windowResult{err: err})
			}
			return
		}
	}
}

// window applies the stages to one window's blocks and materializes it.
func (p *Pipeline) window(ctx context.Context, refs []exec.ObjectRef, index, epoch int) (Window, error) {
	schema := p.base.plan.Schema()
	if schema == nil {
		schema = refs[0].Schema
	}
	// The node borrows refs: the producer releases them once the window's
	// stages have run and their output is materialized.
	w := Window{Index: index, Epoch: epoch, Dataset: p.base.with(&ops.Refs{Refs: refs, OutSchema: schema})}
	for _, st := range p.stages {
		w.Dataset = st(w)
	}
	if len(p.stages) == 0 {
		// Nothing to run: the window's dataset needs references of its own.
		for _, r := range refs {
			p.base.cfg.rt.Retain(r)
		}
		return Window{Index: index, Epoch: epoch, Dataset: p.base.refsDataset(append([]exec.ObjectRef(nil), refs...), schema)}, nil
	}
	m, err := w.Materialize(ctx)
	if err != nil {
		return Window{}, fmt.Errorf("window %d: %w", index, err)
	}
	w.Dataset = m
	return w, nil
}

// IterBatches iterates every window's batches in order, as
// Dataset.IterBatches with the same options; a batch never spans two
// windows.
func (p *Pipeline) IterBatches(ctx context.Context, size int, opts ...IterOption) iter.Seq2[arrow.RecordBatch, error] {
	return func(yield func(arrow.RecordBatch, error) bool) {
		for w, err := range p.Iter(ctx) {
			if err != nil {
				yield(nil, err)
				return
			}
			for b, err := range w.IterBatches(ctx, size, opts...) {
				if !yield(b, err) || err != nil {
					return
				}
			}
		}
	}
}
