//go:build unix

// Package s3test runs a private S3 server (versitygw) for tests that
// freeze it (SIGSTOP), kill it (SIGKILL) or restart it, which they must
// never do to the server scripts/test shares between all tests.
package s3test

import (
	"bytes"
	"errors"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-data/shoal/internal/ci"
	"github.com/shoal-data/shoal/io/storage"
)

// EnvBinary names the versitygw binary to run; by default it is looked
// up on PATH, then in $GOPATH/bin, where scripts/test installs it.
const EnvBinary = "SHOAL_TEST_VERSITYGW"

const (
	accessKey = "shoal-s3test-access"
	secretKey = "shoal-s3test-secret"
	// startTimeout bounds the wait for a started server to answer.
	startTimeout = 30 * time.Second
)

// Server is a versitygw process serving a temporary directory on a
// loopback port. It is stopped when the test ends.
type Server struct {
	// Endpoint is the server's URL, "http://127.0.0.1:PORT".
	Endpoint string

	t        testing.TB
	bin, dir string
	addr     string
	sidecar  bool // keep metadata in a sidecar directory (no xattrs)
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{} // closed when cmd has been waited for
	log      bytes.Buffer
	logMu    sync.Mutex
}

// Start runs a new server. Without versitygw the test is skipped, or
// fails under CI (CI set), where scripts/test has installed it.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := findBinary()
	if bin == "" {
		ci.Missing(t, "versitygw not found (set "+EnvBinary+", or run scripts/test, which installs it)")
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	for _, d := range []string{"root", "sidecar"} {
		if err := os.Mkdir(filepath.Join(s.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(s.stop)
	var err error
	for try := 0; try < 5; try++ {
		s.addr, err = freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		if err = s.start(); err == nil {
			s.Endpoint = "http://" + s.addr
			return s
		}
	}
	t.Fatalf("s3test: versitygw did not start: %v", err)
	return nil
}

// Options reach the server, with retries that barely back off.
func (s *Server) Options() storage.S3Options {
	return storage.S3Options{
		Endpoint: s.Endpoint, Region: "us-east-1",
		AccessKeyID: accessKey, SecretAccessKey: secretKey,
		MaxBackoff: 50 * time.Millisecond,
	}
}

// Freeze stops the server process (SIGSTOP): its port still accepts
// connections, but nothing answers.
func (s *Server) Freeze() { s.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server (SIGCONT).
func (s *Server) Thaw() { s.signal(syscall.SIGCONT) }

// Kill ends the server with SIGKILL and waits for it: connections reset,
// and new ones are refused until Restart.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-exited
	s.mu.Lock()
	s.cmd = nil
	s.mu.Unlock()
}

// Restart starts the server again on the same port and directory after
// Kill, and waits until it answers.
func (s *Server) Restart() {
	if err := s.start(); err != nil {
		s.t.Errorf("s3test: restarting versitygw on %s: %v", s.addr, err)
	}
}

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Errorf("s3test: %v to a server that is not running", sig)
		return
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Errorf("s3test: %v: %v", sig, err)
	}
}

// start runs versitygw on s.addr and waits until it answers HTTP.
func (s *Server) start() error {
	for {
		args := []string{"--port", s.addr, "--access", accessKey, "--secret", secretKey, "--quiet", "posix"}
		if s.sidecar {
			args = append(args, "--sidecar", filepath.Join(s.dir, "sidecar"))
		}
		cmd := exec.Command(s.bin, append(args, filepath.Join(s.dir, "root"))...)
		s.logMu.Lock()
		s.log.Reset()
		s.logMu.Unlock()
		cmd.Stdout, cmd.Stderr = (*lockedWriter)(s), (*lockedWriter)(s)
		if err := cmd.Start(); err != nil {
			return err
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		s.mu.Lock()
		s.cmd, s.exited = cmd, exited
		s.mu.Unlock()
		err := s.waitReady(exited)
		if err == nil {
			return nil
		}
		s.Kill()
		// versitygw's posix backend keeps metadata in xattrs; where the
		// directory has none it needs a sidecar directory instead.
		if !s.sidecar && bytes.Contains(s.logBytes(), []byte("xattr check failed")) {
			s.sidecar = true
			continue
		}
		return fmt.Errorf("%w; its log: %s", err, s.logBytes())
	}
}

func (s *Server) waitReady(exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("versitygw exited")
		default:
		}
		if resp, err := client.Get("http://" + s.addr + "/"); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("versitygw exited")
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("versitygw did not answer on %s within %v", s.addr, startTimeout)
}

// stop resumes the server if frozen and kills it.
func (s *Server) stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd != nil {
		cmd.Process.Signal(syscall.SIGCONT)
	}
	s.Kill()
}

func (s *Server) logBytes() []byte {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return bytes.Clone(s.log.Bytes())
}

type lockedWriter Server

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.logMu.Lock()
	defer w.logMu.Unlock()
	return w.log.Write(p)
}

// freeAddr is a loopback address with a port nothing listens on now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

func findBinary() string {
	if b := os.Getenv(EnvBinary); b != "" {
		return b
	}
	if b, err := exec.LookPath("versitygw"); err == nil {
		return b
	}
	if gobin := os.Getenv("GOBIN"); gobin != "" && fileExists(filepath.Join(gobin, "versitygw")) {
		return filepath.Join(gobin, "versitygw")
	}
	for _, gopath := range filepath.SplitList(build.Default.GOPATH) {
		if b := filepath.Join(gopath, "bin", "versitygw"); fileExists(b) {
			return b
		}
	}
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
