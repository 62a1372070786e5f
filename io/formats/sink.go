package formats

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/io/storage"
	"github.com/shoal-data/shoal/ops"
)

// WriteMode says what a write does with files already in its directory.
type WriteMode int

const (
	// Append adds the new files beside any there (names never collide:
	// each write has its own ID). This is the zero value.
	Append WriteMode = iota
	// Overwrite replaces the directory's files once the new ones are all
	// written; a failed write leaves the old files in place.
	Overwrite
	// ErrorIfExists refuses to write into a directory that holds files.
	ErrorIfExists
)

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
	// WriteID names this write's files "<WriteID>_<block>.<ext>"; by
	// default a time stamp and random suffix.
	WriteID string
}

// Sink writes each block as a file of one format. Files are written to a
// hidden staging directory beside the output and moved into place only
// when every block has been written, so readers never see part of a
// write; a failed or cancelled write removes the staging directory.
type Sink struct {
	opts    SinkOptions
	fs      storage.FileSystem
	dir     string
	staging string
}

var _ ops.Datasink = (*Sink)(nil)

// NewSink resolves the output path; nothing is written before Start.
func NewSink(ctx context.Context, o SinkOptions) (*Sink, error) {
	if o.Encoder == nil {
		return nil, errors.New("formats: sink without an encoder")
	}
	fs, dir, err := storage.Resolve(ctx, o.Path, o.Storage)
	if err != nil {
		return nil, err
	}
	dir = strings.TrimRight(dir, "/")
	if o.WriteID == "" {
		var rnd [3]byte
		_, _ = rand.Read(rnd[:])
		o.WriteID = time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(rnd[:])
	}
	if strings.ContainsAny(o.WriteID, `/\`) {
		return nil, fmt.Errorf("formats: write ID %q must not contain a path separator", o.WriteID)
	}
	return &Sink{opts: o, fs: fs, dir: dir, staging: fs.Join(dir, "_shoal_staging_"+o.WriteID)}, nil
}

// Name labels the write in plans.
func (s *Sink) Name() string {
	return fmt.Sprintf("Write%s(%s)", strings.ToUpper(strings.TrimPrefix(s.opts.Encoder.Ext(), ".")[:1])+strings.TrimPrefix(s.opts.Encoder.Ext(), ".")[1:], s.fs.URL(s.dir))
}

// WriteID is the ID in this write's file names.
func (s *Sink) WriteID() string { return s.opts.WriteID }

// Start checks the write mode against what the directory holds.
func (s *Sink) Start(ctx context.Context) error {
	if s.opts.Mode != ErrorIfExists {
		return nil
	}
	existing, err := s.visibleFiles(ctx)
	if err != nil {
		return err
	}
	if len(existing) > 0 {
		return fmt.Errorf("write %s: the directory already holds %d files (first %s); choose Overwrite or Append",
			s.fs.URL(s.dir), len(existing), s.fs.URL(existing[0]))
	}
	return nil
}

func (s *Sink) visibleFiles(ctx context.Context) ([]string, error) {
	all, err := s.fs.List(ctx, s.dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range all {
		rel := strings.TrimPrefix(strings.TrimPrefix(f.Path, s.dir), "/")
		if !hiddenPath(rel) {
			out = append(out, f.Path)
		}
	}
	return out, nil
}

func hiddenPath(rel string) bool {
	for _, el := range strings.FieldsFunc(rel, func(r rune) bool { return r == '/' || r == '\\' }) {
		if strings.HasPrefix(el, ".") || strings.HasPrefix(el, "_") {
			return true
		}
	}
	return false
}

// Write encodes one block into the staging directory: one file, or one per
// partition value when PartitionBy is set. Files are named from the write
// ID and the block index, so a retried task overwrites its own attempt.
func (s *Sink) Write(tc *exec.TaskContext, index int, b blocks.Block) (ops.WriteResult, error) {
	res := ops.WriteResult{Rows: b.NumRows()}
	if b.NumRows() == 0 {
		return res, nil
	}
	name := fmt.Sprintf("%s_%06d%s", s.opts.WriteID, index, s.opts.Encoder.Ext())
	if len(s.opts.PartitionBy) == 0 {
		n, err := s.writeFile(tc, name, b)
		if err != nil {
			return res, err
		}
		res.Files, res.Bytes = []string{name}, n
		return res, nil
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
		rel := g.dir + "/" + name
		n, err := s.writeFile(tc, rel, data)
		data.Release()
		if err != nil {
			return res, err
		}
		res.Files = append(res.Files, rel)
		res.Bytes += n
	}
	return res, nil
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
	path := s.fs.Join(s.staging, rel)
	w, err := s.fs.Create(ctx, path)
	if err != nil {
		return 0, err
	}
	cw := &countingWriter{w: w}
	buf := bufio.NewWriterSize(cw, 1<<20)
	err = s.opts.Encoder.Encode(ctx, buf, b.Schema(), []arrow.RecordBatch{b})
	if err == nil {
		err = buf.Flush()
	}
	if err != nil {
		_ = w.Abort()
		return 0, fmt.Errorf("write %s: %w", s.fs.URL(s.fs.Join(s.dir, rel)), err)
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	return cw.n, nil
}

// Commit moves the staged files into the output directory. In Overwrite
// mode the files that were there are removed only after every new file is
// in place. If a move fails, the files already moved are removed again.
func (s *Sink) Commit(ctx context.Context, results []ops.WriteResult) error {
	var old []string
	if s.opts.Mode == Overwrite {
		var err error
		if old, err = s.visibleFiles(ctx); err != nil {
			return err
		}
	}
	var moved []string
	for _, r := range results {
		for _, rel := range r.Files {
			dst := s.fs.Join(s.dir, rel)
			if err := s.fs.Rename(ctx, s.fs.Join(s.staging, rel), dst); err != nil {
				for _, m := range moved {
					_ = s.fs.RemoveAll(ctx, m)
				}
				return fmt.Errorf("commit %s: %w", s.fs.URL(s.dir), err)
			}
			moved = append(moved, dst)
		}
	}
	newSet := map[string]bool{}
	for _, m := range moved {
		newSet[m] = true
	}
	for _, o := range old {
		if !newSet[o] {
			if err := s.fs.RemoveAll(ctx, o); err != nil {
				return fmt.Errorf("overwrite %s: %w", s.fs.URL(s.dir), err)
			}
		}
	}
	return s.fs.RemoveAll(ctx, s.staging)
}

// Abort removes the staging directory and everything in it.
func (s *Sink) Abort(ctx context.Context, _ []ops.WriteResult) error {
	return s.fs.RemoveAll(ctx, s.staging)
}

type partitionGroup struct {
	dir  string // "a=1/b=x"
	rows []int64
}

// partitionRows groups a block's rows by the values of the partition
// columns, groups sorted by directory name. The Grouper finds the groups
// without a string per row; key types it does not hash fall back to
// rendering each row's directory.
func partitionRows(b arrow.RecordBatch, by []string) ([]partitionGroup, error) {
	cols := make([]arrow.Array, len(by))
	for i, name := range by {
		idx := b.Schema().FieldIndices(name)
		if len(idx) == 0 {
			return nil, &blocks.UnknownColumnError{Column: name, Schema: b.Schema()}
		}
		cols[i] = b.Column(idx[0])
		switch cols[i].DataType().ID() {
		case arrow.LIST, arrow.LARGE_LIST, arrow.STRUCT, arrow.MAP, arrow.FIXED_SIZE_LIST:
			return nil, fmt.Errorf("partition column %q is %s; partition by a scalar column", name, cols[i].DataType())
		}
	}
	groups, ok := partitionByGrouper(b, by)
	if !ok {
		groups = partitionByRow(b, by, cols)
	}
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].dir < groups[j].dir })
	return groups, nil
}

// partitionByGrouper groups rows with a blocks.Grouper and renders one
// directory per group; false when the key types are not groupable.
func partitionByGrouper(b arrow.RecordBatch, by []string) ([]partitionGroup, bool) {
	keys, err := blocks.Select(b, by)
	if err != nil {
		return nil, false
	}
	defer keys.Release()
	g, err := blocks.NewGrouper(keys.Schema())
	if err != nil {
		return nil, false
	}
	gids, err := g.Add(keys, by)
	if err != nil {
		return nil, false
	}
	distinct, err := g.Keys(memory.DefaultAllocator)
	if err != nil {
		return nil, false
	}
	defer distinct.Release()
	groups := make([]partitionGroup, g.NumGroups())
	for id := range groups {
		groups[id].dir = partitionDir(by, distinct.Columns(), id)
	}
	for r, id := range gids {
		groups[id].rows = append(groups[id].rows, int64(r))
	}
	return groups, true
}

// partitionByRow renders every row's directory and groups by it.
func partitionByRow(b arrow.RecordBatch, by []string, cols []arrow.Array) []partitionGroup {
	index := map[string]int{}
	var groups []partitionGroup
	for r := range int(b.NumRows()) {
		k := partitionDir(by, cols, r)
		g, ok := index[k]
		if !ok {
			g = len(groups)
			index[k] = g
			groups = append(groups, partitionGroup{dir: k})
		}
		groups[g].rows = append(groups[g].rows, int64(r))
	}
	return groups
}

// partitionDir is row r's directory: "a=1/b=x", values path-escaped and
// nulls written as Hive's default partition.
func partitionDir(by []string, cols []arrow.Array, r int) string {
	var key strings.Builder
	for i, c := range cols {
		if i > 0 {
			key.WriteByte('/')
		}
		key.WriteString(by[i])
		key.WriteByte('=')
		if c.IsNull(r) {
			key.WriteString("__HIVE_DEFAULT_PARTITION__")
		} else {
			key.WriteString(url.PathEscape(c.ValueStr(r)))
		}
	}
	return key.String()
}
