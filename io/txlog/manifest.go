package txlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/ops"
)

// Manifest is one version of a dataset: the complete list of its files.
// Each version is a whole snapshot, not a change to the one before, so a
// reader needs the latest manifest only.
type Manifest struct {
	// Version numbers the snapshots from 0; version N+1 replaces N.
	Version int64
	// Format names the files' format: "parquet", "csv", "json".
	Format string
	// Schema is the dataset's schema as written, partition columns
	// included, in their original order.
	Schema *arrow.Schema
	// PartitionBy lists the columns written as "col=value/" directories;
	// the files hold the other columns.
	PartitionBy []string
	// Files are the dataset's files, paths relative to its directory.
	Files []File
	// WriteID, Mode and Time say which write made this version.
	WriteID string
	Mode    string
	Time    time.Time
	// ShoalVersion is the version of the Shoal module that wrote it.
	ShoalVersion string
}

// File is one file of a snapshot.
type File struct {
	// Path is relative to the dataset directory, "/"-separated:
	// "part-<write>-000003.parquet" or "city=Oslo/part-<write>-000003.parquet".
	Path string `json:"path"`
	// Rows is the file's row count, or -1 when the write that recorded it
	// did not know (a CSV file that was there before the first logged
	// write).
	Rows int64 `json:"rows"`
	// Bytes is the file's size.
	Bytes int64 `json:"bytes"`
}

// Rows is the dataset's row count, or -1 when some file's is unknown.
func (m *Manifest) Rows() int64 {
	var n int64
	for _, f := range m.Files {
		if f.Rows < 0 {
			return -1
		}
		n += f.Rows
	}
	return n
}

// FileSchema is the schema of the files: Schema without the partition
// columns, which live in directory names.
func (m *Manifest) FileSchema() *arrow.Schema {
	if len(m.PartitionBy) == 0 {
		return m.Schema
	}
	part := map[string]bool{}
	for _, c := range m.PartitionBy {
		part[c] = true
	}
	var fields []arrow.Field
	for _, f := range m.Schema.Fields() {
		if !part[f.Name] {
			fields = append(fields, f)
		}
	}
	md := m.Schema.Metadata()
	return arrow.NewSchema(fields, &md)
}

// manifestJSON is the manifest on disk. The schema is kept twice: as an
// Arrow IPC stream holding only the schema (base64), which round-trips
// every type and metadata exactly, and as "name: type" lines for people
// and other tools.
type manifestJSON struct {
	Version      int64     `json:"version"`
	Format       string    `json:"format"`
	Rows         int64     `json:"rows"`
	Columns      []string  `json:"columns"`
	SchemaIPC    []byte    `json:"schema_ipc"` // base64 in JSON
	PartitionBy  []string  `json:"partition_by,omitempty"`
	Files        []File    `json:"files"`
	WriteID      string    `json:"write_id"`
	Mode         string    `json:"mode"`
	Time         time.Time `json:"time"`
	ShoalVersion string    `json:"shoal_version"`
}

// encode renders the manifest as indented JSON.
func (m *Manifest) encode() ([]byte, error) {
	if m.Schema == nil {
		return nil, errors.New("a manifest without a schema")
	}
	sc, err := ops.MarshalSchema(m.Schema)
	if err != nil {
		return nil, err
	}
	j := manifestJSON{
		Version: m.Version, Format: m.Format, Rows: m.Rows(), SchemaIPC: sc,
		PartitionBy: m.PartitionBy, Files: m.Files, WriteID: m.WriteID, Mode: m.Mode,
		Time: m.Time.UTC(), ShoalVersion: m.ShoalVersion,
	}
	if j.Files == nil {
		j.Files = []File{}
	}
	for _, f := range m.Schema.Fields() {
		j.Columns = append(j.Columns, fmt.Sprintf("%s: %s", f.Name, f.Type))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "list<item: ...>" stays readable
	if err := enc.Encode(j); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeManifest parses a manifest; name is its URL, for errors.
func decodeManifest(name string, data []byte) (*Manifest, error) {
	var j manifestJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("%s: not a Shoal manifest: %w", name, err)
	}
	sc, err := ops.UnmarshalSchema(j.SchemaIPC)
	if err == nil && sc == nil {
		err = errors.New("no schema")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: not a Shoal manifest: %w", name, err)
	}
	return &Manifest{
		Version: j.Version, Format: j.Format, Schema: sc, PartitionBy: j.PartitionBy,
		Files: j.Files, WriteID: j.WriteID, Mode: j.Mode, Time: j.Time, ShoalVersion: j.ShoalVersion,
	}, nil
}

// shoalVersion is the version of this module in the running binary:
// "v0.3.0", or "(devel)" when built inside the module itself.
func shoalVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if bi.Main.Path == modulePath {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == modulePath {
			return d.Version
		}
	}
	return "unknown"
}

const modulePath = "github.com/shoal-data/shoal"
