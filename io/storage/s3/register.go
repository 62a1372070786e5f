package s3

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/shoal-data/shoal/io/storage"
)

// Importing this package makes storage.Resolve serve s3:// URLs.
func init() { storage.RegisterScheme(s3Scheme, resolve) }

// clients caches one S3 filesystem per distinct options, so that a job
// with thousands of files builds one client and its connection pool.
var clients sync.Map // storage.S3Options -> *FileSystem

// resolve turns "s3://bucket/prefix" into the filesystem for cfg.S3 and
// "bucket/prefix".
func resolve(ctx context.Context, url string, cfg storage.Config) (storage.FileSystem, string, error) {
	p := strings.TrimPrefix(url, "s3://")
	if p == "" || strings.HasPrefix(p, "/") {
		return nil, "", fmt.Errorf("%s: an S3 URL needs a bucket: s3://bucket/prefix", url)
	}
	if fs, ok := clients.Load(cfg.S3); ok {
		return fs.(*FileSystem), p, nil
	}
	fs, err := New(ctx, cfg.S3)
	if err != nil {
		return nil, "", err
	}
	actual, _ := clients.LoadOrStore(cfg.S3, fs)
	return actual.(*FileSystem), p, nil
}
