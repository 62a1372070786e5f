package pipeline

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

// Exchange is a logical all-to-all operator run as a map/reduce exchange,
// the shape of every shuffle: each input block is split by Map into N
// parts, and reduce task j builds output j from part j of every input.
// Optional Sample and Prepare first compute a state every map task gets
// (the range boundaries of a sort) from samples of every input.
//
// Memory stays bounded by the object store: inputs and parts are objects
// that spill under pressure; a map task releases its input when it ends; a
// reduce task holds only its own partition's parts.
type Exchange struct {
	Input ops.Node
	Label string
	// Partitions is N; 0 means one per input block (known once all inputs
	// are in, which makes the map wait for the last input), or what
	// PartitionsFor says.
	Partitions int
	// PartitionsFor, when set and Partitions is 0, picks N from the number
	// of input blocks and their bytes once all inputs are in.
	PartitionsFor func(blocks int, bytes int64) int
	// Sample, when set, returns a small block of samples of one input block;
	// Prepare then turns all the samples into the state the map tasks get.
	Sample  func(tc *exec.TaskContext, b blocks.Block) (blocks.Block, error)
	Prepare func(tc *exec.TaskContext, samples []blocks.Block, n int) (blocks.Block, error)
	// Map splits input block index into exactly n parts. state is
	// Prepare's output, or nil.
	Map func(tc *exec.TaskContext, index int, b, state blocks.Block, n int) ([]blocks.Block, error)
	// Reduce makes the output blocks of partition j from its parts, in input order.
	Reduce func(tc *exec.TaskContext, j int, parts []blocks.Block) ([]blocks.Block, error)

	// More are further inputs (the right side of a join). With More, the
	// exchange calls MapSide and ReduceSides instead of Map and Reduce:
	// side 0 is Input, side k is More[k-1].
	More        []ops.Node
	MapSide     func(tc *exec.TaskContext, side, index int, b blocks.Block, n int) ([]blocks.Block, error)
	ReduceSides func(tc *exec.TaskContext, j int, parts [][]blocks.Block) ([]blocks.Block, error)
	// OutSchema is the output schema when it is known; nil means the input's.
	OutSchema *arrow.Schema
	// KeepsRows says the output has exactly the input's rows (a shuffle or a
	// sort), so the row count is known when the input's is.
	KeepsRows bool
	// SortKeys, when set, says the exchange is a sort: its output is its
	// input's rows ordered by these keys, ties in input order, so the
	// optimizer may turn a Limit over it into an ops.TopK.
	SortKeys []blocks.SortKey

	// Spec, when set, describes Sample, Prepare, Map and Reduce (or MapSide
	// and ReduceSides) as data: BuildExchange(*Spec()) makes the same
	// functions, so the exchange's tasks may run in another process. It is
	// called as each task is dispatched, so it may carry what the operator
	// has learned so far (whether an aggregation still pre-aggregates). A
	// nil Spec, or a nil result, keeps the tasks in the driver.
	Spec func() *ops.Spec
	// SpecErr, when set, says why the exchange has no Spec when that is the
	// user's to fix (a function that is not registered); ops.Unshippable
	// reports it.
	SpecErr error
	// ObserveMap, when set, is called on the executor's loop after each map
	// task with the rows of its input block and of its parts, so what the
	// maps learn (how well a block pre-aggregates) reaches the driver even
	// from tasks that ran in another process. Not called when one-to-one
	// stages run inside the map (their input is not the map's).
	ObserveMap func(inRows, outRows int64)
	// FilterInputs, when set, says which inputs (0 Input, k More[k-1]) a
	// filter above the exchange that reads cols may move below, giving
	// the same result (ops.FilterRouter): a sort's input, a join side
	// whose rows the join keeps as they are.
	FilterInputs func(cols []string) []int
	// PruneInputs, when set, says which columns of each input the exchange
	// needs for the output columns out, and how to rebuild it over inputs
	// narrowed to them (ops.InputPruner): a join, whose tasks carry its
	// inputs' schemas. Nil results when nothing can be dropped.
	PruneInputs func(out []string) ([][]string, func([]ops.Node) ops.Node)
	// ReadsColumns, when set, says which of Input's columns the exchange
	// needs when only the columns out of its output are (nil: all): the
	// output's plus its keys (ops.ColumnPruner).
	ReadsColumns func(out []string) []string

	// FuseReads says the map may run inside the read tasks of a Read below
	// the exchange (readexchange.go): each map task then reads, maps every
	// block it read under the task's index, and outputs part j of them all
	// concatenated. Set it where that equals mapping each block alone, as
	// for partial aggregation (a random shuffle seeds by index: not there).
	// With Partitions 0, PartitionsFor picks N from the read tasks' sizes
	// before they run; over other inputs too, N is then picked from an
	// estimate before the input runs, so the map streams.
	FuseReads bool
	// MapTask, when set, maps all the blocks of one read task together
	// where the map runs inside the read tasks (FuseReads): it returns a
	// TaskMapper for input index of n partitions, fed every block the task
	// reads. A partial aggregation keeps one hash table per task so, not
	// one per block. Map must still be set, for inputs that are not reads.
	MapTask func(index, n int) TaskMapper
	// DictionaryKeys are input columns the map takes dictionary-encoded
	// (group keys it hashes by value): when the map runs inside the read
	// tasks behind a chain of expression stages, the read is asked for
	// them so (ops.DictionaryDatasource).
	DictionaryKeys []string
	// Broadcast, when set, says More[0] is small enough to send whole to
	// every task: a runner may collect it first (as an Arrow IPC stream,
	// MarshalBlocks) and run the exchange as the one-to-one stage Broadcast
	// makes of it over Input, so the exchange's barrier goes and the stage
	// fuses with the read before it and the aggregation after it
	// (InlineBroadcasts). A nil stage keeps the exchange.
	Broadcast func(more []byte) (*ops.OneToOne, error)

	// stages are one-to-one stages fused into Map by the planner, first to
	// last; a map task's spec lists them.
	stages []*ops.OneToOne
}

// TaskMapper maps every block of one read task into n parts
// (Exchange.MapTask).
type TaskMapper interface {
	// Add maps b, which it borrows.
	Add(tc *exec.TaskContext, b blocks.Block) error
	// Finish returns exactly n parts.
	Finish(tc *exec.TaskContext) ([]blocks.Block, error)
	// Release frees what the mapper holds; it is called once, after
	// Finish or instead of it.
	Release()
}

// FilterSides implements ops.FilterRouter.
func (x *Exchange) FilterSides(cols []string) []int {
	if x.FilterInputs == nil {
		return nil
	}
	return x.FilterInputs(cols)
}

// InputNeeds implements ops.InputPruner.
func (x *Exchange) InputNeeds(out []string) ([][]string, func([]ops.Node) ops.Node) {
	if x.PruneInputs == nil || out == nil {
		return nil, nil
	}
	return x.PruneInputs(out)
}

// InputColumns implements ops.ColumnPruner.
func (x *Exchange) InputColumns(out []string) ([]string, bool) {
	if x.ReadsColumns == nil || len(x.More) > 0 || x.OutSchema != nil {
		return nil, false
	}
	need := x.ReadsColumns(out)
	return need, need != nil
}

// SortedBy implements ops.Sorter.
func (x *Exchange) SortedBy() []blocks.SortKey { return x.SortKeys }

// SpecError implements ops.SpecErrorer.
func (x *Exchange) SpecError() error { return x.SpecErr }

// spec is the exchange's spec now, or nil.
func (x *Exchange) spec() *ops.Spec {
	if x.Spec == nil {
		return nil
	}
	return x.Spec()
}

func (x *Exchange) Name() string         { return x.Label }
func (x *Exchange) Children() []ops.Node { return append([]ops.Node{x.Input}, x.More...) }
func (x *Exchange) WithChildren(c []ops.Node) ops.Node {
	n := *x
	n.Input, n.More = c[0], append([]ops.Node(nil), c[1:]...)
	return &n
}
func (x *Exchange) Schema() *arrow.Schema {
	if x.OutSchema != nil {
		return x.OutSchema
	}
	return x.Input.Schema()
}
func (x *Exchange) Rows() int64 {
	if x.KeepsRows {
		return x.Input.Rows()
	}
	return -1
}

// exchangeOp runs an Exchange in phases: gather (and map, when nothing
// must be learned first), sample, prepare, map, reduce. Only the reduce
// phase emits outputs, in partition order, through taskOp.
type exchangeOp struct {
	taskOp
	x *Exchange

	inputs []exec.ObjectRef // input blocks by input index; ID 0 once mapped
	// reads, when set, are the read tasks the map tasks run themselves
	// (FuseReads), one per input index, and readSchema what they read.
	reads      []ops.ReadTask
	readSchema *arrow.Schema
	sides      []int // which input each block came from
	inputB     int64
	doneIns    int
	inputDone  bool
	n          int // partitions, once known

	samples   []exec.ObjectRef
	sampled   int
	nextInput int // next input to sample or map
	state     *exec.ObjectRef
	preparing bool

	parts  [][]exec.ObjectRef // parts[i][j]: part j of input i (ID 0 once merged away)
	partsB int64

	// Early merging (push-based shuffle): once the maps of a group of
	// mergeGroup consecutive inputs are done, part j of the whole group is
	// merged into one object, kept in the group's first slot.
	groupMapped map[int]int
	mergeQueue  [][2]int // (group, partition) merges ready to launch
	merges      int      // merge tasks run
	mapped      int
	running     int // sample, prepare and map tasks in flight
	reduced     int // reduce tasks launched
}

func newExchangeOp(x *Exchange, inputs ...Operator) *exchangeOp {
	o := &exchangeOp{x: x, n: x.Partitions}
	o.taskOp = taskOp{self: o, name: x.Label, inputs: inputs, inputsCounted: true}
	return o
}

func (o *exchangeOp) AddInput(side int, b Bundle) {
	if o.cancelled {
		b.release(o.env.rt)
		return
	}
	for _, r := range b.Refs {
		o.inputs = append(o.inputs, r)
		o.sides = append(o.sides, side)
		o.parts = append(o.parts, nil)
		o.inputB += r.Bytes
	}
	o.countInput(b)
}

func (o *exchangeOp) InputDone(int) {
	o.doneIns++
	if o.doneIns < len(o.upstream()) {
		return
	}
	o.inputDone = true
	if o.n == 0 {
		o.n = max(len(o.inputs), 1)
		if o.x.PartitionsFor != nil {
			var bytes int64
			for _, r := range o.inputs {
				bytes += r.Bytes
			}
			o.n = max(o.x.PartitionsFor(len(o.inputs), bytes), 1)
		}
	}
}

func (o *exchangeOp) InputFull(int) bool { return false }

// streamingMap says map tasks may start before every input is in.
func (o *exchangeOp) streamingMap() bool { return o.x.Sample == nil && o.x.Partitions > 0 }

type exchangePhase int

const (
	phaseWait exchangePhase = iota
	phaseSample
	phasePrepare
	phaseMerge
	phaseMap
	phaseReduce
)

// mergeGroup is how many consecutive map outputs are merged per partition,
// and minMergePartitions the partition count from which merging pays: with
// fewer partitions, parts are large and merging would only copy them again.
const (
	mergeGroup         = 16
	minMergePartitions = 16
)

func (o *exchangeOp) merging() bool {
	return o.n >= minMergePartitions && len(o.x.More) == 0
}

// phase is the kind of task that can be launched next, if any.
func (o *exchangeOp) phase() exchangePhase {
	switch {
	case !o.inputDone && !o.streamingMap():
		return phaseWait
	case o.x.Sample != nil && o.sampled < len(o.inputs):
		if o.nextInput < len(o.inputs) {
			return phaseSample
		}
		return phaseWait
	case o.x.Sample != nil && o.state == nil:
		if !o.preparing && o.sampled == len(o.inputs) && o.running == 0 {
			return phasePrepare
		}
		return phaseWait
	case len(o.mergeQueue) > 0:
		return phaseMerge
	case o.nextInput < len(o.inputs):
		return phaseMap
	case o.inputDone && o.mapped == len(o.inputs) && o.running == 0 && o.reduced < o.n:
		return phaseReduce
	}
	return phaseWait
}

func (o *exchangeOp) CanDispatch() bool {
	if o.cancelled {
		return false
	}
	switch o.phase() {
	case phaseSample, phasePrepare, phaseMerge, phaseMap:
		return o.running < o.env.maxAhead
	case phaseReduce:
		return !o.aheadFull()
	}
	return false
}

func (o *exchangeOp) Dispatch() {
	switch o.phase() {
	case phaseSample:
		o.dispatchSample()
	case phasePrepare:
		o.dispatchPrepare()
	case phaseMerge:
		o.dispatchMerge()
	case phaseMap:
		o.dispatchMap()
	case phaseReduce:
		o.dispatchReduce()
	}
}

// submit runs a task of the sample, prepare or map phase.
func (o *exchangeOp) submit(kind string, index int, inputs []exec.ObjectRef, run exec.RunFunc, spec *exec.TaskSpec, done func([]exec.ObjectRef)) {
	o.running++
	task := exec.Task{Operator: o.name + "." + kind, Index: index, Inputs: inputs, Run: run, Spec: spec}
	o.env.submit(o.self, task, func(res exec.TaskResult) {
		o.running--
		if o.cancelled || res.Err != nil {
			for _, r := range res.Outputs {
				o.env.rt.Release(r)
			}
			if res.Err != nil && !o.cancelled {
				o.env.fail(res.Err)
			}
			return
		}
		o.metrics.TaskWall += res.Wall
		done(res.Outputs)
	})
}

func (o *exchangeOp) dispatchSample() {
	i := o.nextInput
	o.nextInput++
	var spec *exec.TaskSpec
	if xs := o.x.spec(); xs != nil {
		spec = taskSpec(ExchangeSampleKind, exchangeArgs{X: *xs})
	}
	o.submit("sample", i, []exec.ObjectRef{o.inputs[i]}, sampleTaskFn(o.x.Sample), spec, func(out []exec.ObjectRef) {
		o.samples = append(o.samples, out...)
		o.sampled++
		if o.sampled == len(o.inputs) {
			o.nextInput = 0 // the map phase starts over the inputs
		}
	})
}

func (o *exchangeOp) dispatchPrepare() {
	o.preparing = true
	samples := o.samples
	o.samples = nil
	n := o.n
	var spec *exec.TaskSpec
	if xs := o.x.spec(); xs != nil {
		spec = taskSpec(ExchangePrepareKind, exchangeArgs{X: *xs, N: n})
	}
	o.submit("prepare", 0, samples, prepareTaskFn(o.x.Prepare, n), spec, func(out []exec.ObjectRef) {
		for _, r := range samples {
			o.env.rt.Release(r)
		}
		if len(out) != 1 {
			for _, r := range out {
				o.env.rt.Release(r)
			}
			o.env.fail(fmt.Errorf("%s: prepare made %d blocks, want 1", o.name, len(out)))
			return
		}
		o.state = &out[0]
	})
}

func (o *exchangeOp) dispatchMap() {
	if o.reads != nil {
		o.dispatchReadMap()
		return
	}
	i := o.nextInput
	o.nextInput++
	input := o.inputs[i]
	refs := []exec.ObjectRef{input}
	if o.state != nil {
		refs = append(refs, *o.state)
	}
	side, n := o.sides[i], o.n
	funcs := ExchangeFuncs{Map: o.x.Map, MapSide: o.x.MapSide}
	var spec *exec.TaskSpec
	if xs := o.x.spec(); xs != nil {
		if chain, ok := stageRefs(o.x.stages); ok {
			spec = taskSpec(ExchangeMapKind, exchangeArgs{X: *xs, Stages: chain, Index: i, N: n, Side: side})
		}
	}
	o.submit("map", i, refs, exchangeMapTaskFn(funcs, side, i, n), spec, func(out []exec.ObjectRef) {
		o.env.rt.Release(input)
		o.inputs[i] = exec.ObjectRef{}
		o.inputB -= input.Bytes
		outRows, ok := o.mapDone(i, out, "block")
		if ok && o.x.ObserveMap != nil && len(o.x.stages) == 0 {
			o.x.ObserveMap(input.Rows, outRows)
		}
	})
}

// dispatchReadMap launches the map task that reads input i itself.
func (o *exchangeOp) dispatchReadMap() {
	i := o.nextInput
	o.nextInput++
	rt, n := o.reads[i], o.n
	// What the read takes in, as far as it is known up front: a source
	// operator's count.
	o.metrics.RowsIn += max(rt.Rows, 0)
	o.metrics.BytesIn += max(rt.Bytes, 0)
	var spec *exec.TaskSpec
	if xs := o.x.spec(); xs != nil && rt.Spec != nil {
		chain, ok := stageRefs(o.x.stages)
		schema, err := ops.MarshalSchema(o.readSchema)
		if ok && err == nil {
			spec = taskSpec(ExchangeReadMapKind, readMapArgs{Read: *rt.Spec, Schema: schema,
				Exchange: exchangeArgs{X: *xs, Stages: chain, Index: i, N: n}})
		}
	}
	o.submit("map", i, nil, readMapTaskFn(readStream(rt.Read, rt.Stream), o.x.Map, o.x.MapTask, o.readSchema, i, n, rt.Stream != nil && expressionsOnly(o.x.stages)), spec, func(out []exec.ObjectRef) {
		outRows, ok := o.mapDone(i, out, "read")
		if ok && o.x.ObserveMap != nil && len(o.x.stages) == 0 && rt.Rows >= 0 {
			o.x.ObserveMap(rt.Rows, outRows) // the rows the task read, when known up front
		}
	})
}

// mapDone records the parts of input i (a "block" or a "read", for the
// error) and queues merges; it returns the parts' rows, or false when the
// map made the wrong number of parts, which fails the run.
func (o *exchangeOp) mapDone(i int, out []exec.ObjectRef, what string) (outRows int64, ok bool) {
	if len(out) != o.n {
		for _, r := range out {
			o.env.rt.Release(r)
		}
		o.env.fail(fmt.Errorf("%s: map of %s %d made %d parts, want %d", o.name, what, i, len(out), o.n))
		return 0, false
	}
	o.parts[i] = out
	for _, r := range out {
		o.partsB += r.Bytes
		outRows += r.Rows
	}
	o.mapped++
	if o.merging() {
		if o.groupMapped == nil {
			o.groupMapped = map[int]int{}
		}
		k := i / mergeGroup
		o.groupMapped[k]++
		if o.groupMapped[k] == mergeGroup {
			for j := range o.n {
				o.mergeQueue = append(o.mergeQueue, [2]int{k, j})
			}
		}
	}
	return outRows, true
}

// dispatchMerge concatenates part j of a group's map outputs into one
// object, so reduce j reads one object per group instead of one per map.
func (o *exchangeOp) dispatchMerge() {
	k, j := o.mergeQueue[0][0], o.mergeQueue[0][1]
	o.mergeQueue = o.mergeQueue[1:]
	first := k * mergeGroup
	var refs []exec.ObjectRef
	for i := first; i < first+mergeGroup; i++ {
		refs = append(refs, o.parts[i][j])
	}
	o.merges++
	o.submit("merge", k*o.n+j, refs, mergeTaskFn, &exec.TaskSpec{Kind: ExchangeMergeKind}, func(out []exec.ObjectRef) {
		for i := first; i < first+mergeGroup; i++ {
			o.partsB -= o.parts[i][j].Bytes
			o.env.rt.Release(o.parts[i][j])
			o.parts[i][j] = exec.ObjectRef{}
		}
		o.parts[first][j] = out[0]
		o.partsB += out[0].Bytes
	})
}

func (o *exchangeOp) dispatchReduce() {
	j := o.reduced
	o.reduced++
	var in Bundle
	var sides []int // the side of each part, for ReduceSides
	for i := range o.parts {
		if o.parts[i][j].ID == 0 {
			continue // merged into the first part of its group
		}
		in.Refs = append(in.Refs, o.parts[i][j])
		sides = append(sides, o.sides[i])
		o.partsB -= o.parts[i][j].Bytes
		o.parts[i][j] = exec.ObjectRef{}
	}
	if o.reduced == o.n && o.state != nil {
		// The last reduce is launched: the state is no longer needed.
		o.env.rt.Release(*o.state)
		o.state = nil
	}
	nSides := len(o.upstream())
	funcs := ExchangeFuncs{Reduce: o.x.Reduce, ReduceSides: o.x.ReduceSides}
	var spec *exec.TaskSpec
	if xs := o.x.spec(); xs != nil {
		a := exchangeArgs{X: *xs, Index: j}
		if funcs.ReduceSides != nil {
			a.Sides, a.NSides = sides, nSides
		}
		spec = taskSpec(ExchangeReduceKind, a)
	}
	o.launch(exec.Task{Inputs: in.Refs, Run: exchangeReduceTaskFn(funcs, j, sides, nSides), Spec: spec}, in, in.Bytes(), false)
}

func (o *exchangeOp) Finished() bool {
	if o.cancelled {
		return o.running == 0 && o.active == 0 && len(o.outQueue) == 0
	}
	return o.inputDone && o.reduced == o.n && o.mapped == len(o.inputs) && o.active == 0 && len(o.outQueue) == 0
}

func (o *exchangeOp) Cancel() {
	o.cancelTasks()
	rt := o.env.rt
	for i, r := range o.inputs {
		if r.ID != 0 {
			rt.Release(r)
			o.inputs[i] = exec.ObjectRef{}
		}
	}
	for _, ps := range o.parts {
		for j, r := range ps {
			if r.ID != 0 {
				rt.Release(r)
				ps[j] = exec.ObjectRef{}
			}
		}
	}
	for _, r := range o.samples {
		rt.Release(r)
	}
	o.samples = nil
	if o.state != nil {
		rt.Release(*o.state)
		o.state = nil
	}
	o.inputB, o.partsB = 0, 0
}

func (o *exchangeOp) Usage() Usage {
	u := Usage{InputBytes: o.inputB + o.partsB, OutputBytes: o.outBytes + o.heldBytes, Active: o.active + o.running}
	switch o.phase() {
	case phaseMap:
		switch {
		case o.nextInput < len(o.reads):
			u.TaskBytes = o.estimate(max(o.reads[o.nextInput].Bytes, 1<<20))
		case o.nextInput < len(o.inputs):
			u.TaskBytes = 2 * o.inputs[o.nextInput].Bytes
		}
	case phaseReduce:
		var b int64
		for i := range o.parts {
			b += o.parts[i][o.reduced].Bytes
		}
		u.TaskBytes = 2 * b
	}
	return u
}

// upstream are the operators feeding the exchange, one per side.
func (o *exchangeOp) upstream() []Operator { return o.taskOp.inputs }
