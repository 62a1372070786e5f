// Package s3 is the storage.FileSystem for S3 and S3-compatible stores,
// on aws-sdk-go-v2. Importing it registers the s3:// scheme with
// storage.Resolve:
//
//	import _ "github.com/shoal-data/shoal/io/storage/s3"
//
// Programs that never touch S3 leave it out and do not link the AWS SDK.
package s3

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/shoal-data/shoal/io/storage"
)

const (
	defaultS3Attempts  = 5
	defaultPartSize    = 16 << 20
	minPartSize        = 5 << 20
	maxPartSize        = 5 << 30
	maxParts           = 10000
	maxListPage        = 1000
	partsInFlight      = 4
	deleteBatch        = 1000
	maxCopyObjectSize  = 5 << 30 // CopyObject's limit; larger objects are copied in parts
	defaultCopyPart    = 512 << 20
	defaultConnect     = 10 * time.Second
	defaultIdle        = 30 * time.Second
	defaultAttempt     = 60 * time.Second
	defaultCleanup     = 5 * time.Second
	footerCacheSize    = 64 << 10
	readSpanSize       = 1 << 20
	readSpansCached    = 4
	defaultS3Region    = "us-east-1"
	s3Scheme           = "s3"
	errMsgNeedsKey     = "an S3 path needs a key: bucket/key"
	errMsgNeedsBucket  = "an S3 path needs a bucket: bucket/key"
	errMsgWriterClosed = "write after Close or Abort"
)

// FileSystem is a storage.FileSystem over one S3 endpoint. Paths are
// "bucket/key"; a "directory" is a key prefix ending in "/". It is safe
// for concurrent use and shares one client (and its connection pool)
// between all files.
type FileSystem struct {
	client   *s3api.Client
	retryer  aws.Retryer // also paces resuming a response body cut short
	attempts int
	partSize int64
	pageSize int32
	cleanup  time.Duration
	// Objects over copyLimit bytes are renamed with UploadPartCopy in parts
	// of copyPart bytes; tests lower both.
	copyLimit, copyPart int64
}

var _ storage.FileSystem = (*FileSystem)(nil)

// New builds an S3 filesystem. It checks the options and loads the AWS
// configuration, but sends no request: a wrong endpoint or credentials
// show up on first use.
func New(ctx context.Context, o storage.S3Options) (*FileSystem, error) {
	attempts := o.MaxAttempts
	switch {
	case attempts == 0:
		attempts = defaultS3Attempts
	case attempts < 0:
		return nil, fmt.Errorf("s3: MaxAttempts is %d; it must be at least 1 (0 means %d)", o.MaxAttempts, defaultS3Attempts)
	}
	partSize := o.PartSize
	switch {
	case partSize == 0:
		partSize = defaultPartSize
	case partSize < minPartSize || partSize > maxPartSize:
		return nil, fmt.Errorf("s3: PartSize is %d; S3 needs parts of 5 MiB to 5 GiB", o.PartSize)
	}
	pageSize := o.ListPageSize
	switch {
	case pageSize == 0:
		pageSize = maxListPage
	case pageSize < 0 || pageSize > maxListPage:
		return nil, fmt.Errorf("s3: ListPageSize is %d; it must be 1 to %d", o.ListPageSize, maxListPage)
	}
	if o.MaxBackoff < 0 {
		return nil, fmt.Errorf("s3: MaxBackoff is %v; it must not be negative", o.MaxBackoff)
	}
	if (o.AccessKeyID == "") != (o.SecretAccessKey == "") {
		return nil, errors.New("s3: set both AccessKeyID and SecretAccessKey, or neither to use the AWS credential chain")
	}
	var connect, idle, attempt, cleanup time.Duration
	for _, d := range []struct {
		name     string
		set, def time.Duration
		to       *time.Duration
	}{
		{"ConnectTimeout", o.ConnectTimeout, defaultConnect, &connect},
		{"IdleTimeout", o.IdleTimeout, defaultIdle, &idle},
		{"AttemptTimeout", o.AttemptTimeout, defaultAttempt, &attempt},
		{"CleanupTimeout", o.CleanupTimeout, defaultCleanup, &cleanup},
	} {
		if d.set < 0 {
			return nil, fmt.Errorf("s3: %s is %v; it must not be negative (0 means %v)", d.name, d.set, d.def)
		}
		*d.to = cmp.Or(d.set, d.def)
	}

	// The standard retryer retries throttling errors (SlowDown, 429),
	// 500/502/503/504, network errors and missed deadlines with jittered
	// exponential backoff. Its client-side retry quota is off: a long data
	// job facing a throttling bucket should keep backing off, bounded by
	// MaxAttempts per request, rather than fail on a shared budget.
	retryer := retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = attempts
		if o.MaxBackoff > 0 {
			so.MaxBackoff = o.MaxBackoff
		}
		so.RateLimiter = ratelimit.None
	})
	loads := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer { return retryer }),
	}
	if o.Region != "" {
		loads = append(loads, config.WithRegion(o.Region))
	}
	if o.AccessKeyID != "" {
		loads = append(loads, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, "")))
	}
	if o.HTTPClient != nil {
		loads = append(loads, config.WithHTTPClient(o.HTTPClient))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return nil, fmt.Errorf("s3: loading the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = defaultS3Region
	}
	var transport s3api.HTTPClient = o.HTTPClient
	if o.HTTPClient == nil {
		// The SDK's client, as the configuration built it (with the CA
		// bundle of AWS_CA_BUNDLE, say), with our connect deadline.
		transport = newHTTPClient(cfg.HTTPClient, connect)
	}
	client := s3api.NewFromConfig(cfg, func(so *s3api.Options) {
		// Runs after the SDK resolved BaseEndpoint from AWS_ENDPOINT_URL_S3,
		// AWS_ENDPOINT_URL or the shared config, so an endpoint from any of
		// those turns on path-style addressing too.
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.PathStyle || so.BaseEndpoint != nil
		// MaxAttempts above wins over AWS_MAX_ATTEMPTS.
		so.RetryMaxAttempts = 0
		// Ranged GETs carry no checksum to validate; the SDK would log
		// that to stderr on every read.
		so.DisableLogOutputChecksumValidationSkipped = true
		so.HTTPClient = &deadlineClient{next: transport, idle: idle, attempt: attempt}
	})
	return &FileSystem{
		client:    client,
		retryer:   retryer,
		attempts:  attempts,
		partSize:  partSize,
		pageSize:  int32(pageSize),
		cleanup:   cleanup,
		copyLimit: maxCopyObjectSize,
		copyPart:  defaultCopyPart,
	}, nil
}

// Client is the underlying AWS SDK client, for what storage.FileSystem does not
// cover (creating buckets, say).
func (s *FileSystem) Client() *s3api.Client { return s.client }

func (s *FileSystem) Scheme() string             { return s3Scheme }
func (s *FileSystem) URL(p string) string        { return "s3://" + p }
func (s *FileSystem) Join(elem ...string) string { return path.Join(elem...) }

// split turns "bucket/key" into its parts. A leading "s3://" is tolerated.
func (s *FileSystem) split(op, p string, needKey bool) (bucket, key string, err error) {
	p = strings.TrimPrefix(p, "s3://")
	bucket, key, _ = strings.Cut(p, "/")
	switch {
	case bucket == "":
		return "", "", &storage.PathError{Op: op, URL: s.URL(p), Err: errors.New(errMsgNeedsBucket)}
	case needKey && (key == "" || strings.HasSuffix(key, "/")):
		return "", "", &storage.PathError{Op: op, URL: s.URL(p), Err: errors.New(errMsgNeedsKey)}
	}
	return bucket, key, nil
}

// s3Error replaces the SDK's long error text with what went wrong in words,
// keeping the SDK error underneath for errors.As.
type s3Error struct {
	msg      string
	notExist bool
	err      error
}

func (e *s3Error) Error() string        { return e.msg }
func (e *s3Error) Unwrap() error        { return e.err }
func (e *s3Error) Is(target error) bool { return e.notExist && target == storage.ErrNotExist }

// pathErr wraps an SDK error for op on path p in bucket.
func (s *FileSystem) pathErr(op, p, bucket string, err error) error {
	return &storage.PathError{Op: op, URL: s.URL(p), Err: explain(bucket, err)}
}

// credentialCodes are the error codes of requests refused for who sent
// them. versitygw answers an unknown access key with a 404
// XAdminUserNotFound, where S3 says 403 InvalidAccessKeyId.
var credentialCodes = map[string]bool{
	"AccessDenied": true, "InvalidAccessKeyId": true, "SignatureDoesNotMatch": true,
	"ExpiredToken": true, "InvalidToken": true, "TokenRefreshRequired": true,
	"XAdminUserNotFound": true,
}

// explain turns an SDK error into one that says in words what went wrong:
// a missing bucket or key (matching storage.ErrNotExist), refused credentials,
// retries given up on. Other errors are returned as they are.
func explain(bucket string, err error) error {
	var se *s3Error
	if errors.As(err, &se) {
		return err
	}
	for _, c := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, c) {
			return &s3Error{msg: c.Error(), err: err}
		}
	}
	var code, detail string
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
		detail = code
		if m := ae.ErrorMessage(); m != "" && m != code {
			detail += ": " + m
		}
	}
	status := 0
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var de *deadlineError
	switch {
	case errors.As(err, &de):
		// A deadline cut the attempt, maybe after a response began.
		detail = de.Error()
	case status > 0:
		if detail == "" {
			detail = http.StatusText(status)
		}
		detail += fmt.Sprintf(" (HTTP %d)", status)
	case detail == "":
		// No response (the SDK reports status 0): what went wrong is
		// below HTTP.
		detail = networkCause(err)
	}
	switch {
	case status == http.StatusForbidden || credentialCodes[code]:
		return &s3Error{msg: "access denied or invalid credentials: " + detail +
			"; check the AWS credentials (and the endpoint and region)", err: err}
	case code == "NoSuchBucket":
		return &s3Error{msg: fmt.Sprintf("bucket %q does not exist", bucket), notExist: true, err: err}
	case code == "NoSuchUpload":
		return &s3Error{msg: "the multipart upload no longer exists: " + detail, err: err}
	case code == "NoSuchKey" || code == "NotFound" || status == http.StatusNotFound:
		return &s3Error{msg: "no such key", notExist: true, err: err}
	case code == "PreconditionFailed" || status == http.StatusPreconditionFailed:
		return &s3Error{msg: "the object changed while it was open for reading: " + detail, err: err}
	}
	if strings.Contains(err.Error(), "failed to retrieve credentials") ||
		strings.Contains(err.Error(), "failed to refresh cached credentials") {
		return &s3Error{msg: "no usable AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, " +
			"a profile, or S3Options.AccessKeyID): " + err.Error(), err: err}
	}
	var me *retry.MaxAttemptsError
	if errors.As(err, &me) {
		if detail == "" && me.Err != nil {
			detail = me.Err.Error()
		}
		return &s3Error{msg: fmt.Sprintf("gave up after %s: %s", attempts(me.Attempt), detail), err: err}
	}
	if code == "" && status == 0 && detail != "" {
		return &s3Error{msg: detail, err: err}
	}
	return err
}

// networkCause says what went wrong for a request that got no response: a
// missed deadline, or the network error (a refused dial, a reset
// connection) without the SDK's and net/http's wrapping around it.
func networkCause(err error) string {
	var de *deadlineError
	if errors.As(err, &de) {
		return de.Error()
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return ""
}

// Stat heads the object. A key that is only a prefix of other keys (a
// "directory"), or a bare bucket, gives an error matching storage.ErrIsDir, so
// storage.Expand lists it; a missing key gives storage.ErrNotExist.
func (s *FileSystem) Stat(ctx context.Context, p string) (storage.FileInfo, error) {
	bucket, key, err := s.split("stat", p, false)
	if err != nil {
		return storage.FileInfo{}, err
	}
	if key == "" || strings.HasSuffix(key, "/") {
		return storage.FileInfo{}, s.notFile(ctx, "stat", p, bucket, key)
	}
	out, err := s.client.HeadObject(ctx, &s3api.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err == nil {
		return storage.FileInfo{Path: p, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified), Version: aws.ToString(out.ETag)}, nil
	}
	if !errors.Is(explain(bucket, err), storage.ErrNotExist) {
		return storage.FileInfo{}, s.pathErr("stat", p, bucket, err)
	}
	return storage.FileInfo{}, s.notFile(ctx, "stat", p, bucket, key)
}

// notFile explains why p is not an object: its bucket is missing, it is a
// directory (the bucket itself, or a prefix of other keys), or nothing is
// there. HeadObject's 404 carries no body, so it cannot tell a missing
// bucket from a missing key; one ListObjectsV2 can.
func (s *FileSystem) notFile(ctx context.Context, op, p, bucket, key string) error {
	prefix := key
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	out, err := s.client.ListObjectsV2(ctx, &s3api.ListObjectsV2Input{
		Bucket: &bucket, Prefix: &prefix, MaxKeys: aws.Int32(1),
	})
	switch {
	case err != nil:
		return s.pathErr(op, p, bucket, err)
	case key == "" || len(out.Contents) > 0:
		return &storage.PathError{Op: op, URL: s.URL(p), Err: storage.ErrIsDir}
	}
	return &storage.PathError{Op: op, URL: s.URL(p), Err: &s3Error{msg: "no such key", notExist: true}}
}

// List returns every object under the prefix dir+"/" (the whole bucket for
// "bucket" or "bucket/"), sorted; keys ending in "/" (directory markers)
// are left out. A missing bucket is an error matching storage.ErrNotExist; a
// missing prefix gives an empty list.
func (s *FileSystem) List(ctx context.Context, dir string) ([]storage.FileInfo, error) {
	bucket, key, err := s.split("list", dir, false)
	if err != nil {
		return nil, err
	}
	prefix := key
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	var out []storage.FileInfo
	err = s.walk(ctx, bucket, prefix, func(o types.Object) error {
		k := aws.ToString(o.Key)
		if !strings.HasSuffix(k, "/") {
			out = append(out, storage.FileInfo{Path: bucket + "/" + k, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified), Version: aws.ToString(o.ETag)})
		}
		return nil
	})
	if err != nil {
		return nil, s.pathErr("list", dir, bucket, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// walk calls fn for each object under prefix, a page at a time.
func (s *FileSystem) walk(ctx context.Context, bucket, prefix string, fn func(types.Object) error) error {
	pages := s3api.NewListObjectsV2Paginator(s.client, &s3api.ListObjectsV2Input{
		Bucket: &bucket, Prefix: &prefix, MaxKeys: aws.Int32(s.pageSize),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			if err := fn(o); err != nil {
				return err
			}
		}
	}
	return nil
}

// Open heads the object for its size and ETag; reads are ranged GETs
// pinned to that ETag (If-Match), so an object replaced while open fails
// the read instead of mixing two versions.
func (s *FileSystem) Open(ctx context.Context, p string) (storage.File, error) {
	bucket, key, err := s.split("open", p, true)
	if err != nil {
		return nil, err
	}
	out, err := s.client.HeadObject(ctx, &s3api.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		if errors.Is(explain(bucket, err), storage.ErrNotExist) {
			return nil, s.notFile(ctx, "open", p, bucket, key)
		}
		return nil, s.pathErr("open", p, bucket, err)
	}
	return &s3File{
		s: s, ctx: ctx, bucket: bucket, key: key, path: p,
		size:  aws.ToInt64(out.ContentLength),
		etag:  aws.ToString(out.ETag),
		spans: map[int64]*span{},
	}, nil
}

// OpenInfo opens a file that Stat or List described without asking S3
// for its size and ETag again: a read task saves a round trip. Reads are
// pinned to the listed ETag, so an object replaced since fails clearly.
func (s *FileSystem) OpenInfo(ctx context.Context, info storage.FileInfo) (storage.File, error) {
	if info.Version == "" || info.Size < 0 {
		return s.Open(ctx, info.Path)
	}
	bucket, key, err := s.split("open", info.Path, true)
	if err != nil {
		return nil, err
	}
	return &s3File{
		s: s, ctx: ctx, bucket: bucket, key: key, path: info.Path,
		size:  info.Size,
		etag:  info.Version,
		spans: map[int64]*span{},
	}, nil
}

// s3File reads an object with ranged GETs, through a small cache shaped
// for Parquet, whose readers make many small ReadAt calls: the footer
// length, the footer, then column chunk pages one after another.
//
//   - The tail: the first read that starts in the last min(size, 64 KiB)
//     bytes fetches all of them in one GET, kept until Close. The footer
//     length, the footer and (for a small file) everything else come from
//     it.
//   - Spans: any other read of at most 1 MiB fetches the whole aligned
//     1 MiB span around it (capped at the end of the file); the 4 most
//     recently used spans are kept (LRU), so runs of adjacent small reads
//     hit memory. A read that crosses a span boundary is served from both.
//   - Reads over 1 MiB go straight to S3 in one GET and are not cached.
//
// Concurrent reads of the same span wait for one GET instead of each
// sending their own. The cache holds at most 4 MiB + 64 KiB per file.
type s3File struct {
	s                 *FileSystem
	ctx               context.Context
	bucket, key, path string
	size              int64
	etag              string
	gets              atomic.Int64 // GET requests sent, for tests

	mu     sync.Mutex
	closed bool
	tail   *span
	spans  map[int64]*span // by offset
	lru    []int64         // span offsets, least recently used first
}

// span is a cached byte range; ready closes once data or err is set.
type span struct {
	off   int64
	data  []byte
	err   error
	ready chan struct{}
}

func (f *s3File) Size() int64  { return f.size }
func (f *s3File) Name() string { return f.s.URL(f.path) }

func (f *s3File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	f.tail, f.spans, f.lru = nil, nil, nil
	return nil
}

// ReadAt follows io.ReaderAt: a read that reaches the end of the object
// returns io.EOF with the bytes it got.
func (f *s3File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, &storage.PathError{Op: "read", URL: f.Name(), Err: fmt.Errorf("negative offset %d", off)}
	}
	if off >= f.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	var eof error
	if rest := f.size - off; int64(len(p)) > rest {
		p, eof = p[:rest], io.EOF
	}
	if len(p) > readSpanSize {
		f.mu.Lock()
		closed := f.closed
		f.mu.Unlock()
		if closed {
			return 0, &storage.PathError{Op: "read", URL: f.Name(), Err: os.ErrClosed}
		}
		if err := f.get(p, off); err != nil {
			return 0, err
		}
		return len(p), eof
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		sp, err := f.spanAt(pos)
		if err != nil {
			return n, err
		}
		n += copy(p[n:], sp.data[pos-sp.off:])
	}
	return n, eof
}

// spanAt returns the cached range holding pos, fetching it if needed.
func (f *s3File) spanAt(pos int64) (*span, error) {
	tailOff := f.size - min(f.size, footerCacheSize)
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, &storage.PathError{Op: "read", URL: f.Name(), Err: os.ErrClosed}
	}
	var sp *span
	var end int64
	fetch := false
	if pos >= tailOff {
		if f.tail == nil {
			f.tail = &span{off: tailOff, ready: make(chan struct{})}
			end, fetch = f.size, true
		}
		sp = f.tail
	} else {
		start := pos - pos%readSpanSize
		sp = f.spans[start]
		if sp == nil {
			sp = &span{off: start, ready: make(chan struct{})}
			f.spans[start] = sp
			end, fetch = min(start+readSpanSize, f.size), true
		}
		f.touch(start)
	}
	f.mu.Unlock()

	if fetch {
		buf := make([]byte, end-sp.off)
		if err := f.get(buf, sp.off); err != nil {
			sp.err = err
			f.forget(sp) // let a later read try again
		} else {
			sp.data = buf
		}
		close(sp.ready)
	} else {
		select {
		case <-sp.ready:
		case <-f.ctx.Done():
			return nil, &storage.PathError{Op: "read", URL: f.Name(), Err: f.ctx.Err()}
		}
	}
	return sp, sp.err
}

// touch marks the span at start most recently used and evicts the least
// recently used beyond readSpansCached. Callers hold f.mu.
func (f *s3File) touch(start int64) {
	for i, o := range f.lru {
		if o == start {
			f.lru = append(f.lru[:i], f.lru[i+1:]...)
			break
		}
	}
	f.lru = append(f.lru, start)
	for len(f.lru) > readSpansCached {
		delete(f.spans, f.lru[0])
		f.lru = f.lru[1:]
	}
}

// forget drops a failed span from the cache.
func (f *s3File) forget(sp *span) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tail == sp {
		f.tail = nil
	}
	if f.spans[sp.off] == sp {
		delete(f.spans, sp.off)
		for i, o := range f.lru {
			if o == sp.off {
				f.lru = append(f.lru[:i], f.lru[i+1:]...)
				break
			}
		}
	}
}

// get fills p from the object at off with ranged GETs. The SDK retries
// failed requests; a body cut short (a reset, the idle deadline) is
// resumed from where it stopped after the retryer's backoff, up to
// MaxAttempts GETs.
func (f *s3File) get(p []byte, off int64) error {
	var err error
	attempt := 1
	for ; ; attempt++ {
		rng := fmt.Sprintf("bytes=%d-%d", off, off+int64(len(p))-1)
		in := &s3api.GetObjectInput{Bucket: &f.bucket, Key: &f.key, Range: &rng}
		if f.etag != "" {
			in.IfMatch = &f.etag
		}
		f.gets.Add(1)
		out, gerr := f.s.client.GetObject(f.ctx, in)
		if gerr != nil {
			return f.s.pathErr("read", f.path, f.bucket, gerr)
		}
		var n int
		n, err = io.ReadFull(out.Body, p)
		out.Body.Close()
		if err == nil {
			return nil
		}
		p, off = p[n:], off+int64(n)
		if f.ctx.Err() != nil {
			return &storage.PathError{Op: "read", URL: f.Name(), Err: fmt.Errorf("reading bytes from %d: %w", off, f.ctx.Err())}
		}
		if attempt == f.s.attempts || f.s.backoff(f.ctx, attempt, err) != nil {
			break
		}
	}
	return &storage.PathError{Op: "read", URL: f.Name(), Err: fmt.Errorf(
		"gave up after %s reading bytes from %d: %w", attempts(attempt), off, err)}
}

// backoff waits the retryer's delay before retrying after attempt failed
// with err, or until ctx ends.
func (s *FileSystem) backoff(ctx context.Context, attempt int, err error) error {
	d, err := s.retryer.RetryDelay(attempt, err)
	if err != nil {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// attempts is "1 attempt", "2 attempts"...
func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

// Create returns a writer that buffers PartSize bytes. An object that fits
// in one part is sent with one PutObject on Close; a larger one becomes a
// multipart upload, each part sent as it fills (at most 4 at once, each
// holding its buffer), completed on Close. Abort, a failed part or a
// failed Close aborts the upload, so no partial object is ever visible.
func (s *FileSystem) Create(ctx context.Context, p string) (storage.Writer, error) {
	bucket, key, err := s.split("create", p, true)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	return &s3Writer{s: s, ctx: ctx, stop: cancel, bucket: bucket, key: key, path: p}, nil
}

type s3Writer struct {
	s                 *FileSystem
	ctx               context.Context
	stop              context.CancelFunc // cancels parts in flight; called once done
	bucket, key, path string
	buf               []byte
	uploadID          string
	checksums         bool // send part CRC32s on Complete
	nextPart          int32
	sem               chan struct{}
	wg                sync.WaitGroup
	done              bool
	result            error // what Close returns again once done

	mu    sync.Mutex // guards parts and err, set by part uploads
	parts []types.CompletedPart
	err   error // the first failed part
}

var errWriterAborted = errors.New("writer was aborted")

func (w *s3Writer) Write(p []byte) (int, error) {
	if w.done {
		if w.result != nil {
			return 0, w.result
		}
		return 0, &storage.PathError{Op: "write", URL: w.s.URL(w.path), Err: errors.New(errMsgWriterClosed)}
	}
	n := 0
	for len(p) > 0 {
		// Send a full buffer only once more data comes, so an object of
		// exactly PartSize bytes is still a single PutObject.
		if int64(len(w.buf)) == w.s.partSize {
			if err := w.flush(); err != nil {
				return n, w.fail(err)
			}
		}
		k := min(int(w.s.partSize)-len(w.buf), len(p))
		w.buf = append(w.buf, p[:k]...)
		p, n = p[k:], n+k
	}
	return n, nil
}

// flush starts uploading the buffer as the next part.
func (w *s3Writer) flush() error {
	if err := w.partErr(); err != nil {
		return err
	}
	if w.uploadID == "" {
		out, err := w.s.client.CreateMultipartUpload(w.ctx, &s3api.CreateMultipartUploadInput{
			Bucket: &w.bucket, Key: &w.key, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			return w.s.pathErr("write", w.path, w.bucket, err)
		}
		w.uploadID = aws.ToString(out.UploadId)
		// Stores that know checksums echo the algorithm and then want
		// each part's CRC32 on Complete; others would reject it there.
		w.checksums = out.ChecksumAlgorithm != ""
		w.sem = make(chan struct{}, partsInFlight)
	}
	if w.nextPart == maxParts {
		return &storage.PathError{Op: "write", URL: w.s.URL(w.path), Err: fmt.Errorf(
			"object exceeds %d parts of %d bytes; raise S3Options.PartSize", maxParts, w.s.partSize)}
	}
	select {
	case w.sem <- struct{}{}:
	case <-w.ctx.Done():
		return &storage.PathError{Op: "write", URL: w.s.URL(w.path), Err: w.ctx.Err()}
	}
	w.nextPart++
	num, data := w.nextPart, w.buf
	w.buf = make([]byte, 0, w.s.partSize)
	w.wg.Add(1)
	go func() {
		defer func() { <-w.sem; w.wg.Done() }()
		out, err := w.s.client.UploadPart(w.ctx, &s3api.UploadPartInput{
			Bucket: &w.bucket, Key: &w.key, UploadId: &w.uploadID, PartNumber: &num,
			Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil {
			if w.err == nil {
				w.err = &storage.PathError{Op: "write", URL: w.s.URL(w.path), Err: fmt.Errorf("part %d: %w", num, explain(w.bucket, err))}
			}
			return
		}
		part := types.CompletedPart{PartNumber: &num, ETag: out.ETag}
		if w.checksums {
			part.ChecksumCRC32 = out.ChecksumCRC32
		}
		w.parts = append(w.parts, part)
	}()
	return nil
}

func (w *s3Writer) partErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// fail aborts the upload after err and makes the writer return err (and
// the abort's failure, if it fails too) from now on.
func (w *s3Writer) fail(err error) error {
	w.done = true
	w.result = withCleanup(err, w.abortUpload())
	return w.result
}

// withCleanup adds to err the failure of the cleanup after it, if any.
func withCleanup(err, cleanup error) error {
	if cleanup == nil {
		return err
	}
	return fmt.Errorf("%w; cleaning up also failed: %w", err, cleanup)
}

// Close sends what is buffered and makes the object visible. Once done,
// Close returns the same result again.
func (w *s3Writer) Close() error {
	if w.done {
		return w.result
	}
	if w.uploadID == "" {
		w.done = true
		defer w.stop()
		_, err := w.s.client.PutObject(w.ctx, &s3api.PutObjectInput{
			Bucket: &w.bucket, Key: &w.key,
			Body: bytes.NewReader(w.buf), ContentLength: aws.Int64(int64(len(w.buf))),
		})
		w.buf = nil
		if err != nil {
			w.result = w.s.pathErr("write", w.path, w.bucket, err)
		}
		return w.result
	}
	if len(w.buf) > 0 {
		if err := w.flush(); err != nil {
			return w.fail(err)
		}
	}
	w.wg.Wait()
	if err := w.partErr(); err != nil {
		return w.fail(err)
	}
	sort.Slice(w.parts, func(i, j int) bool { return *w.parts[i].PartNumber < *w.parts[j].PartNumber })
	_, err := w.s.client.CompleteMultipartUpload(w.ctx, &s3api.CompleteMultipartUploadInput{
		Bucket: &w.bucket, Key: &w.key, UploadId: &w.uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: w.parts},
	})
	if err != nil {
		return w.fail(w.s.pathErr("write", w.path, w.bucket, err))
	}
	w.done, w.uploadID, w.buf = true, "", nil
	w.stop()
	return nil
}

// Abort discards the writer: nothing appears at its path. Abort after
// Close, or a second Abort, does nothing.
func (w *s3Writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.result = &storage.PathError{Op: "write", URL: w.s.URL(w.path), Err: errWriterAborted}
	return w.abortUpload()
}

// abortUpload cancels the parts in flight, waits for them, then aborts
// the multipart upload, if one was started.
func (w *s3Writer) abortUpload() error {
	w.stop()
	w.wg.Wait()
	w.buf = nil
	if w.uploadID == "" {
		return nil
	}
	id := w.uploadID
	w.uploadID = ""
	return w.s.abortMultipart(w.ctx, w.bucket, w.key, id, w.path)
}

// abortMultipart aborts a multipart upload under a fresh context bounded
// by CleanupTimeout: it runs after a failure or a cancellation (Ctrl-C),
// and must end even if the server does not answer.
func (s *FileSystem) abortMultipart(ctx context.Context, bucket, key, uploadID, p string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cleanup)
	defer cancel()
	_, err := s.client.AbortMultipartUpload(ctx, &s3api.AbortMultipartUploadInput{
		Bucket: &bucket, Key: &key, UploadId: &uploadID,
	})
	if err != nil {
		err = explain(bucket, err)
		if ctx.Err() != nil {
			err = fmt.Errorf("no answer within %v (S3Options.CleanupTimeout): %w", s.cleanup, ctx.Err())
		}
		return &storage.PathError{Op: "abort upload of", URL: s.URL(p), Err: fmt.Errorf(
			"%w (its parts may stay in the bucket until aborted or expired by a lifecycle rule)", err)}
	}
	return nil
}

// Rename copies src to dst on the server, then deletes src. CopyObject
// takes objects of up to 5 GiB; larger ones are copied with
// UploadPartCopy in 512 MiB parts (which keeps the data but not the
// object's content type or user metadata). Renaming is not atomic: a
// reader may see both objects for a moment, and a failed delete leaves
// both.
func (s *FileSystem) Rename(ctx context.Context, src, dst string) error {
	sb, sk, err := s.split("rename", src, true)
	if err != nil {
		return err
	}
	db, dk, err := s.split("rename", dst, true)
	if err != nil {
		return err
	}
	if sb == db && sk == dk {
		return nil
	}
	info, err := s.Stat(ctx, src)
	if err != nil {
		return &storage.PathError{Op: "rename", URL: s.URL(src), Err: errors.Unwrap(err)}
	}
	source := copySource(sb, sk)
	if info.Size <= s.copyLimit {
		_, err = s.client.CopyObject(ctx, &s3api.CopyObjectInput{Bucket: &db, Key: &dk, CopySource: &source})
		if err != nil {
			return s.pathErr("rename", dst, db, err)
		}
	} else if err := s.copyParts(ctx, source, info.Size, db, dk, dst); err != nil {
		return err
	}
	if _, err := s.client.DeleteObject(ctx, &s3api.DeleteObjectInput{Bucket: &sb, Key: &sk}); err != nil {
		return s.pathErr("rename", src, sb, err)
	}
	return nil
}

// copyParts copies an object too large for CopyObject as a multipart
// upload of UploadPartCopy ranges.
func (s *FileSystem) copyParts(ctx context.Context, source string, size int64, bucket, key, dst string) error {
	out, err := s.client.CreateMultipartUpload(ctx, &s3api.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return s.pathErr("rename", dst, bucket, err)
	}
	id := out.UploadId
	// Parts of copyPart bytes, larger if the object needs over 10,000.
	partSize := max(s.copyPart, (size+maxParts-1)/maxParts)
	var parts []types.CompletedPart
	err = func() error {
		var num int32
		for off := int64(0); off < size; off += partSize {
			num++
			n := num
			rng := fmt.Sprintf("bytes=%d-%d", off, min(off+partSize, size)-1)
			po, err := s.client.UploadPartCopy(ctx, &s3api.UploadPartCopyInput{
				Bucket: &bucket, Key: &key, UploadId: id, PartNumber: &n,
				CopySource: &source, CopySourceRange: &rng,
			})
			if err != nil {
				return err
			}
			r := po.CopyPartResult
			if r == nil {
				return fmt.Errorf("part %d: empty UploadPartCopy result", n)
			}
			// No part checksums: the upload was created without an
			// algorithm, and versitygw (like S3) rejects them then.
			parts = append(parts, types.CompletedPart{PartNumber: &n, ETag: r.ETag})
		}
		_, err := s.client.CompleteMultipartUpload(ctx, &s3api.CompleteMultipartUploadInput{
			Bucket: &bucket, Key: &key, UploadId: id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		})
		return err
	}()
	if err != nil {
		return withCleanup(s.pathErr("rename", dst, bucket, err), s.abortMultipart(ctx, bucket, key, *id, dst))
	}
	return nil
}

// copySource is "bucket/key" URL-encoded for CopySource, with "/" kept
// and "+" and spaces escaped (S3 would read a bare "+" as a space).
func copySource(bucket, key string) string {
	segs := strings.Split(bucket+"/"+key, "/")
	for i, seg := range segs {
		segs[i] = strings.ReplaceAll(url.QueryEscape(seg), "+", "%20")
	}
	return strings.Join(segs, "/")
}

// RemoveAll deletes the object at path and every object under path+"/",
// with DeleteObjects in batches of 1000 as it lists. "bucket" alone
// empties the bucket (the bucket stays). Like os.RemoveAll, nothing to
// remove, even a missing bucket, is not an error.
func (s *FileSystem) RemoveAll(ctx context.Context, p string) error {
	bucket, key, err := s.split("remove", p, false)
	if err != nil {
		return err
	}
	var batch []types.ObjectIdentifier
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		out, err := s.client.DeleteObjects(ctx, &s3api.DeleteObjectsInput{
			Bucket: &bucket, Delete: &types.Delete{Objects: batch, Quiet: aws.Bool(true)},
		})
		batch = batch[:0]
		if err != nil {
			return err
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("%d objects not deleted, first %q: %s: %s",
				len(out.Errors), aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
		}
		return nil
	}
	prefix := key
	if key != "" && !strings.HasSuffix(key, "/") {
		batch = append(batch, types.ObjectIdentifier{Key: aws.String(key)})
		prefix += "/"
	}
	err = s.walk(ctx, bucket, prefix, func(o types.Object) error {
		batch = append(batch, types.ObjectIdentifier{Key: o.Key})
		if len(batch) == deleteBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		if e := explain(bucket, err); errors.Is(e, storage.ErrNotExist) {
			return nil
		}
		return s.pathErr("remove", p, bucket, err)
	}
	return nil
}

// PutIfAbsent sends data with one PutObject carrying If-None-Match: *, so
// S3 stores it only if no object has the key: 412 Precondition Failed
// means another writer got there first, and 409 ConditionalRequestConflict
// that one is racing this one; both give an error matching ErrExist (the
// caller re-reads what is there). A put whose reply was lost and that the
// SDK sent again finds its own object: 412 too, so a caller that must know
// reads the object back.
func (s *FileSystem) PutIfAbsent(ctx context.Context, p string, data []byte) error {
	bucket, key, err := s.split("create", p, true)
	if err != nil {
		return err
	}
	_, err = s.client.PutObject(ctx, &s3api.PutObjectInput{
		Bucket: &bucket, Key: &key, IfNoneMatch: aws.String("*"),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
	})
	if err == nil {
		return nil
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusPreconditionFailed || re.HTTPStatusCode() == http.StatusConflict) {
		return &storage.PathError{Op: "create", URL: s.URL(p), Err: fmt.Errorf("%w (HTTP %d)", storage.ErrExist, re.HTTPStatusCode())}
	}
	return s.pathErr("create", p, bucket, err)
}
