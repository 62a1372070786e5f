package storage

import (
	"context"
	"errors"
)

// S3Options configures the S3 filesystem. The zero value uses the AWS
// default credential chain and region.
type S3Options struct {
	// Endpoint overrides the S3 endpoint for S3-compatible stores
	// ("http://127.0.0.1:7070"). AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL
	// are honoured when empty.
	Endpoint string
	// Region defaults to AWS_REGION, then "us-east-1".
	Region string
	// PathStyle addresses buckets as endpoint/bucket/key; on by default
	// when Endpoint is set.
	PathStyle bool
	// AccessKeyID and SecretAccessKey, when set, replace the credential chain.
	AccessKeyID, SecretAccessKey string
	// MaxAttempts bounds retries on throttling and 5xx (default 5).
	MaxAttempts int
	// PartSize is the multipart upload part size (default 16 MiB).
	PartSize int64
}

// S3 is a FileSystem over one S3 endpoint. Paths are "bucket/key".
type S3 struct{ FileSystem }

// NewS3 connects to S3.
func NewS3(ctx context.Context, o S3Options) (*S3, error) {
	return nil, errors.New("s3: not built yet")
}
