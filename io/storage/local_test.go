package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	if _, err := fs.Stat(ctx, dir); !errors.Is(err, errIsDir) || errors.Is(err, ErrNotExist) {
		t.Errorf("stat dir: %v, want errIsDir", err)
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
	for _, u := range []string{"s3://", "s3:///key", "gs://bucket/x", "hdfs://nn/x"} {
		if _, _, err := Resolve(ctx, u, Config{}); err == nil || !strings.Contains(err.Error(), u) {
			t.Errorf("Resolve(%s) = %v, want an error naming the URL", u, err)
		}
	}

	// A fixed FileSystem serves every URL, scheme stripped.
	fixed := Local{}
	fs, p, err := Resolve(ctx, "s3://bucket/key", Config{FileSystem: fixed})
	if err != nil || fs != FileSystem(fixed) || p != "bucket/key" {
		t.Errorf("with Config.FileSystem: %v %q %v", fs, p, err)
	}

	// s3:// builds one S3 filesystem per distinct options. NewS3 sends no
	// request, so this needs no server.
	o := S3Options{Endpoint: "http://127.0.0.1:1", AccessKeyID: "id", SecretAccessKey: "secret", ListPageSize: 7}
	fs1, p, err := Resolve(ctx, "s3://bucket/dir/x.parquet", Config{S3: o})
	if err != nil || p != "bucket/dir/x.parquet" || fs1.Scheme() != "s3" {
		t.Fatalf("Resolve(s3://...) = %v, %q, %v", fs1, p, err)
	}
	fs2, _, _ := Resolve(ctx, "s3://other/y", Config{S3: o})
	if fs1 != fs2 {
		t.Error("the same options built two S3 filesystems")
	}
	o.ListPageSize = 8
	if fs3, _, _ := Resolve(ctx, "s3://bucket/x", Config{S3: o}); fs3 == fs1 {
		t.Error("different options shared one S3 filesystem")
	}
	o.PartSize = 1
	if _, _, err := Resolve(ctx, "s3://bucket/x", Config{S3: o}); err == nil {
		t.Error("invalid S3 options accepted")
	}
}

// putRace has n goroutines put different data at one path at once and
// returns which succeeded; the others must fail with ErrExist.
func putRace(t *testing.T, fs FileSystem, p string, n int) (winner int) {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fs.PutIfAbsent(t.Context(), p, []byte(fmt.Sprintf("writer %d", i)))
		})
	}
	close(start)
	wg.Wait()
	winner = -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both created %s", winner, i, p)
		case err == nil:
			winner = i
		case !errors.Is(err, ErrExist) || !strings.Contains(err.Error(), fs.URL(p)):
			t.Fatalf("writer %d: %v, want ErrExist naming %s", i, err, fs.URL(p))
		}
	}
	if winner < 0 {
		t.Fatalf("no writer created %s: %v", p, errs)
	}
	return winner
}

func TestLocalPutIfAbsent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "log", "v1.json")
	for round := range 20 {
		os.RemoveAll(filepath.Dir(p))
		w := putRace(t, Local{}, p, 8)
		if got, _ := os.ReadFile(p); string(got) != fmt.Sprintf("writer %d", w) {
			t.Fatalf("round %d: %s holds %q, the winner was %d", round, p, got, w)
		}
		if es := dirEntries(t, filepath.Dir(p)); len(es) != 1 {
			t.Fatalf("round %d: temp files left: %v", round, es)
		}
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v", fi.Mode(), err)
	}
	// Under a regular file: a clear error, not ErrExist.
	err := Local{}.PutIfAbsent(t.Context(), filepath.Join(p, "x"), nil)
	if err == nil || errors.Is(err, ErrExist) || !strings.Contains(err.Error(), p) {
		t.Errorf("put under a file: %v", err)
	}
}
