package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// TestMain lets the test binary be its own task worker: the tests upload it
// to their nodes, which start it with SHOAL_WORKER_NODE set.
func TestMain(m *testing.M) {
	ServeWorkerIfAsked()
	if addr := os.Getenv("SHOAL_TEST_SHARD_SERVER"); addr != "" {
		runShardWorker(addr, os.Getenv("SHOAL_TEST_SHARD"))
	}
	if head := os.Getenv("SHOAL_TEST_NODE_HEAD"); head != "" {
		runTestNode(head, os.Getenv("SHOAL_TEST_NODE_DIR"))
	}
	os.Exit(m.Run())
}

// runTestNode makes the test binary a node process (for
// TestNodeKilledKillsWorkers): it joins head, prints "node at ADDR" and
// serves until its stdin ends.
func runTestNode(head, dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	n, err := StartNode(ctx, NodeConfig{Head: head, Token: testToken, WorkDir: dir, SpillDir: dir,
		Resources: Resources{CPUs: 1, ObjectStoreMemory: 16 << 20}})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("node at %s\n", n.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	n.Close()
	os.Exit(0)
}

// Task kinds the tests run on workers.
func init() {
	// test-double: each input's int64 column "x" doubled, one output per
	// input, and a nil output (which is skipped).
	exec.RegisterTaskKind("test-double", func([]byte) (exec.RunFunc, error) {
		return func(tc *exec.TaskContext, in []blocks.Block) ([]blocks.Block, error) {
			var outs []blocks.Block
			for _, b := range in {
				x, err := blocks.Column(b, "x")
				if err != nil {
					return nil, err
				}
				vals := x.(*array.Int64).Int64Values()
				bld := array.NewInt64Builder(tc.Alloc)
				for _, v := range vals {
					bld.Append(2 * v)
				}
				col := bld.NewArray()
				bld.Release()
				schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
				outs = append(outs, array.NewRecordBatch(schema, []arrow.Array{col}, int64(len(vals))))
				col.Release()
			}
			return append(outs, nil), nil
		}, nil
	})
	exec.RegisterTaskKind("test-panic", func([]byte) (exec.RunFunc, error) {
		return func(tc *exec.TaskContext, _ []blocks.Block) ([]blocks.Block, error) {
			panic(fmt.Sprintf("boom in block %d", tc.Index))
		}, nil
	})
	// test-fail: args {"retryable": bool}.
	exec.RegisterTaskKind("test-fail", func(args []byte) (exec.RunFunc, error) {
		var a struct{ Retryable bool }
		if err := json.Unmarshal(args, &a); err != nil {
			return nil, err
		}
		return func(*exec.TaskContext, []blocks.Block) ([]blocks.Block, error) {
			err := errors.New("bad row 7")
			if a.Retryable {
				err = exec.Retryable(err)
			}
			return nil, err
		}, nil
	})
	// test-sleep: args {"dir": path}: writes dir/started, waits for its
	// context (at most a minute), then writes why it stopped to dir/stopped.
	exec.RegisterTaskKind("test-sleep", func(args []byte) (exec.RunFunc, error) {
		var a struct{ Dir string }
		if err := json.Unmarshal(args, &a); err != nil {
			return nil, err
		}
		return func(tc *exec.TaskContext, _ []blocks.Block) ([]blocks.Block, error) {
			if err := writeMarker(filepath.Join(a.Dir, "started"), []byte(fmt.Sprint(os.Getpid()))); err != nil {
				return nil, err
			}
			select {
			case <-tc.Done():
			case <-time.After(time.Minute):
			}
			_ = writeMarker(filepath.Join(a.Dir, "stopped"), []byte(fmt.Sprint(tc.Err())))
			return nil, tc.Err()
		}, nil
	})
	// test-deaf: args {"dir": path}: writes dir/started, waits for
	// dir/go (at most a minute) and for its context to end (at most 10 s),
	// writes dir/returning and makes one block as if it had not been
	// cancelled.
	exec.RegisterTaskKind("test-deaf", func(args []byte) (exec.RunFunc, error) {
		var a struct{ Dir string }
		if err := json.Unmarshal(args, &a); err != nil {
			return nil, err
		}
		return func(tc *exec.TaskContext, _ []blocks.Block) ([]blocks.Block, error) {
			if err := writeMarker(filepath.Join(a.Dir, "started"), nil); err != nil {
				return nil, err
			}
			for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				if _, err := os.Stat(filepath.Join(a.Dir, "go")); err == nil {
					break
				}
			}
			// It carries on whatever its context says, but only once the
			// cancel has reached it (so the node, which sent it, knows the
			// call ended before the reply comes).
			select {
			case <-tc.Done():
			case <-time.After(10 * time.Second):
			}
			_ = writeMarker(filepath.Join(a.Dir, "returning"), nil)
			return []blocks.Block{int64Block(tc.Alloc, 1, 2, 3)}, nil
		}, nil
	})
	// test-print: writes to stdout and stderr, makes nothing.
	exec.RegisterTaskKind("test-print", func([]byte) (exec.RunFunc, error) {
		return func(tc *exec.TaskContext, _ []blocks.Block) ([]blocks.Block, error) {
			fmt.Printf("hello from %s[%d]\n", tc.Operator, tc.Index)
			fmt.Fprintf(os.Stderr, "complaint from %s[%d]\n", tc.Operator, tc.Index)
			return nil, nil
		}, nil
	})
}

// writeMarker writes a file the test process polls for (waitFile) whole:
// to a temporary name first, then renamed, so that a reader never sees it
// created but still empty.
func writeMarker(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
