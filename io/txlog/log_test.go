package txlog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/io/storage"
)

func TestManifestRoundTrip(t *testing.T) {
	md := arrow.NewMetadata([]string{"origin"}, []string{"test"})
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "city", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "Europe/Oslo"}, Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.LargeString), Nullable: true},
		{Name: "pt", Type: arrow.StructOf(arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Float32}), Nullable: true},
		{Name: "d", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String}},
		{Name: "price", Type: &arrow.Decimal128Type{Precision: 12, Scale: 3}},
		{Name: "year", Type: arrow.PrimitiveTypes.Uint16},
	}, &md)
	m := &Manifest{Version: 7, Format: "parquet", Schema: schema, PartitionBy: []string{"city", "year"},
		Files:   []File{{Path: "city=Oslo/year=2020/part-w-000001.parquet", Rows: 10, Bytes: 300}, {Path: "x.csv", Rows: -1, Bytes: 5}},
		WriteID: "w", Mode: "append", ShoalVersion: "(devel)"}
	data, err := m.encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"rows": -1`, `"tags: list<item: large_utf8, nullable>"`, `"schema_ipc": "`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("the manifest does not hold %s:\n%s", want, data)
		}
	}
	back, err := decodeManifest("m.json", data)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Schema.Equal(schema) || !back.Schema.Metadata().Equal(md) {
		t.Errorf("schema\n%s\ncame back as\n%s", schema, back.Schema)
	}
	if back.Version != 7 || back.Rows() != -1 || fmt.Sprint(back.Files) != fmt.Sprint(m.Files) || back.WriteID != "w" || fmt.Sprint(back.PartitionBy) != "[city year]" {
		t.Errorf("manifest %+v", back)
	}
	if got := fmt.Sprint(fieldNames(back.FileSchema())); got != "[id at tags pt d price]" {
		t.Errorf("file schema %s", got)
	}
	if _, err := decodeManifest("bad.json", []byte(`{"version": 1}`)); err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("a manifest without a schema: %v", err)
	}
}

func fieldNames(s *arrow.Schema) []string {
	var out []string
	for _, f := range s.Fields() {
		out = append(out, f.Name)
	}
	return out
}

// TestCommitRace: writers that append at once each get their own version
// and every one's files are in the latest, whichever order they won in.
func TestCommitRace(t *testing.T) {
	stores(t, func(t *testing.T, fs storage.FileSystem, dir string) {
		const writers = 8
		versions := make([]int64, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				id := fmt.Sprintf("w%d", i)
				m, err := Commit(t.Context(), fs, dir, appendFiles(id, File{Path: DataFileName(id, 0, ".parquet"), Rows: int64(i), Bytes: 1}))
				errs[i] = err
				if err == nil {
					versions[i] = m.Version
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		slices.Sort(versions)
		if fmt.Sprint(versions) != "[0 1 2 3 4 5 6 7]" {
			t.Errorf("versions %v, want each once", versions)
		}
		latest, err := Latest(t.Context(), fs, dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(latest.Files) != writers || latest.Rows() != 28 || latest.Version != writers-1 {
			t.Errorf("latest %+v: want all %d writers' files", latest, writers)
		}
	})
}

// lossyFS is a real filesystem whose PutIfAbsent stores the file but
// reports failure (a reply lost on the way back) and whose Open can be
// made to fail (the store gone).
type lossyFS struct {
	storage.FileSystem
	putErr  error
	openErr error
}

func (l *lossyFS) PutIfAbsent(ctx context.Context, p string, data []byte) error {
	if err := l.FileSystem.PutIfAbsent(ctx, p, data); err != nil {
		return err
	}
	return l.putErr
}

func (l *lossyFS) Open(ctx context.Context, p string) (storage.File, error) {
	if l.openErr != nil {
		return nil, l.openErr
	}
	return l.FileSystem.Open(ctx, p)
}

// TestCommitUnknownOutcome: a put that landed although it reported an
// error (a retried put finding its own object says ErrExist) is a commit;
// when even the read-back fails, the error says the outcome is unknown.
func TestCommitUnknownOutcome(t *testing.T) {
	dir := t.TempDir()
	lossy := &lossyFS{FileSystem: storage.Local{}, putErr: fmt.Errorf("put: %w", storage.ErrExist)}
	m, err := Commit(t.Context(), lossy, dir, appendFiles("a", File{Path: "part-a-000000.parquet"}))
	if err != nil || m.Version != 0 || m.WriteID != "a" {
		t.Fatalf("a put that landed: %+v, %v", m, err)
	}
	lossy.putErr = errors.New("connection reset")
	m, err = Commit(t.Context(), lossy, dir, appendFiles("b", File{Path: "part-b-000000.parquet"}))
	if err != nil || m.Version != 1 {
		t.Fatalf("a put that landed and failed: %+v, %v", m, err)
	}

	// Reading the latest version needs Open too: fail only the read-back.
	lossy.putErr = errors.New("connection reset")
	gate := &readBackFails{lossyFS: lossy}
	_, err = Commit(t.Context(), gate, dir, appendFiles("c", File{Path: "part-c-000000.parquet"}))
	if !errors.Is(err, ErrOutcomeUnknown) || !strings.Contains(err.Error(), "connection reset") || !strings.Contains(err.Error(), "manifest-00000000000000000002.json") {
		t.Fatalf("err = %v, want ErrOutcomeUnknown naming the manifest and the cause", err)
	}
}

// readBackFails fails every Open after the first PutIfAbsent.
type readBackFails struct {
	*lossyFS
	put bool
}

func (r *readBackFails) PutIfAbsent(ctx context.Context, p string, data []byte) error {
	r.put = true
	return r.lossyFS.PutIfAbsent(ctx, p, data)
}

func (r *readBackFails) Open(ctx context.Context, p string) (storage.File, error) {
	if r.put {
		return nil, &storage.PathError{Op: "open", URL: p, Err: errors.New("server gone")}
	}
	return r.lossyFS.Open(ctx, p)
}

// TestOpen: a dataset's directory, a partition directory, a glob and a
// file read only committed files; files of unfinished writes are not
// read, and naming one is an error that says why.
func TestOpen(t *testing.T) {
	stores(t, func(t *testing.T, fs storage.FileSystem, dir string) {
		ctx := t.Context()
		committed := []string{"city=Lima/part-a-000000.parquet", "city=Oslo/part-a-000000.parquet", "city=Oslo/part-a-000001.parquet"}
		for _, f := range append(committed, "city=Oslo/part-dead-000000.parquet", "part-dead-000001.parquet") {
			put(t, fs, fs.Join(dir, f), f)
		}
		var files []File
		for _, f := range committed {
			files = append(files, File{Path: f, Rows: 5, Bytes: int64(len(f))})
		}
		if _, err := Commit(ctx, fs, dir, appendFiles("a", files...)); err != nil {
			t.Fatal(err)
		}
		rel := func(s *Snapshot) []string {
			var out []string
			for _, f := range s.Files {
				out = append(out, strings.ReplaceAll(relPath(fs, dir, f.Path), separator(fs), "/"))
			}
			return out
		}
		for _, c := range []struct {
			path string
			want []string
		}{
			{dir, committed},
			{fs.Join(dir, "city=Oslo"), committed[1:]},
			{fs.Join(dir, "city=Oslo") + separator(fs), committed[1:]},
			{fs.Join(dir, "*", "*.parquet"), committed},
			{fs.Join(dir, "city=Oslo", "*-000000.parquet"), committed[1:2]},
			{fs.Join(dir, committed[2]), committed[2:]},
		} {
			s, err := Open(ctx, fs, c.path)
			if err != nil || s == nil {
				t.Errorf("Open(%s): %v, %v", c.path, s, err)
				continue
			}
			if fmt.Sprint(rel(s)) != fmt.Sprint(c.want) || fs.Join(s.Root) != fs.Join(dir) || s.Rows[0] != 5 {
				t.Errorf("Open(%s) = %v in %s, want %v", c.path, rel(s), s.Root, c.want)
			}
		}
		for _, p := range []string{fs.Join(dir, "city=Oslo", "part-dead-000000.parquet"), fs.Join(dir, "city=Rome"), fs.Join(dir, "*.parquet")} {
			s, err := Open(ctx, fs, p)
			if !errors.Is(err, storage.ErrNoFiles) || !strings.Contains(err.Error(), fs.URL(p)) || !strings.Contains(err.Error(), "latest version (0)") {
				t.Errorf("Open(%s) = %v, %v; want an error naming it and the version", p, s, err)
			}
		}
		plain := fs.Join(dir+"-plain", "k=v")
		put(t, fs, fs.Join(plain, "a.parquet"), "x")
		if s, err := Open(ctx, fs, plain); s != nil || err != nil {
			t.Errorf("a directory without a log: %v, %v", s, err)
		}
	})
}
