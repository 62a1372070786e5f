package cluster

// Shipping the driver's binary to the nodes.
//
// A task runs on a node in a worker process that runs the driver's own
// executable, so that the task kinds registered in it (exec.RegisterTaskKind)
// are the driver's. The driver uploads the executable once per node, named
// by the hex sha256 of its contents (as grailbio/bigslice does): a second
// driver running the same build finds it there. Uploads go in chunks of
// binaryChunk bytes, each a JSON "binary-put" action, to a temporary file
// of its own (two drivers may upload the same binary at once); the last
// chunk's arrival checks the sha256 and renames the file into place, so a
// half or corrupt upload never becomes runnable.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	// binaryChunk is the data of one binary-put, sent raw after the JSON
	// header line (base64 in JSON was 3 times slower to decode).
	binaryChunk = 8 << 20
	// maxBinaryBytes bounds the binaries a node accepts.
	maxBinaryBytes = 4 << 30
	// uploadIdle is how long an upload may go without a chunk before the
	// node drops it (its driver went away mid-upload).
	uploadIdle = 10 * time.Minute
	// uploadPrefix names the temporary files of uploads in progress.
	uploadPrefix = ".upload-"
)

// binaryHasBody asks whether a node has a binary.
type binaryHasBody struct {
	Hash string `json:"hash"`
}

// binaryReply says whether the binary is in place.
type binaryReply struct {
	Present bool `json:"present"`
}

// binaryPutBody is one chunk of an upload. Upload names the upload (random,
// chosen by the sender), so that concurrent uploads of one binary do not
// mix; Offset is where Data goes, and chunks must come in order; Total is
// the binary's size, the same in every chunk.
//
// On the wire the body is the JSON of the other fields, a newline, then
// Data as it is (encodeBinaryPut, decodeBinaryPut).
type binaryPutBody struct {
	Hash   string `json:"hash"`
	Upload string `json:"upload"`
	Offset int64  `json:"offset"`
	Total  int64  `json:"total"`
	Data   []byte `json:"-"`
}

func encodeBinaryPut(b binaryPutBody) []byte {
	head := encodeBody(b)
	out := make([]byte, 0, len(head)+1+len(b.Data))
	out = append(append(append(out, head...), '\n'), b.Data...)
	return out
}

// decodeBinaryPut splits a binary-put body; the header is decoded as
// strictly as any control message, the data is bounded by binaryChunk.
func decodeBinaryPut(body []byte) (binaryPutBody, error) {
	var b binaryPutBody
	i := bytes.IndexByte(body, '\n')
	if i < 0 {
		return b, status.Errorf(codes.InvalidArgument, "shoal: binary-put: no header line")
	}
	if err := decodeBody(actionBinaryPut, body[:i], &b); err != nil {
		return b, err
	}
	if len(body)-i-1 > binaryChunk {
		return b, status.Errorf(codes.InvalidArgument, "shoal: binary-put: a chunk of %d bytes, the limit is %d", len(body)-i-1, binaryChunk)
	}
	b.Data = body[i+1:]
	return b, nil
}

// validHash reports whether h is a hex sha256 as BinaryHash writes it (it
// becomes a file name: nothing else may pass).
func validHash(h string) bool {
	if len(h) != 2*sha256.Size {
		return false
	}
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// validUploadID: 8 to 64 hex digits.
func validUploadID(id string) bool {
	if len(id) < 8 || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// BinaryHash is the hex sha256 of the file at path: the name a binary
// goes by on the nodes.
func BinaryHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cluster: hashing a binary: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("cluster: hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

var self struct {
	once       sync.Once
	path, hash string
	err        error
}

// SelfBinary is this process's executable and its BinaryHash, computed once
// per process: what a driver ships to the nodes for its tasks.
func SelfBinary() (path, hash string, err error) {
	self.once.Do(func() {
		self.path, self.err = os.Executable()
		if self.err == nil {
			self.hash, self.err = BinaryHash(self.path)
		}
		if self.err != nil {
			self.err = fmt.Errorf("cluster: this program's binary: %w", self.err)
		}
	})
	return self.path, self.hash, self.err
}

// Deadlines of the binary's upload: the question whether the node has it,
// and each chunk (binaryChunk bytes, so at least ~70 KB/s).
const (
	controlCallTimeout = 30 * time.Second
	chunkTimeout       = 2 * time.Minute
)

// EnsureBinary makes sure the node has the binary at path, whose
// BinaryHash is hash: it uploads it unless the node has it already. A
// client remembers what its node has: calling again costs nothing. The
// node refuses an upload whose content does not have the hash.
func (c *ObjectClient) EnsureBinary(ctx context.Context, path, hash string) error {
	if !validHash(hash) {
		return fmt.Errorf("cluster: binary hash %.80q is not a hex sha256", hash)
	}
	if _, ok := c.binaries.Load(hash); ok {
		return nil
	}
	// One upload at a time per client: concurrent callers wait for the first
	// instead of sending the same bytes again.
	select {
	case c.ensure <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("cluster: uploading %s to %s: %w", shortHash(hash), c.addr, ctx.Err())
	}
	defer func() { <-c.ensure }()
	if _, ok := c.binaries.Load(hash); ok {
		return nil
	}
	var reply binaryReply
	hctx, cancel := context.WithTimeout(ctx, controlCallTimeout)
	err := c.call(hctx, actionBinaryHas, binaryHasBody{Hash: hash}, &reply)
	cancel()
	if err != nil {
		return c.errorf(err, "binary-has %s", shortHash(hash))
	}
	if !reply.Present {
		if err := c.uploadBinary(ctx, path, hash); err != nil {
			return err
		}
	}
	c.binaries.Store(hash, true)
	return nil
}

// uploadBinary sends the file at path in chunks.
func (c *ObjectClient) uploadBinary(ctx context.Context, path, hash string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cluster: uploading a binary: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cluster: uploading %s: %w", path, err)
	}
	total := fi.Size()
	if total <= 0 || !fi.Mode().IsRegular() {
		return fmt.Errorf("cluster: uploading %s: not a non-empty regular file", path)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	body := binaryPutBody{Hash: hash, Upload: hex.EncodeToString(id), Total: total}
	buf := make([]byte, binaryChunk)
	for body.Offset < total {
		n, err := io.ReadFull(f, buf[:min(int64(len(buf)), total-body.Offset)])
		if err != nil {
			return fmt.Errorf("cluster: uploading %s: %w (did the file change?)", path, err)
		}
		body.Data = buf[:n]
		var reply binaryReply
		cctx, cancel := context.WithTimeout(ctx, chunkTimeout)
		res, err := c.action(cctx, actionBinaryPut, encodeBinaryPut(body))
		cancel()
		if err == nil && len(res) != 1 {
			err = status.Errorf(codes.Internal, "shoal: %s: %d replies, want 1", actionBinaryPut, len(res))
		}
		if err == nil {
			err = json.Unmarshal(res[0], &reply)
		}
		if err != nil {
			return c.errorf(err, "uploading %s (%s)", path, shortHash(hash))
		}
		if reply.Present {
			return nil // done, or another driver's upload of it finished first
		}
		body.Offset += int64(n)
	}
	return fmt.Errorf("cluster: uploading %s to %s: the node did not confirm the binary after its last byte", path, c.addr)
}

// call runs an action with a JSON body and decodes its one JSON reply into
// out (nil: ignore it). Errors are the call's status, unwrapped.
func (c *ObjectClient) call(ctx context.Context, typ string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		// A request a caller filled (a task's NaN CPUs): its error, no panic.
		return status.Errorf(codes.InvalidArgument, "shoal: %s: %v", typ, err)
	}
	res, err := c.action(ctx, typ, body)
	if err != nil {
		return err
	}
	if len(res) != 1 {
		return status.Errorf(codes.Internal, "shoal: %s: %d replies, want 1", typ, len(res))
	}
	if out == nil {
		return nil
	}
	// A reply comes from a server of the same build: decoded leniently
	// (a task's result may exceed the bound on requests).
	if err := json.Unmarshal(res[0], out); err != nil {
		return status.Errorf(codes.Internal, "shoal: %s: malformed reply: %v", typ, err)
	}
	return nil
}

func shortHash(h string) string { return h[:min(len(h), 8)] }

// binaryStore is a node's binaries: <workdir>/binaries/<hash>, and the
// uploads in progress as temporary files beside them (the same file
// system, for the rename).
type binaryStore struct {
	dir string

	mu      sync.Mutex
	uploads map[string]*upload
	closed  bool

	// Calls served, for tests and logs.
	hasCalls, putCalls atomic.Int64
}

type upload struct {
	id      string
	touched atomic.Int64 // unix nanoseconds of the latest chunk

	mu             sync.Mutex
	hash           string
	total, written int64
	f              *os.File
	sum            hash.Hash
	done           bool // finished or aborted: f is closed
}

// newBinaryStore makes dir and clears the uploads a previous node left there.
func newBinaryStore(dir string) (*binaryStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster: node work dir: %w", err)
	}
	stale, _ := filepath.Glob(filepath.Join(dir, uploadPrefix+"*"))
	for _, p := range stale {
		_ = os.Remove(p)
	}
	return &binaryStore{dir: dir, uploads: map[string]*upload{}}, nil
}

// path is where the binary named hash is, once uploaded.
func (s *binaryStore) path(hash string) string { return filepath.Join(s.dir, hash) }

// has reports whether the binary named hash is in place.
func (s *binaryStore) has(hash string) bool {
	fi, err := os.Stat(s.path(hash))
	return err == nil && fi.Mode().IsRegular()
}

// put takes one chunk of an upload and reports whether the binary is in
// place after it. Errors are statuses; an upload that fails is dropped and
// must start again at offset 0.
func (s *binaryStore) put(b binaryPutBody) (bool, error) {
	s.putCalls.Add(1)
	switch {
	case !validHash(b.Hash):
		return false, status.Errorf(codes.InvalidArgument, "shoal: binary-put: hash %.80q is not a hex sha256", b.Hash)
	case !validUploadID(b.Upload):
		return false, status.Errorf(codes.InvalidArgument, "shoal: binary-put: upload id %.80q is not 8 to 64 hex digits", b.Upload)
	case b.Total <= 0 || b.Total > maxBinaryBytes:
		return false, status.Errorf(codes.InvalidArgument, "shoal: binary-put: a binary of %d bytes (at most %d)", b.Total, int64(maxBinaryBytes))
	}
	if s.has(b.Hash) {
		// Another upload finished it: this one is moot.
		s.drop(b.Upload)
		return true, nil
	}
	now := time.Now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false, status.Error(codes.Unavailable, "shoal: binary-put: the node is stopping")
	}
	stale := s.expired(now)
	u := s.uploads[b.Upload]
	if u == nil && b.Offset == 0 {
		f, err := os.CreateTemp(s.dir, uploadPrefix+b.Upload+"-*")
		if err != nil {
			s.mu.Unlock()
			return false, status.Errorf(codes.Internal, "shoal: binary-put: %v", err)
		}
		u = &upload{id: b.Upload, hash: b.Hash, total: b.Total, f: f, sum: sha256.New()}
		s.uploads[b.Upload] = u
	}
	if u != nil {
		u.touched.Store(now.UnixNano())
	}
	s.mu.Unlock()
	for _, o := range stale {
		o.mu.Lock()
		o.abortLocked()
		o.mu.Unlock()
	}
	if u == nil {
		return false, status.Errorf(codes.FailedPrecondition,
			"shoal: binary-put: chunk at offset %d of upload %s, which is not in progress (expired or failed): start again at offset 0", b.Offset, b.Upload)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	fail := func(code codes.Code, format string, args ...any) (bool, error) {
		u.abortLocked()
		s.forget(u)
		return false, status.Errorf(code, "shoal: binary-put: "+format, args...)
	}
	switch {
	case u.done:
		return false, status.Errorf(codes.FailedPrecondition, "shoal: binary-put: upload %s failed or expired: start again at offset 0", b.Upload)
	case b.Hash != u.hash || b.Total != u.total:
		return fail(codes.InvalidArgument, "upload %s is of %s (%d bytes), this chunk says %s (%d bytes)", b.Upload, shortHash(u.hash), u.total, shortHash(b.Hash), b.Total)
	case b.Offset != u.written:
		return fail(codes.FailedPrecondition, "chunk at offset %d, the upload has %d bytes: chunks must come in order", b.Offset, u.written)
	case u.written+int64(len(b.Data)) > u.total:
		return fail(codes.InvalidArgument, "chunk of %d bytes at offset %d passes the binary's %d bytes", len(b.Data), b.Offset, u.total)
	}
	if _, err := u.f.Write(b.Data); err != nil {
		return fail(codes.Internal, "%v", err)
	}
	u.sum.Write(b.Data)
	u.written += int64(len(b.Data))
	if u.written < u.total {
		return false, nil
	}
	if got := hex.EncodeToString(u.sum.Sum(nil)); got != u.hash {
		return fail(codes.InvalidArgument, "the %d bytes sent have sha256 %s, not %s: refused", u.total, got, u.hash)
	}
	// Durable before it is runnable: a persistent work dir must not keep a
	// truncated binary under a good name.
	err := u.f.Sync()
	if err == nil {
		err = u.f.Chmod(0o755)
	}
	if cerr := u.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(u.f.Name(), s.path(u.hash))
	}
	if err != nil {
		return fail(codes.Internal, "installing %s: %v", shortHash(u.hash), err)
	}
	u.done = true
	s.forget(u)
	return true, nil
}

// expired takes the uploads idle for uploadIdle out of the map; the caller
// aborts them. Called with s.mu held.
func (s *binaryStore) expired(now time.Time) []*upload {
	var out []*upload
	for id, u := range s.uploads {
		if now.Sub(time.Unix(0, u.touched.Load())) > uploadIdle {
			delete(s.uploads, id)
			out = append(out, u)
		}
	}
	return out
}

// forget takes u out of the map if it is still there.
func (s *binaryStore) forget(u *upload) {
	s.mu.Lock()
	if s.uploads[u.id] == u {
		delete(s.uploads, u.id)
	}
	s.mu.Unlock()
}

// drop aborts the upload id, if in progress.
func (s *binaryStore) drop(id string) {
	s.mu.Lock()
	u := s.uploads[id]
	delete(s.uploads, id)
	s.mu.Unlock()
	if u != nil {
		u.mu.Lock()
		u.abortLocked()
		u.mu.Unlock()
	}
}

// abortLocked closes and removes an unfinished upload's file.
func (u *upload) abortLocked() {
	if u.done {
		return
	}
	u.done = true
	_ = u.f.Close()
	_ = os.Remove(u.f.Name())
}

// close aborts the uploads in progress; later chunks are refused.
func (s *binaryStore) close() {
	s.mu.Lock()
	s.closed = true
	ups := s.uploads
	s.uploads = map[string]*upload{}
	s.mu.Unlock()
	for _, u := range ups {
		u.mu.Lock()
		u.abortLocked()
		u.mu.Unlock()
	}
}

// errBinaryMissing is a run-task for a binary the node does not have.
func errBinaryMissing(node, hash string) error {
	return status.Errorf(codes.FailedPrecondition, "shoal: %s does not have binary %s: upload it first (ObjectClient.EnsureBinary)", node, shortHash(hash))
}
