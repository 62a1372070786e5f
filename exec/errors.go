package exec

import (
	"errors"
	"fmt"
)

// retryableError marks an error as worth another attempt.
type retryableError struct{ err error }

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

// Retryable marks err as transient: a task that fails with it is run again,
// up to its retry limit. Returns nil for a nil err.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return &retryableError{err: err}
}

// IsRetryable reports whether err, or an error it wraps, was marked with
// Retryable or reports itself as temporary (as net errors do).
func IsRetryable(err error) bool {
	var r *retryableError
	if errors.As(err, &r) {
		return true
	}
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// TaskError is the error of a task that failed: it names the operator and the
// block the task worked on.
type TaskError struct {
	Operator string
	Index    int
	Attempts int
	Err      error
}

func (e *TaskError) Error() string {
	return fmt.Sprintf("operator %s, block %d: %v", e.Operator, e.Index, e.Err)
}

func (e *TaskError) Unwrap() error { return e.Err }

// PanicError is a panic in user code, recovered so that it cannot crash the
// program. It is never retried: the same input would panic again.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("panic: %v", e.Value)
}
