package dataset

import (
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

// ActorContext is what an actor's constructor gets: the GPUs it holds
// (GPUIDs), a context cancelled when it stops, and Cleanup to release what
// it loaded.
type ActorContext = exec.ActorContext

// ActorConstructor builds one actor's state, such as a model loaded onto
// the actor's GPUs, and returns the function its batches go through. It runs
// once per actor, on the actor's goroutine; batches of one actor are then
// passed to the returned function one at a time, so the state needs no
// locks.
type ActorConstructor func(ac *ActorContext) (BatchFunc, error)

// MapBatchesWithActors runs a stateful batch function on a pool of actors:
// newActor runs once per actor (load a model), then batches flow through
// the function it returned. Use it where setting up is costly or holds a
// device; MapBatches is the stateless, cheaper form.
//
// Options: BatchSize (rows per call, as in MapBatches), Actors(min, max)
// (pool size; default 1 to as many as the resources hold), ActorCPUs,
// ActorGPUs and ActorMemory (reserved per actor; an actor takes 1 CPU by
// default, 0 when it asks for GPUs), MaxInFlight (batches queued per
// actor), ActorIdleTimeout and ActorMaxAttempts.
//
// The pool starts min actors, adds one while every actor is busy and
// batches wait (up to max and to what the runtime's CPUs, GPUs and memory
// allow), and stops actors above min that stayed idle. An actor that
// panics, or whose function returns an error marked with exec.ActorFailed,
// is replaced and its batch retried on another actor; any other error fails
// the run. A stage that needs more GPUs (or CPUs, or memory) than the
// runtime has fails when the run starts, before any task runs. The actors'
// CPUs are taken from the tasks' share: with 2 CPUs and one actor of 1 CPU,
// one task runs beside it.
func (d *Dataset) MapBatchesWithActors(newActor ActorConstructor, opts ...MapBatchesOption) *Dataset {
	if d.err != nil {
		return d
	}
	if newActor == nil {
		return d.withErr(nilFunc("MapBatchesWithActors"))
	}
	var cfg mapBatchesConfig
	for _, o := range opts {
		o(&cfg)
	}
	pool := cfg.pool
	if !cfg.cpusSet {
		pool.CPUs = 1
		if pool.GPUs > 0 {
			pool.CPUs = 0
		}
	}
	if err := checkActorOptions(cfg.batchSize, pool); err != nil {
		return d.withErr(fmt.Errorf("dataset.MapBatchesWithActors: %w", err))
	}
	size := cfg.batchSize
	pool.New = actorBlockFn(newActor, size)
	name := cfg.label
	if name == "" {
		name = funcLabel(newActor)
	}
	label := "MapBatchesWithActors(" + name + ")"
	var specErr error
	if ref, err := refOf(newActor); err != nil {
		specErr = unshippable(label, err)
	} else {
		pool.Spec, specErr = ops.NewSpec(actorsKind, actorsArgs{Fn: ref, BatchSize: size})
	}
	return d.oneToOne(&ops.OneToOne{
		Label:     label,
		BatchRows: size,
		Actors:    &pool,
		SpecErr:   specErr,
	})
}

// actorBlockFn is an actor stage's constructor over the user's.
func actorBlockFn(newActor ActorConstructor, size int64) func(ac *exec.ActorContext) (ops.BlockFn, error) {
	return func(ac *exec.ActorContext) (ops.BlockFn, error) {
		fn, err := newActor(ac)
		if err != nil {
			return nil, err
		}
		if fn == nil {
			return nil, fmt.Errorf("constructor returned a nil BatchFunc")
		}
		return batchesFn(fn, size), nil
	}
}

// actorsKind is the ops actor kind of MapBatchesWithActors: a registered
// (or factory-made) constructor and the batch size.
const actorsKind = "dataset.actors"

type actorsArgs struct {
	Fn        funcRef `json:"fn"`
	BatchSize int64   `json:"batch_size,omitempty"`
}

func init() {
	ops.RegisterActorPool(actorsKind, func(data json.RawMessage) (func(ac *exec.ActorContext) (ops.BlockFn, error), error) {
		a, err := decodeArgs[actorsArgs](data)
		if err != nil {
			return nil, err
		}
		ctor, err := lookupFunc[ActorConstructor](a.Fn)
		if err != nil {
			return nil, err
		}
		return actorBlockFn(ctor, a.BatchSize), nil
	})
}

func checkActorOptions(batchSize int64, p ops.ActorPool) error {
	switch {
	case batchSize < 0:
		return fmt.Errorf("negative batch size %d", batchSize)
	case p.Min < 0 || p.Max < 0:
		return fmt.Errorf("Actors(%d, %d): negative pool size", p.Min, p.Max)
	case p.Max > 0 && p.Max < p.Min:
		return fmt.Errorf("Actors(%d, %d): max below min", p.Min, p.Max)
	case p.CPUs < 0 || p.GPUs < 0 || p.Memory < 0:
		return fmt.Errorf("negative resources per actor (CPUs %g, GPUs %d, memory %d)", p.CPUs, p.GPUs, p.Memory)
	case p.MaxInFlight < 0 || p.MaxAttempts < 0 || p.IdleTimeout < 0:
		return fmt.Errorf("negative MaxInFlight, ActorMaxAttempts or ActorIdleTimeout")
	}
	return nil
}

// actorOption records that an actor-only option was given.
func actorOption(name string, f func(*ops.ActorPool)) MapBatchesOption {
	return func(c *mapBatchesConfig) {
		c.actorOpts = append(c.actorOpts, name)
		f(&c.pool)
	}
}

// Actors sizes the actor pool: min actors start with the stage and stay;
// up to max run while batches wait. Actors(n, n) is a fixed pool; max 0
// means as many as the runtime's resources hold. The default is Actors(1, 0).
func Actors(min, max int) MapBatchesOption {
	return actorOption("Actors", func(p *ops.ActorPool) { p.Min, p.Max = min, max })
}

// ActorCPUs reserves CPUs per actor (fractions allowed). Default 1, or 0
// for an actor that asks for GPUs.
func ActorCPUs(n float64) MapBatchesOption {
	return func(c *mapBatchesConfig) {
		c.actorOpts = append(c.actorOpts, "ActorCPUs")
		c.pool.CPUs, c.cpusSet = n, true
	}
}

// ActorGPUs reserves GPUs per actor; each actor finds its device IDs in
// ActorContext.GPUIDs.
func ActorGPUs(n int) MapBatchesOption {
	return actorOption("ActorGPUs", func(p *ops.ActorPool) { p.GPUs = n })
}

// ActorMemory reserves bytes of memory per actor (its model, its buffers).
func ActorMemory(bytes int64) MapBatchesOption {
	return actorOption("ActorMemory", func(p *ops.ActorPool) { p.Memory = bytes })
}

// ActorNodeLabels places the actors, on a cluster, only on nodes started
// with all these labels (shoal start --labels zone=a,accel=a100). An
// embedded runtime ignores them.
func ActorNodeLabels(labels map[string]string) MapBatchesOption {
	return actorOption("ActorNodeLabels", func(p *ops.ActorPool) { p.Labels = maps.Clone(labels) })
}

// MaxInFlight is how many batches wait on one actor at once, so its next
// input is ready as a call ends (default 2).
func MaxInFlight(n int) MapBatchesOption {
	return actorOption("MaxInFlight", func(p *ops.ActorPool) { p.MaxInFlight = n })
}

// ActorIdleTimeout is how long an actor above the pool's minimum may wait
// for a batch before it is stopped (default 2s).
func ActorIdleTimeout(d time.Duration) MapBatchesOption {
	return actorOption("ActorIdleTimeout", func(p *ops.ActorPool) { p.IdleTimeout = d })
}

// ActorMaxAttempts bounds how often one batch is tried on actors that die
// under it before the run fails (default 3).
func ActorMaxAttempts(n int) MapBatchesOption {
	return actorOption("ActorMaxAttempts", func(p *ops.ActorPool) { p.MaxAttempts = n })
}
