package storage

import (
	"net/http"
	"time"
)

// S3Options configures the S3 filesystem. The zero value uses the AWS
// default credential chain and region.
//
// S3Options is comparable: Resolve keeps one S3 filesystem per distinct
// value. It holds no AWS SDK types, so a program that never reads S3 does
// not link the SDK; the filesystem itself is in package io/storage/s3.
type S3Options struct {
	// Endpoint overrides the S3 endpoint for S3-compatible stores
	// ("http://127.0.0.1:7070"). AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL
	// are honoured when empty (the AWS SDK reads them).
	Endpoint string
	// Region defaults to AWS_REGION (or the shared config's profile),
	// then "us-east-1".
	Region string
	// PathStyle addresses buckets as endpoint/bucket/key; on by default
	// when an endpoint is set, here or through the environment.
	PathStyle bool
	// AccessKeyID and SecretAccessKey, when set, replace the credential
	// chain. They are never written to JSON: credentials do not travel in
	// task specs.
	AccessKeyID, SecretAccessKey string `json:"-"`
	// MaxAttempts bounds attempts per request on throttling, 5xx and
	// network errors (default 5; 1 means no retries).
	MaxAttempts int
	// MaxBackoff caps the jittered exponential delay between attempts
	// (default 20s, the SDK's).
	MaxBackoff time.Duration
	// PartSize is the multipart upload part size (default 16 MiB, at
	// least 5 MiB, S3's minimum). A writer buffers up to 4 parts in flight
	// plus the one it is filling, and an object has at most 10,000 parts.
	PartSize int64
	// ListPageSize is the number of keys asked for per ListObjectsV2 page
	// (default 1000, S3's maximum).
	ListPageSize int
	// HTTPClient, when set, sends every request (proxies, custom TLS). It
	// does not survive JSON (a task spec): options with one do not ship.
	// ConnectTimeout does not apply to it; the other deadlines do.
	HTTPClient *http.Client `json:"-"`

	// Deadlines. Each attempt of a request that runs into one fails with
	// an error naming it and its value, and is retried with backoff up to
	// MaxAttempts; a context cancelled (Ctrl-C) stops a request at once.
	// A frozen server therefore fails a request after about
	// MaxAttempts × (IdleTimeout or AttemptTimeout) plus backoff.

	// ConnectTimeout bounds opening a connection: the TCP dial, then the
	// TLS handshake (default 10s).
	ConnectTimeout time.Duration
	// IdleTimeout fails an attempt once none of its bytes has moved for
	// this long: the server takes no more of the request body, sends no
	// response, or its response body stops (default 30s). A transfer that
	// is slow but moving is never cut, so a large object needs no total
	// timeout.
	IdleTimeout time.Duration
	// AttemptTimeout bounds each attempt of a request that moves no object
	// data: HEAD, LIST, DELETE, starting or aborting a multipart upload
	// (default 60s). Reads, writes and copies have only IdleTimeout.
	AttemptTimeout time.Duration
	// CleanupTimeout bounds the cleanup after a failed or cancelled write
	// or copy (aborting its multipart upload), which runs under a fresh
	// context so that it happens even after Ctrl-C (default 5s). A
	// cleanup that fails is reported with the write's error.
	CleanupTimeout time.Duration
}
