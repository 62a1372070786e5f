package s3

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shoal-data/shoal/io/storage"
)

// cutTransport cuts the body of the first GET after cutAfter bytes with a
// connection reset, as a dropped connection does mid-transfer.
type cutTransport struct {
	next     http.RoundTripper
	cutAfter int
	gets     atomic.Int64
}

func (c *cutTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err == nil && r.Method == http.MethodGet && strings.Contains(r.Header.Get("Range"), "bytes=") && c.gets.Add(1) == 1 {
		resp.Body = &cutBody{ReadCloser: resp.Body, left: c.cutAfter}
	}
	return resp, err
}

type cutBody struct {
	io.ReadCloser
	left int
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errors.New("read tcp: connection reset by peer")
	}
	n, err := b.ReadCloser.Read(p[:min(len(p), b.left)])
	b.left -= n
	return n, err
}

// TestS3Stream: a stream reads the object's bytes in order in few GETs,
// the first sized by what the reader expects and each later one twice
// the last; a body cut mid-transfer resumes where it stopped; a closed
// stream or file reads no more.
func TestS3Stream(t *testing.T) {
	noCABundle(t)
	cut := &cutTransport{next: http.DefaultTransport.(*http.Transport).Clone(), cutAfter: 100 << 10}
	fs, bucket := newTestS3(t, func(o *storage.S3Options) { o.HTTPClient = &http.Client{Transport: cut} })
	ctx := t.Context()
	size := 5<<20 + 123
	data := randomBytes(size, 11)
	p := bucket + "/stream"
	writeS3(t, fs, p, data, 1<<20)
	f, err := fs.Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sf := f.(*s3File)

	// From the start, expecting 1 MiB: GETs of 1, 2 and 4 MiB asked, the
	// first cut after 100 KiB and resumed by the second.
	s := storage.NewStream(f, 0, 1<<20)
	got, err := io.ReadAll(s)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stream from 0: %d bytes, %v", len(got), err)
	}
	s.Close()
	if n := sf.gets.Load(); n != 3 {
		t.Errorf("stream from 0 sent %d GETs, want 3", n)
	}
	if cut.gets.Load() < 2 {
		t.Fatalf("the cut never happened")
	}

	// From an offset, expecting the rest: one GET.
	before := sf.gets.Load()
	s = storage.NewStream(f, 777, int64(size-777))
	got, err = io.ReadAll(s)
	if err != nil || !bytes.Equal(got, data[777:]) {
		t.Fatalf("stream from 777: %d bytes, %v", len(got), err)
	}
	s.Close()
	if n := sf.gets.Load() - before; n != 1 {
		t.Errorf("stream of the rest sent %d GETs, want 1", n)
	}

	// Closed midway, then read: an error, not bytes.
	s = storage.NewStream(f, 10, 1<<20)
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(s, buf); err != nil || !bytes.Equal(buf, data[10:1010]) {
		t.Fatalf("first bytes: %v", err)
	}
	s.Close()
	if n, err := s.Read(buf); n != 0 || !errors.Is(err, os.ErrClosed) {
		t.Errorf("read after Close: %d, %v", n, err)
	}

	// At the end: EOF at once.
	s = storage.NewStream(f, int64(size), 1)
	if n, err := s.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("stream at the end: %d, %v", n, err)
	}
	s.Close()

	// The file closed: the stream's next GET is refused.
	s = storage.NewStream(f, 0, 1)
	f.Close()
	if _, err := s.Read(buf); !errors.Is(err, os.ErrClosed) {
		t.Errorf("read of a closed file's stream: %v", err)
	}
	s.Close()
}
