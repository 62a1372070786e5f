package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// CanceledError ends a run whose context was cancelled or passed its
// deadline. It names the operators that had tasks in flight at that moment,
// upstream first, so that Ctrl-C says what it interrupted. errors.Is finds
// the context's error through it.
type CanceledError struct {
	// Operators had tasks in flight when the run was cancelled; when none
	// had (the run waited on its consumer), they are all of the plan's and
	// Idle is set.
	Operators []string
	Idle      bool
	// Err is the context's error: context.Canceled or
	// context.DeadlineExceeded.
	Err error
}

func (e *CanceledError) Error() string {
	switch {
	case e.Idle:
		return fmt.Sprintf("pipeline %s (no task running): %v", strings.Join(e.Operators, " -> "), e.Err)
	case len(e.Operators) == 1:
		return fmt.Sprintf("operator %s: %v", e.Operators[0], e.Err)
	}
	return fmt.Sprintf("operators %s: %v", strings.Join(e.Operators, ", "), e.Err)
}

func (e *CanceledError) Unwrap() error { return e.Err }

// isContextErr reports an error that a context's end explains.
func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// Canceled wraps err, the error a cancelled context caused, in a
// *CanceledError naming the operators with tasks in flight now. Other
// errors, and errors that already name them, come back unchanged.
func (s *Stream) Canceled(err error) error {
	var ce *CanceledError
	if !isContextErr(err) || errors.As(err, &ce) {
		return err
	}
	s.runningMu.Lock()
	running := s.running
	s.runningMu.Unlock()
	if len(running) == 0 {
		names := make([]string, len(s.ops))
		for i, op := range s.ops {
			names[i] = op.Name()
		}
		return &CanceledError{Operators: names, Idle: true, Err: err}
	}
	return &CanceledError{Operators: running, Err: err}
}

// inFlight counts op's tasks and actor calls in flight. An operator that
// starts having some is published at once (its task may run, and a cancel
// arrive, before the loop next waits); one that stops is published when
// the loop next waits, after the tasks its outputs readied are dispatched,
// so the moment between the two never reads as idle.
func (e *executor) inFlight(op Operator, delta int) {
	n := e.running[op]
	e.running[op] = n + delta
	switch {
	case n == 0 && delta > 0:
		e.runningChanged = true
		e.publishRunning()
	case n > 0 && n+delta == 0:
		e.runningChanged = true
	}
}

// publishRunning tells the stream which operators have tasks in flight.
func (e *executor) publishRunning() {
	if !e.runningChanged {
		return
	}
	e.runningChanged = false
	var names []string
	for _, o := range e.ops {
		if e.running[o] > 0 {
			names = append(names, o.Name())
		}
	}
	e.stream.runningMu.Lock()
	e.stream.running = names
	e.stream.runningMu.Unlock()
}
