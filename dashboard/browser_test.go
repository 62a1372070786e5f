package dashboard_test

import (
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shoal-data/shoal/internal/ci"
)

// The browser tests drive a real headless Chromium (Debian's chromium,
// which scripts/test installs) with chromedp over the DevTools protocol.

// browser starts a headless Chromium for t, closed when t ends.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := osexec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		ci.Missing(t, "no Chromium to run the dashboard in: apt-get install chromium")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root in containers
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelBrowser()
		cancelAlloc()
	})
	if err := chromedp.Run(ctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}

// signIn opens url, expects the sign-in form, and signs in with token.
func signIn(t *testing.T, ctx context.Context, url, token string) {
	t.Helper()
	var title string
	if err := chromedp.Run(ctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible("#token", chromedp.ByQuery),
		chromedp.Title(&title),
	); err != nil {
		t.Fatalf("the sign-in page: %v", err)
	}
	if !strings.Contains(title, "sign in") {
		t.Errorf("the page without the token is %q, not the sign-in page", title)
	}
	if err := chromedp.Run(ctx,
		chromedp.SendKeys("#token", "not the token", chromedp.ByQuery),
		chromedp.Submit("#token", chromedp.ByQuery),
		chromedp.WaitVisible("#login-error", chromedp.ByQuery),
		chromedp.SetValue("#token", token, chromedp.ByQuery),
		chromedp.Submit("#token", chromedp.ByQuery),
		chromedp.WaitVisible("#jobs-table", chromedp.ByQuery),
	); err != nil {
		t.Fatalf("signing in: %v", err)
	}
}

// attr reads an attribute of the first element matching sel, waiting for
// it to exist.
func attr(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	var v string
	var ok bool
	if err := chromedp.Run(ctx, chromedp.WaitReady(sel, chromedp.ByQuery), chromedp.AttributeValue(sel, name, &v, &ok, chromedp.ByQuery)); err != nil {
		t.Fatalf("%s[%s]: %v", sel, name, err)
	}
	return v
}

func attrInt(t *testing.T, ctx context.Context, sel, name string) int64 {
	t.Helper()
	v := attr(t, ctx, sel, name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("%s[%s] = %q: %v", sel, name, v, err)
	}
	return n
}

// text is the text of the first element matching sel.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	var s string
	if err := chromedp.Run(ctx, chromedp.WaitReady(sel, chromedp.ByQuery), chromedp.Text(sel, &s, chromedp.ByQuery)); err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// count is the number of elements matching sel.
func count(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	var n int
	if err := chromedp.Run(ctx, chromedp.Evaluate(fmt.Sprintf("document.querySelectorAll(%q).length", sel), &n)); err != nil {
		t.Fatalf("counting %s: %v", sel, err)
	}
	return n
}

// waitFor polls until cond holds, up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// screenshot saves the page as name.png under $SHOAL_TEST_ARTIFACTS
// (scripts/test sets it) or the test's temporary directory.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("SHOAL_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else {
		dir = filepath.Join(dir, "dashboard")
	}
	var png []byte
	if err := chromedp.Run(ctx, chromedp.CaptureScreenshot(&png)); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// watchAdvance opens a job's page while its run goes, and waits until the
// page, updating itself, shows the run's first operator with more tasks
// done than it first did; it saves a screenshot as name, then waits for
// the run's end (done).
func watchAdvance(t *testing.T, ctx context.Context, page string, done <-chan error, name string) {
	t.Helper()
	if err := chromedp.Run(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatal(err)
	}
	running := `section.run[data-state="running"] g.operator[data-op-index="0"]`
	first := attrInt(t, ctx, running, "data-tasks-done")
	waitFor(t, 20*time.Second, "the running operator's tasks to advance on the page", func() bool {
		return count(t, ctx, running) == 1 && attrInt(t, ctx, running, "data-tasks-done") > first
	})
	screenshot(t, ctx, name)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
