// Package storage reaches files on local disk and in S3 behind one small
// interface, so the readers and writers in io/formats never care where
// bytes live.
//
// Paths are plain strings: an OS path for the local filesystem,
// "bucket/key" for S3. Resolve turns a user's URL ("s3://bucket/prefix",
// "/data/trips", "data/*.csv") into a FileSystem and such a path.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// FileInfo describes one file (an object, on S3).
type FileInfo struct {
	Path    string
	Size    int64
	ModTime time.Time
	// Version identifies the file's content where the store says (an S3
	// ETag); empty otherwise.
	Version string
}

// InfoOpener is a FileSystem that can open a file it has already described
// (by Stat or List) more cheaply than Open: S3 skips a HEAD request.
type InfoOpener interface {
	OpenInfo(ctx context.Context, info FileInfo) (File, error)
}

// OpenInfo opens a file described by Stat or List, through InfoOpener
// where fs has it.
func OpenInfo(ctx context.Context, fs FileSystem, info FileInfo) (File, error) {
	if o, ok := fs.(InfoOpener); ok {
		return o.OpenInfo(ctx, info)
	}
	return fs.Open(ctx, info.Path)
}

// File is an open file for random access: Parquet reads its footer and
// column chunks with ReadAt. A File is safe for concurrent ReadAt calls.
type File interface {
	io.ReaderAt
	io.Closer
	// Size is the file's length in bytes.
	Size() int64
	// Name is the file's URL, for error messages.
	Name() string
}

// Streamer is a File that reads a run of bytes in order faster as one
// stream than as ReadAt calls: on S3, one ranged GET rather than one per
// buffer a reader fills.
type Streamer interface {
	// Stream reads the file from off to its end. expect is how many bytes
	// the caller expects to read: the store may fetch that much ahead.
	// Close releases what the stream holds (an HTTP response).
	Stream(off, expect int64) io.ReadCloser
}

// NewStream reads f in order from off: through f's own Stream when it
// has one, else through ReadAt. See Streamer.
func NewStream(f File, off, expect int64) io.ReadCloser {
	if s, ok := f.(Streamer); ok {
		return s.Stream(off, expect)
	}
	return io.NopCloser(io.NewSectionReader(f, off, max(f.Size()-off, 0)))
}

// Writer writes one new file. The file becomes visible under its path only
// when Close returns nil; Abort discards everything written (on S3 it aborts
// the multipart upload, so no partial object ever exists).
type Writer interface {
	io.Writer
	Close() error
	Abort() error
}

// FileSystem is a store of files. Implementations are safe for concurrent use.
type FileSystem interface {
	// Scheme is "file" or "s3".
	Scheme() string
	// URL renders a path for users: "/tmp/x.csv" or "s3://bucket/x.csv".
	URL(path string) string
	// Open opens a file for reading. ctx bounds every later ReadAt.
	Open(ctx context.Context, path string) (File, error)
	// Create starts writing a new file, replacing any file at path on Close.
	Create(ctx context.Context, path string) (Writer, error)
	// Stat describes a file. A missing file gives an error that matches
	// ErrNotExist with errors.Is.
	Stat(ctx context.Context, path string) (FileInfo, error)
	// List returns every file under dir, recursively, sorted by path.
	// A directory that does not exist gives an empty list, not an error.
	List(ctx context.Context, dir string) ([]FileInfo, error)
	// Rename moves a file (on S3: a server-side copy, then a delete).
	Rename(ctx context.Context, src, dst string) error
	// RemoveAll removes a file or everything under a directory prefix.
	RemoveAll(ctx context.Context, path string) error
	// PutIfAbsent writes data as a new file at path only if none is there,
	// atomically even against other processes: readers see no file or the
	// whole of it. A file already at path is left as it is and gives an
	// error matching ErrExist. Commit logs build on it (one writer wins
	// each version).
	PutIfAbsent(ctx context.Context, path string, data []byte) error
	// Join joins path elements with the store's separator.
	Join(elem ...string) string
}

// ErrNotExist is matched by errors for missing files, directories and buckets.
var ErrNotExist = errors.New("no such file")

// ErrIsDir is matched by Stat's error for a directory (on S3: a bucket, or
// a key prefix of other objects), which Expand then lists.
var ErrIsDir = errors.New("is a directory")

// ErrExist is matched by PutIfAbsent's error when the file is already there.
var ErrExist = errors.New("file already exists")

// PathError names the operation and the file that failed.
type PathError struct {
	Op  string
	URL string
	Err error
}

func (e *PathError) Error() string { return fmt.Sprintf("%s %s: %v", e.Op, e.URL, e.Err) }
func (e *PathError) Unwrap() error { return e.Err }
