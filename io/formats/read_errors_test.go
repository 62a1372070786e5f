package formats

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

// wantPathOnce fails unless err names path exactly once and contains each
// of want.
func wantPathOnce(t *testing.T, err error, path string, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one naming %s", path)
	}
	msg := err.Error()
	if n := strings.Count(msg, path); n != 1 {
		t.Errorf("error names %s %d times: %s", path, n, msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not say %q", msg, w)
		}
	}
}

// TestParquetTruncatedErrors checks what a cut Parquet file reads as: a
// file that is truncated or not Parquet, with its path (once) and size.
func TestParquetTruncatedErrors(t *testing.T) {
	mem := pqCheckedAlloc()
	in := pqSampleRecs(t, mem, 100)
	data := pqEncode(t, ParquetOptions{}, in)
	pqRelease(in)
	footer := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		data []byte
		want []string
	}{
		{"cut-in-the-data", data[:len(data)/2], []string{
			"not a Parquet file, or truncated: its last 4 bytes (of " + fmt.Sprint(len(data)/2) + `) are`, `not the magic "PAR1"`}},
		// Only the end of the footer survives.
		{"cut-at-the-start", data[len(data)-footer/2-8:], []string{
			fmt.Sprintf("truncated, or not a Parquet file: the footer says its metadata takes %d bytes, more than the file's %d bytes hold", footer, footer/2+8)}},
		{"tiny", []byte("PAR1PAR"), []string{"not a Parquet file, or truncated: 7 bytes, too few for one"}},
		{"text", bytes.Repeat([]byte("not parquet\n"), 3), []string{"not a Parquet file, or truncated"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name+".parquet")
			if err := os.WriteFile(path, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := NewSource(context.Background(), SourceOptions{Paths: []string{path}, Reader: Parquet(ParquetOptions{})})
			wantPathOnce(t, err, path, c.want...)
		})
	}
}

// TestReadErrorNamesPathOnce checks that errors from the filesystem name
// the path once: "open P: open P: permission denied" said it twice.
func TestReadErrorNamesPathOnce(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "data.csv")
	if err := os.WriteFile(file, []byte("a\n1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := NewSource(context.Background(), SourceOptions{Paths: []string{filepath.Join(file, "x.csv")}, Reader: CSV(CSVOptions{})})
	wantPathOnce(t, err, filepath.Join(file, "x.csv"), "not a directory")

	// Permission denied needs a user the file's mode keeps out; root is
	// not kept out, so as root the check runs in a child process that
	// drops to nobody.
	if os.Geteuid() != 0 {
		if err := os.Chmod(file, 0); err != nil {
			t.Fatal(err)
		}
		_, err := NewSource(context.Background(), SourceOptions{Paths: []string{file}, Reader: CSV(CSVOptions{})})
		wantPathOnce(t, err, file, "permission denied")
		return
	}
	// The child needs to reach the file and its own binary.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "formats.test")
	if err := copyFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, st.Mode().Perm()|0o011); err != nil {
				t.Fatal(err)
			}
		}
	}
	cmd := exec.Command(bin, "-test.run=^TestReadErrorPermissionChild$", "-test.v")
	cmd.Env = append(os.Environ(), "SHOAL_TEST_DENIED_PATH="+file)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child as nobody: %v\n%s", err, out)
	}
	_, msg, ok := strings.Cut(string(out), "ERROR: ")
	if !ok {
		t.Fatalf("child printed no error:\n%s", out)
	}
	msg, _, _ = strings.Cut(msg, "\n")
	wantPathOnce(t, fmt.Errorf("%s", msg), file, "permission denied")
}

// TestReadErrorPermissionChild runs in TestReadErrorNamesPathOnce's child
// process: it opens the file it is given and prints the error.
func TestReadErrorPermissionChild(t *testing.T) {
	path := os.Getenv("SHOAL_TEST_DENIED_PATH")
	if path == "" {
		t.Skip("runs only as TestReadErrorNamesPathOnce's child process")
	}
	_, err := NewSource(context.Background(), SourceOptions{Paths: []string{path}, Reader: CSV(CSVOptions{})})
	fmt.Printf("ERROR: %v\n", err)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// faultyFile is a file whose reads fail as a disk's would: with an
// *fs.PathError that names the file, as os.File's do.
type faultyFile struct{ name string }

func (f faultyFile) ReadAt(p []byte, off int64) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: f.name, Err: syscall.EIO}
}
func (f faultyFile) Close() error { return nil }
func (f faultyFile) Name() string { return f.name }
func (f faultyFile) Size() int64  { return 4096 }

// TestReadFaultNamesPathOnce checks that a failed read names the file once
// in every reader, though the storage error names it too.
func TestReadFaultNamesPathOnce(t *testing.T) {
	f := faultyFile{name: "/data/part-0.x"}
	for _, r := range []Reader{CSV(CSVOptions{}), JSON(JSONOptions{}), Text(), Binary(), Parquet(ParquetOptions{})} {
		err := r.Read(context.Background(), f, &FileMeta{Schema: textSchema}, ReadRequest{Limit: -1}, func(rec arrow.RecordBatch) error {
			rec.Release()
			return nil
		})
		t.Run(r.Format(), func(t *testing.T) { wantPathOnce(t, err, f.name, "input/output error") })
	}
}
