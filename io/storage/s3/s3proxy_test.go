package s3

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-data/shoal/io/storage"
)

// faultProxy is a reverse proxy in front of the test S3 server that
// answers some requests with 503 SlowDown, as S3 does under load, and can
// pace the bodies it passes on, as a slow network does.
//
// SigV4 signs the Host header, so the client is pointed at the proxy and
// signs the proxy's host; the proxy rewrites only the URL it dials and
// keeps the Host header the client signed. (Letting the proxy set Host to
// the upstream's address makes versitygw reject every request with
// SignatureDoesNotMatch.)
type faultProxy struct {
	*httptest.Server
	// fault decides whether to fail a request; n counts the requests of
	// its method so far, from 1.
	fault func(r *http.Request, n int) bool

	mu     sync.Mutex
	seen   map[string]int // requests by method, faulted or not
	faults map[string]int // 503s sent, by method
	// Bodies move paceBytes at a time, every paceEvery; 0: unpaced.
	paceBytes int
	paceEvery time.Duration
}

const slowDownXML = `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>shoal-fault</RequestId></Error>`

func newFaultProxy(t *testing.T, upstream string, keepHost bool, fault func(r *http.Request, n int) bool) *faultProxy {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{fault: fault, seen: map[string]int{}, faults: map[string]int{}}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		if keepHost {
			r.Out.Host = r.In.Host
		}
		r.Out.Body = p.paced(r.Out.Body)
	}, ModifyResponse: func(r *http.Response) error {
		r.Body = p.paced(r.Body)
		return nil
	}, FlushInterval: -1}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.seen[r.Method]++
		bad := p.fault != nil && p.fault(r, p.seen[r.Method])
		if bad {
			p.faults[r.Method]++
		}
		p.mu.Unlock()
		if bad {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, slowDownXML)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// setFault replaces the fault rule and clears the counts.
func (p *faultProxy) setFault(fault func(r *http.Request, n int) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault, p.seen, p.faults = fault, map[string]int{}, map[string]int{}
}

// setPace makes bodies in both directions move n bytes every d.
func (p *faultProxy) setPace(n int, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paceBytes, p.paceEvery = n, d
}

func (p *faultProxy) paced(body io.ReadCloser) io.ReadCloser {
	p.mu.Lock()
	defer p.mu.Unlock()
	if body == nil || body == http.NoBody || p.paceBytes == 0 {
		return body
	}
	return &pacedBody{ReadCloser: body, n: p.paceBytes, every: p.paceEvery}
}

// pacedBody passes on n bytes, then waits every before the next n.
type pacedBody struct {
	io.ReadCloser
	n, sent int
	every   time.Duration
}

func (b *pacedBody) Read(p []byte) (int, error) {
	if b.sent == b.n {
		time.Sleep(b.every)
		b.sent = 0
	}
	k, err := b.ReadCloser.Read(p[:min(len(p), b.n-b.sent)])
	b.sent += k
	return k, err
}

func (p *faultProxy) counts(method string) (seen, faults int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[method], p.faults[method]
}

// proxiedS3 returns a filesystem that reaches bucket through a fault proxy.
func proxiedS3(t *testing.T, p *faultProxy, mod func(*storage.S3Options)) *FileSystem {
	t.Helper()
	o := testS3Options(t)
	o.Endpoint = p.URL
	if mod != nil {
		mod(&o)
	}
	fs, err := New(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestS3ProxyHostHeader(t *testing.T) {
	direct, bucket := newTestS3(t, nil)
	writeS3(t, direct, bucket+"/k", []byte("through the proxy"), 100)
	upstream := testS3Options(t).Endpoint

	fs := proxiedS3(t, newFaultProxy(t, upstream, true, nil), nil)
	if got := readAll(t, fs, bucket+"/k"); string(got) != "through the proxy" {
		t.Fatalf("read %q", got)
	}
	// Rewriting Host breaks the signature.
	fs = proxiedS3(t, newFaultProxy(t, upstream, false, nil), func(o *storage.S3Options) { o.MaxAttempts = 1 })
	_, err := fs.Stat(t.Context(), bucket+"/k")
	if err == nil || !strings.Contains(err.Error(), "access denied or invalid credentials") {
		t.Fatalf("with Host rewritten: %v; want the server to refuse the signature", err)
	}
	t.Logf("with Host rewritten: %v", err)
}

func TestS3Retry503(t *testing.T) {
	direct, bucket := newTestS3(t, nil)
	upstream := testS3Options(t).Endpoint

	// Every other GET, and the first PUT and POST, fail with 503 SlowDown.
	proxy := newFaultProxy(t, upstream, true, func(r *http.Request, n int) bool {
		switch r.Method {
		case http.MethodGet:
			return n%2 == 1
		case http.MethodPut, http.MethodPost:
			return n == 1
		}
		return false
	})
	fs := proxiedS3(t, proxy, func(o *storage.S3Options) { o.PartSize = 5 << 20; o.MaxAttempts = 3 })

	// A multipart write (CreateMultipartUpload and the first UploadPart
	// are refused once) and a small one.
	data := randomBytes(11<<20+3, 5)
	writeS3(t, fs, bucket+"/big", data, 1<<20)
	writeS3(t, fs, bucket+"/small", []byte("small"), 100)
	if _, faults := proxy.counts(http.MethodPut); faults != 1 {
		t.Errorf("%d PUT faults, want 1", faults)
	}
	if _, faults := proxy.counts(http.MethodPost); faults != 1 {
		t.Errorf("%d POST faults, want 1", faults)
	}
	if got := readAll(t, direct, bucket+"/big"); !bytes.Equal(got, data) {
		t.Fatal("object written through faults differs")
	}

	// Reads: every GET the reader sends is refused once first.
	f, err := fs.Open(t.Context(), bucket+"/big")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 10_000)
	for off := 0; off < len(data); off += len(buf) {
		n, err := f.ReadAt(buf, int64(off))
		if err != nil && err != io.EOF {
			t.Fatalf("ReadAt at %d: %v", off, err)
		}
		if !bytes.Equal(buf[:n], data[off:off+n]) {
			t.Fatalf("wrong bytes at %d", off)
		}
	}
	gets := f.(*s3File).gets.Load()
	seen, faults := proxy.counts(http.MethodGet)
	if faults == 0 || int64(faults) != gets || int64(seen) != 2*gets {
		t.Fatalf("reader sent %d GETs; proxy saw %d GET requests, %d refused; want every GET retried once", gets, seen, faults)
	}
	t.Logf("%d GETs, %d attempts seen by the proxy, %d answered 503", gets, seen, faults)
}

func TestS3RetriesExhausted(t *testing.T) {
	direct, bucket := newTestS3(t, nil)
	writeS3(t, direct, bucket+"/k", []byte("unreachable"), 100)
	proxy := newFaultProxy(t, testS3Options(t).Endpoint, true, func(r *http.Request, n int) bool {
		return r.Method == http.MethodGet
	})
	fs := proxiedS3(t, proxy, func(o *storage.S3Options) { o.MaxAttempts = 3 })
	f, err := fs.Open(t.Context(), bucket+"/k") // HEAD goes through
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = f.ReadAt(make([]byte, 4), 0)
	if err == nil {
		t.Fatal("read succeeded through a proxy that fails every GET")
	}
	for _, want := range []string{"s3://" + bucket + "/k", "gave up after 3 attempts", "SlowDown", "503"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if errors.Is(err, storage.ErrNotExist) {
		t.Error("a throttled read matches ErrNotExist")
	}
	if seen, _ := proxy.counts(http.MethodGet); seen != 3 {
		t.Errorf("proxy saw %d GETs, want 3 (MaxAttempts)", seen)
	}
	t.Log(err)

	// A failed part aborts the upload: nothing is left behind.
	proxy.setFault(func(r *http.Request, n int) bool {
		return r.Method == http.MethodPut && r.URL.Query().Has("partNumber") && n >= 2
	})
	fs = proxiedS3(t, proxy, func(o *storage.S3Options) { o.MaxAttempts = 2; o.PartSize = 5 << 20 })
	w, err := fs.Create(t.Context(), bucket+"/failed")
	if err != nil {
		t.Fatal(err)
	}
	chunk := randomBytes(1<<20, 6)
	var werr error
	for range 16 {
		if _, werr = w.Write(chunk); werr != nil {
			break
		}
	}
	if cerr := w.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil || !strings.Contains(werr.Error(), "gave up after 2 attempts") {
		t.Fatalf("write through failing parts: %v", werr)
	}
	t.Log(werr)
	if err := w.Close(); err == nil {
		t.Fatal("Close after a failed part succeeded")
	}
	if _, err := direct.Stat(t.Context(), bucket+"/failed"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("stat after a failed upload: %v, want ErrNotExist", err)
	}
	assertNoUploads(t, direct, bucket)
}
