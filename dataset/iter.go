package dataset

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"gonum.org/v1/gonum/mat"

	"github.com/shoal-data/shoal/blocks"
)

// IterOption configures IterBatches and IterMatrixBatches.
type IterOption func(*iterConfig)

type iterConfig struct {
	prefetch   int
	shuffle    bool
	bufferRows int
	seed       uint64
	dropLast   bool
}

// Prefetch runs the pipeline and the rebatching (or shuffling) on a producer
// goroutine that keeps up to k batches ready ahead of the loop body, so the
// body overlaps with fetching and concatenating blocks. The goroutine stops,
// and its prepared batches are released, when the loop ends, breaks or the
// context is cancelled. Prefetch(0), the default, runs everything on the
// caller's goroutine.
func Prefetch(k int) IterOption { return func(c *iterConfig) { c.prefetch = k } }

// LocalShuffleBuffer shuffles rows locally, as Ray Data's
// local_shuffle_buffer_size: rows pass through a buffer that holds at least
// minRows rows (until the input runs out), and each batch is drawn at random
// from it. The buffer is a random permutation of the rows it held when it
// was last refilled; new rows join it when fewer than a batch remain. Every
// row is yielded exactly once, and the same seed over the same input gives
// the same batches. It needs a positive batch size.
func LocalShuffleBuffer(minRows int, seed uint64) IterOption {
	return func(c *iterConfig) { c.shuffle, c.bufferRows, c.seed = true, minRows, seed }
}

// DropLast drops the final batch when it has fewer than size rows. It has
// no effect with size 0 (blocks as they are).
func DropLast() IterOption { return func(c *iterConfig) { c.dropLast = true } }

func (c *iterConfig) check(method string, size int) error {
	switch {
	case size < 0:
		return fmt.Errorf("%s: negative batch size %d", method, size)
	case c.prefetch < 0:
		return fmt.Errorf("%s: negative prefetch %d", method, c.prefetch)
	case c.shuffle && c.bufferRows < 0:
		return fmt.Errorf("%s: negative local shuffle buffer size %d", method, c.bufferRows)
	case c.shuffle && size == 0:
		return fmt.Errorf("%s: LocalShuffleBuffer needs a positive batch size", method)
	}
	return nil
}

// iterBatches is IterBatches; method names the caller in errors.
func (d *Dataset) iterBatches(ctx context.Context, method string, size int, opts []IterOption) iter.Seq2[arrow.RecordBatch, error] {
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
		if cfg.prefetch > 0 {
			d.prefetchBatches(ctx, size, &cfg, yield)
			return
		}
		err := d.produceBatches(ctx, size, &cfg, func(b arrow.RecordBatch) error {
			ok := yield(b, nil)
			b.Release()
			if !ok {
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			yield(nil, err)
		}
	}
}

// produceBatches runs the plan and calls emit with each batch, in order;
// emit takes over the batch's reference.
func (d *Dataset) produceBatches(ctx context.Context, size int, cfg *iterConfig, emit func(arrow.RecordBatch) error) error {
	return batchesFrom(d.cfg.rt.Allocator(), size, cfg, func(fn func(blocks.Block) error) error {
		return d.forEachBlock(ctx, fn)
	}, emit)
}

// batchesFrom rebatches (or shuffles) the blocks that forEach passes to its
// function, as produceBatches does for a plan's output.
func batchesFrom(alloc memory.Allocator, size int, cfg *iterConfig, forEach func(func(blocks.Block) error) error, emit func(arrow.RecordBatch) error) error {
	if cfg.shuffle {
		sb := &shuffleBuffer{alloc: alloc, size: int64(size), min: int64(cfg.bufferRows), rng: rand.New(rand.NewPCG(cfg.seed, 0x5eed))}
		defer sb.release()
		err := forEach(func(b blocks.Block) error { return sb.add(b, emit) })
		if err != nil {
			return err
		}
		return sb.finish(cfg.dropLast, emit)
	}
	rb := &rebatcher{size: int64(size), alloc: alloc}
	defer rb.release()
	err := forEach(func(b blocks.Block) error { return rb.add(b, emit) })
	if err != nil || cfg.dropLast {
		return err // with DropLast, the partial batch left pending is released
	}
	return rb.flush(emit)
}

// prefetchBatches runs produceBatches on a goroutine that sends batches over
// a channel, keeping at most cfg.prefetch of them ahead of the consumer.
func (d *Dataset) prefetchBatches(ctx context.Context, size int, cfg *iterConfig, yield func(arrow.RecordBatch, error) bool) {
	pctx, cancel := context.WithCancel(ctx)
	// One batch waits in the producer's hand, the rest in the channel.
	ch := make(chan arrow.RecordBatch, cfg.prefetch-1)
	errc := make(chan error, 1)
	go func() {
		defer close(ch)
		errc <- d.produceBatches(pctx, size, cfg, func(b arrow.RecordBatch) error {
			select {
			case ch <- b:
				return nil
			case <-pctx.Done():
				b.Release()
				return pctx.Err()
			}
		})
	}()
	defer func() {
		// Stop the producer and wait for it (the channel closes when it has
		// returned), releasing what it had prepared.
		cancel()
		for b := range ch {
			b.Release()
		}
	}()
	for b := range ch {
		ok := yield(b, nil)
		b.Release()
		if !ok {
			return
		}
	}
	if err := <-errc; err != nil {
		yield(nil, err)
	}
}

// shuffleBuffer draws batches at random from a buffer of rows: pool is a
// random permutation of rows of which pool[pos:] are not yet yielded;
// pending holds blocks that arrived since the pool was last built.
type shuffleBuffer struct {
	alloc       memory.Allocator
	size, min   int64
	rng         *rand.Rand
	pool        blocks.Block
	pos         int64
	pending     []blocks.Block
	pendingRows int64
}

func (s *shuffleBuffer) poolLeft() int64 {
	if s.pool == nil {
		return 0
	}
	return s.pool.NumRows() - s.pos
}

func (s *shuffleBuffer) buffered() int64 { return s.poolLeft() + s.pendingRows }

func (s *shuffleBuffer) add(b blocks.Block, emit func(arrow.RecordBatch) error) error {
	if b.NumRows() == 0 {
		return nil
	}
	b.Retain()
	s.pending = append(s.pending, b)
	s.pendingRows += b.NumRows()
	// Draw only while the buffer keeps at least min rows after the batch.
	for s.buffered() >= s.min+s.size {
		if err := s.next(emit); err != nil {
			return err
		}
	}
	return nil
}

// finish yields what is left once the input has run out.
func (s *shuffleBuffer) finish(dropLast bool, emit func(arrow.RecordBatch) error) error {
	for s.buffered() > 0 {
		if dropLast && s.buffered() < s.size {
			return nil
		}
		if err := s.next(emit); err != nil {
			return err
		}
	}
	return nil
}

// next yields the next batch (the whole buffer if it holds less than size).
func (s *shuffleBuffer) next(emit func(arrow.RecordBatch) error) error {
	if s.poolLeft() < s.size && s.pendingRows > 0 {
		if err := s.refill(); err != nil {
			return err
		}
	}
	take := min(s.size, s.poolLeft())
	b := blocks.Slice(s.pool, s.pos, s.pos+take)
	s.pos += take
	return emit(b)
}

// refill permutes the rows left in the pool together with the pending ones
// into a new pool.
func (s *shuffleBuffer) refill() error {
	parts := s.pending
	if s.poolLeft() > 0 {
		parts = append([]blocks.Block{blocks.Slice(s.pool, s.pos, s.pool.NumRows())}, parts...)
	}
	s.pending, s.pendingRows = nil, 0
	defer releaseBlocks(parts)
	all, err := blocks.Concat(s.alloc, parts)
	if err != nil {
		return err
	}
	defer all.Release()
	perm := s.rng.Perm(int(all.NumRows()))
	idx := make([]int64, len(perm))
	for i, p := range perm {
		idx[i] = int64(p)
	}
	pool, err := blocks.Take(s.alloc, all, idx)
	if err != nil {
		return err
	}
	if s.pool != nil {
		s.pool.Release()
	}
	s.pool, s.pos = pool, 0
	return nil
}

func (s *shuffleBuffer) release() {
	releaseBlocks(s.pending)
	s.pending, s.pendingRows = nil, 0
	if s.pool != nil {
		s.pool.Release()
		s.pool = nil
	}
}

// MatrixBatch is a batch of rows as float64 matrices for numeric code: X has
// a row per dataset row and a column per feature, in the order the features
// were named; Y holds the label column, nil when no label was asked for.
// Both are freshly allocated and belong to the caller.
type MatrixBatch struct {
	X *mat.Dense
	Y []float64
}

// IterMatrixBatches is IterBatches converting each batch to a MatrixBatch of
// the features columns (and the label column unless label is ""). The
// columns must be numeric (integers of any width, floats, or booleans as 0
// and 1). A null value is an error naming the column and the row, counted
// from 0 in the order the iterator yields rows; convert or drop nulls first
// (with Map or Filter) rather than have them silently become NaN.
func (d *Dataset) IterMatrixBatches(ctx context.Context, size int, features []string, label string, opts ...IterOption) iter.Seq2[MatrixBatch, error] {
	const method = "dataset.IterMatrixBatches"
	features = append([]string(nil), features...)
	return func(yield func(MatrixBatch, error) bool) {
		if len(features) == 0 {
			yield(MatrixBatch{}, fmt.Errorf("%s: no feature columns", method))
			return
		}
		var row int64
		for b, err := range d.iterBatches(ctx, method, size, opts) {
			if err != nil {
				yield(MatrixBatch{}, err)
				return
			}
			if b.NumRows() == 0 {
				continue
			}
			mb, err := toMatrix(b, features, label, row)
			row += b.NumRows()
			if err != nil {
				yield(MatrixBatch{}, fmt.Errorf("%s: %w", method, err))
				return
			}
			if !yield(mb, nil) {
				return
			}
		}
	}
}

// toMatrix converts b; first is the index of b's first row in the stream.
func toMatrix(b arrow.RecordBatch, features []string, label string, first int64) (MatrixBatch, error) {
	n, k := int(b.NumRows()), len(features)
	data := make([]float64, n*k)
	for j, name := range features {
		if err := fillFloats(b, name, data[j:], k, first); err != nil {
			return MatrixBatch{}, err
		}
	}
	mb := MatrixBatch{X: mat.NewDense(n, k, data)}
	if label != "" {
		mb.Y = make([]float64, n)
		if err := fillFloats(b, label, mb.Y, 1, first); err != nil {
			return MatrixBatch{}, err
		}
	}
	return mb, nil
}

// fillFloats writes column name of b to dst[0], dst[stride], dst[2*stride], ...
func fillFloats(b arrow.RecordBatch, name string, dst []float64, stride int, first int64) error {
	col, err := blocks.Column(b, name)
	if err != nil {
		return err
	}
	if col.NullN() > 0 {
		for i := range col.Len() {
			if col.IsNull(i) {
				return fmt.Errorf("column %q is null at row %d", name, first+int64(i))
			}
		}
	}
	switch a := col.(type) {
	case *array.Int8:
		fill(dst, stride, a.Int8Values())
	case *array.Int16:
		fill(dst, stride, a.Int16Values())
	case *array.Int32:
		fill(dst, stride, a.Int32Values())
	case *array.Int64:
		fill(dst, stride, a.Int64Values())
	case *array.Uint8:
		fill(dst, stride, a.Uint8Values())
	case *array.Uint16:
		fill(dst, stride, a.Uint16Values())
	case *array.Uint32:
		fill(dst, stride, a.Uint32Values())
	case *array.Uint64:
		fill(dst, stride, a.Uint64Values())
	case *array.Float32:
		fill(dst, stride, a.Float32Values())
	case *array.Float64:
		fill(dst, stride, a.Float64Values())
	case *array.Boolean:
		for i := range a.Len() {
			if a.Value(i) {
				dst[i*stride] = 1
			} else {
				dst[i*stride] = 0
			}
		}
	default:
		return fmt.Errorf("column %q has type %s, not a number", name, col.DataType())
	}
	return nil
}

func fill[T blocks.Numeric](dst []float64, stride int, vals []T) {
	for i, v := range vals {
		dst[i*stride] = float64(v)
	}
}
