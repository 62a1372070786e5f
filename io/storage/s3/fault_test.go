//go:build unix

package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shoal-data/shoal/io/storage"
	"github.com/shoal-data/shoal/io/storage/s3/s3test"
)

// These tests freeze (SIGSTOP) and kill (SIGKILL) a versitygw of their
// own, at a precise point of a real exchange that a tap on the HTTP
// transport picks: a request about to go out, or a body that has moved
// so many bytes. The deadlines are set short; the bounds the tests check
// are generous multiples of them (the machine may be slow), far below
// the minutes a frozen server used to hold a request.
const faultBound = 15 * time.Second

// tapEvent is a moment of an exchange: a request about to be sent (n is
// then the number of requests for the same part or range so far, from 1),
// or n bytes of its request or response body moved.
type tapEvent struct {
	kind string // "request", "sent" or "received"
	req  *http.Request
	n    int64
}

// tap is an HTTP transport that calls a test's hook at each tapEvent.
type tap struct {
	next http.RoundTripper
	hook atomic.Pointer[func(tapEvent)]

	mu    sync.Mutex
	tries map[string]int64
}

// set makes hook see the events from now on; nil: none.
func (t *tap) set(hook func(tapEvent)) { t.hook.Store(&hook) }

func (t *tap) fire(ev tapEvent) {
	if h := t.hook.Load(); h != nil && *h != nil {
		(*h)(ev)
	}
}

func (t *tap) RoundTrip(r *http.Request) (*http.Response, error) {
	t.mu.Lock()
	key := r.Method + " " + r.URL.Path + "?" + r.URL.Query().Get("partNumber") + " " + r.Header.Get("Range")
	t.tries[key]++
	n := t.tries[key]
	t.mu.Unlock()
	t.fire(tapEvent{kind: "request", req: r, n: n})
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &tapBody{ReadCloser: r.Body, t: t, kind: "sent", req: r}
	}
	resp, err := t.next.RoundTrip(r)
	if err == nil {
		resp.Body = &tapBody{ReadCloser: resp.Body, t: t, kind: "received", req: r}
	}
	return resp, err
}

type tapBody struct {
	io.ReadCloser
	t    *tap
	kind string
	req  *http.Request
	n    int64
}

func (b *tapBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.n += int64(n)
		b.t.fire(tapEvent{kind: b.kind, req: b.req, n: b.n})
	}
	return n, err
}

// tappedS3 is a filesystem on srv whose requests go through a tap, with
// opts changed by mod.
func tappedS3(t *testing.T, srv *s3test.Server, mod func(*storage.S3Options)) (*FileSystem, *tap) {
	t.Helper()
	noCABundle(t)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	tp := &tap{next: transport, tries: map[string]int64{}}
	o := srv.Options()
	o.HTTPClient = &http.Client{Transport: tp}
	if mod != nil {
		mod(&o)
	}
	fs, err := New(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	return fs, tp
}

// noCABundle unsets AWS_CA_BUNDLE, which the SDK cannot apply to an
// S3Options.HTTPClient of the caller's, and refuses.
func noCABundle(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "")
}

// newFaultBucket makes a bucket on srv; the server goes with the test.
func newFaultBucket(t *testing.T, fs *FileSystem) string {
	t.Helper()
	bucket := s3test.BucketName(t)
	if _, err := fs.Client().CreateBucket(t.Context(), &s3api.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
	return bucket
}

// short are the deadlines of the fault tests: 1 s without a byte, 3 s
// per small request, 1 s to clean up, 2 attempts.
func short(o *storage.S3Options) {
	o.IdleTimeout, o.AttemptTimeout, o.CleanupTimeout, o.MaxAttempts = time.Second, 3*time.Second, time.Second, 2
}

// timed runs fn and fails the test if it took longer than faultBound.
func timed(t *testing.T, what string, fn func() error) error {
	t.Helper()
	start := time.Now()
	err := fn()
	took := time.Since(start)
	if took > faultBound {
		t.Errorf("%s took %v, want it to end within %v", what, took.Round(time.Millisecond), faultBound)
	}
	t.Logf("%s ended after %v: %v", what, took.Round(time.Millisecond), err)
	return err
}

func matches(t *testing.T, what string, err error, pattern string) {
	t.Helper()
	if err == nil || !regexp.MustCompile(pattern).MatchString(err.Error()) {
		t.Errorf("%s: error %v\nwant one matching %s", what, err, pattern)
	}
}

// once returns a hook that runs act at the first event ev for which when
// is true, and a channel closed after it ran.
func once(when func(tapEvent) bool, act func()) (func(tapEvent), <-chan struct{}) {
	var o sync.Once
	done := make(chan struct{})
	return func(ev tapEvent) {
		if when(ev) {
			o.Do(func() { act(); close(done) })
		}
	}, done
}

func isGet(ev tapEvent) bool { return ev.req.Method == http.MethodGet }

func isPart(num string) func(tapEvent) bool {
	return func(ev tapEvent) bool {
		return ev.req.Method == http.MethodPut && ev.req.URL.Query().Get("partNumber") == num
	}
}

func TestS3FrozenServerRead(t *testing.T) {
	srv := s3test.Start(t)
	fs1, tap1 := tappedS3(t, srv, func(o *storage.S3Options) { short(o); o.MaxAttempts = 1 })
	fs2, tap2 := tappedS3(t, srv, short)
	patient, tap3 := tappedS3(t, srv, func(o *storage.S3Options) { o.IdleTimeout, o.AttemptTimeout = time.Minute, time.Minute })
	bucket := newFaultBucket(t, fs2)
	p := bucket + "/big"
	data := randomBytes(48<<20, 7) // more than loopback's socket buffers hold (32 MiB in, 4 MiB out)
	writeS3(t, fs2, p, data, 1<<20)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var files []storage.File
	for _, fs := range []*FileSystem{fs1, fs2, patient} {
		fctx := t.Context()
		if fs == patient {
			fctx = ctx // cancelled below
		}
		f, err := fs.Open(fctx, p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
	}
	buf := make([]byte, len(data))

	// The server freezes mid-body, after 1 MiB of the response: what the
	// socket buffers hold arrives, then nothing.
	hook, frozen := once(func(ev tapEvent) bool { return ev.kind == "received" && ev.n >= 1<<20 }, srv.Freeze)
	tap1.set(hook)
	err := timed(t, "a read from a server frozen mid-body", func() error {
		_, err := files[0].ReadAt(buf, 0)
		return err
	})
	<-frozen
	matches(t, "frozen mid-body", err, `^read s3://`+bucket+`/big: gave up after 1 attempt reading bytes from \d+: `+
		`the response stopped: no byte for 1s \(S3Options.IdleTimeout\)$`)

	// Still frozen: each GET sends its request and waits for an answer.
	err = timed(t, "a read from a frozen server", func() error {
		_, err := files[1].ReadAt(buf, 0)
		return err
	})
	matches(t, "frozen", err, `^read s3://`+bucket+`/big: gave up after 2 attempts: `+
		`no response from the server for 1s after the request was sent \(S3Options.IdleTimeout\)$`)
	if !errors.As(err, new(*storage.PathError)) {
		t.Errorf("%T is not a *storage.PathError", err)
	}

	// Ctrl-C: the context is cancelled while a GET waits (its deadlines
	// are a minute away).
	hook, sent := once(func(ev tapEvent) bool { return ev.kind == "request" && isGet(ev) }, func() {})
	tap3.set(hook)
	go func() { <-sent; cancel() }()
	err = timed(t, "a cancelled read from a frozen server", func() error {
		_, err := files[2].ReadAt(buf, 0)
		return err
	})
	if !errors.Is(err, context.Canceled) || err.Error() != "read s3://"+p+": context canceled" {
		t.Errorf("cancelled read: %v; want read s3://%s: context canceled", err, p)
	}
	tap1.set(nil)
	tap2.set(nil)

	// Thawed, the same filesystems read again.
	srv.Thaw()
	for i, f := range files[:2] {
		if n, err := f.ReadAt(buf, 0); err != nil || n != len(data) || !bytes.Equal(buf, data) {
			t.Fatalf("file %d after SIGCONT: read %d bytes, %v", i, n, err)
		}
	}
}

func TestS3FrozenServerWrite(t *testing.T) {
	srv := s3test.Start(t)
	fs, tp := tappedS3(t, srv, func(o *storage.S3Options) { short(o); o.PartSize = 16 << 20 })
	patient, tapPatient := tappedS3(t, srv, func(o *storage.S3Options) {
		o.IdleTimeout, o.AttemptTimeout, o.CleanupTimeout, o.PartSize = time.Minute, time.Minute, time.Second, 5<<20
	})
	bucket := newFaultBucket(t, fs)
	data := randomBytes(40<<20, 8)
	write := func(w storage.Writer, data []byte) error {
		for rest := data; len(rest) > 0; rest = rest[min(len(rest), 1<<20):] {
			if _, err := w.Write(rest[:min(len(rest), 1<<20)]); err != nil {
				return err
			}
		}
		return w.Close()
	}

	// The server freezes while part 2 of a multipart upload is being
	// sent: its 16 MiB do not fit the socket buffers, so the server stops
	// taking them. The abort that follows gets no answer either, and the
	// error says so.
	hook, frozen := once(func(ev tapEvent) bool { return ev.kind == "sent" && isPart("2")(ev) && ev.n >= 1<<20 }, srv.Freeze)
	tp.set(hook)
	w, err := fs.Create(t.Context(), bucket+"/big")
	if err != nil {
		t.Fatal(err)
	}
	err = timed(t, "a write to a server frozen mid-part", func() error { return write(w, data) })
	<-frozen
	// A connection whose window grew while it carried part 1 may take a
	// whole part into its buffers: then the server sends no response.
	matches(t, "frozen mid-part", err, `^write s3://`+bucket+`/big: part \d: gave up after 2 attempts: `+
		`(the server took no request bytes for 1s|no response from the server for 1s after the request was sent) \(S3Options.IdleTimeout\); `+
		`cleaning up also failed: abort upload of s3://`+bucket+`/big: no answer within 1s \(S3Options.CleanupTimeout\): `+
		`context deadline exceeded \(its parts may stay in the bucket until aborted or expired by a lifecycle rule\)$`)

	tp.set(nil)
	srv.Thaw()
	if _, err := fs.Stat(t.Context(), bucket+"/big"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("stat after the failed write: %v, want ErrNotExist", err)
	}
	// The abort reported failed may still have reached the server, which
	// carries it out once thawed: the upload may or may not be there.

	// Ctrl-C while part 1 is being sent to a server that froze then: the
	// write returns at once, after the bounded abort (its deadlines are a
	// minute away).
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	hook, _ = once(func(ev tapEvent) bool { return ev.kind == "sent" && isPart("1")(ev) && ev.n >= 1<<20 },
		func() { srv.Freeze(); cancel() })
	tapPatient.set(hook)
	w, err = patient.Create(ctx, bucket+"/cancelled")
	if err != nil {
		t.Fatal(err)
	}
	err = timed(t, "a cancelled write to a frozen server", func() error { return write(w, data[:12<<20]) })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled write: %v; want context.Canceled", err)
	}
	matches(t, "cancelled write", err, `^write s3://`+bucket+`/cancelled: (part \d: )?context canceled; cleaning up also failed: `+
		`abort upload of s3://`+bucket+`/cancelled: no answer within 1s \(S3Options.CleanupTimeout\): context deadline exceeded`)

	// Thawed, the same filesystem writes again.
	tapPatient.set(nil)
	srv.Thaw()
	if _, err := fs.Stat(t.Context(), bucket+"/cancelled"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("stat after the cancelled write: %v, want ErrNotExist", err)
	}
	writeS3(t, fs, bucket+"/big", data, 1<<20)
	if got := readAll(t, fs, bucket+"/big"); !bytes.Equal(got, data) {
		t.Fatal("object written after SIGCONT differs")
	}
}

func TestS3ServerKilled(t *testing.T) {
	srv := s3test.Start(t)
	fs, tp := tappedS3(t, srv, func(o *storage.S3Options) { short(o); o.PartSize = 5 << 20 })
	bucket := newFaultBucket(t, fs)
	port := strings.TrimPrefix(srv.Endpoint, "http://127.0.0.1:")
	refused := `dial tcp 127\.0\.0\.1:` + port + `: connect: connection refused`
	data := randomBytes(12<<20, 9)
	// The object read is larger than loopback's socket buffers can hold
	// (a few MiB each way): killed after the first MiB arrived, the server
	// cannot have sent the rest already.
	big := randomBytes(48<<20, 10)
	writeS3(t, fs, bucket+"/big", big, 4<<20)
	f, err := fs.Open(t.Context(), bucket+"/big")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, len(big))

	// kill -9 mid-body: the connection resets, the read resumes from where
	// it stopped, and gives up once the server refuses connections.
	hook, _ := once(func(ev tapEvent) bool { return ev.kind == "received" && ev.n >= 1<<20 }, srv.Kill)
	tp.set(hook)
	err = timed(t, "a read from a killed server", func() error {
		_, err := f.ReadAt(buf, 0)
		return err
	})
	matches(t, "killed mid-read", err, `^read s3://`+bucket+`/big: gave up after 2 attempts: `+refused+`$`)

	// kill -9 mid-part, restarted before the next request goes out (the
	// retries of the parts in flight wait for it): the write succeeds.
	srv.Restart()
	var mu sync.Mutex
	var killed, restarted bool
	tp.set(func(ev tapEvent) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case !killed && ev.kind == "sent" && isPart("2")(ev) && ev.n >= 1<<20:
			srv.Kill()
			killed = true
		case killed && !restarted && ev.kind == "request":
			srv.Restart()
			restarted = true
		}
	})
	writeS3(t, fs, bucket+"/retried", data, 1<<20)
	if mu.Lock(); !restarted {
		t.Error("the write went through without the server being killed and restarted")
	}
	mu.Unlock()
	if got := readAll(t, fs, bucket+"/retried"); !bytes.Equal(got, data) {
		t.Fatal("object written across a server restart differs")
	}
	assertNoUploads(t, fs, bucket)

	// kill -9 mid-part, not restarted: the write fails, and says that the
	// abort failed too; nothing is visible once the server is back.
	hook, _ = once(func(ev tapEvent) bool { return ev.kind == "sent" && isPart("1")(ev) && ev.n >= 1<<20 }, srv.Kill)
	tp.set(hook)
	w, err := fs.Create(t.Context(), bucket+"/lost")
	if err != nil {
		t.Fatal(err)
	}
	err = timed(t, "a write to a killed server", func() error {
		if _, err := w.Write(data); err != nil {
			return err
		}
		return w.Close()
	})
	matches(t, "killed mid-write", err, `^write s3://`+bucket+`/lost: part \d: gave up after 2 attempts: `+refused+
		`; cleaning up also failed: abort upload of s3://`+bucket+`/lost: gave up after 2 attempts: `+refused+` \(its parts may stay`)
	tp.set(nil)
	srv.Restart()
	if _, err := fs.Stat(t.Context(), bucket+"/lost"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("stat after the failed write: %v, want ErrNotExist", err)
	}
	if n, err := f.ReadAt(buf, 0); err != nil || n != len(big) || !bytes.Equal(buf, big) {
		t.Fatalf("read after the restart: %d bytes, %v", n, err)
	}
}

// TestS3Unreachable: servers that refuse, never connect, never take the
// request or never finish the response; each error names the deadline.
func TestS3Unreachable(t *testing.T) {
	// A port nothing listens on refuses connections.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	// A server that accepts connections and never reads from them.
	deaf, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer deaf.Close()
	var held []net.Conn
	var heldMu sync.Mutex
	go func() {
		for {
			c, err := deaf.Accept()
			if err != nil {
				return
			}
			heldMu.Lock()
			held = append(held, c)
			heldMu.Unlock()
		}
	}()
	defer func() {
		heldMu.Lock()
		defer heldMu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()

	// A server that answers a LIST with one byte every 100 ms: never idle.
	trickle := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`)
		for {
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
				io.WriteString(w, " ")
			}
		}
	}))
	defer trickle.Close()

	// A network where connections never open (a black hole).
	blackHole := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		},
	}}

	data := randomBytes(48<<20, 11) // more than the socket buffers hold (32 MiB in, 4 MiB out)
	for _, c := range []struct {
		name     string
		endpoint string
		mod      func(*storage.S3Options)
		op       func(*FileSystem) error
		want     string
	}{
		{"refused", "http://" + closed, nil, stat,
			"stat s3://b/k: gave up after 2 attempts: dial tcp " + closed + ": connect: connection refused"},
		{"refused write", "http://" + closed, nil, put(data[:10]),
			"write s3://b/k: gave up after 2 attempts: dial tcp " + closed + ": connect: connection refused"},
		{"connect deadline", "http://" + closed, func(o *storage.S3Options) { o.ConnectTimeout = time.Nanosecond }, stat,
			"stat s3://b/k: gave up after 2 attempts: no connection to " + closed + " within 1ns (S3Options.ConnectTimeout)"},
		{"black hole", "http://" + closed, func(o *storage.S3Options) { o.HTTPClient = blackHole }, stat,
			"stat s3://b/k: gave up after 2 attempts: no connection to the server within 500ms (S3Options.IdleTimeout)"},
		{"deaf to the request body", "http://" + deaf.Addr().String(), func(o *storage.S3Options) { o.PartSize = 64 << 20 }, put(data),
			"write s3://b/k: gave up after 2 attempts: the server took no request bytes for 500ms (S3Options.IdleTimeout)"},
		{"deaf, no response", "http://" + deaf.Addr().String(), nil, stat,
			"stat s3://b/k: gave up after 2 attempts: no response from the server for 500ms after the request was sent (S3Options.IdleTimeout)"},
		{"trickling response", trickle.URL, func(o *storage.S3Options) { o.IdleTimeout, o.AttemptTimeout = time.Second, 500*time.Millisecond }, list,
			"list s3://b/dir: gave up after 2 attempts: ListObjectsV2 took longer than 500ms (S3Options.AttemptTimeout)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			noCABundle(t)
			o := storage.S3Options{Endpoint: c.endpoint, AccessKeyID: "a", SecretAccessKey: "b", MaxAttempts: 2,
				MaxBackoff: time.Millisecond, IdleTimeout: 500 * time.Millisecond, AttemptTimeout: 5 * time.Second}
			if c.mod != nil {
				c.mod(&o)
			}
			fs, err := New(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			err = timed(t, c.name, func() error { return c.op(fs) })
			if err == nil || err.Error() != c.want {
				t.Errorf("got  %v\nwant %s", err, c.want)
			}
		})
	}
}

func stat(fs *FileSystem) error {
	_, err := fs.Stat(context.Background(), "b/k")
	return err
}

func list(fs *FileSystem) error {
	_, err := fs.List(context.Background(), "b/dir")
	return err
}

func put(data []byte) func(*FileSystem) error {
	return func(fs *FileSystem) error {
		w, err := fs.Create(context.Background(), "b/k")
		if err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
		return w.Close()
	}
}

// TestS3SlowTransfersNotCut: bodies that move 512 KiB every 50 ms take
// longer than the idle deadline in all, but never go that long without a
// byte: a write and a read succeed at the first attempt. (The tail of an
// upload that the socket buffers hold, several MiB, must drain within the
// idle deadline: at 10 MiB/s it does.)
func TestS3SlowTransfersNotCut(t *testing.T) {
	direct, bucket := newTestS3(t, nil)
	proxy := newFaultProxy(t, testS3Options(t).Endpoint, true, nil)
	proxy.setPace(512<<10, 50*time.Millisecond)
	fs := proxiedS3(t, proxy, func(o *storage.S3Options) {
		o.IdleTimeout, o.AttemptTimeout, o.MaxAttempts, o.PartSize = 2*time.Second, time.Second, 1, 32<<20
	})
	data := randomBytes(24<<20, 10)
	start := time.Now()
	writeS3(t, fs, bucket+"/slow", data, 1<<20)
	up := time.Since(start)
	start = time.Now()
	got := readAll(t, fs, bucket+"/slow")
	down := time.Since(start)
	if !bytes.Equal(got, data) || !bytes.Equal(readAll(t, direct, bucket+"/slow"), data) {
		t.Fatal("slow transfer differs")
	}
	t.Logf("24 MiB up in %v, down in %v, with a 2s idle deadline", up.Round(time.Millisecond), down.Round(time.Millisecond))
	if up < 2*time.Second || down < 2*time.Second {
		t.Errorf("the proxy did not pace the transfers (up %v, down %v): the test shows nothing", up, down)
	}
}
