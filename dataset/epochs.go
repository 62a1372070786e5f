package dataset

import (
	"context"
	"fmt"
	"iter"

	"github.com/apache/arrow-go/v18/arrow"
)

// Epochs is a dataset to be read several times, once per training epoch, as
// made by Repeat. Each epoch re-runs the dataset's plan (and, with
// RandomShuffleEachEpoch, a shuffle over it): Materialize the dataset first
// so that the epochs read its blocks from the object store instead of
// reading and transforming the source again.
type Epochs struct {
	d       *Dataset
	n       int
	shuffle bool
	seed    uint64
	err     error
}

// EpochDataset is the dataset of one epoch, numbered from 0.
type EpochDataset struct {
	Epoch int
	*Dataset
}

// EpochBatch is a batch of one epoch, numbered from 0.
type EpochBatch struct {
	Epoch int
	Batch arrow.RecordBatch
}

// Repeat reads the dataset epochs times, as Ray Data's repeat for training
// loops. A count that is not positive is an error, returned by the first
// iteration.
func (d *Dataset) Repeat(epochs int) *Epochs {
	e := &Epochs{d: d, n: epochs, err: d.err}
	if e.err == nil && epochs <= 0 {
		e.err = fmt.Errorf("dataset.Repeat: epoch count must be positive, got %d", epochs)
	}
	return e
}

// RandomShuffleEachEpoch shuffles every epoch afresh: epoch k is
// RandomShuffle(seed+k) over the dataset, so the epochs' orders differ and
// the same seed gives the same orders again.
func (e *Epochs) RandomShuffleEachEpoch(seed uint64) *Epochs {
	c := *e
	c.shuffle, c.seed = true, seed
	return &c
}

// Epochs is the number of epochs.
func (e *Epochs) Epochs() int { return e.n }

// Iter yields each epoch's dataset in order; consume it (IterBatches,
// StreamingSplit, ...) before moving on, since the next epoch runs the plan
// again. An error (a bad epoch count, a plan error, a cancelled context)
// is yielded once and ends the iteration.
func (e *Epochs) Iter(ctx context.Context) iter.Seq2[EpochDataset, error] {
	return func(yield func(EpochDataset, error) bool) {
		if e.err != nil {
			yield(EpochDataset{}, e.err)
			return
		}
		for k := range e.n {
			if err := ctx.Err(); err != nil {
				yield(EpochDataset{Epoch: k}, err)
				return
			}
			if !yield(EpochDataset{Epoch: k, Dataset: e.epoch(k)}, nil) {
				return
			}
		}
	}
}

func (e *Epochs) epoch(k int) *Dataset {
	if e.shuffle {
		return e.d.RandomShuffle(e.seed + uint64(k))
	}
	return e.d
}

// IterBatches streams every epoch's batches, epoch after epoch, as
// Dataset.IterBatches does for one (the same options apply to each epoch;
// the last batch of an epoch may be smaller unless DropLast is given). A
// batch is valid until the next iteration. Breaking out of the loop stops
// the running epoch's pipeline.
func (e *Epochs) IterBatches(ctx context.Context, size int, opts ...IterOption) iter.Seq2[EpochBatch, error] {
	return func(yield func(EpochBatch, error) bool) {
		for ep, err := range e.Iter(ctx) {
			if err != nil {
				yield(EpochBatch{Epoch: ep.Epoch}, err)
				return
			}
			for b, err := range ep.iterBatches(ctx, "dataset.Epochs.IterBatches", size, opts) {
				if err != nil {
					yield(EpochBatch{Epoch: ep.Epoch}, err)
					return
				}
				if !yield(EpochBatch{Epoch: ep.Epoch, Batch: b}, nil) {
					return
				}
			}
		}
	}
}
