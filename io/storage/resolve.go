package storage

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"sync"
)

// Config says how to reach stores when resolving URLs. The zero value uses
// the local filesystem and S3 with the AWS default credential chain.
type Config struct {
	// FileSystem, when set, serves every path, whatever its scheme.
	FileSystem FileSystem
	// S3 configures s3:// URLs.
	S3 S3Options
}

// s3Clients caches one S3 filesystem per distinct options, so that a job
// with thousands of files builds one client and its connection pool.
var s3Clients sync.Map // S3Options -> *S3

// Resolve splits a URL into the filesystem that serves it and the path
// within it: "s3://bucket/a/b" gives an S3 filesystem and "bucket/a/b";
// anything without a scheme (or with file://) is a local path.
func Resolve(ctx context.Context, url string, cfg Config) (FileSystem, string, error) {
	if cfg.FileSystem != nil {
		return cfg.FileSystem, strings.TrimPrefix(strings.TrimPrefix(url, "s3://"), "file://"), nil
	}
	switch {
	case strings.HasPrefix(url, "s3://"):
		p := strings.TrimPrefix(url, "s3://")
		if p == "" || strings.HasPrefix(p, "/") {
			return nil, "", fmt.Errorf("%s: an S3 URL needs a bucket: s3://bucket/prefix", url)
		}
		if fs, ok := s3Clients.Load(cfg.S3); ok {
			return fs.(*S3), p, nil
		}
		fs, err := NewS3(ctx, cfg.S3)
		if err != nil {
			return nil, "", err
		}
		actual, _ := s3Clients.LoadOrStore(cfg.S3, fs)
		return actual.(*S3), p, nil
	case strings.HasPrefix(url, "file://"):
		return Local{}, strings.TrimPrefix(url, "file://"), nil
	case strings.Contains(url, "://"):
		return nil, "", fmt.Errorf("%s: unsupported scheme (use a local path or s3://)", url)
	}
	return Local{}, url, nil
}

// ErrNoFiles is returned by Expand when a directory or glob matches nothing.
var ErrNoFiles = errors.New("no files found")

// Expand turns user paths (files, directories, globs) into the sorted files
// they name. Hidden files and directories (names starting with "." or "_",
// such as _SUCCESS markers and write staging areas) are skipped, as Spark
// and Ray do.
func Expand(ctx context.Context, fs FileSystem, paths []string) ([]FileInfo, error) {
	var out []FileInfo
	for _, p := range paths {
		files, err := expandOne(ctx, fs, p)
		if err != nil {
			return nil, err
		}
		out = append(out, files...)
	}
	return out, nil
}

func expandOne(ctx context.Context, fs FileSystem, p string) ([]FileInfo, error) {
	if HasGlob(p) {
		root := GlobRoot(p)
		all, err := fs.List(ctx, root)
		if err != nil {
			return nil, err
		}
		var out []FileInfo
		for _, f := range all {
			if ok, _ := matchGlob(fs, p, f.Path); ok && !hidden(root, f.Path) {
				out = append(out, f)
			}
		}
		if len(out) == 0 {
			return nil, &PathError{Op: "read", URL: fs.URL(p), Err: ErrNoFiles}
		}
		return out, nil
	}
	info, err := fs.Stat(ctx, p)
	if err == nil {
		return []FileInfo{info}, nil
	}
	if !errors.Is(err, ErrNotExist) && !errors.Is(err, errIsDir) {
		return nil, err
	}
	all, lerr := fs.List(ctx, p)
	if lerr != nil {
		return nil, lerr
	}
	var out []FileInfo
	for _, f := range all {
		if !hidden(p, f.Path) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		if len(all) == 0 && errors.Is(err, ErrNotExist) {
			return nil, &PathError{Op: "read", URL: fs.URL(p), Err: ErrNotExist}
		}
		return nil, &PathError{Op: "read", URL: fs.URL(p), Err: ErrNoFiles}
	}
	return out, nil
}

// HasGlob reports whether p holds glob characters (*, ?, [).
func HasGlob(p string) bool { return strings.ContainsAny(p, "*?[") }

// GlobRoot is the directory above the first path element with a glob.
func GlobRoot(p string) string {
	i := strings.IndexAny(p, "*?[")
	j := strings.LastIndexAny(p[:i], `/\`)
	if j < 0 {
		return "."
	}
	return p[:j]
}

// MatchGlob reports whether name matches the glob pattern, with the
// store's path rules.
func MatchGlob(fs FileSystem, pattern, name string) bool {
	ok, _ := matchGlob(fs, pattern, name)
	return ok
}

func matchGlob(fs FileSystem, pattern, name string) (bool, error) {
	if fs.Scheme() == "file" {
		return filepath.Match(filepath.Clean(pattern), filepath.Clean(name))
	}
	return path.Match(pattern, name)
}

// hidden reports whether any element of file below root starts with "." or "_".
func hidden(root, file string) bool {
	rel := strings.TrimPrefix(file, root)
	for _, el := range strings.FieldsFunc(rel, func(r rune) bool { return r == '/' || r == '\\' }) {
		if strings.HasPrefix(el, ".") || strings.HasPrefix(el, "_") {
			return true
		}
	}
	return false
}
