package storage

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
)

// Local is the local filesystem. Its zero value is ready to use.
type Local struct{}

var _ FileSystem = Local{}

func (Local) Scheme() string             { return "file" }
func (Local) URL(path string) string     { return path }
func (Local) Join(elem ...string) string { return filepath.Join(elem...) }

// localErr wraps an os error in a PathError. An os error names its path
// itself: when that is path, only its cause is kept, so that the message
// names the path once.
func localErr(op, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		err = pe.Err
	}
	if errors.Is(err, fs.ErrNotExist) {
		err = localNotExist{err}
	}
	return &PathError{Op: op, URL: path, Err: err}
}

// localNotExist is a missing local path: it matches ErrNotExist (and its
// cause) and reads as its cause.
type localNotExist struct{ error }

func (e localNotExist) Is(target error) bool { return target == ErrNotExist }
func (e localNotExist) Unwrap() error        { return e.error }

type localFile struct {
	*os.File
	size int64
}

func (f *localFile) Size() int64 { return f.size }

func (Local) Open(_ context.Context, path string) (File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, localErr("open", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, localErr("stat", path, err)
	}
	if st.IsDir() {
		f.Close()
		return nil, &PathError{Op: "open", URL: path, Err: errors.New("is a directory")}
	}
	return &localFile{File: f, size: st.Size()}, nil
}

// localWriter writes to a hidden temporary file beside the target and
// renames it into place on Close, so a reader never sees half a file.
type localWriter struct {
	f    *os.File
	path string
	done bool
}

func (Local) Create(_ context.Context, path string) (Writer, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, localErr("create", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, localErr("create", path, err)
	}
	// CreateTemp makes the file owner-only; an output file is read by
	// others as one made with os.Create would be (umask still applies to
	// the directories we make, not to this chmod).
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, localErr("create", path, err)
	}
	return &localWriter{f: f, path: path}, nil
}

func (w *localWriter) Write(p []byte) (int, error) { return w.f.Write(p) }

func (w *localWriter) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	if err := w.f.Close(); err != nil {
		os.Remove(w.f.Name())
		return localErr("write", w.path, err)
	}
	if err := os.Rename(w.f.Name(), w.path); err != nil {
		os.Remove(w.f.Name())
		return localErr("write", w.path, err)
	}
	return nil
}

func (w *localWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	return os.Remove(w.f.Name())
}

func (Local) Stat(_ context.Context, path string) (FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return FileInfo{}, localErr("stat", path, err)
	}
	if st.IsDir() {
		return FileInfo{}, &PathError{Op: "stat", URL: path, Err: ErrIsDir}
	}
	return FileInfo{Path: path, Size: st.Size(), ModTime: st.ModTime()}, nil
}

func (Local) List(_ context.Context, dir string) ([]FileInfo, error) {
	var out []FileInfo
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			// Nothing there, or a file where a directory would be: as on
			// S3, no files under it.
			if (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) && p == dir {
				return fs.SkipAll
			}
			// A directory removed while the walk went on: like a file
			// removed, it is simply not in the listing.
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			// Removed between reading its directory and asking its size
			// (a concurrent writer's temp file, say): not listed.
			return nil
		}
		if err != nil {
			return err
		}
		out = append(out, FileInfo{Path: p, Size: info.Size(), ModTime: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, localErr("list", dir, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func (Local) Rename(_ context.Context, src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return localErr("rename", dst, err)
	}
	if err := os.Rename(src, dst); err != nil {
		return localErr("rename", src, err)
	}
	return nil
}

// PutIfAbsent writes data to a hidden temporary file, syncs it, and links
// it to path: link(2) fails if path exists, and the file it makes visible
// is already complete.
func (Local) PutIfAbsent(_ context.Context, path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return localErr("create", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return localErr("create", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return localErr("write", path, err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return &PathError{Op: "create", URL: path, Err: ErrExist}
		}
		return localErr("create", path, err)
	}
	// The directory entry is what makes the file exist after a crash of
	// the machine; a process crash needs no sync.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

func (Local) RemoveAll(_ context.Context, path string) error {
	if err := os.RemoveAll(path); err != nil {
		return localErr("remove", path, err)
	}
	return nil
}
