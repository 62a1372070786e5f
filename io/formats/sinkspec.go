package formats

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/io/storage"
	"github.com/shoal-data/shoal/ops"
)

// sinkArgs describe a Sink as data: what another process needs to write
// blocks of the same write (the same staging directory, file names and
// format) with Sink.Write. Start, Commit and Abort stay with the driver.
type sinkArgs struct {
	Format      string             `json:"format"`
	Options     json.RawMessage    `json:"options,omitempty"`
	Columns     []byte             `json:"columns,omitempty"`
	Path        string             `json:"path"`
	S3          *storage.S3Options `json:"s3,omitempty"`
	PartitionBy []string           `json:"partition_by,omitempty"`
	Mode        WriteMode          `json:"mode"`
	WriteID     string             `json:"write_id"`
}

// SpecArgs describes the sink as data for SinkFromSpecArgs, or reports
// false when it cannot travel: a custom encoder or filesystem, S3 with
// explicit keys or an HTTP client (credentials do not travel in specs: the
// other process uses its own credential chain), or a CSV or JSON format
// with a BadRows counter.
func (s *Sink) SpecArgs() (json.RawMessage, bool) {
	a := sinkArgs{Path: s.opts.Path, PartitionBy: s.opts.PartitionBy, Mode: s.opts.Mode, WriteID: s.opts.WriteID}
	if !strings.Contains(a.Path, "://") {
		// A local path: absolute, as the other process's working directory
		// is not this one's.
		abs, err := filepath.Abs(a.Path)
		if err != nil {
			return nil, false
		}
		a.Path = abs
	}
	var columns map[string]arrow.DataType
	var opts any
	switch e := s.opts.Encoder.(type) {
	case *ParquetFormat:
		a.Format, opts = "parquet", e.opts
	case *CSVFormat:
		if e.o.BadRows != nil {
			return nil, false
		}
		o := e.o
		columns, o.Columns = o.Columns, nil
		a.Format, opts = "csv", o
	case *JSONFormat:
		if e.o.BadRows != nil {
			return nil, false
		}
		o := e.o
		columns, o.Columns = o.Columns, nil
		a.Format, opts = "json", o
	default:
		return nil, false
	}
	data, err := json.Marshal(opts)
	if err != nil {
		return nil, false
	}
	a.Options = data
	if columns != nil {
		fields := make([]arrow.Field, 0, len(columns))
		for name, t := range columns {
			fields = append(fields, arrow.Field{Name: name, Type: t, Nullable: true})
		}
		if a.Columns, err = ops.MarshalSchema(arrow.NewSchema(fields, nil)); err != nil {
			return nil, false
		}
	}
	st := s.opts.Storage
	if st.FileSystem != nil {
		if _, local := st.FileSystem.(storage.Local); !local {
			return nil, false
		}
	} else if st.S3.HTTPClient != nil || st.S3.AccessKeyID != "" || st.S3.SecretAccessKey != "" {
		return nil, false
	} else {
		o := st.S3
		a.S3 = &o
	}
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
	r, err := readerFor(readArgs{Format: a.Format, Options: a.Options, Columns: a.Columns})
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
		PartitionBy: a.PartitionBy, Mode: a.Mode, WriteID: a.WriteID})
}
