package ops

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// Datasink writes a dataset somewhere: files in a format Shoal knows, or a
// store of the user's. A write runs in three steps: Start on the driver,
// Write for each block in parallel tasks, then Commit on the driver once
// every block is written, or Abort if any failed or the write was
// cancelled. Data written by Write must not be visible to readers until
// Commit.
type Datasink interface {
	// Name labels the sink in plans: "WriteParquet(s3://bucket/out)".
	Name() string
	// Start prepares the write; it runs before any block is written.
	Start(ctx context.Context) error
	// Write writes one block. index is the block's position in the
	// dataset; a retried task sees the same index, so names built from it
	// are stable. Write may run concurrently for different blocks.
	Write(tc *exec.TaskContext, index int, b blocks.Block) (WriteResult, error)
	// Commit makes everything written visible. It gets the result of every
	// Write, in block order.
	Commit(ctx context.Context, results []WriteResult) error
	// Abort removes whatever was written. It runs after a failed Write, a
	// cancelled write or a failed Commit, with the results of the writes
	// that finished.
	Abort(ctx context.Context, results []WriteResult) error
}

// WriteResult is what one Write reports.
type WriteResult struct {
	Rows  int64
	Bytes int64
	// Files lists what the block was written to, as the sink names them.
	Files []string
	// FileRows and FileBytes, when set, are each file's rows and bytes, by
	// index in Files.
	FileRows, FileBytes []int64
	// Schema is the block's schema, when the sink records it (a write of
	// no rows still knows its columns).
	Schema *arrow.Schema
}
