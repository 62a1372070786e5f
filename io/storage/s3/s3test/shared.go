package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shoal-data/shoal/internal/ci"
	"github.com/shoal-data/shoal/io/storage"
)

// The S3 server scripts/test starts for the whole suite is found through
// these variables. Tests that freeze, kill or restart a server use Start
// instead: this one is shared.
const (
	EnvEndpoint  = "SHOAL_TEST_S3_ENDPOINT"
	EnvAccessKey = "SHOAL_TEST_S3_ACCESS_KEY"
	EnvSecretKey = "SHOAL_TEST_S3_SECRET_KEY"
)

// SharedOptions reach the suite's shared S3 server, with retries that
// barely back off. Without it the test is skipped, or fails under CI.
func SharedOptions(t testing.TB) storage.S3Options {
	t.Helper()
	ep := os.Getenv(EnvEndpoint)
	if ep == "" {
		ci.Missing(t, EnvEndpoint+" is not set, so no S3 server is reachable: run scripts/test, which starts versitygw")
	}
	return storage.S3Options{
		Endpoint: ep, Region: "us-east-1",
		AccessKeyID: os.Getenv(EnvAccessKey), SecretAccessKey: os.Getenv(EnvSecretKey),
		MaxBackoff: 20 * time.Millisecond,
	}
}

// FileSystem is what NewBucket needs of an S3 filesystem: s3.FileSystem
// (named by its methods, since that package's own tests use this one).
type FileSystem interface {
	storage.FileSystem
	Client() *s3api.Client
}

// NewBucket creates a bucket named after the test, and empties and
// removes it when the test ends, aborting uploads the test left behind.
func NewBucket(t testing.TB, fs FileSystem) string {
	t.Helper()
	bucket := BucketName(t)
	if _, err := fs.Client().CreateBucket(t.Context(), &s3api.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // t.Context is done here
		defer cancel()
		if err := fs.RemoveAll(ctx, bucket); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if ups, err := fs.Client().ListMultipartUploads(ctx, &s3api.ListMultipartUploadsInput{Bucket: &bucket}); err == nil {
			for _, u := range ups.Uploads {
				_, _ = fs.Client().AbortMultipartUpload(ctx, &s3api.AbortMultipartUploadInput{Bucket: &bucket, Key: u.Key, UploadId: u.UploadId})
			}
		}
		if _, err := fs.Client().DeleteBucket(ctx, &s3api.DeleteBucketInput{Bucket: &bucket}); err != nil {
			t.Errorf("cleanup: delete bucket %s: %v", bucket, err)
		}
	})
	return bucket
}

// BucketName is a valid bucket name made from the test's name, unique to
// this call.
func BucketName(t testing.TB) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimPrefix(t.Name(), "Test")) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	if len(name) > 40 {
		name = strings.TrimRight(name[:40], "-")
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	return "shoal-" + name + "-" + hex.EncodeToString(suffix[:])
}
