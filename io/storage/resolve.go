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

// Resolver serves the URLs of one scheme: it returns the filesystem for
// url under cfg and the path within it. It is called for every URL, so
// it should reuse filesystems (and their connection pools) between calls.
type Resolver func(ctx context.Context, url string, cfg Config) (FileSystem, string, error)

var (
	schemesMu sync.RWMutex
	schemes   = map[string]Resolver{}
)

// schemeImports names the package that registers each scheme Shoal ships
// outside this package, for the error a program without it gets.
var schemeImports = map[string]string{
	"s3": "github.com/shoal-data/shoal/io/storage/s3",
}

// RegisterScheme makes Resolve serve scheme:// URLs with resolve. A
// package that implements a store calls it from init, as database/sql
// drivers do, so a program pays for a store (the AWS SDK, for S3) only
// when it imports that package. It panics if the scheme is registered
// twice or is "file".
func RegisterScheme(scheme string, resolve Resolver) {
	schemesMu.Lock()
	defer schemesMu.Unlock()
	if resolve == nil {
		panic("storage: RegisterScheme of " + scheme + " with a nil Resolver")
	}
	if _, dup := schemes[scheme]; dup || scheme == "file" {
		panic("storage: RegisterScheme called twice for " + scheme)
	}
	schemes[scheme] = resolve
}

// Resolve splits a URL into the filesystem that serves it and the path
// within it: "s3://bucket/a/b" gives an S3 filesystem and "bucket/a/b"
// (once package io/storage/s3 is imported); anything without a scheme
// (or with file://) is a local path.
func Resolve(ctx context.Context, url string, cfg Config) (FileSystem, string, error) {
	scheme, rest, found := strings.Cut(url, "://")
	if cfg.FileSystem != nil {
		if found {
			return cfg.FileSystem, rest, nil
		}
		return cfg.FileSystem, url, nil
	}
	switch {
	case !found:
		return Local{}, url, nil
	case scheme == "file":
		return Local{}, rest, nil
	}
	schemesMu.RLock()
	resolve := schemes[scheme]
	schemesMu.RUnlock()
	if resolve != nil {
		return resolve(ctx, url, cfg)
	}
	if pkg, ok := schemeImports[scheme]; ok {
		return nil, "", fmt.Errorf("%s: this program does not include the %s:// filesystem; add import _ %q", url, scheme, pkg)
	}
	return nil, "", fmt.Errorf("%s: unsupported scheme (use a local path or s3://)", url)
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
	if !errors.Is(err, ErrNotExist) && !errors.Is(err, ErrIsDir) {
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
