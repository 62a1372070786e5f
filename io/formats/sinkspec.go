package formats

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/shoal-data/shoal/io/storage"
)

// sinkArgs describe a Sink as data: what another process needs to write
// blocks of the same write (the same staging directory, file names and
// format) with Sink.Write. Start, Commit and Abort stay with the driver.
type sinkArgs struct {
	formatArgs
	Path        string             `json:"path"`
	S3          *storage.S3Options `json:"s3,omitempty"`
	PartitionBy []string           `json:"partition_by,omitempty"`
	Mode        WriteMode          `json:"mode"`
	WriteID     string             `json:"write_id"`
	MaxRows     int64              `json:"max_rows,omitempty"`
	MaxBytes    int64              `json:"max_bytes,omitempty"`
}

// SpecArgs describes the sink as data for SinkFromSpecArgs, or reports
// false when it cannot travel: a custom encoder or filesystem, S3 with
// explicit keys or an HTTP client (credentials do not travel in specs: the
// other process uses its own credential chain), or a CSV or JSON format
// with a BadRows counter.
func (s *Sink) SpecArgs() (json.RawMessage, bool) {
	a := sinkArgs{Path: s.opts.Path, PartitionBy: s.opts.PartitionBy, Mode: s.opts.Mode, WriteID: s.opts.WriteID, MaxRows: s.opts.MaxRowsPerFile, MaxBytes: s.opts.MaxFileBytes}
	if !strings.Contains(a.Path, "://") {
		// A local path: absolute, as the other process's working directory
		// is not this one's.
		abs, err := filepath.Abs(a.Path)
		if err != nil {
			return nil, false
		}
		a.Path = abs
	}
	f, ok := encodeFormat(s.opts.Encoder)
	if !ok {
		return nil, false
	}
	a.formatArgs = f
	s3, custom := s3Args(s.opts.Storage)
	st := s.opts.Storage
	if custom || (st.FileSystem == nil && s3 == nil) {
		return nil, false // credentials or an HTTP client, which do not travel
	}
	a.S3 = s3
	out, err := json.Marshal(a)
	if err != nil {
		return nil, false
	}
	return out, true
}

// SinkFromSpecArgs makes, in another process, the sink SpecArgs
// described.
func SinkFromSpecArgs(data json.RawMessage) (*Sink, error) {
	var a sinkArgs
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("decoding a sink: %w", err)
	}
	if a.WriteID == "" {
		return nil, fmt.Errorf("a sink without its write ID")
	}
	r, err := readerFor(readArgs{formatArgs: a.formatArgs})
	if err != nil {
		return nil, err
	}
	enc, ok := r.(Encoder)
	if !ok {
		return nil, fmt.Errorf("format %q does not write files", a.Format)
	}
	cfg := storage.Config{}
	if a.S3 != nil {
		cfg.S3 = *a.S3
	}
	return NewSink(context.Background(), SinkOptions{Path: a.Path, Encoder: enc, Storage: cfg,
		PartitionBy: a.PartitionBy, Mode: a.Mode, WriteID: a.WriteID, MaxRowsPerFile: a.MaxRows, MaxFileBytes: a.MaxBytes})
}
