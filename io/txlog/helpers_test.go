package txlog

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/io/storage"
	"github.com/shoal-data/shoal/io/storage/s3"
	"github.com/shoal-data/shoal/io/storage/s3/s3test"
)

// stores runs fn on the local filesystem and on the test S3 server
// (skipped without one, failed under CI), each with a fresh directory.
func stores(t *testing.T, fn func(t *testing.T, fs storage.FileSystem, dir string)) {
	t.Run("local", func(t *testing.T) { fn(t, storage.Local{}, t.TempDir()) })
	t.Run("s3", func(t *testing.T) {
		fs, bucket := testS3(t)
		fn(t, fs, bucket+"/data")
	})
}

// testS3 reaches the S3 server scripts/test starts and makes a bucket
// that is removed after the test.
func testS3(t *testing.T) (storage.FileSystem, string) {
	t.Helper()
	fs, err := s3.New(t.Context(), s3test.SharedOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	return fs, s3test.NewBucket(t, fs)
}

// put writes a file with the given content.
func put(t *testing.T, fs storage.FileSystem, p, content string) {
	t.Helper()
	w, err := fs.Create(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// listRel lists every file under dir, relative to it, "/"-separated.
func listRel(t *testing.T, fs storage.FileSystem, dir string) []string {
	t.Helper()
	files, err := fs.List(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = strings.ReplaceAll(relPath(fs, dir, f.Path), separator(fs), "/")
	}
	return out
}

var idSchema = arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)

// appendFiles is a commit's next function for an Append of files.
func appendFiles(writeID string, files ...File) func(prev *Manifest) (*Manifest, error) {
	return func(prev *Manifest) (*Manifest, error) {
		m := &Manifest{Format: "parquet", Schema: idSchema, WriteID: writeID, Mode: "append", Files: files}
		if prev != nil {
			m.Files = append(append([]File(nil), prev.Files...), files...)
		}
		return m, nil
	}
}
