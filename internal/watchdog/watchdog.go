// Package watchdog gives tests a context that ends at a deadline, so that a
// hang (a broken liveness or backpressure rule, a lost wake-up) fails the
// test in seconds with every goroutine's stack, instead of stalling the
// package until go test's timeout (15 minutes in scripts/test).
package watchdog

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// Context returns a context derived from parent that is cancelled after d.
// If that happens before the test ends, the test fails, showing the stacks
// of every goroutine at the moment the deadline passed (taken before the
// cancellation unwinds them).
func Context(t testing.TB, parent context.Context, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(parent)
	fired := make(chan []byte, 1)
	timer := time.AfterFunc(d, func() {
		buf := make([]byte, 1<<20)
		fired <- buf[:runtime.Stack(buf, true)]
		cancel()
	})
	t.Cleanup(func() {
		if !timer.Stop() {
			t.Errorf("still running after %v, so it was cancelled; goroutines then:\n%s", d, <-fired)
		}
		cancel()
	})
	return ctx
}
