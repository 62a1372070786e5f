package core

import (
	"context"
	"fmt"
	"time"
)

// NoTimeout makes Wait wait as long as its context allows.
const NoTimeout time.Duration = -1

// Wait waits until numReturns of refs are done (their values stored or
// their calls failed), the timeout passes, or ctx ends, as ray.wait does.
// It returns the refs that are done, at most numReturns of them, and the
// others, each in the order given. A timeout of 0 returns at once with
// what is done; NoTimeout waits without limit. The error is ctx's when it
// ends first, and ErrReleased if a ref was released; reaching the timeout
// is not an error.
func Wait[T any](ctx context.Context, refs []Ref[T], numReturns int, timeout time.Duration) (ready, notReady []Ref[T], err error) {
	numReturns = min(max(numReturns, 0), len(refs))
	objs := make([]*object, len(refs))
	for i, r := range refs {
		o, err := r.hold()
		if err != nil {
			for _, o := range objs[:i] {
				o.letGo()
			}
			return nil, nil, fmt.Errorf("core.Wait: ref %d: %w", i, err)
		}
		objs[i] = o
	}
	defer func() {
		for _, o := range objs {
			o.letGo()
		}
	}()
	// Each object signals once; the channel holds them all, so a signal
	// that comes after Wait returned blocks nobody.
	signals := make(chan struct{}, len(objs))
	for _, o := range objs {
		o.onDone(func() { signals <- struct{}{} })
	}
	var expired <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	for n := 0; n < numReturns; n++ {
		select {
		case <-signals:
		case <-expired:
			n = numReturns
		case <-ctx.Done():
			err = fmt.Errorf("core.Wait: %w", context.Cause(ctx))
			n = numReturns
		}
	}
	for i, o := range objs {
		select {
		case <-o.done:
			if len(ready) < numReturns {
				ready = append(ready, refs[i])
				continue
			}
		default:
		}
		notReady = append(notReady, refs[i])
	}
	return ready, notReady, err
}
