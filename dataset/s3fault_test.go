//go:build unix

package dataset_test

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/io/storage"
	"github.com/shoal-data/shoal/io/storage/s3"
	"github.com/shoal-data/shoal/io/storage/s3/s3test"
)

// jobBound is how long a job against a frozen S3 server may take to end:
// a generous multiple of the deadlines the test sets, far below the
// minutes such a job used to hang.
const jobBound = 30 * time.Second

// requestHook is an HTTP transport that calls a hook before each request.
type requestHook struct {
	next http.RoundTripper
	hook atomic.Pointer[func(*http.Request)]
}

func (h *requestHook) RoundTrip(r *http.Request) (*http.Response, error) {
	if f := h.hook.Load(); f != nil {
		(*f)(r)
	}
	return h.next.RoundTrip(r)
}

// TestS3FrozenServerEndsJobs: reads and writes through dataset against an
// S3 server frozen with SIGSTOP end within a bound with an error naming
// the path and the deadline, and Ctrl-C (the context cancelled) ends them
// even when every S3 deadline is a minute away.
func TestS3FrozenServerEndsJobs(t *testing.T) {
	e := setup(t)
	srv := s3test.Start(t)
	t.Setenv("AWS_CA_BUNDLE", "") // the SDK cannot add it to our own HTTPClient
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	hook := &requestHook{next: transport}

	short := srv.Options()
	short.IdleTimeout, short.AttemptTimeout, short.CleanupTimeout, short.MaxAttempts = time.Second, time.Second, time.Second, 2
	patient := short
	patient.IdleTimeout, patient.AttemptTimeout, patient.MaxAttempts = time.Minute, time.Minute, 5
	patient.HTTPClient = &http.Client{Transport: hook}

	fs, err := s3.New(t.Context(), short)
	if err != nil {
		t.Fatal(err)
	}
	bucket := "shoal-frozen-jobs"
	if _, err := fs.Client().CreateBucket(t.Context(), &s3api.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	st := dataset.Storage(storage.Config{S3: short})
	out := "s3://" + bucket + "/ids"
	if err := dataset.Range(100_000, e.par(4)...).WriteParquet(e.ctx, out, st); err != nil {
		t.Fatal(err)
	}
	deadline := regexp.MustCompile(`S3Options\.(Idle|Attempt)Timeout\)`)
	run := func(what string, job func(context.Context) error, ctx context.Context) error {
		t.Helper()
		start := time.Now()
		err := job(ctx)
		took := time.Since(start)
		t.Logf("%s ended after %v: %v", what, took.Round(time.Millisecond), err)
		if err == nil {
			t.Errorf("%s succeeded against a frozen server", what)
		}
		if took > jobBound {
			t.Errorf("%s took %v, want it to end within %v", what, took.Round(time.Millisecond), jobBound)
		}
		return err
	}
	read := func(st dataset.ReadWriteOption) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := dataset.ReadParquet(ctx, out, st, e.opt()).Sum(ctx, "id")
			return err
		}
	}
	write := func(path string, st dataset.ReadWriteOption) func(context.Context) error {
		return func(ctx context.Context) error {
			return dataset.Range(50_000, e.par(4)...).WriteParquet(ctx, "s3://"+bucket+"/"+path, st)
		}
	}

	srv.Freeze()
	for _, job := range []struct {
		what string
		run  func(context.Context) error
	}{
		{"a read from a frozen server", read(st)},
		{"a write to a frozen server", write("more", st)},
	} {
		err := run(job.what, job.run, e.ctx)
		if err == nil || !strings.Contains(err.Error(), "s3://"+bucket) || !deadline.MatchString(err.Error()) {
			t.Errorf("%s: %v; want an error naming s3://%s and the deadline", job.what, err, bucket)
		}
	}

	// Ctrl-C. A read is cancelled while its first request waits on the
	// frozen server; a write once its first data file is being written
	// (after its in-flight marker), to a server that froze then, so that
	// its cleanup meets the frozen server too.
	srv.Thaw()
	patientSt := dataset.Storage(storage.Config{S3: patient})
	for _, job := range []struct {
		what   string
		run    func(context.Context) error
		freeze func(*http.Request) bool
	}{
		{"a cancelled read", read(patientSt), func(*http.Request) bool { return true }},
		{"a cancelled write", write("cancelled", patientSt), func(r *http.Request) bool {
			return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/part-")
		}},
	} {
		ctx, cancel := context.WithCancel(e.ctx)
		var once sync.Once
		f := func(r *http.Request) {
			if job.freeze(r) {
				once.Do(func() { srv.Freeze(); cancel() })
			}
		}
		hook.hook.Store(&f)
		err := run(job.what, job.run, ctx)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v; want context.Canceled", job.what, err)
		}
		if job.what == "a cancelled write" && (err == nil || !regexp.MustCompile(
			`cleaning up the failed write: .*s3://`+bucket+`/cancelled\b`).MatchString(err.Error())) {
			t.Errorf("%s: %v; want it to say that the cleanup failed, and where", job.what, err)
		}
		hook.hook.Store(nil)
		cancel()
		srv.Thaw()
	}

	// Thawed, the same storage reads the dataset again.
	if sum, err := dataset.ReadParquet(e.ctx, out, st, e.opt()).Sum(e.ctx, "id"); err != nil || sum.Int64() != 99_999*100_000/2 {
		t.Errorf("read after SIGCONT: %v, %v", sum, err)
	}
}
