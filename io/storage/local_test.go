package storage

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mkfiles creates files (with their names as content) under dir.
func mkfiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestLocalWriteRead(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	fs := Local{}
	p := filepath.Join(dir, "sub", "out.csv")
	w, err := fs.Create(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("a,b\n1,2\n")); err != nil {
		t.Fatal(err)
	}
	// Until Close, nothing is at the path, and the staging file is hidden
	// from Expand.
	if _, err := fs.Stat(ctx, p); !errors.Is(err, ErrNotExist) {
		t.Fatalf("stat before Close: %v, want ErrNotExist", err)
	}
	if names := dirEntries(t, filepath.Dir(p)); len(names) != 1 || !strings.HasPrefix(names[0], ".") {
		t.Fatalf("while writing, the directory holds %v; want one hidden staging file", names)
	}
	if _, err := Expand(ctx, fs, []string{filepath.Dir(p)}); !errors.Is(err, ErrNoFiles) {
		t.Fatalf("Expand while writing: %v, want ErrNoFiles", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("written file mode %v (%v), want -rw-r--r-- like os.Create", st.Mode(), err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort after Close: %v", err)
	}
	if names := dirEntries(t, filepath.Dir(p)); len(names) != 1 || names[0] != "out.csv" {
		t.Fatalf("after Close the directory holds %v", names)
	}

	f, err := fs.Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Size() != 8 || f.Name() != p {
		t.Fatalf("size %d name %q", f.Size(), f.Name())
	}
	buf := make([]byte, 5)
	if n, err := f.ReadAt(buf, 4); n != 4 || err != io.EOF || string(buf[:n]) != "1,2\n" {
		t.Fatalf("ReadAt past the end = %d %q %v", n, buf[:n], err)
	}
	info, err := fs.Stat(ctx, p)
	if err != nil || info.Size != 8 || info.Path != p || info.ModTime.IsZero() {
		t.Fatalf("stat = %+v, %v", info, err)
	}
	if fs.Scheme() != "file" || fs.URL(p) != p || fs.Join("a", "b") != filepath.Join("a", "b") {
		t.Fatal("Scheme, URL or Join")
	}
}

func TestLocalAbort(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	fs := Local{}
	p := filepath.Join(dir, "out.csv")
	w, err := fs.Create(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("partial"))
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("second Abort: %v", err)
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Fatalf("after Abort the directory holds %v", names)
	}
	if _, err := fs.Stat(ctx, p); !errors.Is(err, ErrNotExist) {
		t.Fatalf("stat after Abort: %v", err)
	}
}

func TestLocalStatListErrors(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	fs := Local{}
	mkfiles(t, dir, "b.csv", "a.csv", "sub/c.csv", "sub/deep/d.csv")

	missing := filepath.Join(dir, "missing.csv")
	if _, err := fs.Stat(ctx, missing); !errors.Is(err, ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("stat missing: %v", err)
	}
	if _, err := fs.Open(ctx, missing); !errors.Is(err, ErrNotExist) {
		t.Errorf("open missing: %v", err)
	}
	if _, err := fs.Stat(ctx, dir); !errors.Is(err, ErrIsDir) || errors.Is(err, ErrNotExist) {
		t.Errorf("stat dir: %v, want ErrIsDir", err)
	}
	if _, err := fs.Open(ctx, dir); err == nil {
		t.Error("open of a directory succeeded")
	}
	files, err := fs.List(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a.csv", "b.csv", "sub/c.csv", "sub/deep/d.csv"}
	if len(files) != len(want) {
		t.Fatalf("List = %v", paths(files))
	}
	for i, f := range files {
		if f.Path != filepath.Join(dir, filepath.FromSlash(want[i])) || f.Size != int64(len(want[i])) {
			t.Errorf("List[%d] = %+v, want %s", i, f, want[i])
		}
	}
	if files, err := fs.List(ctx, filepath.Join(dir, "nope")); err != nil || len(files) != 0 {
		t.Errorf("List of a missing dir = %v, %v; want empty, nil", files, err)
	}
}

func TestLocalRenameRemoveAll(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	fs := Local{}
	mkfiles(t, dir, "a.csv", "out/x", "out/y/z")
	dst := filepath.Join(dir, "new", "place", "a.csv")
	if err := fs.Rename(ctx, filepath.Join(dir, "a.csv"), dst); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(dst); err != nil || string(b) != "a.csv" {
		t.Fatalf("renamed file: %q, %v", b, err)
	}
	if err := fs.Rename(ctx, filepath.Join(dir, "gone"), dst); !errors.Is(err, ErrNotExist) {
		t.Fatalf("rename of a missing file: %v", err)
	}
	if err := fs.RemoveAll(ctx, filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
		t.Fatalf("out after RemoveAll: %v", err)
	}
	if err := fs.RemoveAll(ctx, filepath.Join(dir, "never")); err != nil {
		t.Fatalf("RemoveAll of nothing: %v", err)
	}
}

func TestExpandLocal(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	fs := Local{}
	mkfiles(t, dir,
		"data/a.csv", "data/b.csv", "data/c.json", "data/sub/d.csv",
		"data/_SUCCESS", "data/.hidden.csv", "data/_staging/e.csv", "data/.tmp/f.csv",
		"only-hidden/_SUCCESS", "only-hidden/.x",
	)
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	j := func(p string) string { return filepath.Join(dir, filepath.FromSlash(p)) }
	cases := []struct {
		in   []string
		want []string
	}{
		{[]string{j("data")}, []string{"data/a.csv", "data/b.csv", "data/c.json", "data/sub/d.csv"}},
		{[]string{j("data/a.csv")}, []string{"data/a.csv"}},
		{[]string{j("data/_SUCCESS")}, []string{"data/_SUCCESS"}}, // named outright, it is read
		{[]string{j("data/*.csv")}, []string{"data/a.csv", "data/b.csv"}},
		{[]string{j("data/*/*.csv")}, []string{"data/sub/d.csv"}},
		{[]string{j("data/?.csv"), j("data/c.json")}, []string{"data/a.csv", "data/b.csv", "data/c.json"}},
		{[]string{j("data/[b-c].*")}, []string{"data/b.csv", "data/c.json"}},
	}
	for _, c := range cases {
		files, err := Expand(ctx, fs, c.in)
		if err != nil {
			t.Fatalf("Expand(%v): %v", c.in, err)
		}
		var want []string
		for _, w := range c.want {
			want = append(want, j(w))
		}
		if got := paths(files); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("Expand(%v) = %v, want %v", c.in, got, want)
		}
	}
	for _, c := range []struct {
		in   string
		want error
	}{
		{j("missing"), ErrNotExist},
		{j("data/missing.csv"), ErrNotExist},
		{j("empty"), ErrNoFiles},
		{j("only-hidden"), ErrNoFiles},
		{j("data/*.parquet"), ErrNoFiles},
		{j("data/_*"), ErrNoFiles}, // a glob does not reach hidden files
	} {
		_, err := Expand(ctx, fs, []string{c.in})
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.in) {
			t.Errorf("Expand(%s) = %v, want %v naming the path", c.in, err, c.want)
		}
	}
	if _, err := Expand(ctx, fs, []string{j("data"), j("missing")}); !errors.Is(err, ErrNotExist) {
		t.Errorf("one missing path among several: %v", err)
	}
}

func TestResolve(t *testing.T) {
	ctx := t.Context()
	for _, c := range []struct{ url, path string }{
		{"/data/trips", "/data/trips"},
		{"data/*.csv", "data/*.csv"},
		{"file:///tmp/x.csv", "/tmp/x.csv"},
	} {
		fs, p, err := Resolve(ctx, c.url, Config{})
		if err != nil || p != c.path {
			t.Errorf("Resolve(%s) = %q, %v; want %q", c.url, p, err, c.path)
		}
		if _, ok := fs.(Local); !ok {
			t.Errorf("Resolve(%s) gave %T, want Local", c.url, fs)
		}
	}
	for _, u := range []string{"gs://bucket/x", "hdfs://nn/x"} {
		if _, _, err := Resolve(ctx, u, Config{}); err == nil || !strings.Contains(err.Error(), u+": unsupported scheme") {
			t.Errorf("Resolve(%s) = %v, want an error naming the URL", u, err)
		}
	}
	// This package's tests do not import io/storage/s3: an s3:// URL says
	// which import serves it.
	_, _, err := Resolve(ctx, "s3://bucket/key", Config{})
	want := `s3://bucket/key: this program does not include the s3:// filesystem; add import _ "github.com/shoal-data/shoal/io/storage/s3"`
	if err == nil || err.Error() != want {
		t.Errorf("s3:// without its package: %v\nwant %s", err, want)
	}

	// A fixed FileSystem serves every URL, scheme stripped.
	fixed := Local{}
	fs, p, err := Resolve(ctx, "s3://bucket/key", Config{FileSystem: fixed})
	if err != nil || fs != FileSystem(fixed) || p != "bucket/key" {
		t.Errorf("with Config.FileSystem: %v %q %v", fs, p, err)
	}
}

func TestRegisterScheme(t *testing.T) {
	t.Cleanup(func() { // so that -count=2 registers it anew
		schemesMu.Lock()
		delete(schemes, "shoaltest")
		schemesMu.Unlock()
	})
	var got string
	RegisterScheme("shoaltest", func(_ context.Context, url string, _ Config) (FileSystem, string, error) {
		got = url
		return Local{}, strings.TrimPrefix(url, "shoaltest://"), nil
	})
	fs, p, err := Resolve(t.Context(), "shoaltest://a/b", Config{})
	if err != nil || fs != FileSystem(Local{}) || p != "a/b" || got != "shoaltest://a/b" {
		t.Errorf("Resolve through a registered scheme = %v, %q, %v (resolver saw %q)", fs, p, err, got)
	}
	for _, scheme := range []string{"shoaltest", "file"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("registering %s:// again did not panic", scheme)
				}
			}()
			RegisterScheme(scheme, func(context.Context, string, Config) (FileSystem, string, error) { return nil, "", nil })
		}()
	}
}

func paths(files []FileInfo) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Path)
	}
	return out
}
