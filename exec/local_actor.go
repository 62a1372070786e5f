package exec

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// StartActor implements Runtime: it reserves the actor's resources and
// starts its goroutine, which runs the constructor and then serves calls.
// started is called once, from the actor's goroutine, with the actor or
// with why it could not start (a *ResourceError, the constructor's error,
// ErrClosed).
//
// With a remote runner that places actors (RemoteActors), an actor whose
// spec has a Spec starts there instead.
func (l *Local) StartActor(ctx context.Context, spec ActorSpec, started func(Actor, error)) {
	if ra, ok := l.cfg.remote.(RemoteActors); ok && spec.Spec != nil {
		ra.StartRemoteActor(ctx, spec, func(a Actor, err error) {
			if err == nil && l.lineage != nil {
				a = &lineageActor{Actor: a, l: l, remote: ra, spec: spec}
			}
			started(a, err)
		})
		return
	}
	l.detectGPUs()
	l.mu.Lock()
	gpus, err := l.reserve(spec)
	if err != nil {
		l.mu.Unlock()
		go started(nil, err)
		return
	}
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a := &actorRunner{
		spec:   spec,
		ac:     &ActorContext{Context: actx, Operator: spec.Operator, Index: spec.Index, GPUIDs: gpus, Alloc: l.cfg.alloc},
		cancel: cancel,
		store:  l.blockStore(),
		local:  l,
		alloc:  l.cfg.alloc,
		retry:  l.cfg.maxRetries,
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	a.release = sync.OnceFunc(func() { l.unreserve(a, spec, gpus) })
	l.actors[a] = struct{}{}
	l.actorGroup.Add(1)
	l.mu.Unlock()
	go func() {
		defer l.actorGroup.Done()
		a.run(started)
	}()
}

// reserve takes an actor's CPUs, GPUs and memory, or says which is short.
// l.mu is held.
func (l *Local) reserve(spec ActorSpec) ([]int, error) {
	if l.closed {
		return nil, ErrClosed
	}
	if free := float64(l.cfg.workers) - l.actorCPUs; spec.CPUs > free {
		return nil, &ResourceError{Operator: spec.Operator, Resource: "CPUs", Need: spec.CPUs, Available: free, Total: float64(l.cfg.workers)}
	}
	if spec.GPUs > len(l.freeGPUs) {
		return nil, &ResourceError{Operator: spec.Operator, Resource: "GPUs", Need: float64(spec.GPUs), Available: float64(len(l.freeGPUs)), Total: float64(len(l.gpuIDs))}
	}
	if free := l.cfg.memory - l.actorMemory; spec.Memory > free {
		return nil, &ResourceError{Operator: spec.Operator, Resource: "memory bytes", Need: float64(spec.Memory), Available: float64(free), Total: float64(l.cfg.memory)}
	}
	l.actorCPUs += spec.CPUs
	l.actorMemory += spec.Memory
	gpus := slices.Clone(l.freeGPUs[:spec.GPUs])
	l.freeGPUs = l.freeGPUs[spec.GPUs:]
	return gpus, nil
}

func (l *Local) unreserve(a *actorRunner, spec ActorSpec, gpus []int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.actorCPUs -= spec.CPUs
	l.actorMemory -= spec.Memory
	l.freeGPUs = append(l.freeGPUs, gpus...)
	slices.Sort(l.freeGPUs)
	delete(l.actors, a)
}

// detectGPUs fills the GPU list once: the declared devices, or what
// DetectGPUs finds when none were declared.
func (l *Local) detectGPUs() {
	l.gpuOnce.Do(func() {
		ids := l.cfg.gpuIDs
		if ids == nil {
			found, err := DetectGPUs(context.Background())
			if err != nil {
				l.gpuErr = err
			}
			ids = found
		}
		l.mu.Lock()
		l.gpuIDs = slices.Clone(ids)
		l.freeGPUs = slices.Clone(ids)
		l.mu.Unlock()
	})
}

// GPUError reports why GPU detection failed, if it did: a Local then has no
// GPUs.
func (l *Local) GPUError() error {
	l.detectGPUs()
	return l.gpuErr
}

// stopActors stops every actor and waits for them; used by Close.
func (l *Local) stopActors() {
	l.mu.Lock()
	as := make([]*actorRunner, 0, len(l.actors))
	for a := range l.actors {
		as = append(as, a)
	}
	l.mu.Unlock()
	for _, a := range as {
		a.cancel()
		a.Stop()
	}
	l.actorGroup.Wait()
}

func (s ActorSpec) String() string {
	return fmt.Sprintf("%s actor %d (CPUs=%g GPUs=%d memory=%d)", s.Operator, s.Index, s.CPUs, s.GPUs, s.Memory)
}
