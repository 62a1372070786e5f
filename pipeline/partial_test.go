package pipeline

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

// streamSource's read tasks each stream blocks of ids, in order; task 0
// waits after its first block until the consumer has seen it.
type streamSource struct {
	n, blocksPer, rows int64
	firstSeen          chan struct{}
	consumerFirst      bool // task 0 went on because the consumer saw its block
}

func (s *streamSource) Name() string          { return "Stream" }
func (s *streamSource) Schema() *arrow.Schema { return idSchema }
func (s *streamSource) NumRows() int64        { return s.n * s.blocksPer * s.rows }
func (s *streamSource) ReadTasks(int) ([]ops.ReadTask, error) {
	tasks := make([]ops.ReadTask, s.n)
	for i := range s.n {
		stream := func(tc *exec.TaskContext, emit func(blocks.Block) error) error {
			for k := range s.blocksPer {
				lo := (i*s.blocksPer + k) * s.rows
				if err := emit(idBlock(tc.Alloc, lo, lo+s.rows)); err != nil {
					return err
				}
				if i == 0 && k == 0 {
					select {
					case <-s.firstSeen:
						s.consumerFirst = true
					case <-time.After(hangLimit / 2): // only if the blocks never come: the check below fails
					case <-tc.Done():
						return tc.Err()
					}
				}
				time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
			}
			return nil
		}
		tasks[i] = ops.ReadTask{Rows: s.blocksPer * s.rows, Bytes: 8 * s.blocksPer * s.rows, Stream: stream,
			Read: func(tc *exec.TaskContext) (out []blocks.Block, err error) {
				err = stream(tc, func(b blocks.Block) error { out = append(out, b); return nil })
				return out, err
			}}
	}
	return tasks, nil
}

// TestReadTasksHandBlocksOverAsTheyGo: a read task's blocks reach the
// consumer while the task still runs, and with many such tasks finishing
// out of order the rows still come in order.
func TestReadTasksHandBlocksOverAsTheyGo(t *testing.T) {
	rt := newRuntime(t, exec.WithWorkers(4))
	src := &streamSource{n: 12, blocksPer: 5, rows: 10, firstSeen: make(chan struct{})}
	var once sync.Once
	var plan ops.Node = &ops.Read{Source: src}
	plan = &ops.OneToOne{Input: plan, Label: "Pass", PreservesRows: true, Fn: func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		in.Retain()
		return in, nil
	}}
	ids, err := collect(t, context.Background(), rt, plan, Options{}, func() { once.Do(func() { close(src.firstSeen) }) })
	if err != nil {
		t.Fatal(err)
	}
	wantSequence(t, ids, 12*5*10)
	if !src.consumerFirst {
		t.Error("the consumer saw no block of task 0 while it ran: its blocks waited for its end")
	}
}
