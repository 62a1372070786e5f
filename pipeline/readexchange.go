package pipeline

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

// An exchange that sets FuseReads runs its map inside the read tasks of the
// Read below it (and the one-to-one chain between them): each map task
// reads its part of the source, runs the chain and the map on every block
// as it goes, and outputs part j of all of them concatenated. A scan ->
// filter -> partial aggregate then makes one pass over the data in one
// task per read task, and the decoded blocks never wait in the object
// store for a map task (they used to wait for all reads when N was picked
// from the input blocks).

// ExchangeReadMapKind is a map task that reads its input itself.
const ExchangeReadMapKind = "shoal.exchange-read-map"

// readChain is the Read at the bottom of n (n itself, or the input of a
// fused chain that may run inside read tasks) and the chain's stages.
func readChain(n ops.Node) (*ops.Read, []*ops.OneToOne, bool) {
	switch x := n.(type) {
	case *ops.Read:
		return x, nil, true
	case *ops.Fused:
		if r, ok := fusesWithRead(x); ok {
			return r, x.Stages, true
		}
	}
	return nil, nil, false
}

// fusesWithRead is the Read under f when f's chain may run inside its read
// tasks (as Ray fuses Read->Map): no larger batches wanted, no actors, the
// same CPUs per task, no cap on concurrency.
func fusesWithRead(f *ops.Fused) (*ops.Read, bool) {
	r, ok := f.Input.(*ops.Read)
	if !ok || f.BatchRows() != 0 || f.HasActors() || f.MaxConcurrency() != 0 || ops.TaskCPUs(r.CPUs) != f.TaskCPUs() {
		return nil, false
	}
	return r, true
}

// buildReadExchange builds x as an exchange that reads its input, or
// reports false when it cannot (x does not allow it, the input is not a
// read, the read's tasks are capped or its schema unknown).
func buildReadExchange(x *Exchange) (Operator, bool, error) {
	if !x.FuseReads || x.Sample != nil || len(x.More) > 0 || x.MapSide != nil || (x.Partitions == 0 && x.PartitionsFor == nil) {
		return nil, false, nil
	}
	r, stages, ok := readChain(x.Input)
	if !ok || r.MaxConcurrency != 0 || ops.TaskCPUs(r.CPUs) != 1 || r.Schema() == nil {
		return nil, false, nil
	}
	src := r.Source
	if ds, ok := src.(ops.DictionaryDatasource); ok && len(x.DictionaryKeys) > 0 && expressionsOnly(stages) {
		src = ds.WithDictionaryColumns(x.DictionaryKeys)
	}
	tasks, err := src.ReadTasks(r.Parallelism)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", r.Name(), err)
	}
	fused := *x
	fused.Label = r.Name() + "->" + x.Label
	if f, ok := x.Input.(*ops.Fused); ok {
		fused.Label = r.Name() + "->" + f.Name() + "->" + x.Label
		fused.stages = append(append([]*ops.OneToOne(nil), stages...), x.stages...)
		fused.Map = stagesThenMap(stages, x.Map)
		fused.MapTask = stagesThenMapTask(stages, x.MapTask)
	}
	if fused.Partitions == 0 {
		fused.Partitions = max(x.PartitionsFor(estimateBlocks(tasks), estimateBytes(tasks)), 1)
	}
	o := newExchangeOp(&fused)
	o.reads, o.readSchema = tasks, r.Schema()
	o.inputs = make([]exec.ObjectRef, len(tasks))
	o.sides = make([]int, len(tasks))
	o.parts = make([][]exec.ObjectRef, len(tasks))
	o.inputDone = true
	return o, true, nil
}

// expressionsOnly says every stage of a chain is an expression program or
// a column selection: such stages handle dictionary-encoded columns as
// their values and hold no block's memory once they return, where a Go
// function might do neither.
func expressionsOnly(stages []*ops.OneToOne) bool {
	for _, st := range stages {
		if st.Program == nil && st.Project == nil {
			return false
		}
	}
	return true
}

// withUpfrontPartitions is x with N picked before its input runs, from an
// estimate of the input (the read or materialized blocks it comes from),
// so its map streams instead of waiting for every input block; x itself
// when it does not allow that (FuseReads) or nothing can be estimated.
func withUpfrontPartitions(x *Exchange) *Exchange {
	if !x.FuseReads || x.Partitions != 0 || x.PartitionsFor == nil || x.Sample != nil || len(x.More) > 0 {
		return x
	}
	blocks, bytes, ok := estimateInput(x.Input)
	if !ok {
		return x
	}
	up := *x
	up.Partitions = max(x.PartitionsFor(blocks, bytes), 1)
	return &up
}

// estimateInput estimates the blocks and bytes n makes from the read or
// the materialized blocks at the bottom of its one-to-one chain.
func estimateInput(n ops.Node) (int, int64, bool) {
	switch x := n.(type) {
	case *ops.Read:
		tasks, err := x.Source.ReadTasks(x.Parallelism)
		if err != nil || len(tasks) == 0 {
			return 0, 0, false
		}
		return estimateBlocks(tasks), estimateBytes(tasks), true
	case *ops.Refs:
		var bytes int64
		for _, r := range x.Refs {
			bytes += r.Bytes
		}
		return max(len(x.Refs), 1), bytes, true
	case *ops.Fused:
		return estimateInput(x.Input)
	case *ops.OneToOne:
		return estimateInput(x.Input)
	}
	return 0, 0, false
}

// estimateBlocks is about how many blocks the read tasks make.
func estimateBlocks(tasks []ops.ReadTask) int {
	n := 0
	for _, t := range tasks {
		switch {
		case t.Rows > 0:
			n += int(max(t.Rows/(64<<10), 1))
		case t.Bytes > 0:
			n += int(max(t.Bytes/(2<<20), 1))
		default:
			n++
		}
	}
	return max(n, 1)
}

// estimateBytes is about how many bytes the read tasks decode: files are
// compressed, so twice their size.
func estimateBytes(tasks []ops.ReadTask) int64 {
	var b int64
	for _, t := range tasks {
		b += 2 * max(t.Bytes, 0)
	}
	return b
}

// readStream is a read task as a stream of blocks: its Stream, or its
// Read's blocks handed over one by one.
func readStream(read ops.ReadFunc, stream func(*exec.TaskContext, func(blocks.Block) error) error) func(*exec.TaskContext, func(blocks.Block) error) error {
	if stream != nil {
		return stream
	}
	return func(tc *exec.TaskContext, emit func(blocks.Block) error) error {
		in, err := read(tc)
		if err != nil {
			releaseAll(in)
			return err
		}
		for k, b := range in {
			in[k] = nil
			if err := emit(b); err != nil {
				releaseAll(in)
				return err
			}
		}
		return nil
	}
}

// readMapTaskFn maps each block as it is read, under the task's index, and
// concatenates the parts of each partition (blockMapper); with mapTask,
// its TaskMapper takes all the task's blocks instead. A read of no rows
// maps an empty block of the read's schema, so every partition still gets
// a part. With recycle (the chain before the map is expressions only, so
// no Go function holds a block's memory), the read may reuse the buffers
// of the blocks the map has released.
func readMapTaskFn(stream func(*exec.TaskContext, func(blocks.Block) error) error, mapFn func(*exec.TaskContext, int, blocks.Block, blocks.Block, int) ([]blocks.Block, error), mapTask func(index, n int) TaskMapper, schema *arrow.Schema, i, n int, recycle bool) exec.RunFunc {
	return func(tc *exec.TaskContext, _ []blocks.Block) ([]blocks.Block, error) {
		if recycle {
			tc.ReadBlocksStayInTask = true
			defer func() { tc.ReadBlocksStayInTask = false }()
		}
		var m TaskMapper = &blockMapper{mapFn: mapFn, index: i, n: n, parts: make([][]blocks.Block, n)}
		if mapTask != nil {
			m = mapTask(i, n)
		}
		return readTaskMapped(tc, stream, m, schema, n)
	}
}

// blockMapper is the TaskMapper of a per-block map: it keeps each block's
// n parts and concatenates part j of all of them at the end.
type blockMapper struct {
	mapFn    func(*exec.TaskContext, int, blocks.Block, blocks.Block, int) ([]blocks.Block, error)
	index, n int
	parts    [][]blocks.Block
	mapped   int
}

func (m *blockMapper) Add(tc *exec.TaskContext, b blocks.Block) error {
	ps, err := m.mapFn(tc, m.index, b, nil, m.n)
	if err != nil {
		return err
	}
	if len(ps) != m.n {
		releaseAll(ps)
		return fmt.Errorf("map of block %d made %d parts, want %d", m.mapped, len(ps), m.n)
	}
	m.mapped++
	for j, p := range ps {
		m.parts[j] = append(m.parts[j], p)
	}
	return nil
}

func (m *blockMapper) Finish(tc *exec.TaskContext) ([]blocks.Block, error) {
	out := make([]blocks.Block, m.n)
	for j, ps := range m.parts {
		var err error
		if out[j], err = blocks.ConcatParts(tc.Alloc, ps); err != nil {
			releaseAll(out)
			return nil, err
		}
	}
	return out, nil
}

func (m *blockMapper) Release() {
	for _, ps := range m.parts {
		releaseAll(ps)
	}
}

// readTaskMapped feeds every block the read streams to m and returns its
// n parts; a read of no rows feeds it an empty block of the read's schema.
func readTaskMapped(tc *exec.TaskContext, stream func(*exec.TaskContext, func(blocks.Block) error) error, m TaskMapper, schema *arrow.Schema, n int) ([]blocks.Block, error) {
	defer m.Release()
	blocksRead := 0
	if err := stream(tc, func(b blocks.Block) error {
		defer b.Release()
		blocksRead++
		return m.Add(tc, b)
	}); err != nil {
		return nil, err
	}
	if blocksRead == 0 {
		empty := blocks.Empty(tc.Alloc, schema)
		err := m.Add(tc, empty)
		empty.Release()
		if err != nil {
			return nil, err
		}
	}
	out, err := m.Finish(tc)
	if err != nil {
		return nil, err
	}
	if len(out) != n {
		releaseAll(out)
		return nil, fmt.Errorf("task map made %d parts, want %d", len(out), n)
	}
	return out, nil
}

type readMapArgs struct {
	Read     ops.Spec     `json:"read"`
	Exchange exchangeArgs `json:"exchange"`
	Schema   []byte       `json:"schema"`
}

func init() {
	exec.RegisterTaskKind(ExchangeReadMapKind, func(args []byte) (exec.RunFunc, error) {
		a, err := decode[readMapArgs](args)
		if err != nil {
			return nil, err
		}
		f, err := buildExchangeArgs(ExchangeMapKind, a.Exchange)
		if err != nil {
			return nil, err
		}
		read, err := ops.BuildRead(a.Read)
		if err != nil {
			return nil, err
		}
		schema, err := ops.UnmarshalSchema(a.Schema)
		if err != nil {
			return nil, err
		}
		// A worker reads the whole task before mapping (readStream of a
		// Read): nothing to recycle between blocks.
		return readMapTaskFn(readStream(read, nil), f.Map, f.MapTask, schema, a.Exchange.Index, a.Exchange.N, false), nil
	})
}
