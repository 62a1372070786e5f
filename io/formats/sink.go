package formats

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/io/storage"
	"github.com/shoal-data/shoal/io/txlog"
	"github.com/shoal-data/shoal/ops"
)

// WriteMode says what a write does with the dataset already in its
// directory.
type WriteMode int

const (
	// Append adds the new files to the dataset's (names never collide:
	// each write has its own ID). This is the zero value.
	Append WriteMode = iota
	// Overwrite replaces the dataset with the new files, in one commit; a
	// failed write leaves the old dataset as it was.
	Overwrite
	// ErrorIfExists refuses to write into a directory that holds a dataset
	// or other files.
	ErrorIfExists
)

func (m WriteMode) String() string {
	switch m {
	case Append:
		return "append"
	case Overwrite:
		return "overwrite"
	case ErrorIfExists:
		return "error-if-exists"
	}
	return fmt.Sprintf("WriteMode(%d)", int(m))
}

// SinkOptions configures a file Sink.
type SinkOptions struct {
	// Path is the output directory (local or s3://).
	Path    string
	Encoder Encoder
	Storage storage.Config
	// PartitionBy writes rows under "col=value/" directories by these
	// columns, which are left out of the files, as hive partitioning does.
	PartitionBy []string
	Mode        WriteMode
	// WriteID names this write's files "part-<WriteID>-<block>.<ext>"; by
	// default a time stamp and random suffix. A write refuses an ID that
	// names files of the dataset already.
	WriteID string
	// MaxRowsPerFile, when positive, writes a block of more rows as
	// several files of at most this many rows each (per partition).
	MaxRowsPerFile int64
	// MaxFileBytes bounds the Arrow bytes a file is written from (the file
	// is smaller still once encoded and compressed): a larger block becomes
	// several files of equal rows. 0 means DefaultMaxFileBytes, a negative
	// value no bound.
	MaxFileBytes int64
	// Schema is the dataset's schema when it is known before writing: what
	// a write of no blocks records (its blocks' schema wins otherwise).
	Schema *arrow.Schema
	// StaleAfter is how long a write's heartbeat may stay silent before a
	// cleanup takes the write for dead (default txlog.DefaultStaleAfter,
	// five minutes). Only writes on another host, or with no /proc to ask
	// about their process, are judged by it.
	StaleAfter time.Duration
}

// Sink writes each block as a file of one format, in place, and commits
// the write with a new manifest in the directory's log (package txlog):
// readers that honour the log (Source) see the whole write or none of it,
// whenever the writer dies. Start cleans what dead writes left and marks
// the write in flight; a failed or cancelled write removes its files.
type Sink struct {
	opts   SinkOptions
	fs     storage.FileSystem
	dir    string
	format string

	// Driver side: set by Start, ended by Commit or Abort.
	inFlight *txlog.InFlight
	// keepFiles is set when the commit's outcome is unknown: the files
	// may be committed, so Abort leaves them to a later cleanup.
	keepFiles bool
	mu        sync.Mutex
	warnings  []error
}

var _ ops.Datasink = (*Sink)(nil)

// cleanupTimeout bounds the cleanup before a write and after an Overwrite.
const cleanupTimeout = 30 * time.Second

// NewSink resolves the output path; nothing is written before Start.
func NewSink(ctx context.Context, o SinkOptions) (*Sink, error) {
	if o.Encoder == nil {
		return nil, errors.New("formats: sink without an encoder")
	}
	fs, dir, err := storage.Resolve(ctx, o.Path, o.Storage)
	if err != nil {
		return nil, err
	}
	dir = strings.TrimRight(dir, `/\`)
	if dir == "" {
		dir = "."
	}
	if o.WriteID == "" {
		var rnd [4]byte
		_, _ = rand.Read(rnd[:])
		o.WriteID = time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(rnd[:])
	}
	if strings.ContainsAny(o.WriteID, `/\`) || strings.HasPrefix(o.WriteID, ".") {
		return nil, fmt.Errorf("formats: write ID %q must not contain a path separator or start with a dot", o.WriteID)
	}
	format := strings.TrimPrefix(o.Encoder.Ext(), ".")
	if r, ok := o.Encoder.(Reader); ok {
		format = r.Format()
	}
	return &Sink{opts: o, fs: fs, dir: dir, format: format}, nil
}

// Name labels the write in plans: "WriteParquet(out/)".
func (s *Sink) Name() string {
	return fmt.Sprintf("Write%s(%s)", titleCase(s.format), s.fs.URL(s.dir))
}

// Operation names the write in errors: "write parquet out/".
func (s *Sink) Operation() string {
	return fmt.Sprintf("write %s %s", s.format, s.fs.URL(s.dir))
}

// URL is the output directory's URL.
func (s *Sink) URL() string { return s.fs.URL(s.dir) }

// WriteID is the ID in this write's file names.
func (s *Sink) WriteID() string { return s.opts.WriteID }

// Warnings are the failures that did not fail the write: a cleanup of
// what other writes left, or of what an Overwrite replaced.
func (s *Sink) Warnings() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.warnings...)
}

func (s *Sink) warn(err error) {
	slog.Warn("shoal: "+s.Operation()+": cleanup failed; the write itself is fine", "err", err)
	s.mu.Lock()
	s.warnings = append(s.warnings, err)
	s.mu.Unlock()
}

// clean removes what dead writes and replaced snapshots left; a failure is
// a warning.
func (s *Sink) clean(ctx context.Context, unlogged bool) {
	ctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
	defer cancel()
	rep, err := txlog.Clean(ctx, s.fs, s.dir, txlog.CleanOptions{StaleAfter: s.opts.StaleAfter, Keep: s.opts.WriteID, Unlogged: unlogged})
	if err == nil {
		err = rep.Err()
	}
	if err != nil {
		s.warn(err)
	}
}

// Start cleans up after dead writes to the directory, checks the write
// mode against what it holds, and records the write in flight (a marker
// and its heartbeat goroutine): Commit or Abort must follow.
func (s *Sink) Start(ctx context.Context) error {
	s.clean(ctx, false)
	latest, err := txlog.Latest(ctx, s.fs, s.dir)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Operation(), err)
	}
	if latest != nil {
		prefix := "part-" + s.opts.WriteID + "-"
		for _, f := range latest.Files {
			if strings.HasPrefix(f.Path[strings.LastIndex(f.Path, "/")+1:], prefix) {
				return fmt.Errorf("%s: the write ID %q already names files of the dataset (%s); choose another ID",
					s.Operation(), s.opts.WriteID, f.Path)
			}
		}
	}
	if s.opts.Mode == ErrorIfExists {
		if err := s.refuseExisting(ctx, latest); err != nil {
			return err
		}
	}
	w, err := txlog.Begin(ctx, s.fs, s.dir, s.opts.WriteID, s.opts.StaleAfter)
	if err != nil {
		return err
	}
	s.inFlight = w
	return nil
}

// refuseExisting is ErrorIfExists's check: no committed files, and no
// other visible files.
func (s *Sink) refuseExisting(ctx context.Context, latest *txlog.Manifest) error {
	var existing []string
	if latest != nil {
		for _, f := range latest.Files {
			existing = append(existing, s.fs.URL(s.fs.Join(s.dir, f.Path)))
		}
	} else {
		files, err := txlog.Unlogged(ctx, s.fs, s.dir)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Operation(), err)
		}
		for _, f := range files {
			existing = append(existing, s.fs.URL(s.fs.Join(s.dir, f.Path)))
		}
	}
	if len(existing) > 0 {
		return fmt.Errorf("write %s: the directory already holds %d files (first %s); choose Overwrite or Append",
			s.fs.URL(s.dir), len(existing), existing[0])
	}
	return nil
}

// Write encodes one block in place: one file, or one per partition value
// when PartitionBy is set. Files are named from the write ID and the block
// index, so a retried task replaces its own attempt. A block of no rows
// writes nothing (Commit writes one empty file if the whole write has no
// rows).
func (s *Sink) Write(tc *exec.TaskContext, index int, b blocks.Block) (ops.WriteResult, error) {
	res := ops.WriteResult{Rows: b.NumRows(), Schema: b.Schema()}
	if b.NumRows() == 0 {
		return res, nil
	}
	if len(s.opts.PartitionBy) == 0 {
		return res, s.writeFiles(tc, "", index, b, &res)
	}
	groups, err := partitionRows(b, s.opts.PartitionBy)
	if err != nil {
		return res, err
	}
	keepCols := make([]string, 0, b.NumCols())
	for _, f := range b.Schema().Fields() {
		if !contains(s.opts.PartitionBy, f.Name) {
			keepCols = append(keepCols, f.Name)
		}
	}
	for _, g := range groups {
		part, err := blocks.Take(tc.Alloc, b, g.rows)
		if err != nil {
			return res, err
		}
		data, err := blocks.Select(part, keepCols)
		part.Release()
		if err != nil {
			return res, err
		}
		err = s.writeFiles(tc, g.dir+"/", index, data, &res)
		data.Release()
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// DefaultMaxFileBytes is the most Arrow bytes a file is written from when
// SinkOptions names no bound: Ray Data's target block size, which keeps
// files large enough to read fast and small enough to read in parallel.
const DefaultMaxFileBytes = 128 << 20

// filePieces is how many files a block of rows rows and size bytes
// becomes, and the rows of each but the last: MaxRowsPerFile rows when
// that bound splits it most, else equal shares under MaxFileBytes.
func (o *SinkOptions) filePieces(rows, size int64) (pieces, perPiece int64) {
	if rows == 0 {
		return 1, 0
	}
	perPiece = rows
	if max := o.MaxRowsPerFile; max > 0 && rows > max {
		perPiece = max
	}
	maxBytes := o.MaxFileBytes
	if maxBytes == 0 {
		maxBytes = DefaultMaxFileBytes
	}
	if maxBytes > 0 && size > maxBytes {
		byBytes := min((size+maxBytes-1)/maxBytes, rows)
		if byBytes > (rows+perPiece-1)/perPiece {
			perPiece = (rows + byBytes - 1) / byBytes
		}
	}
	return (rows + perPiece - 1) / perPiece, perPiece
}

// writeFiles writes block index's rows of b under dir: one file, or
// pieces of equal rows within MaxRowsPerFile and MaxFileBytes, each added
// to res.
func (s *Sink) writeFiles(tc *exec.TaskContext, dir string, index int, b blocks.Block, res *ops.WriteResult) error {
	ext, rows := s.opts.Encoder.Ext(), b.NumRows()
	pieces, perPiece := s.opts.filePieces(rows, blocks.Size(b))
	for k := range pieces {
		rel := dir + txlog.DataFileName(s.opts.WriteID, index, ext)
		part := b
		if pieces > 1 {
			rel = dir + txlog.DataPieceName(s.opts.WriteID, index, int(k), ext)
			lo := k * perPiece
			part = b.NewSlice(lo, min(lo+perPiece, rows))
		}
		partRows := part.NumRows()
		n, err := s.writeFile(tc, rel, part)
		if pieces > 1 {
			part.Release()
		}
		if err != nil {
			return err
		}
		res.Files = append(res.Files, rel)
		res.FileRows = append(res.FileRows, partRows)
		res.FileBytes = append(res.FileBytes, n)
		res.Bytes += n
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

type countingWriter struct {
	w storage.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (s *Sink) writeFile(ctx context.Context, rel string, b arrow.RecordBatch) (int64, error) {
	return s.encodeFile(ctx, rel, b.Schema(), []arrow.RecordBatch{b})
}

// encodeFile encodes recs (all of schema) as the file rel under the output
// directory, visible only once complete.
func (s *Sink) encodeFile(ctx context.Context, rel string, schema *arrow.Schema, recs []arrow.RecordBatch) (int64, error) {
	path := s.fs.Join(s.dir, rel)
	w, err := s.fs.Create(ctx, path)
	if err != nil {
		return 0, err
	}
	cw := &countingWriter{w: w}
	buf := bufio.NewWriterSize(cw, 1<<20)
	err = s.opts.Encoder.Encode(ctx, buf, schema, recs)
	if err == nil {
		err = buf.Flush()
	}
	if err != nil {
		_ = w.Abort()
		return 0, fmt.Errorf("write %s: %w", s.fs.URL(path), err)
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	return cw.n, nil
}

// Abort removes every file of the write (those reported in results and
// any a failed task left) and its in-flight marker. The rollback's error
// names the directory; a file that cannot be removed is garbage that the
// next write's cleanup, or shoal clean, removes. After a commit whose
// outcome is unknown the files stay: they may be committed.
func (s *Sink) Abort(ctx context.Context, _ []ops.WriteResult) error {
	var err error
	if !s.keepFiles {
		err = txlog.RemoveWrite(ctx, s.fs, s.dir, s.opts.WriteID)
	}
	if s.inFlight != nil {
		if eerr := s.inFlight.End(ctx); eerr != nil {
			err = errors.Join(err, fmt.Errorf("%s: %w", s.Operation(), eerr))
		}
		s.inFlight = nil
	}
	return err
}
