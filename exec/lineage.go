package exec

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"golang.org/x/sync/singleflight"

	"github.com/shoal-data/shoal/blocks"
)

// ErrBlockLost is wrapped by an ObjectStore's Get when a block's only copy
// is gone: the node that held it died. A runtime over a LossyStore rebuilds
// such a block from its lineage.
var ErrBlockLost = errors.New("block lost")

// LossyStore is an ObjectStore whose blocks can be lost (cluster.RemoteStore:
// a node holding them dies). A Local runtime over one records how every
// block its tasks and actors make was made, and rebuilds lost blocks by
// running those again, as Ray reconstructs objects from lineage.
type LossyStore interface {
	ObjectStore
	// Lost reports whether ref's block is gone.
	Lost(ref ObjectRef) bool
	// Rebind makes rebuilt's block stand for lost: lost keeps its ID and
	// reference count, and rebuilt's one reference is used up. It reports
	// false, using up nothing, when lost is no longer held.
	Rebind(lost, rebuilt ObjectRef) bool
	// OnFree sets fn, called with an object's ID when its last reference is
	// released (not while the store's locks are held).
	OnFree(fn func(ObjectID))
}

// lineage remembers, for every block a task or actor call made and that is
// still held or that a held block was made from, the task that made it.
// Entries are counted: one for the block while the store holds it, one for
// each recorded task that took it as input, so a lineage lives exactly as
// long as some held block may need it rebuilt.
type lineage struct {
	store LossyStore
	// rerun runs a task again without recording it: outputs are new
	// references, on a node chosen afresh.
	rerun func(ctx context.Context, t Task) TaskResult

	mu      sync.Mutex
	entries map[ObjectID]*lineageEntry
	flight  singleflight.Group
	rebuilt int // tasks and calls run again
}

type lineageEntry struct {
	maker      *maker
	output     int  // position among the maker's outputs
	held       bool // the store still holds the block
	dependents int  // recorded makers that took the block as input
}

// maker is one task (or actor call) that made blocks.
type maker struct {
	task    Task
	outputs []ObjectRef
	// run runs task again; nil means lineage.rerun.
	run  func(ctx context.Context, t Task) TaskResult
	live int // entries that name this maker
}

func newLineage(store LossyStore, rerun func(context.Context, Task) TaskResult) *lineage {
	l := &lineage{store: store, rerun: rerun, entries: make(map[ObjectID]*lineageEntry)}
	store.OnFree(l.freed)
	return l
}

// record notes that t made outs; run, when set, is how to make them again
// (an actor call), instead of running t as a task.
func (l *lineage) record(t Task, outs []ObjectRef, run func(context.Context, Task) TaskResult) {
	if len(outs) == 0 {
		return
	}
	m := &maker{task: t, outputs: append([]ObjectRef(nil), outs...), run: run, live: len(outs)}
	m.task.Inputs = append([]ObjectRef(nil), t.Inputs...)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, in := range m.task.Inputs {
		if e := l.entries[in.ID]; e != nil {
			e.dependents++
		}
	}
	for k, o := range outs {
		l.entries[o.ID] = &lineageEntry{maker: m, output: k, held: true}
	}
}

// freed is the store's OnFree: the block is gone for good, but its entry
// stays while blocks made from it may need it.
func (l *lineage) freed(id ObjectID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.entries[id]; e != nil {
		e.held = false
		l.drop(id, e)
	}
}

// drop deletes e if nothing needs it any more, and what only it needed.
// l.mu is held.
func (l *lineage) drop(id ObjectID, e *lineageEntry) {
	if e.held || e.dependents > 0 {
		return
	}
	delete(l.entries, id)
	m := e.maker
	m.live--
	if m.live > 0 {
		return
	}
	for _, in := range m.task.Inputs {
		if ie := l.entries[in.ID]; ie != nil {
			ie.dependents--
			l.drop(in.ID, ie)
		}
	}
}

// LineageStats says how many blocks' lineage l keeps (those held and
// those they were made from) and how many tasks and actor calls it has run
// again to rebuild lost blocks; both 0 when its store cannot lose blocks.
func (l *Local) LineageStats() (entries, reruns int) {
	if l.lineage == nil {
		return 0, 0
	}
	l.lineage.mu.Lock()
	defer l.lineage.mu.Unlock()
	return len(l.lineage.entries), l.lineage.rebuilt
}

// restore rebuilds ref's lost block and puts it back under ref's ID. Callers
// that want the same block at once share one rebuild.
func (l *lineage) restore(ctx context.Context, ref ObjectRef, cause error) error {
	_, err, _ := l.flight.Do(strconv.FormatUint(uint64(ref.ID), 10), func() (any, error) {
		if !l.store.Lost(ref) {
			return nil, nil // another caller restored it already
		}
		l.mu.Lock()
		e := l.entries[ref.ID]
		l.mu.Unlock()
		if e == nil {
			return nil, fmt.Errorf("%w, and it cannot be rebuilt: no task made it (the driver put it, or a Limit cut it)", cause)
		}
		_, err := l.remake(ctx, e.maker, -1)
		if err != nil {
			return nil, fmt.Errorf("rebuilding a lost block of %s: %w", ref.Producer, err)
		}
		return nil, nil
	})
	return err
}

// remake runs m again. Every output whose block is held but lost is put
// back under its old ID; output keep (-1: none) is returned as a new
// reference the caller releases, whether or not it was lost; the rest are
// released.
func (l *lineage) remake(ctx context.Context, m *maker, keep int) (ObjectRef, error) {
	t := m.task
	t.Inputs = make([]ObjectRef, len(m.task.Inputs))
	var temps []ObjectRef
	defer func() {
		for _, r := range temps {
			l.store.Release(r)
		}
	}()
	for i, in := range m.task.Inputs {
		l.mu.Lock()
		e := l.entries[in.ID]
		freed := e != nil && !e.held
		if !freed {
			// Held (or of unknown origin): keep it held while the task
			// runs. A lost one is restored when the task gets it.
			l.store.Retain(in)
		}
		l.mu.Unlock()
		if !freed {
			t.Inputs[i] = in
			temps = append(temps, in)
			continue
		}
		// Freed since: make it again just for this run.
		tmp, err := l.remake(ctx, e.maker, e.output)
		if err != nil {
			return ObjectRef{}, err
		}
		tmp.Producer = in.Producer
		t.Inputs[i] = tmp
		temps = append(temps, tmp)
	}
	run := m.run
	if run == nil {
		run = l.rerun
	}
	res := run(ctx, t)
	l.mu.Lock()
	l.rebuilt++
	l.mu.Unlock()
	if res.Err != nil {
		return ObjectRef{}, res.Err
	}
	if len(res.Outputs) != len(m.outputs) {
		for _, o := range res.Outputs {
			l.store.Release(o)
		}
		return ObjectRef{}, fmt.Errorf("%s task %d made %d blocks when run again, %d the first time: "+
			"a task must make the same blocks from the same inputs", t.Operator, t.Index, len(res.Outputs), len(m.outputs))
	}
	kept := ObjectRef{}
	for k, o := range res.Outputs {
		if k == keep {
			kept = o
			continue
		}
		orig := m.outputs[k]
		l.mu.Lock()
		e := l.entries[orig.ID]
		held := e != nil && e.held
		l.mu.Unlock()
		if held && l.store.Lost(orig) && l.store.Rebind(orig, o) {
			continue
		}
		l.store.Release(o)
	}
	return kept, nil
}

// PutSlice stores rows [lo, hi) of ref's block as a block of its own (a
// split, a limit). Where rt keeps lineage, the new block's lineage is the
// slice of ref, so it is rebuilt if lost like any task's output.
func PutSlice(ctx context.Context, rt Runtime, ref ObjectRef, lo, hi int64, producer string) (ObjectRef, error) {
	t := Task{Operator: producer, Inputs: []ObjectRef{ref}, Run: func(_ *TaskContext, in []blocks.Block) ([]blocks.Block, error) {
		return []blocks.Block{blocks.Slice(in[0], lo, hi)}, nil
	}}
	b, err := rt.Get(ctx, ref)
	if err != nil {
		return ObjectRef{}, err
	}
	defer b.Release()
	s := blocks.Slice(b, lo, hi)
	defer s.Release()
	out, err := rt.Put(s, producer)
	if err != nil {
		return ObjectRef{}, err
	}
	if l, ok := rt.(*Local); ok && l.lineage != nil {
		l.lineage.record(t, []ObjectRef{out}, nil)
	}
	return out, nil
}

// lineageActor records the lineage of the blocks a remote actor's calls
// make, and rebuilds lost inputs of a call before running it again.
type lineageActor struct {
	Actor
	l      *Local
	remote RemoteActors
	spec   ActorSpec
}

// maxLostRetries bounds how often one call is sent again after finding
// inputs lost: each time at least one was rebuilt.
const maxLostRetries = 8

func (a *lineageActor) Call(ctx context.Context, c ActorCall, done func(TaskResult)) {
	a.call(ctx, c, done, 0)
}

func (a *lineageActor) call(ctx context.Context, c ActorCall, done func(TaskResult), tries int) {
	a.Actor.Call(ctx, c, func(res TaskResult) {
		if res.Err != nil && errors.Is(res.Err, ErrBlockLost) && tries < maxLostRetries && ctx.Err() == nil {
			// Not on the actor's goroutine: rebuilding runs tasks.
			go func() {
				for _, in := range c.Inputs {
					if a.l.lineage.store.Lost(in) {
						if err := a.l.lineage.restore(ctx, in, res.Err); err != nil {
							done(TaskResult{Err: err, Worker: -1})
							return
						}
					}
				}
				a.call(ctx, c, done, tries+1)
			}()
			return
		}
		if res.Err == nil {
			t := Task{Operator: c.Operator, Index: c.Index, Inputs: c.Inputs, MaxRetries: c.MaxRetries}
			a.l.lineage.record(t, res.Outputs, a.remaker(c))
		}
		done(res)
	})
}

// remaker makes a call's blocks again: on the same actor while it lives,
// else on a stand-in started for the one call.
func (a *lineageActor) remaker(c ActorCall) func(ctx context.Context, t Task) TaskResult {
	return func(ctx context.Context, t Task) TaskResult {
		c := c
		c.Inputs = t.Inputs
		select {
		case <-a.Done():
		default:
			if r := callSync(ctx, a.Actor, c); r.Err == nil || !IsActorFailure(r.Err) {
				return r
			}
		}
		started := make(chan struct {
			a   Actor
			err error
		}, 1)
		a.remote.StartRemoteActor(ctx, a.spec, func(sa Actor, err error) {
			started <- struct {
				a   Actor
				err error
			}{sa, err}
		})
		s := <-started
		if s.err != nil {
			return TaskResult{Err: fmt.Errorf("%s: a stand-in actor to rebuild lost blocks: %w", a.spec.Operator, s.err), Worker: -1}
		}
		defer s.a.Stop()
		return callSync(ctx, s.a, c)
	}
}

func callSync(ctx context.Context, a Actor, c ActorCall) TaskResult {
	results := make(chan TaskResult, 1)
	a.Call(ctx, c, func(r TaskResult) { results <- r })
	return <-results
}
