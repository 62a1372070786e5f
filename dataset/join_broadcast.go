package dataset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
	"github.com/shoal-data/shoal/pipeline"
	"github.com/shoal-data/shoal/shuffle"
)

// A join whose right side is small (broadcastJoin) runs as a probe stage
// when the run starts: the driver collects the right side first, and every
// left block is joined with all of it in the task that made the block (a
// read, usually), with no exchange and no barrier; an aggregation after it
// fuses too. Each task builds the hash table of the right side once per
// block. The right side travels inside each task's spec (an Arrow IPC
// stream), so the stage runs on cluster workers; a right side larger than
// broadcastMaxBytes keeps the exchange instead.

// broadcastJoinKind is the probe stage's spec kind.
const broadcastJoinKind = "dataset.broadcast-join"

// broadcastMaxBytes is the most bytes of right side a probe stage carries.
const broadcastMaxBytes = 8 << 20

type broadcastArgs struct {
	joinArgs
	// Rows is the right side, an Arrow IPC stream.
	Rows []byte `json:"rows"`
}

// broadcastStage is the probe stage of join a over the right side right
// (an IPC stream; nil when only planning, for Explain), or nil to keep the
// exchange.
func broadcastStage(a joinArgs, label string, outSchema *arrow.Schema, right []byte) (*ops.OneToOne, error) {
	if len(right) > broadcastMaxBytes {
		return nil, nil
	}
	st := &ops.OneToOne{Label: label}
	if outSchema != nil {
		st.OutSchema = func(*arrow.Schema) (*arrow.Schema, error) { return outSchema, nil }
	}
	if right == nil {
		st.Fn = func(*exec.TaskContext, blocks.Block) (blocks.Block, error) {
			return nil, errors.New("a broadcast join planned without its right side")
		}
		return st, nil
	}
	fn, err := a.probe(right)
	if err != nil {
		return nil, err
	}
	st.Fn = fn
	if st.Spec, err = ops.NewSpec(broadcastJoinKind, broadcastArgs{joinArgs: a, Rows: right}); err != nil {
		return nil, err
	}
	return st, nil
}

// probe is the function that joins a left block with the right side.
func (a joinArgs) probe(right []byte) (ops.BlockFn, error) {
	ls, err := ops.UnmarshalSchema(a.Left)
	if err != nil {
		return nil, err
	}
	collected, recs, err := ops.UnmarshalBlocks(right)
	if err != nil {
		return nil, fmt.Errorf("broadcast join: the right side: %w", err)
	}
	rs, err := ops.UnmarshalSchema(a.Right)
	if err != nil {
		return nil, err
	}
	if rs == nil {
		rs = collected // unknown when planned: as it ran
	}
	// On Go's heap: the garbage collector frees it with the stage.
	rightBlock, err := shuffle.ConcatNonEmpty(memory.NewGoAllocator(), recs)
	if err != nil {
		return nil, fmt.Errorf("broadcast join: the right side: %w", err)
	}
	on, kind := shuffle.SameKeys(a.On), a.Kind
	if a.RightOn != nil {
		on.Right = a.RightOn
	}
	var outSchema *arrow.Schema
	if ls != nil && rs != nil {
		outSchema = shuffle.JoinSchema(ls, rs, on, kind)
	}
	return func(tc *exec.TaskContext, left blocks.Block) (blocks.Block, error) {
		out, err := shuffle.JoinPartition(tc, left, rightBlock, [2]*arrow.Schema{ls, rs}, on, kind)
		if err != nil || out != nil {
			return out, err
		}
		schema := outSchema
		if schema == nil {
			// The left side's schema was unknown when planned: as it ran.
			if err := shuffle.CheckJoinKeys(left.Schema(), rs, on); err != nil {
				return nil, fmt.Errorf("join: %w", err)
			}
			schema = shuffle.JoinSchema(left.Schema(), rs, on, kind)
		}
		return blocks.Empty(tc.Alloc, schema), nil
	}, nil
}

func init() {
	ops.RegisterStage(broadcastJoinKind, func(data json.RawMessage) (ops.BlockFn, error) {
		a, err := decodeArgs[broadcastArgs](data)
		if err != nil {
			return nil, err
		}
		return a.probe(a.Rows)
	})
}

// collectIPC runs an optimized plan to the end and returns its rows as an
// Arrow IPC stream.
func (d *Dataset) collectIPC(ctx context.Context, plan ops.Node) ([]byte, error) {
	s, err := d.streamOptimized(ctx, plan)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	rt := d.cfg.rt
	var recs []arrow.RecordBatch
	defer func() { releaseBlocks(recs) }()
	err = d.drain(ctx, s, func(b pipeline.Bundle) error {
		for _, ref := range b.Refs {
			blk, err := rt.Get(ctx, ref)
			if err != nil {
				return err
			}
			recs = append(recs, blk)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("the broadcast side of a join: %w", err)
	}
	schema := plan.Schema()
	if len(recs) > 0 {
		schema = recs[0].Schema()
	}
	if schema == nil {
		return nil, errors.New("the broadcast side of a join: no rows and no known schema")
	}
	return ops.MarshalBlocks(schema, recs)
}
