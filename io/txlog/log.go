// Package txlog is the commit log of a dataset directory, in the manner of
// Delta Lake's transaction log: what makes a write all-or-nothing.
//
// A write puts its data files in place, at their final names, each named
// part-<write ID>-<block>[-<n>]<ext> so that the write a file belongs to is
// known from its name, and each made visible whole (a temp file renamed
// locally, one PUT or multipart upload on S3). Then it commits by creating
// <dir>/_shoal/manifest-<version>.json, a complete list of the dataset's
// files, with storage's PutIfAbsent: version N+1 exists once, written by
// one writer; a writer that loses the race reads the new latest version
// and tries the next. Shoal's readers read the latest manifest's files
// only, so they see the whole old dataset or the whole new one, whatever
// instant a writer dies at. Files that no manifest names (a dead write's,
// a superseded snapshot's) are garbage that Clean removes.
//
// While a write runs it keeps a marker, _shoal/writes/<write ID>.json,
// naming its process and refreshed by a heartbeat, so that Clean can tell
// the files of a live write from those of a dead one.
package txlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-data/shoal/io/storage"
)

const (
	// LogDir is the log's directory inside a dataset directory. Its
	// leading underscore hides it from readers that skip hidden names.
	LogDir = "_shoal"
	// KeepVersions is how many of the newest manifests Clean keeps: the
	// latest and the one before, which a reader that listed the log just
	// before a commit may still be opening.
	KeepVersions = 2

	manifestPrefix = "manifest-"
	manifestSuffix = ".json"
	// commitAttempts bounds how often a committer retries after losing the
	// race for a version to other writers.
	commitAttempts = 100
)

// manifestPath is where version v of the dataset at dir lives.
func manifestPath(fs storage.FileSystem, dir string, v int64) string {
	return fs.Join(dir, LogDir, fmt.Sprintf("%s%020d%s", manifestPrefix, v, manifestSuffix))
}

// manifestVersion parses a manifest's file name; false for other names.
func manifestVersion(base string) (int64, bool) {
	digits, ok := strings.CutPrefix(base, manifestPrefix)
	if !ok {
		return 0, false
	}
	digits, ok = strings.CutSuffix(digits, manifestSuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	return v, err == nil
}

// baseName is the last element of a local or S3 path.
func baseName(p string) string {
	return p[strings.LastIndexAny(p, `/\`)+1:]
}

// versions lists the manifest versions in the log of dir, oldest first.
func versions(ctx context.Context, fs storage.FileSystem, dir string) ([]int64, error) {
	logDir := fs.Join(dir, LogDir)
	files, err := fs.List(ctx, logDir)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, f := range files {
		if v, ok := manifestVersion(baseName(f.Path)); ok && len(f.Path) == len(logDir)+1+len(baseName(f.Path)) {
			out = append(out, v)
		}
	}
	// List sorts by path, and the names hold zero-padded versions.
	return out, nil
}

// Latest reads the newest manifest of the dataset at dir; nil, and no
// error, when dir has no log.
func Latest(ctx context.Context, fs storage.FileSystem, dir string) (*Manifest, error) {
	for attempt := 0; ; attempt++ {
		vs, err := versions(ctx, fs, dir)
		if err != nil || len(vs) == 0 {
			return nil, err
		}
		m, err := readManifest(ctx, fs, dir, vs[len(vs)-1])
		// A cleanup removes only versions older than the newest two, so
		// one that vanished between the listing and the read was
		// superseded meanwhile: list again.
		if errors.Is(err, storage.ErrNotExist) && attempt < 3 {
			continue
		}
		return m, err
	}
}

// readManifest reads version v of the dataset at dir.
func readManifest(ctx context.Context, fs storage.FileSystem, dir string, v int64) (*Manifest, error) {
	p := manifestPath(fs, dir, v)
	data, err := readFile(ctx, fs, p)
	if err != nil {
		return nil, err
	}
	m, err := decodeManifest(fs.URL(p), data)
	if err != nil {
		return nil, err
	}
	if m.Version != v {
		return nil, fmt.Errorf("%s: says it is version %d", fs.URL(p), m.Version)
	}
	return m, nil
}

// readFile reads a small file whole.
func readFile(ctx context.Context, fs storage.FileSystem, p string) ([]byte, error) {
	f, err := fs.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data := make([]byte, f.Size())
	if _, err := f.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading %s: %w", fs.URL(p), err)
	}
	return data, nil
}

// Commit creates the next version of the dataset at dir: next gets the
// latest manifest (nil for none) and returns the new one, which Commit
// numbers and puts if absent. When another writer created that version
// first, Commit reads the new latest and calls next again, so an Append
// rebases its files onto whatever committed meanwhile. next's error ends
// the commit (an ErrorIfExists write that finds files).
//
// A put whose outcome is unknown (the store failed to answer) is checked
// by reading the version back; if that fails too, the error matches
// ErrOutcomeUnknown: the write may be committed, so its files must stay.
func Commit(ctx context.Context, fs storage.FileSystem, dir string, next func(prev *Manifest) (*Manifest, error)) (*Manifest, error) {
	var lastErr error
	for attempt := range commitAttempts {
		if attempt > 0 {
			// Jittered, growing, small: racing writers spread out.
			wait := time.Duration(rand.Int64N(int64(min(attempt, 20))*int64(5*time.Millisecond)) + 1)
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return nil, fmt.Errorf("commit %s: %w", fs.URL(dir), ctx.Err())
			}
		}
		prev, err := Latest(ctx, fs, dir)
		if err != nil {
			return nil, fmt.Errorf("commit %s: reading the latest version: %w", fs.URL(dir), err)
		}
		m, err := next(prev)
		if err != nil {
			return nil, err
		}
		m.Version = 0
		if prev != nil {
			m.Version = prev.Version + 1
		}
		if m.Time.IsZero() {
			m.Time = time.Now()
		}
		if m.ShoalVersion == "" {
			m.ShoalVersion = shoalVersion()
		}
		data, err := m.encode()
		if err != nil {
			return nil, fmt.Errorf("commit %s: %w", fs.URL(dir), err)
		}
		p := manifestPath(fs, dir, m.Version)
		err = fs.PutIfAbsent(ctx, p, data)
		if err == nil {
			return m, nil
		}
		// Did our put land after all? A retried put finds its own object;
		// a put cut off by an error may have landed too.
		got, rerr := readManifest(ctx, fs, dir, m.Version)
		switch {
		case rerr == nil && got.WriteID == m.WriteID:
			return got, nil
		case rerr == nil:
			lastErr = err // another writer's version: rebase and retry
			continue
		case errors.Is(err, storage.ErrExist) && errors.Is(rerr, storage.ErrNotExist):
			lastErr = err // a conflict (409) whose winner gave up: retry
			continue
		case errors.Is(rerr, storage.ErrNotExist):
			return nil, fmt.Errorf("commit %s: %w", fs.URL(dir), err)
		}
		return nil, &outcomeError{url: fs.URL(p), put: err, check: rerr}
	}
	return nil, fmt.Errorf("commit %s: gave up after %d writers committed first: %w", fs.URL(dir), commitAttempts, lastErr)
}

// ErrOutcomeUnknown is matched by Commit's error when the put of the
// manifest failed and reading it back failed too: the write may or may not
// be committed.
var ErrOutcomeUnknown = errors.New("commit outcome unknown")

type outcomeError struct {
	url        string
	put, check error
}

func (e *outcomeError) Error() string {
	return fmt.Sprintf("commit %s: %v; reading it back to see whether it landed: %v: the write may or may not be committed; "+
		"its files are kept (a later write or shoal clean removes them if it was not)", e.url, e.put, e.check)
}

func (e *outcomeError) Unwrap() []error { return []error{ErrOutcomeUnknown, e.put} }

// Snapshot is what a path inside a logged dataset reads: the committed
// files that the path names.
type Snapshot struct {
	// Root is the dataset's directory (where _shoal/ is).
	Root string
	// Manifest is its latest version.
	Manifest *Manifest
	// Files are the manifest's files that the path names, with full paths
	// and sizes, in the manifest's order.
	Files []storage.FileInfo
	// Rows are the files' row counts (-1: unknown), by index in Files.
	Rows []int64
}

// Open finds the log of the dataset that p (a directory, a file, a glob)
// belongs to and returns its latest snapshot restricted to what p names;
// nil, and no error, when p is in no logged dataset. The log is looked for
// in p's directory, then in its parents as long as the directories climbed
// out of are hive partitions ("key=value"): a dataset's partition directory
// or a glob over its files reads only committed files, at a cost of one
// listing per level.
func Open(ctx context.Context, fs storage.FileSystem, p string) (*Snapshot, error) {
	if !storage.HasGlob(p) {
		m, err := Latest(ctx, fs, p)
		if err != nil {
			return nil, err
		}
		if m != nil {
			return snapshot(fs, p, m, func(string) bool { return true }), nil
		}
	}
	var start, what string
	var match func(full string) bool
	switch {
	case storage.HasGlob(p):
		start, what = storage.GlobRoot(p), "no committed file matches"
		match = func(full string) bool { return storage.MatchGlob(fs, p, full) }
	default:
		info, err := fs.Stat(ctx, p)
		switch {
		case err == nil:
			start, what = parentDir(info.Path), "the file is not in"
			want := fs.Join(info.Path)
			match = func(full string) bool { return full == want }
		case errors.Is(err, storage.ErrNotExist) || errors.Is(err, storage.ErrIsDir):
			// A directory, or nothing: its own log was looked for above.
			if !isPartitionDir(baseName(strings.TrimRight(p, `/\`))) {
				return nil, nil
			}
			start, what = parentDir(p), "no committed file is under it in"
			prefix := fs.Join(p) + separator(fs)
			match = func(full string) bool { return strings.HasPrefix(full, prefix) }
		default:
			return nil, err
		}
	}
	for dir := start; ; dir = parentDir(dir) {
		m, err := Latest(ctx, fs, dir)
		if err != nil {
			return nil, err
		}
		if m != nil {
			s := snapshot(fs, dir, m, match)
			if len(s.Files) == 0 {
				// Files there may be an unfinished or replaced write's.
				return nil, &storage.PathError{Op: "read", URL: fs.URL(p), Err: fmt.Errorf(
					"%w: %s the latest version (%d) of the dataset at %s (files no version names are an unfinished or replaced write's)",
					storage.ErrNoFiles, what, m.Version, fs.URL(dir))}
			}
			return s, nil
		}
		if !isPartitionDir(baseName(dir)) {
			return nil, nil
		}
	}
}

// snapshot lists the files of m under root that match.
func snapshot(fs storage.FileSystem, root string, m *Manifest, match func(full string) bool) *Snapshot {
	s := &Snapshot{Root: root, Manifest: m}
	for _, f := range m.Files {
		full := fs.Join(root, f.Path)
		if match(full) {
			s.Files = append(s.Files, storage.FileInfo{Path: full, Size: f.Bytes})
			s.Rows = append(s.Rows, f.Rows)
		}
	}
	return s
}

// isPartitionDir reports whether a directory name is a hive partition.
func isPartitionDir(name string) bool {
	k, _, ok := strings.Cut(name, "=")
	return ok && k != "" && !strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "_")
}

// parentDir is the directory holding p: "." for a bare name.
func parentDir(p string) string {
	p = strings.TrimRight(p, `/\`)
	i := strings.LastIndexAny(p, `/\`)
	switch {
	case i < 0:
		return "."
	case i == 0:
		return p[:1]
	}
	return p[:i]
}

func separator(fs storage.FileSystem) string {
	return strings.TrimSuffix(fs.Join("a", "b"), "b")[1:]
}
