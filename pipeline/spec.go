package pipeline

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

// Task kinds of the tasks this package launches with an exec.TaskSpec. Their
// builders, registered in init, compose the function from its parts with the
// same code the operators use, so a task built from its spec computes what
// the operator's own function does.
const (
	// FusedTaskKind is a read task and the one-to-one chain fused after it,
	// or a map task over a fused chain.
	FusedTaskKind = "shoal.fused"
	// Exchange phases.
	ExchangeSampleKind  = "shoal.exchange-sample"
	ExchangePrepareKind = "shoal.exchange-prepare"
	ExchangeMapKind     = "shoal.exchange-map"
	ExchangeMergeKind   = "shoal.exchange-merge"
	ExchangeReduceKind  = "shoal.exchange-reduce"
	// RepartitionTaskKind is a task of RepartitionPlan.
	RepartitionTaskKind = "shoal.repartition"
	// PassThroughTaskKind returns its one input as is.
	PassThroughTaskKind = "shoal.pass-through"
	// TopKMergeTaskKind is a merge task of an ops.TopK.
	TopKMergeTaskKind = "shoal.topk-merge"
)

// ExchangeFuncs are the functions of an Exchange that its Spec describes;
// see the Exchange fields of the same names.
type ExchangeFuncs struct {
	Sample      func(tc *exec.TaskContext, b blocks.Block) (blocks.Block, error)
	Prepare     func(tc *exec.TaskContext, samples []blocks.Block, n int) (blocks.Block, error)
	Map         func(tc *exec.TaskContext, index int, b, state blocks.Block, n int) ([]blocks.Block, error)
	MapTask     func(index, n int) TaskMapper
	Reduce      func(tc *exec.TaskContext, j int, parts []blocks.Block) ([]blocks.Block, error)
	MapSide     func(tc *exec.TaskContext, side, index int, b blocks.Block, n int) ([]blocks.Block, error)
	ReduceSides func(tc *exec.TaskContext, j int, parts [][]blocks.Block) ([]blocks.Block, error)
}

// ExchangeBuilder builds an exchange's functions from its spec's arguments.
type ExchangeBuilder func(args json.RawMessage) (ExchangeFuncs, error)

// exchangeKinds is filled from init functions, so every copy of the binary
// has the same builders; the mutex guards registration against lookups.
var exchangeKinds struct {
	sync.RWMutex
	m map[string]ExchangeBuilder
}

// RegisterExchange makes exchange specs of kind buildable by BuildExchange.
// Call it from an init function; registering a kind twice panics.
func RegisterExchange(kind string, build ExchangeBuilder) {
	exchangeKinds.Lock()
	defer exchangeKinds.Unlock()
	if _, dup := exchangeKinds.m[kind]; dup || kind == "" {
		panic("pipeline: exchange kind registered twice or unnamed: " + kind)
	}
	if exchangeKinds.m == nil {
		exchangeKinds.m = map[string]ExchangeBuilder{}
	}
	exchangeKinds.m[kind] = build
}

// BuildExchange builds the functions an exchange spec describes.
func BuildExchange(s ops.Spec) (ExchangeFuncs, error) {
	exchangeKinds.RLock()
	build, ok := exchangeKinds.m[s.Kind]
	var kinds []string
	if !ok {
		for k := range exchangeKinds.m {
			kinds = append(kinds, k)
		}
	}
	exchangeKinds.RUnlock()
	if !ok {
		sort.Strings(kinds)
		return ExchangeFuncs{}, fmt.Errorf("pipeline: no exchange kind %q in this binary (registered: %v): run the same build everywhere", s.Kind, kinds)
	}
	f, err := build(s.Args)
	if err != nil {
		return ExchangeFuncs{}, fmt.Errorf("pipeline: building a %s exchange: %w", s.Kind, err)
	}
	return f, nil
}

// ConstSpec is an Exchange.Spec that always returns s.
func ConstSpec(s *ops.Spec) func() *ops.Spec { return func() *ops.Spec { return s } }

// stageRef is a fused stage as data: its label (errors name it) and spec.
type stageRef struct {
	Label string   `json:"label"`
	Spec  ops.Spec `json:"spec"`
}

// stageRefs describes a chain, or reports false when a stage has no spec.
func stageRefs(stages []*ops.OneToOne) ([]stageRef, bool) {
	refs := make([]stageRef, len(stages))
	for i, st := range stages {
		if st.Spec == nil || st.Actors != nil {
			return nil, false
		}
		refs[i] = stageRef{Label: st.Label, Spec: *st.Spec}
	}
	return refs, true
}

// buildStages rebuilds a chain from its description.
func buildStages(refs []stageRef) ([]*ops.OneToOne, error) {
	stages := make([]*ops.OneToOne, len(refs))
	for i, r := range refs {
		fn, err := ops.BuildStage(r.Spec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Label, err)
		}
		stages[i] = &ops.OneToOne{Label: r.Label, Fn: fn, Spec: &r.Spec}
	}
	return stages, nil
}

func taskSpec(kind string, args any) *exec.TaskSpec {
	data, err := json.Marshal(args)
	if err != nil {
		return nil // not shippable: the task runs in the driver
	}
	return &exec.TaskSpec{Kind: kind, Args: data}
}

type fusedArgs struct {
	Read     *ops.Spec  `json:"read,omitempty"`
	Stages   []stageRef `json:"stages,omitempty"`
	MaxBytes int64      `json:"max_bytes,omitempty"`
}

// readTaskSpec describes a read task and its chain, or is nil.
func readTaskSpec(read *ops.Spec, stages []*ops.OneToOne, maxBytes int64) *exec.TaskSpec {
	if read == nil {
		return nil
	}
	refs, ok := stageRefs(stages)
	if !ok {
		return nil
	}
	return taskSpec(FusedTaskKind, fusedArgs{Read: read, Stages: refs, MaxBytes: maxBytes})
}

// mapTaskSpec describes a map task over a chain, or is nil.
func mapTaskSpec(stages []*ops.OneToOne, maxBytes int64) *exec.TaskSpec {
	refs, ok := stageRefs(stages)
	if !ok {
		return nil
	}
	return taskSpec(FusedTaskKind, fusedArgs{Stages: refs, MaxBytes: maxBytes})
}

// readTaskFn is a source's task: the read, then the chain on each block,
// as the read streams it when it can (so a chain that shrinks blocks, a
// filter or a top-k, holds one decoded block at a time, not the task's).
// Where the runtime lets a task hand outputs over early (tc.Emit), each
// block with rows goes to the next operator as soon as it is made: a file
// read whole by one task feeds the stages after it while it is read.
func readTaskFn(read ops.ReadFunc, stream func(*exec.TaskContext, func(blocks.Block) error) error, stages []*ops.OneToOne, maxBytes int64) exec.RunFunc {
	return func(tc *exec.TaskContext, _ []blocks.Block) ([]blocks.Block, error) {
		var out []blocks.Block
		err := readStream(read, stream)(tc, func(b blocks.Block) error {
			if len(stages) > 0 {
				var err error
				if b, err = runStages(tc, stages, b); err != nil {
					return err
				}
			}
			if tc.Emit != nil && b.NumRows() > 0 {
				parts := splitLarge([]blocks.Block{b}, maxBytes)
				for i, part := range parts {
					if err := tc.Emit(part); err != nil {
						releaseAll(parts[i+1:])
						return err
					}
				}
				return nil
			}
			out = append(out, b)
			return nil
		})
		if err != nil {
			releaseAll(out)
			return nil, err
		}
		return splitLarge(out, maxBytes), nil
	}
}

// mapTaskFn is a map operator's task: the chain over its inputs as one block.
func mapTaskFn(stages []*ops.OneToOne, maxBytes int64) exec.RunFunc {
	return func(tc *exec.TaskContext, inputs []blocks.Block) ([]blocks.Block, error) {
		b, err := concatInputs(tc, inputs)
		if err != nil {
			return nil, err
		}
		out, err := runStages(tc, stages, b)
		if err != nil {
			return nil, err
		}
		return splitLarge([]blocks.Block{out}, maxBytes), nil
	}
}

type exchangeArgs struct {
	X      ops.Spec   `json:"x"`
	Stages []stageRef `json:"stages,omitempty"`
	Index  int        `json:"index,omitempty"`
	N      int        `json:"n,omitempty"`
	Side   int        `json:"side,omitempty"`
	Sides  []int      `json:"sides,omitempty"`
	NSides int        `json:"n_sides,omitempty"`
}

func sampleTaskFn(sample func(*exec.TaskContext, blocks.Block) (blocks.Block, error)) exec.RunFunc {
	return func(tc *exec.TaskContext, in []blocks.Block) ([]blocks.Block, error) {
		s, err := sample(tc, in[0])
		if err != nil {
			return nil, err
		}
		return []blocks.Block{s}, nil
	}
}

func prepareTaskFn(prepare func(*exec.TaskContext, []blocks.Block, int) (blocks.Block, error), n int) exec.RunFunc {
	return func(tc *exec.TaskContext, in []blocks.Block) ([]blocks.Block, error) {
		st, err := prepare(tc, in, n)
		if err != nil {
			return nil, err
		}
		return []blocks.Block{st}, nil
	}
}

// exchangeMapTaskFn is a map task: input block i (and the prepared state,
// when there is one, as the second input) split into n parts.
func exchangeMapTaskFn(f ExchangeFuncs, side, i, n int) exec.RunFunc {
	mapFn, mapSide := f.Map, f.MapSide
	return func(tc *exec.TaskContext, in []blocks.Block) ([]blocks.Block, error) {
		if mapSide != nil {
			return mapSide(tc, side, i, in[0], n)
		}
		var state blocks.Block
		if len(in) > 1 {
			state = in[1]
		}
		return mapFn(tc, i, in[0], state, n)
	}
}

// mergeTaskFn concatenates parts into one object.
func mergeTaskFn(tc *exec.TaskContext, in []blocks.Block) ([]blocks.Block, error) {
	out, err := blocks.ConcatParts(tc.Alloc, in)
	if err != nil {
		return nil, err
	}
	return []blocks.Block{out}, nil
}

// exchangeReduceTaskFn is reduce task j over its parts; sides says which
// input each part came from when the exchange has several.
func exchangeReduceTaskFn(f ExchangeFuncs, j int, sides []int, nSides int) exec.RunFunc {
	reduce, reduceSides := f.Reduce, f.ReduceSides
	return func(tc *exec.TaskContext, parts []blocks.Block) ([]blocks.Block, error) {
		if reduceSides != nil {
			bySide := make([][]blocks.Block, nSides)
			for i, p := range parts {
				bySide[sides[i]] = append(bySide[sides[i]], p)
			}
			return reduceSides(tc, j, bySide)
		}
		return reduce(tc, j, parts)
	}
}

// stagesThenMap runs a fused chain on each block before an exchange's map.
func stagesThenMap(stages []*ops.OneToOne, mapFn func(*exec.TaskContext, int, blocks.Block, blocks.Block, int) ([]blocks.Block, error)) func(*exec.TaskContext, int, blocks.Block, blocks.Block, int) ([]blocks.Block, error) {
	return func(tc *exec.TaskContext, index int, b, state blocks.Block, n int) ([]blocks.Block, error) {
		b.Retain() // runStages takes over a reference
		out, err := runStages(tc, stages, b)
		if err != nil {
			return nil, err
		}
		defer out.Release()
		return mapFn(tc, index, out, state, n)
	}
}

// stagesThenMapTask is mapTask with stages run on each block first (nil
// when mapTask is).
func stagesThenMapTask(stages []*ops.OneToOne, mapTask func(index, n int) TaskMapper) func(index, n int) TaskMapper {
	if mapTask == nil || len(stages) == 0 {
		return mapTask
	}
	return func(index, n int) TaskMapper { return stagedMapper{stages, mapTask(index, n)} }
}

// stagedMapper runs one-to-one stages on each block before its mapper.
type stagedMapper struct {
	stages []*ops.OneToOne
	TaskMapper
}

func (m stagedMapper) Add(tc *exec.TaskContext, b blocks.Block) error {
	b.Retain() // runStages takes over a reference
	out, err := runStages(tc, m.stages, b)
	if err != nil {
		return err
	}
	defer out.Release()
	return m.TaskMapper.Add(tc, out)
}

type repartitionArgs struct {
	From   []int64 `json:"from"`
	To     []int64 `json:"to"`
	Schema []byte  `json:"schema,omitempty"`
}

func passThroughTaskFn(_ *exec.TaskContext, in []blocks.Block) ([]blocks.Block, error) {
	in[0].Retain()
	return []blocks.Block{in[0]}, nil
}

// PassThroughTask is a planned task that outputs its one input as is.
func PassThroughTask(in exec.ObjectRef) PlannedTask {
	return PlannedTask{Inputs: []exec.ObjectRef{in}, Run: passThroughTaskFn, Spec: &exec.TaskSpec{Kind: PassThroughTaskKind}}
}

func decode[T any](args []byte) (T, error) {
	var a T
	if err := json.Unmarshal(args, &a); err != nil {
		return a, fmt.Errorf("decoding arguments: %w", err)
	}
	return a, nil
}

func buildExchangeFor(kind string, args []byte) (exchangeArgs, ExchangeFuncs, error) {
	a, err := decode[exchangeArgs](args)
	if err != nil {
		return a, ExchangeFuncs{}, err
	}
	f, err := buildExchangeArgs(kind, a)
	return a, f, err
}

// buildExchangeArgs builds the functions a task of kind needs from its
// decoded arguments.
func buildExchangeArgs(kind string, a exchangeArgs) (ExchangeFuncs, error) {
	f, err := BuildExchange(a.X)
	if err != nil {
		return f, err
	}
	missing := func(what string) error { return fmt.Errorf("%s: exchange %s has no %s function", kind, a.X.Kind, what) }
	switch kind {
	case ExchangeSampleKind:
		if f.Sample == nil {
			return f, missing("sample")
		}
	case ExchangePrepareKind:
		if f.Prepare == nil {
			return f, missing("prepare")
		}
	case ExchangeMapKind:
		if f.Map == nil && f.MapSide == nil {
			return f, missing("map")
		}
		if len(a.Stages) > 0 && f.MapSide == nil {
			stages, err := buildStages(a.Stages)
			if err != nil {
				return f, err
			}
			f.Map = stagesThenMap(stages, f.Map)
			f.MapTask = stagesThenMapTask(stages, f.MapTask)
		}
	case ExchangeReduceKind:
		if f.Reduce == nil && f.ReduceSides == nil {
			return f, missing("reduce")
		}
	}
	return f, nil
}

func init() {
	exec.RegisterTaskKind(FusedTaskKind, func(args []byte) (exec.RunFunc, error) {
		a, err := decode[fusedArgs](args)
		if err != nil {
			return nil, err
		}
		stages, err := buildStages(a.Stages)
		if err != nil {
			return nil, err
		}
		if a.Read == nil {
			if len(stages) == 0 {
				return nil, fmt.Errorf("a map task without stages")
			}
			return mapTaskFn(stages, a.MaxBytes), nil
		}
		read, err := ops.BuildRead(*a.Read)
		if err != nil {
			return nil, err
		}
		return readTaskFn(read, nil, stages, a.MaxBytes), nil
	})
	exec.RegisterTaskKind(ExchangeSampleKind, func(args []byte) (exec.RunFunc, error) {
		_, f, err := buildExchangeFor(ExchangeSampleKind, args)
		if err != nil {
			return nil, err
		}
		return sampleTaskFn(f.Sample), nil
	})
	exec.RegisterTaskKind(ExchangePrepareKind, func(args []byte) (exec.RunFunc, error) {
		a, f, err := buildExchangeFor(ExchangePrepareKind, args)
		if err != nil {
			return nil, err
		}
		return prepareTaskFn(f.Prepare, a.N), nil
	})
	exec.RegisterTaskKind(ExchangeMapKind, func(args []byte) (exec.RunFunc, error) {
		a, f, err := buildExchangeFor(ExchangeMapKind, args)
		if err != nil {
			return nil, err
		}
		return exchangeMapTaskFn(f, a.Side, a.Index, a.N), nil
	})
	exec.RegisterTaskKind(ExchangeMergeKind, func([]byte) (exec.RunFunc, error) {
		return mergeTaskFn, nil
	})
	exec.RegisterTaskKind(ExchangeReduceKind, func(args []byte) (exec.RunFunc, error) {
		a, f, err := buildExchangeFor(ExchangeReduceKind, args)
		if err != nil {
			return nil, err
		}
		if f.ReduceSides != nil && a.NSides == 0 {
			return nil, fmt.Errorf("a reduce task over several inputs without their count")
		}
		return exchangeReduceTaskFn(f, a.Index, a.Sides, a.NSides), nil
	})
	exec.RegisterTaskKind(RepartitionTaskKind, func(args []byte) (exec.RunFunc, error) {
		a, err := decode[repartitionArgs](args)
		if err != nil {
			return nil, err
		}
		if len(a.From) != len(a.To) {
			return nil, fmt.Errorf("%d slice starts but %d ends", len(a.From), len(a.To))
		}
		schema, err := ops.UnmarshalSchema(a.Schema)
		if err != nil {
			return nil, err
		}
		return repartitionTaskFn(a.From, a.To, schema), nil
	})
	exec.RegisterTaskKind(PassThroughTaskKind, func([]byte) (exec.RunFunc, error) {
		return passThroughTaskFn, nil
	})
}
