// Package ci decides what a test does when a prerequisite is missing: a
// skip on a developer's machine, a failure under CI, where a skip would hide
// that the test never ran.
package ci

import (
	"os"
	"testing"
)

// Enabled reports a CI run: the CI environment variable is set (as every
// CI service sets it).
func Enabled() bool { return os.Getenv("CI") != "" }

// Missing ends the test for want of a prerequisite, described by why:
// it fails under CI and skips elsewhere.
func Missing(t testing.TB, why string) {
	t.Helper()
	if Enabled() {
		t.Fatal(why + " (CI is set: scripts/test provides it)")
	}
	t.Skip(why)
}
