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
// One run of the plan feeds every shard: a producer goroutine, started when
// the first shard begins iterating, hands each block (or, with Equal, each
// block's slice) to its shard through a bounded queue of a few blocks. The
// rules:
//
//   - Backpressure: when a shard's queue is full the producer waits, so a
//     slow consumer slows every shard, and a shard nobody iterates stalls
//     the others once its queue fills. Iterate every shard (breaking out at
//     once is fine) so that the run ends and its blocks are released.
//   - A consumer that breaks out of its loop detaches its shard: the blocks
//     queued for it, and those the producer would still hand it, are
//     released and dropped, and the other shards go on.
//   - A consumer whose context is cancelled stops the whole split: its loop
//     yields the context's error and the other shards yield an error too.
//   - A producer error (a failed task) is yielded by every shard still
//     iterating.
//
// The last shard to finish waits for the producer goroutine to exit, so no
// goroutine outlives the shards' loops. Each shard may be iterated once.
type Shard struct {
	split *streamSplit
	index int
	ch    chan blocks.Block
	gone  chan struct{} // closed when the consumer stops reading
	used  atomic.Bool
}

type streamSplit struct {
	d      *Dataset
	equal  bool
	shards []*Shard

	start  sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the producer has exited
	err    error         // the producer's error, set before the queues close

	mu   sync.Mutex
	left int // shards whose consumer has not finished
}

// StreamingSplit divides the dataset's rows among n shards consumed
// concurrently, as Ray Data's streaming_split: unlike Split, nothing is
// materialized; the plan runs once and its blocks stream to the shards
// while they iterate (see Shard for the rules). Blocks go round-robin to
// the shards, so the shards' row counts differ by up to a block's rows. With
// Equal(true) every block is cut instead, its rows dealt as if one at a time
// round-robin (in contiguous slices), so the shards' row counts differ by at
// most one. SplitShuffle(seed) shuffles the rows first with RandomShuffle.
func (d *Dataset) StreamingSplit(n int, opts ...SplitOption) ([]*Shard, error) {
	if d.err != nil {
		return nil, d.err
	}
	if n <= 0 {
		return nil, fmt.Errorf("dataset.StreamingSplit: split count must be positive, got %d", n)
	}
	cfg := splitOptions(opts)
	s := &streamSplit{d: d.shuffled(cfg), equal: cfg.equal, done: make(chan struct{}), left: n}
	s.shards = make([]*Shard, n)
	for k := range s.shards {
		s.shards[k] = &Shard{split: s, index: k, ch: make(chan blocks.Block, shardQueue), gone: make(chan struct{})}
	}
	out := make([]*Shard, n)
	copy(out, s.shards)
	return out, nil
}

// Index is the shard's position among the split's shards, from 0.
func (sh *Shard) Index() int { return sh.index }

// IterBatches yields the shard's rows in batches of exactly size rows (the
// last may be smaller; size 0 yields the blocks as they come), as
// Dataset.IterBatches. LocalShuffleBuffer and DropLast apply; Prefetch has
// no effect, since the shard's queue already holds blocks ahead. A batch is
// valid until the next iteration.
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
		if sh.used.Swap(true) {
			yield(nil, fmt.Errorf("%s: shard %d is already iterated", method, sh.index))
			return
		}
		s := sh.split
		s.start.Do(func() { s.run(ctx) })
		defer s.finished()
		stopped := true // the consumer leaves before its queue closes
		defer func() {
			if stopped {
				close(sh.gone)
				drain(sh.ch) // the producer drains what it queues later
			}
		}()
		err := batchesFrom(s.d.cfg.rt.Allocator(), size, &cfg, func(fn func(blocks.Block) error) error {
			for {
				select {
				case b, ok := <-sh.ch:
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
				s.cancel() // a cancelled consumer stops the whole split
			}
			yield(nil, err)
		case s.err != nil: // read after the queue closed
			yield(nil, fmt.Errorf("%s: %w", method, s.err))
		}
	}
}

// run starts the producer; ctx's values (not its cancellation, which each
// consumer watches on its own) carry over to the plan's run.
func (s *streamSplit) run(ctx context.Context) {
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(s.done)
		var dealt int64 // rows handed out so far, for Equal
		next := 0       // the shard that gets the next block
		err := s.d.forEachBlock(s.ctx, func(b blocks.Block) error {
			rows := b.NumRows()
			if rows == 0 {
				return nil
			}
			if !s.equal {
				b.Retain()
				err := s.send(s.shards[next], b)
				next = (next + 1) % len(s.shards)
				return err
			}
			n := int64(len(s.shards))
			off := int64(0)
			for i := range n {
				k := (dealt + i) % n          // the shard of the block's row i
				cnt := (rows - i + n - 1) / n // the rows i, i+n, ... of the block
				if cnt <= 0 {
					break
				}
				if err := s.send(s.shards[k], blocks.Slice(b, off, off+cnt)); err != nil {
					return err
				}
				off += cnt
			}
			dealt += rows
			return nil
		})
		if err != nil && s.ctx.Err() != nil {
			err = fmt.Errorf("split stopped: %w", context.Canceled)
		}
		s.err = err
		for _, sh := range s.shards {
			close(sh.ch)
			select {
			case <-sh.gone:
				drain(sh.ch)
			default:
			}
		}
	}()
}

// send queues b (taking over its reference) for sh, waiting while the
// queue is full; it drops b when sh's consumer has left.
func (s *streamSplit) send(sh *Shard, b blocks.Block) error {
	select {
	case <-sh.gone:
		b.Release()
		drain(sh.ch)
		return nil
	default:
	}
	select {
	case sh.ch <- b:
		return nil
	case <-sh.gone:
		b.Release()
		drain(sh.ch)
		return nil
	case <-s.ctx.Done():
		b.Release()
		return s.ctx.Err()
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

// finished records that a consumer is done; the last one stops the producer
// (if it still runs) and waits for it to exit.
func (s *streamSplit) finished() {
	s.mu.Lock()
	s.left--
	last := s.left == 0
	s.mu.Unlock()
	if last {
		s.cancel()
		<-s.done
	}
}
