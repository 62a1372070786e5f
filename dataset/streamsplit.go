package dataset

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/blocks"
)

// shardQueue is how many blocks wait in each shard's queue.
const shardQueue = 4

// Shard is one of the n streams of a StreamingSplit, meant for one consumer
// (a training worker) running concurrently with the others.
//
// Each iteration of a shard is one epoch, as Ray Data's streaming_split
// iterators: a worker loops over its shard once per epoch, for as many
// epochs as it wants. Epoch k starts once every shard has begun its k-th
// iteration, and one run of the plan feeds it (re-reading the source; with
// SplitShuffle(seed), shuffled with seed+k, so every epoch is in another
// order). Within an epoch a producer goroutine hands each block (or, with
// Equal, each block's slice) to its shard through a bounded queue of a few
// blocks. The rules:
//
//   - Backpressure: when a shard's queue is full the producer waits, so a
//     slow consumer slows every shard, and a shard nobody iterates stalls
//     the others once its queue fills (or, between epochs, before the next
//     epoch starts). Iterate every shard (breaking out at once is fine) so
//     that each epoch ends and its blocks are released.
//   - A consumer that breaks out of its loop detaches its shard for that
//     epoch: the blocks queued for it, and those the producer would still
//     hand it, are released and dropped, and the other shards go on. Its
//     next iteration joins the next epoch.
//   - A consumer whose context is cancelled stops the epoch for every
//     shard: its loop yields the context's error and the other shards'
//     loops yield an error too.
//   - A producer error (a failed task) is yielded by every shard still
//     iterating.
//
// The last shard to finish an epoch waits for its producer goroutine to
// exit, so no goroutine outlives the shards' loops.
type Shard struct {
	split *streamSplit
	index int
	begun atomic.Int64 // iterations begun: the next one is this epoch
}

type streamSplit struct {
	base *Dataset
	cfg  splitConfig
	n    int

	mu   sync.Mutex
	runs map[int]*epochRun // epochs begun by some shard and not yet ended
}

// epochRun is one epoch: a run of the plan feeding every shard's queue.
type epochRun struct {
	split *streamSplit
	epoch int
	d     *Dataset
	ch    []chan blocks.Block
	gone  []chan struct{} // closed when shard k's consumer stops reading
	all   chan struct{}   // closed when every shard has begun the epoch

	start  sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the producer has exited
	err    error         // the producer's error, set before the queues close

	// Under split.mu:
	arrived, left int
	started       bool
}

// StreamingSplit divides the dataset's rows among n shards consumed
// concurrently, as Ray Data's streaming_split: unlike Split, nothing is
// materialized; each epoch runs the plan once and its blocks stream to the
// shards while they iterate (see Shard for the rules, epochs included).
// Blocks go round-robin to the shards, so the shards' row counts differ by
// up to a block's rows. With Equal(true) every block is cut instead, its
// rows dealt as if one at a time round-robin (in contiguous slices), so the
// shards' row counts differ by at most one in every epoch.
// SplitShuffle(seed) shuffles the rows first with RandomShuffle, with
// seed+k in epoch k. SplitEpochs(k) fixes the number of epochs.
func (d *Dataset) StreamingSplit(n int, opts ...SplitOption) ([]*Shard, error) {
	if d.err != nil {
		return nil, d.err
	}
	if n <= 0 {
		return nil, fmt.Errorf("dataset.StreamingSplit: split count must be positive, got %d", n)
	}
	s := &streamSplit{base: d, cfg: splitOptions(opts), n: n, runs: map[int]*epochRun{}}
	out := make([]*Shard, n)
	for k := range out {
		out[k] = &Shard{split: s, index: k}
	}
	return out, nil
}

// Index is the shard's position among the split's shards, from 0.
func (sh *Shard) Index() int { return sh.index }

// Epochs is how many iterations of the shard have begun: the epoch its
// next iteration reads.
func (sh *Shard) Epochs() int { return int(sh.begun.Load()) }

// More reports whether the shard has an epoch left to iterate: always,
// unless the split was made with SplitEpochs(k) and k iterations have
// begun. A worker's loop:
//
//	for shard.More() {
//		for batch, err := range shard.IterBatches(ctx, 256) { ... }
//	}
func (sh *Shard) More() bool {
	k := sh.split.cfg.epochs
	return k <= 0 || sh.begun.Load() < int64(k)
}

// IterBatches yields the shard's rows of the next epoch in batches of
// exactly size rows (the last may be smaller; size 0 yields the blocks as
// they come), as Dataset.IterBatches. LocalShuffleBuffer and DropLast
// apply; Prefetch has no effect, since the shard's queue already holds
// blocks ahead. A batch is valid until the next iteration.
func (sh *Shard) IterBatches(ctx context.Context, size int, opts ...IterOption) iter.Seq2[arrow.RecordBatch, error] {
	const method = "dataset.Shard.IterBatches"
	var cfg iterConfig
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	return func(yield func(arrow.RecordBatch, error) bool) {
		if err := cfg.check(method, size); err != nil {
			yield(nil, err)
			return
		}
		s := sh.split
		if !sh.More() {
			yield(nil, fmt.Errorf("%s: shard %d has iterated its %d epochs (SplitEpochs)", method, sh.index, s.cfg.epochs))
			return
		}
		run := s.begin(int(sh.begun.Add(1) - 1))
		k := sh.index
		defer run.finished()
		stopped := true // the consumer leaves before its queue closes
		defer func() {
			if stopped {
				close(run.gone[k])
				drain(run.ch[k]) // the producer drains what it queues later
			}
		}()
		select {
		case <-run.all:
		case <-ctx.Done():
			run.cancel() // as a cancel within the epoch, it stops the epoch
			yield(nil, fmt.Errorf("%s: shard %d waiting for the other shards to begin epoch %d: %w", method, k, run.epoch, ctx.Err()))
			return
		}
		run.start.Do(func() { run.run(ctx) })
		err := batchesFrom(s.base.cfg.rt.Allocator(), size, &cfg, func(fn func(blocks.Block) error) error {
			for {
				select {
				case b, ok := <-run.ch[k]:
					if !ok {
						stopped = false
						return nil
					}
					err := fn(b)
					b.Release()
					if err != nil {
						return err
					}
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}, func(b arrow.RecordBatch) error {
			ok := yield(b, nil)
			b.Release()
			if !ok {
				return errStop
			}
			return nil
		})
		switch {
		case errors.Is(err, errStop):
		case err != nil:
			if ctx.Err() != nil {
				run.cancel() // a cancelled consumer stops the whole epoch
			}
			yield(nil, err)
		case run.err != nil: // read after the queue closed
			yield(nil, fmt.Errorf("%s: %w", method, run.err))
		}
	}
}

// begin returns epoch e's run, made by the first shard to begin it, and
// counts the caller in; the last of the n shards to arrive opens it.
func (s *streamSplit) begin(e int) *epochRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	run := s.runs[e]
	if run == nil {
		d := s.base
		if s.cfg.shuffle {
			d = d.RandomShuffle(s.cfg.seed + uint64(e))
		}
		run = &epochRun{split: s, epoch: e, d: d, all: make(chan struct{}), done: make(chan struct{}), left: s.n,
			ch: make([]chan blocks.Block, s.n), gone: make([]chan struct{}, s.n)}
		for k := range s.n {
			run.ch[k] = make(chan blocks.Block, shardQueue)
			run.gone[k] = make(chan struct{})
		}
		// The producer's context exists from the start, so that a shard
		// can cancel an epoch that has not started yet.
		run.ctx, run.cancel = context.WithCancel(context.Background())
		s.runs[e] = run
	}
	if run.arrived++; run.arrived == s.n {
		close(run.all)
	}
	return run
}

// run starts the producer; ctx's values (not its cancellation, which each
// consumer watches on its own) carry over to the plan's run.
func (r *epochRun) run(ctx context.Context) {
	r.split.mu.Lock()
	r.started = true
	r.split.mu.Unlock()
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(r.ctx, cancel) // a shard's cancel reaches the run
	go func() {
		defer close(r.done)
		defer cancel()
		defer stop()
		var dealt int64 // rows handed out so far, for Equal
		next := 0       // the shard that gets the next block
		n := len(r.ch)
		err := r.d.forEachBlock(pctx, func(b blocks.Block) error {
			rows := b.NumRows()
			if rows == 0 {
				return nil
			}
			if !r.split.cfg.equal {
				b.Retain()
				err := r.send(pctx, next, b)
				next = (next + 1) % n
				return err
			}
			off := int64(0)
			for i := range int64(n) {
				k := (dealt + i) % int64(n)                 // the shard of the block's row i
				cnt := (rows - i + int64(n) - 1) / int64(n) // the rows i, i+n, ... of the block
				if cnt <= 0 {
					break
				}
				if err := r.send(pctx, int(k), blocks.Slice(b, off, off+cnt)); err != nil {
					return err
				}
				off += cnt
			}
			dealt += rows
			return nil
		})
		if err != nil && pctx.Err() != nil {
			err = fmt.Errorf("split stopped: %w", context.Canceled)
		}
		r.err = err
		for k, ch := range r.ch {
			close(ch)
			select {
			case <-r.gone[k]:
				drain(ch)
			default:
			}
		}
	}()
}

// send queues b (taking over its reference) for shard k, waiting while
// the queue is full; it drops b when k's consumer has left.
func (r *epochRun) send(ctx context.Context, k int, b blocks.Block) error {
	select {
	case <-r.gone[k]:
		b.Release()
		drain(r.ch[k])
		return nil
	default:
	}
	select {
	case r.ch[k] <- b:
		return nil
	case <-r.gone[k]:
		b.Release()
		drain(r.ch[k])
		return nil
	case <-ctx.Done():
		b.Release()
		return ctx.Err()
	}
}

// drain releases what waits in a queue whose consumer has left.
func drain(ch chan blocks.Block) {
	for {
		select {
		case b, ok := <-ch:
			if !ok {
				return
			}
			b.Release()
		default:
			return
		}
	}
}

// finished records that a consumer is done with the epoch; the last one
// stops the producer (if it still runs), waits for it to exit and forgets
// the epoch.
func (r *epochRun) finished() {
	s := r.split
	s.mu.Lock()
	r.left--
	last, started := r.left == 0, r.started
	if last {
		delete(s.runs, r.epoch)
	}
	s.mu.Unlock()
	if last {
		r.cancel()
		if started {
			<-r.done
		}
	}
}
