package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
)

// The AWS SDK gives S3 requests no deadline of their own (S3 is exempt
// from its read timeout), so a server that stops answering holds a request
// forever. deadlineClient bounds every attempt instead, whatever HTTP
// client sends it:
//
//   - An idle deadline: an attempt fails once no byte of it has moved for
//     IdleTimeout, in whichever phase it is (connecting, sending the
//     request body, waiting for the response, reading the response body).
//     A slow transfer that keeps moving is never cut, so large uploads and
//     downloads need no total timeout. Bytes move when the transport takes
//     request body or gives response body, and, where the system says
//     (Linux), when the server acknowledges bytes still queued in the
//     socket: the socket buffers can hold tens of MiB of an upload, which
//     a slow link drains long after the transport wrote them.
//   - An attempt deadline, for requests that move no data body (HEAD,
//     LIST, DELETE, starting and aborting multipart uploads).
//
// Either cancels the attempt with a deadlineError, which the SDK's
// retryer retries with backoff like a network error.
type deadlineClient struct {
	next    s3api.HTTPClient
	idle    time.Duration
	attempt time.Duration
}

// dataOps move object data or wait on the server copying it, so their
// length depends on the object: only the idle deadline bounds them.
var dataOps = map[string]bool{
	"GetObject": true, "PutObject": true, "UploadPart": true,
	"CopyObject": true, "UploadPartCopy": true, "CompleteMultipartUpload": true,
}

// deadlineError says which deadline ended an attempt, and its value.
type deadlineError struct{ msg string }

// missed is the error of the deadline that S3Options field knob sets:
// what did not happen in time, then the field.
func missed(knob, what string) *deadlineError {
	return &deadlineError{msg: what + " (S3Options." + knob + ")"}
}

func (e *deadlineError) Error() string { return e.msg }

// Timeout and RetryableError make the SDK's retryer retry the attempt.
func (e *deadlineError) Timeout() bool        { return true }
func (e *deadlineError) RetryableError() bool { return true }

// The phases of an attempt, for the idle deadline's message.
const (
	phaseConnecting int32 = iota
	phaseSending
	phaseWaiting
	phaseReading
)

var idleMessages = [...]string{
	phaseConnecting: "no connection to the server within %v",
	phaseSending:    "the server took no request bytes for %v",
	phaseWaiting:    "no response from the server for %v after the request was sent",
	phaseReading:    "the response stopped: no byte for %v",
}

// attemptWatch is one attempt's deadlines. Progress only stamps last; the
// idle timer, when it fires, re-arms itself for the time left until
// last+idle or cancels the attempt: one timer per attempt, not a reset per
// read.
type attemptWatch struct {
	idle   time.Duration
	ctx    context.Context
	cancel context.CancelCauseFunc
	last   atomic.Int64 // unix nanoseconds of the latest progress
	phase  atomic.Int32

	mu      sync.Mutex // guards what follows
	done    bool
	timer   *time.Timer
	limit   *time.Timer // the attempt deadline, or nil
	conn    net.Conn    // the attempt's connection, once it has one
	unacked int         // conn's unacknowledged bytes when last looked at
}

func (w *attemptWatch) progress() { w.last.Store(time.Now().UnixNano()) }

func (w *attemptWatch) enter(phase int32) {
	w.phase.Store(phase)
	w.progress()
}

// checkIdle runs when the idle timer fires. While a connection holds
// request bytes the server has not acknowledged, it polls the socket's
// queue four times per IdleTimeout: a queue that shrank is progress (one
// that grew holds our own writes, which count when the transport takes
// them).
func (w *attemptWatch) checkIdle() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	queued, known := unackedBytes(w.conn)
	if known && queued < w.unacked {
		w.progress()
	}
	w.unacked = queued
	left := time.Until(time.Unix(0, w.last.Load()).Add(w.idle))
	if left <= 0 {
		w.cancel(missed("IdleTimeout", fmt.Sprintf(idleMessages[w.phase.Load()], w.idle)))
		return
	}
	if known && queued > 0 {
		left = min(left, w.idle/4)
	}
	w.timer.Reset(left)
}

// enterWith enters phase on conn (nil: the attempt's own), taking the
// bytes queued on it now as the mark that later checks compare with.
func (w *attemptWatch) enterWith(phase int32, conn net.Conn) {
	w.mu.Lock()
	if conn != nil {
		w.conn = conn
	}
	w.unacked, _ = unackedBytes(w.conn)
	w.mu.Unlock()
	w.enter(phase)
}

// finish ends the attempt: timers stop and its context is released.
func (w *attemptWatch) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	w.done = true
	w.timer.Stop()
	if w.limit != nil {
		w.limit.Stop()
	}
	w.cancel(nil)
}

// explain replaces err with the deadline that caused it, if one did.
func (w *attemptWatch) explain(err error) error {
	var de *deadlineError
	if err != nil && err != io.EOF && errors.As(context.Cause(w.ctx), &de) {
		return de
	}
	return err
}

func (c *deadlineClient) Do(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	w := &attemptWatch{idle: c.idle, ctx: ctx, cancel: cancel}
	w.progress()
	w.mu.Lock()
	w.timer = time.AfterFunc(c.idle, w.checkIdle)
	if op := awsmiddleware.GetOperationName(ctx); c.attempt > 0 && !dataOps[op] {
		w.limit = time.AfterFunc(c.attempt, func() {
			cancel(missed("AttemptTimeout", fmt.Sprintf("%s took longer than %v", op, c.attempt)))
		})
	}
	w.mu.Unlock()
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn:      func(info httptrace.GotConnInfo) { w.enterWith(phaseSending, info.Conn) },
		WroteRequest: func(httptrace.WroteRequestInfo) { w.enterWith(phaseWaiting, nil) },
	})
	req = req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = &watchedBody{ReadCloser: req.Body, w: w}
	}
	if getBody := req.GetBody; getBody != nil {
		req.GetBody = func() (io.ReadCloser, error) {
			b, err := getBody()
			if err != nil || b == http.NoBody {
				return b, err
			}
			return &watchedBody{ReadCloser: b, w: w}, nil
		}
	}
	resp, err := c.next.Do(req)
	if err != nil {
		err = w.explain(err)
		w.finish()
		return resp, err
	}
	w.enter(phaseReading)
	resp.Body = &watchedBody{ReadCloser: resp.Body, w: w, response: true}
	return resp, nil
}

// watchedBody counts a body's reads as progress and, when a deadline cut
// a read, says which. Closing the response body ends the attempt.
type watchedBody struct {
	io.ReadCloser
	w        *attemptWatch
	response bool
	cut      bool // a read returned the deadline that ended the attempt
}

func (b *watchedBody) Read(p []byte) (int, error) {
	if b.cut {
		// The reader has been told; the SDK, draining the body to reuse
		// the connection, would only log the error again.
		return 0, io.EOF
	}
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.progress()
	}
	if e := b.w.explain(err); e != err {
		b.cut = true
		return n, e
	}
	return n, err
}

func (b *watchedBody) Close() error {
	err := b.ReadCloser.Close()
	if b.response {
		b.w.finish()
	}
	return err
}

// newHTTPClient is the HTTP client S3 uses when S3Options gives none:
// base, the SDK's, with connectTimeout bounding the TCP dial and the TLS
// handshake. The wait for response headers is the idle deadline's
// "waiting" phase, which bounds it whatever the client; the transport's
// ResponseHeaderTimeout would only race it with a vaguer message.
func newHTTPClient(base aws.HTTPClient, connectTimeout time.Duration) s3api.HTTPClient {
	b, ok := base.(*awshttp.BuildableClient)
	if !ok {
		b = awshttp.NewBuildableClient()
	}
	dialer := &net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}
	return b.WithTransportOptions(func(tr *http.Transport) {
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dialer.DialContext(ctx, network, addr)
			var ne net.Error
			if err != nil && ctx.Err() == nil && errors.As(err, &ne) && ne.Timeout() {
				return nil, missed("ConnectTimeout", fmt.Sprintf("no connection to %s within %v", addr, connectTimeout))
			}
			return conn, err
		}
		tr.TLSHandshakeTimeout = connectTimeout
	})
}
