package s3

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/shoal-data/shoal/io/storage"
	"github.com/shoal-data/shoal/io/storage/s3/s3test"
	"github.com/shoal-data/shoal/io/storage/storagetest"
)

// testS3Options reach the S3 server scripts/test starts, or skip the test
// (fail it under CI) when there is none.
func testS3Options(t *testing.T) storage.S3Options { return s3test.SharedOptions(t) }

// newTestS3 builds an S3 filesystem on the test server (with opts changed
// by mod) and a fresh bucket that is emptied and removed after the test.
func newTestS3(t *testing.T, mod func(*storage.S3Options)) (*FileSystem, string) {
	t.Helper()
	o := testS3Options(t)
	if mod != nil {
		mod(&o)
	}
	fs, err := New(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	return fs, s3test.NewBucket(t, fs)
}

func randomBytes(n int, seed uint64) []byte {
	r := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// writeS3 writes data to p in chunks of chunk bytes and closes the writer.
func writeS3(t *testing.T, fs storage.FileSystem, p string, data []byte, chunk int) {
	t.Helper()
	w, err := fs.Create(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	for rest := data; len(rest) > 0; {
		n := min(chunk, len(rest))
		if k, err := w.Write(rest[:n]); err != nil || k != n {
			t.Fatalf("write %s: wrote %d of %d: %v", p, k, n, err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close %s: %v", p, err)
	}
}

// readAll reads a whole file with one ReadAt.
func readAll(t *testing.T, fs storage.FileSystem, p string) []byte {
	t.Helper()
	f, err := fs.Open(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, f.Size())
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		t.Fatalf("read %s: %v", p, err)
	}
	return buf[:n]
}

func headETag(t *testing.T, fs *FileSystem, bucket, key string) string {
	t.Helper()
	out, err := fs.Client().HeadObject(t.Context(), &s3api.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ETag)
}

func assertNoUploads(t *testing.T, fs *FileSystem, bucket string) {
	t.Helper()
	assertUploads(t, fs, bucket, 0)
}

// assertUploads checks that bucket has n multipart uploads in progress.
func assertUploads(t *testing.T, fs *FileSystem, bucket string, n int) {
	t.Helper()
	ups, err := fs.Client().ListMultipartUploads(t.Context(), &s3api.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != n {
		t.Errorf("%d multipart uploads in progress, want %d", len(ups.Uploads), n)
	}
}

func TestS3Options(t *testing.T) {
	ctx := t.Context()
	for _, o := range []storage.S3Options{
		{PartSize: 1 << 20},
		{PartSize: 6 << 30},
		{MaxAttempts: -1},
		{ListPageSize: 1001},
		{ListPageSize: -1},
		{MaxBackoff: -time.Second},
		{AccessKeyID: "only-the-id"},
		{ConnectTimeout: -1},
		{AttemptTimeout: -1},
		{CleanupTimeout: -1},
	} {
		if _, err := New(ctx, o); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", o)
		}
	}
	_, err := New(ctx, storage.S3Options{IdleTimeout: -time.Second})
	if want := "s3: IdleTimeout is -1s; it must not be negative (0 means 30s)"; err == nil || err.Error() != want {
		t.Errorf("negative IdleTimeout: %v, want %s", err, want)
	}
	fs, err := New(ctx, storage.S3Options{Endpoint: "http://127.0.0.1:1", AccessKeyID: "a", SecretAccessKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if fs.partSize != defaultPartSize || fs.attempts != defaultS3Attempts || fs.pageSize != maxListPage || fs.cleanup != defaultCleanup {
		t.Errorf("defaults: part %d attempts %d page %d cleanup %v", fs.partSize, fs.attempts, fs.pageSize, fs.cleanup)
	}
	if dc, ok := fs.Client().Options().HTTPClient.(*deadlineClient); !ok || dc.idle != defaultIdle || dc.attempt != defaultAttempt {
		t.Errorf("HTTP client %T %+v: want the deadlines' defaults", fs.Client().Options().HTTPClient, dc)
	}
	if o := fs.Client().Options(); !o.UsePathStyle || aws.ToString(o.BaseEndpoint) != "http://127.0.0.1:1" || o.Region != "us-east-1" {
		t.Errorf("client options: path style %v, endpoint %q, region %q", o.UsePathStyle, aws.ToString(o.BaseEndpoint), o.Region)
	}
	if got := fs.URL("b/k"); got != "s3://b/k" {
		t.Errorf("URL = %q", got)
	}
	if got := fs.Join("b", "dir", "k.csv"); got != "b/dir/k.csv" {
		t.Errorf("Join = %q", got)
	}
	if _, err := fs.Open(ctx, "bucket"); err == nil || !strings.Contains(err.Error(), "needs a key") {
		t.Errorf("Open(bucket) = %v, want an error about the key", err)
	}
	if _, err := fs.Stat(ctx, "/key"); err == nil || !strings.Contains(err.Error(), "needs a bucket") {
		t.Errorf("Stat(/key) = %v, want an error about the bucket", err)
	}

	// The SDK reads AWS_ENDPOINT_URL_S3; an endpoint from there turns on
	// path-style addressing too.
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:2")
	t.Setenv("AWS_REGION", "eu-west-3")
	fs, err = New(ctx, storage.S3Options{AccessKeyID: "a", SecretAccessKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if o := fs.Client().Options(); !o.UsePathStyle || aws.ToString(o.BaseEndpoint) != "http://127.0.0.1:2" || o.Region != "eu-west-3" {
		t.Errorf("from env: path style %v, endpoint %q, region %q", o.UsePathStyle, aws.ToString(o.BaseEndpoint), o.Region)
	}
}

func TestS3WriteReadSmall(t *testing.T) {
	fs, bucket := newTestS3(t, nil)
	p := bucket + "/dir/hello.txt"
	writeS3(t, fs, p, []byte("hello, shoal"), 5)
	if got := readAll(t, fs, p); string(got) != "hello, shoal" {
		t.Fatalf("read back %q", got)
	}
	info, err := fs.Stat(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if info.Path != p || info.Size != 12 || info.ModTime.IsZero() {
		t.Fatalf("stat = %+v", info)
	}
	// An empty file is an object too.
	writeS3(t, fs, bucket+"/empty", nil, 1)
	f, err := fs.Open(t.Context(), bucket+"/empty")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Size() != 0 || f.Name() != "s3://"+bucket+"/empty" {
		t.Fatalf("empty file: size %d name %q", f.Size(), f.Name())
	}
	if n, err := f.ReadAt(make([]byte, 4), 0); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt on empty file = %d, %v; want 0, EOF", n, err)
	}
	// Create replaces an existing object.
	writeS3(t, fs, p, []byte("bye"), 100)
	if got := readAll(t, fs, p); string(got) != "bye" {
		t.Fatalf("after overwrite: %q", got)
	}
}

func TestS3WriteReadMultipart(t *testing.T) {
	fs, bucket := newTestS3(t, func(o *storage.S3Options) { o.PartSize = 5 << 20 })
	data := randomBytes(12<<20+12345, 1)
	p := bucket + "/big.bin"
	writeS3(t, fs, p, data, 777_777)
	if got := readAll(t, fs, p); !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, differ from the %d written", len(got), len(data))
	}
	// A multipart object's ETag ends in "-<parts>".
	if etag := headETag(t, fs, bucket, "big.bin"); !strings.HasSuffix(strings.Trim(etag, `"`), "-3") {
		t.Errorf("ETag %s: want a 3-part multipart ETag", etag)
	}
	assertNoUploads(t, fs, bucket)

	// Exactly one part's worth is still a single PutObject.
	one := data[:5<<20]
	writeS3(t, fs, bucket+"/one.bin", one, 1<<20)
	if etag := headETag(t, fs, bucket, "one.bin"); strings.Contains(etag, "-") {
		t.Errorf("ETag %s: want a single PutObject", etag)
	}
	if got := readAll(t, fs, bucket+"/one.bin"); !bytes.Equal(got, one) {
		t.Fatal("one-part file differs")
	}
	// One byte more makes two parts.
	writeS3(t, fs, bucket+"/two.bin", data[:5<<20+1], 5<<20+1)
	if etag := headETag(t, fs, bucket, "two.bin"); !strings.HasSuffix(strings.Trim(etag, `"`), "-2") {
		t.Errorf("ETag %s: want a 2-part multipart ETag", etag)
	}
	if got := readAll(t, fs, bucket+"/two.bin"); !bytes.Equal(got, data[:5<<20+1]) {
		t.Fatal("two-part file differs")
	}
}

func TestS3AbortLeavesNothing(t *testing.T) {
	fs, bucket := newTestS3(t, func(o *storage.S3Options) { o.PartSize = 5 << 20 })
	ctx := t.Context()
	for _, size := range []int{100, 11 << 20} {
		p := fmt.Sprintf("%s/aborted-%d", bucket, size)
		w, err := fs.Create(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(randomBytes(size, 2)); err != nil {
			t.Fatal(err)
		}
		if err := w.Abort(); err != nil {
			t.Fatalf("abort: %v", err)
		}
		if err := w.Abort(); err != nil {
			t.Fatalf("second abort: %v", err)
		}
		if err := w.Close(); err == nil {
			t.Fatal("Close after Abort succeeded")
		}
		if _, err := w.Write([]byte("x")); err == nil {
			t.Fatal("Write after Abort succeeded")
		}
		if _, err := fs.Stat(ctx, p); !errors.Is(err, storage.ErrNotExist) {
			t.Fatalf("stat after abort: %v, want ErrNotExist", err)
		}
	}
	assertNoUploads(t, fs, bucket)
	files, err := fs.List(ctx, bucket)
	if err != nil || len(files) != 0 {
		t.Fatalf("bucket after aborts: %v, %v", files, err)
	}

	// Close twice, then Abort: the object stays.
	p := bucket + "/kept"
	w, err := fs.Create(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("kept"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("abort after close: %v", err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write after Close succeeded")
	}
	if got := readAll(t, fs, p); string(got) != "kept" {
		t.Fatalf("got %q", got)
	}
}

func TestS3ListPages(t *testing.T) {
	fs, bucket := newTestS3(t, func(o *storage.S3Options) { o.ListPageSize = 2 })
	ctx := t.Context()
	var want []string
	for _, k := range []string{"d/e.csv", "d/a.csv", "d/sub/z.csv", "d/b.csv", "d/sub/deeper/y", "d/c.csv", "d/_SUCCESS"} {
		writeS3(t, fs, bucket+"/"+k, []byte(k), 100)
		want = append(want, bucket+"/"+k)
	}
	// A neighbour that shares the prefix but not the directory. (A file
	// "d" beside "d/..." is fine on S3 but not on versitygw's posix
	// backend: ExistingObjectIsDirectory.)
	writeS3(t, fs, bucket+"/dz/x", []byte("x"), 100)
	slices.Sort(want)

	for _, dir := range []string{bucket + "/d", bucket + "/d/"} {
		files, err := fs.List(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := paths(files); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("List(%s) =\n%v\nwant\n%v", dir, got, want)
		}
		for _, f := range files {
			if f.Size != int64(len(strings.TrimPrefix(f.Path, bucket+"/"))) || f.ModTime.IsZero() {
				t.Fatalf("bad info %+v", f)
			}
		}
	}
	for _, dir := range []string{bucket, bucket + "/"} {
		files, err := fs.List(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != len(want)+1 {
			t.Fatalf("List(%s) gave %d files, want %d: %v", dir, len(files), len(want)+1, paths(files))
		}
	}
	files, err := fs.List(ctx, bucket+"/nothing/here")
	if err != nil || len(files) != 0 {
		t.Fatalf("List of a missing prefix = %v, %v; want empty, nil", files, err)
	}
}

func paths(files []storage.FileInfo) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Path)
	}
	return out
}

func TestS3ReadAtOffsets(t *testing.T) {
	fs, bucket := newTestS3(t, nil)
	ctx := t.Context()
	// One small file (all tail) and one spanning several 1 MiB spans.
	for _, size := range []int{1000, 100_001, 3<<20 + 4321} {
		data := randomBytes(size, uint64(size))
		p := fmt.Sprintf("%s/f%d", bucket, size)
		writeS3(t, fs, p, data, 1<<20)
		f, err := fs.Open(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		type rd struct {
			off, n int
		}
		reads := []rd{
			{0, 1}, {1, 7}, {333, 999}, {size / 2, 13}, {size - 1, 1}, {size - 3, 10},
			{size, 1}, {size + 10, 4}, {0, size}, {1, size - 1}, {size - 70_000, 70_000},
			{readSpanSize - 5, 10}, {readSpanSize - 1, readSpanSize + 2}, {17, readSpanSize},
		}
		for _, r := range reads {
			if r.off < 0 || r.n < 0 {
				continue
			}
			buf := make([]byte, r.n)
			n, err := f.ReadAt(buf, int64(r.off))
			wantN := max(0, min(r.n, size-r.off))
			switch {
			case n != wantN:
				t.Fatalf("size %d: ReadAt(%d bytes at %d) = %d bytes, want %d (err %v)", size, r.n, r.off, n, wantN, err)
			case wantN < r.n && err != io.EOF:
				t.Fatalf("size %d: short ReadAt(%d at %d) err = %v, want io.EOF", size, r.n, r.off, err)
			case wantN == r.n && err != nil && err != io.EOF:
				t.Fatalf("size %d: ReadAt(%d at %d): %v", size, r.n, r.off, err)
			case n > 0 && !bytes.Equal(buf[:n], data[r.off:r.off+n]):
				t.Fatalf("size %d: ReadAt(%d at %d): wrong bytes", size, r.n, r.off)
			}
		}
		if _, err := f.ReadAt(make([]byte, 1), -1); err == nil {
			t.Fatal("negative offset: no error")
		}
		if n, err := f.ReadAt(nil, int64(size)); n != 0 || (err != nil && err != io.EOF) {
			t.Fatalf("empty read at end = %d, %v", n, err)
		}

		// Many goroutines at random offsets: the cache must stay right
		// (the race detector watches it).
		var g errgroup.Group
		for w := range 8 {
			g.Go(func() error {
				r := mrand.New(mrand.NewPCG(uint64(w), 7))
				for range 50 {
					off := r.IntN(size)
					n := 1 + r.IntN(min(size-off, 70_000))
					buf := make([]byte, n)
					if k, err := f.ReadAt(buf, int64(off)); k != n || (err != nil && err != io.EOF) {
						return fmt.Errorf("ReadAt(%d at %d) = %d, %v", n, off, k, err)
					}
					if !bytes.Equal(buf, data[off:off+n]) {
						return fmt.Errorf("ReadAt(%d at %d): wrong bytes", n, off)
					}
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		f.Close()
		if _, err := f.ReadAt(make([]byte, 1), 0); err == nil {
			t.Fatal("ReadAt after Close: no error")
		}
	}
}

func TestS3ReadCoalescing(t *testing.T) {
	fs, bucket := newTestS3(t, nil)
	size := 3<<20 + 100
	data := randomBytes(size, 3)
	p := bucket + "/coalesce.bin"
	writeS3(t, fs, p, data, 1<<20)
	f, err := fs.Open(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gets := func() int64 { return f.(*s3File).gets.Load() }

	// A Parquet reader's opening moves: footer length, then the footer.
	tail := make([]byte, 8)
	if _, err := f.ReadAt(tail, int64(size-8)); err != nil {
		t.Fatal(err)
	}
	footer := make([]byte, 20_000)
	if _, err := f.ReadAt(footer, int64(size-8-20_000)); err != nil {
		t.Fatal(err)
	}
	if g := gets(); g != 1 {
		t.Fatalf("footer reads took %d GETs, want 1", g)
	}

	// Then the whole file in 4 KiB reads, front to back: one GET per
	// 1 MiB span (the last span overlaps the cached tail).
	buf := make([]byte, 4096)
	reads := 0
	for off := 0; off < size; off += len(buf) {
		n, err := f.ReadAt(buf, int64(off))
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], data[off:off+n]) {
			t.Fatalf("wrong bytes at %d", off)
		}
		reads++
	}
	if g := gets(); g > 5 {
		t.Fatalf("%d small reads took %d GETs, want at most 5", reads, g)
	}
	t.Logf("%d ReadAt calls, %d GETs", reads+2, gets())

	// Reading back within the last 4 spans costs nothing; a read larger
	// than a span goes straight through, one GET.
	before := gets()
	f.ReadAt(buf, int64(size/2))
	if gets() != before {
		t.Fatal("re-reading a cached span sent a GET")
	}
	big := make([]byte, readSpanSize+1)
	f.ReadAt(big, 10)
	if gets() != before+1 || !bytes.Equal(big, data[10:10+len(big)]) {
		t.Fatalf("large read: %d GETs, want 1", gets()-before)
	}
}

func TestS3Rename(t *testing.T) {
	fs, bucket := newTestS3(t, func(o *storage.S3Options) { o.PartSize = 5 << 20 })
	ctx := t.Context()
	src, dst := bucket+"/a/src.csv", bucket+"/b/dst file+plus.csv"
	writeS3(t, fs, src, []byte("renamed"), 100)
	if err := fs.Rename(ctx, src, dst); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(ctx, src); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("source after rename: %v, want ErrNotExist", err)
	}
	if got := readAll(t, fs, dst); string(got) != "renamed" {
		t.Fatalf("destination holds %q", got)
	}
	if err := fs.Rename(ctx, dst, dst); err != nil {
		t.Fatalf("rename onto itself: %v", err)
	}
	err := fs.Rename(ctx, bucket+"/missing", bucket+"/x")
	if !errors.Is(err, storage.ErrNotExist) || !strings.Contains(err.Error(), "s3://"+bucket+"/missing") {
		t.Fatalf("rename of a missing file: %v", err)
	}

	// Above the CopyObject limit (lowered here) the copy goes in parts.
	fs.copyLimit, fs.copyPart = 1<<20, 5<<20
	data := randomBytes(12<<20+5, 4)
	writeS3(t, fs, bucket+"/big", data, 1<<20)
	if err := fs.Rename(ctx, bucket+"/big", bucket+"/moved/big"); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, fs, bucket+"/moved/big"); !bytes.Equal(got, data) {
		t.Fatal("multipart copy differs")
	}
	if etag := headETag(t, fs, bucket, "moved/big"); !strings.HasSuffix(strings.Trim(etag, `"`), "-3") {
		t.Errorf("ETag %s: want a 3-part copy", etag)
	}
	if _, err := fs.Stat(ctx, bucket+"/big"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("source after rename: %v", err)
	}
	assertNoUploads(t, fs, bucket)
}

func TestS3RemoveAll(t *testing.T) {
	fs, bucket := newTestS3(t, func(o *storage.S3Options) { o.ListPageSize = 300 })
	ctx := t.Context()
	// More than one DeleteObjects batch of 1000 keys.
	var g errgroup.Group
	g.SetLimit(8)
	for i := range deleteBatch + 5 {
		g.Go(func() error {
			k := fmt.Sprintf("out/part-%04d", i)
			_, err := fs.Client().PutObject(ctx, &s3api.PutObjectInput{Bucket: &bucket, Key: &k, Body: strings.NewReader(k)})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	writeS3(t, fs, bucket+"/out/sub/x", []byte("x"), 100)
	writeS3(t, fs, bucket+"/outer/keep", []byte("keep"), 100)
	writeS3(t, fs, bucket+"/single", []byte("one"), 100)

	if err := fs.RemoveAll(ctx, bucket+"/out"); err != nil {
		t.Fatal(err)
	}
	if err := fs.RemoveAll(ctx, bucket+"/single"); err != nil {
		t.Fatal(err)
	}
	files, err := fs.List(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(files); len(got) != 1 || got[0] != bucket+"/outer/keep" {
		t.Fatalf("left after RemoveAll: %v", got)
	}
	if err := fs.RemoveAll(ctx, bucket+"/no/such/thing"); err != nil {
		t.Fatalf("RemoveAll of nothing: %v", err)
	}
	if err := fs.RemoveAll(ctx, "shoal-no-such-bucket-0000/x"); err != nil {
		t.Fatalf("RemoveAll in a missing bucket: %v", err)
	}
}

func TestS3MissingBucket(t *testing.T) {
	o := testS3Options(t)
	fs, err := New(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	bucket := s3test.BucketName(t)
	want := fmt.Sprintf("bucket %q does not exist", bucket)
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, storage.ErrNotExist) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "s3://"+bucket) {
			t.Errorf("%s: %v; want ErrNotExist saying %s", op, err, want)
		}
		var pe *storage.PathError
		if !errors.As(err, &pe) {
			t.Errorf("%s: %T is not a *PathError", op, err)
		}
	}
	_, err = fs.List(ctx, bucket+"/dir")
	check("list", err)
	_, err = fs.Stat(ctx, bucket+"/key")
	check("stat", err)
	_, err = fs.Stat(ctx, bucket)
	check("stat bucket", err)
	_, err = fs.Open(ctx, bucket+"/key")
	check("open", err)
	_, err = storage.Expand(ctx, fs, []string{bucket + "/dir"})
	check("expand", err)
	w, err := fs.Create(ctx, bucket+"/key")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("x"))
	err = w.Close()
	check("write", err)
	t.Log(err)
}

func TestS3MissingKey(t *testing.T) {
	fs, bucket := newTestS3(t, nil)
	ctx := t.Context()
	writeS3(t, fs, bucket+"/dir/file", []byte("x"), 10)
	for _, p := range []string{bucket + "/nope", bucket + "/dir/nope", bucket + "/di"} {
		_, err := fs.Stat(ctx, p)
		if !errors.Is(err, storage.ErrNotExist) || !strings.Contains(err.Error(), "s3://"+p) || errors.Is(err, storage.ErrIsDir) {
			t.Errorf("stat %s: %v; want ErrNotExist naming the URL", p, err)
		}
		_, err = fs.Open(ctx, p)
		if !errors.Is(err, storage.ErrNotExist) || !strings.Contains(err.Error(), "s3://"+p) {
			t.Errorf("open %s: %v; want ErrNotExist naming the URL", p, err)
		}
	}
	// A prefix of other keys is a directory, as is the bucket itself.
	for _, p := range []string{bucket + "/dir", bucket + "/dir/", bucket, bucket + "/"} {
		if _, err := fs.Stat(ctx, p); !errors.Is(err, storage.ErrIsDir) || errors.Is(err, storage.ErrNotExist) {
			t.Errorf("stat %s: %v; want ErrIsDir", p, err)
		}
	}
	if _, err := fs.Open(ctx, bucket+"/dir"); !errors.Is(err, storage.ErrIsDir) {
		t.Errorf("open of a directory: %v; want ErrIsDir", err)
	}
}

func TestS3WrongCredentials(t *testing.T) {
	fs0, bucket := newTestS3(t, nil)
	writeS3(t, fs0, bucket+"/k", []byte("x"), 10)
	ctx := t.Context()
	for name, mod := range map[string]func(*storage.S3Options){
		"secret": func(o *storage.S3Options) { o.SecretAccessKey += "-wrong" },
		"key id": func(o *storage.S3Options) { o.AccessKeyID = "NOSUCHKEYID" },
	} {
		o := testS3Options(t)
		mod(&o)
		fs, err := New(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		check := func(op, p string, err error) {
			t.Helper()
			if err == nil || errors.Is(err, storage.ErrNotExist) ||
				!strings.Contains(err.Error(), "access denied or invalid credentials") ||
				!strings.Contains(err.Error(), "s3://"+p) {
				t.Errorf("wrong %s, %s: %v; want an access error naming s3://%s", name, op, err, p)
			}
		}
		_, err = fs.List(ctx, bucket)
		check("list", bucket, err)
		_, err = fs.Stat(ctx, bucket+"/k")
		check("stat", bucket+"/k", err)
		_, err = fs.Open(ctx, bucket+"/k")
		check("open", bucket+"/k", err)
		_, err = storage.Expand(ctx, fs, []string{bucket + "/k"})
		check("expand", bucket+"/k", err)
		t.Logf("wrong %s: %v", name, err)
	}
}

func TestS3Expand(t *testing.T) {
	fs, bucket := newTestS3(t, nil)
	ctx := t.Context()
	for _, k := range []string{
		"data/a.csv", "data/b.csv", "data/c.json", "data/sub/d.csv",
		"data/_SUCCESS", "data/.hidden.csv", "data/_staging/e.csv", "data/.tmp/f.csv",
		"only-hidden/_SUCCESS",
	} {
		writeS3(t, fs, bucket+"/"+k, []byte(k), 100)
	}
	b := bucket + "/"
	cases := []struct {
		in   []string
		want []string
	}{
		{[]string{b + "data"}, []string{"data/a.csv", "data/b.csv", "data/c.json", "data/sub/d.csv"}},
		{[]string{b + "data/"}, []string{"data/a.csv", "data/b.csv", "data/c.json", "data/sub/d.csv"}},
		{[]string{b + "data/*.csv"}, []string{"data/a.csv", "data/b.csv"}},
		{[]string{b + "data/*/*.csv"}, []string{"data/sub/d.csv"}},
		{[]string{b + "data/[ab].csv", b + "data/c.json"}, []string{"data/a.csv", "data/b.csv", "data/c.json"}},
		{[]string{b + "data/_SUCCESS"}, []string{"data/_SUCCESS"}}, // named outright, it is read
		{[]string{bucket}, []string{"data/a.csv", "data/b.csv", "data/c.json", "data/sub/d.csv"}},
	}
	for _, c := range cases {
		files, err := storage.Expand(ctx, fs, c.in)
		if err != nil {
			t.Fatalf("Expand(%v): %v", c.in, err)
		}
		var want []string
		for _, w := range c.want {
			want = append(want, b+w)
		}
		if got := paths(files); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("Expand(%v) = %v, want %v", c.in, got, want)
		}
	}
	if _, err := storage.Expand(ctx, fs, []string{b + "missing"}); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("missing: %v, want ErrNotExist", err)
	}
	if _, err := storage.Expand(ctx, fs, []string{b + "only-hidden"}); !errors.Is(err, storage.ErrNoFiles) {
		t.Errorf("only hidden files: %v, want ErrNoFiles", err)
	}
	if _, err := storage.Expand(ctx, fs, []string{b + "data/*.parquet"}); !errors.Is(err, storage.ErrNoFiles) {
		t.Errorf("glob matching nothing: %v, want ErrNoFiles", err)
	}
}

func TestS3Resolve(t *testing.T) {
	o := testS3Options(t)
	fs0, bucket := newTestS3(t, nil)
	writeS3(t, fs0, bucket+"/x/y.txt", []byte("resolved"), 10)

	ctx := t.Context()
	fs, p, err := storage.Resolve(ctx, "s3://"+bucket+"/x", storage.Config{S3: o})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fs.(*FileSystem); !ok || p != bucket+"/x" || fs.Scheme() != "s3" {
		t.Fatalf("Resolve = %T, %q", fs, p)
	}
	again, _, err := storage.Resolve(ctx, "s3://"+bucket+"/other", storage.Config{S3: o})
	if err != nil || again != fs {
		t.Fatalf("second Resolve with the same options built a new filesystem (%v)", err)
	}
	files, err := storage.Expand(ctx, fs, []string{p})
	if err != nil || len(files) != 1 || files[0].Path != bucket+"/x/y.txt" {
		t.Fatalf("Expand = %v, %v", files, err)
	}
	if got := readAll(t, fs, files[0].Path); string(got) != "resolved" {
		t.Fatalf("read %q", got)
	}
	if fs.URL(files[0].Path) != "s3://"+bucket+"/x/y.txt" {
		t.Fatalf("URL = %s", fs.URL(files[0].Path))
	}
}

// TestResolveS3 needs no server: New sends no request.
func TestResolveS3(t *testing.T) {
	ctx := t.Context()
	for _, u := range []string{"s3://", "s3:///key"} {
		_, _, err := storage.Resolve(ctx, u, storage.Config{})
		if want := u + ": an S3 URL needs a bucket: s3://bucket/prefix"; err == nil || err.Error() != want {
			t.Errorf("Resolve(%s) = %v, want %s", u, err, want)
		}
	}
	// One S3 filesystem per distinct options.
	o := storage.S3Options{Endpoint: "http://127.0.0.1:1", AccessKeyID: "id", SecretAccessKey: "secret", ListPageSize: 7}
	fs1, p, err := storage.Resolve(ctx, "s3://bucket/dir/x.parquet", storage.Config{S3: o})
	if err != nil || p != "bucket/dir/x.parquet" || fs1.Scheme() != "s3" {
		t.Fatalf("Resolve(s3://...) = %v, %q, %v", fs1, p, err)
	}
	fs2, _, _ := storage.Resolve(ctx, "s3://other/y", storage.Config{S3: o})
	if fs1 != fs2 {
		t.Error("the same options built two S3 filesystems")
	}
	o.ListPageSize = 8
	if fs3, _, _ := storage.Resolve(ctx, "s3://bucket/x", storage.Config{S3: o}); fs3 == fs1 {
		t.Error("different options shared one S3 filesystem")
	}
	o.PartSize = 1
	if _, _, err := storage.Resolve(ctx, "s3://bucket/x", storage.Config{S3: o}); err == nil {
		t.Error("invalid S3 options accepted")
	}
}

// TestS3NoCredentials needs no server: with no credentials anywhere the
// request fails before it is sent.
func TestS3NoCredentials(t *testing.T) {
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	fs, err := New(t.Context(), storage.S3Options{Endpoint: "http://127.0.0.1:1", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = fs.List(t.Context(), "bucket/dir")
	if err == nil || !strings.Contains(err.Error(), "no usable AWS credentials") || !strings.Contains(err.Error(), "s3://bucket/dir") {
		t.Fatalf("List without credentials: %v", err)
	}
	t.Log(err)
}

func TestS3OpenInfo(t *testing.T) {
	fs, bucket := newTestS3(t, nil)
	p := bucket + "/listed.txt"
	writeS3(t, fs, p, []byte("listed content"), 5)
	infos, err := fs.List(t.Context(), bucket)
	if err != nil || len(infos) != 1 || infos[0].Version == "" {
		t.Fatalf("List = %+v, %v; want one file with its ETag", infos, err)
	}
	f, err := storage.OpenInfo(t.Context(), fs, infos[0])
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := f.ReadAt(buf, 7); err != nil || string(buf) != "content" {
		t.Fatalf("ReadAt = %q, %v", buf, err)
	}
	f.Close()

	// Replaced since it was listed: the read fails instead of mixing versions.
	writeS3(t, fs, p, []byte("something else entirely"), 5)
	f, err = storage.OpenInfo(t.Context(), fs, infos[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(buf, 0); err == nil {
		t.Fatalf("read of a replaced object succeeded: %q", buf)
	}
}

// TestS3PutIfAbsent: versitygw honours If-None-Match: * on PutObject, so
// of writers racing for one key exactly one wins and the key keeps its
// data; a later put fails too.
func TestS3PutIfAbsent(t *testing.T) {
	fs, bucket := newTestS3(t, nil)
	for round := range 5 {
		p := fmt.Sprintf("%s/_shoal/manifest-%d.json", bucket, round)
		w := storagetest.PutRace(t, fs, p, 6)
		if got := readAll(t, fs, p); string(got) != fmt.Sprintf("writer %d", w) {
			t.Fatalf("round %d: %s holds %q, the winner was %d", round, p, got, w)
		}
		if err := fs.PutIfAbsent(t.Context(), p, []byte("late")); !errors.Is(err, storage.ErrExist) {
			t.Fatalf("a put over an existing key: %v", err)
		}
		if got := readAll(t, fs, p); string(got) != fmt.Sprintf("writer %d", w) {
			t.Fatalf("a refused put changed %s to %q", p, got)
		}
	}
	if err := fs.PutIfAbsent(t.Context(), "shoal-no-such-bucket-0000/x", nil); err == nil || errors.Is(err, storage.ErrExist) {
		t.Errorf("put into a missing bucket: %v", err)
	}
}
