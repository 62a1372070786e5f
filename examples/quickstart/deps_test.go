package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestQuickstartLinksNoCluster: the embedded quickstart links neither
// package cluster nor, through Shoal, gRPC or Arrow Flight: cluster support
// is an import a program adds (cluster.go, behind the shoalcluster tag).
//
// gRPC and Flight still reach the program through arrow-go itself:
// parquet/pqarrow stores and reads the Arrow schema in a Parquet file with
// flight.SerializeSchema and flight.DeserializeSchema. That one way in is
// allowed here; any other (a Shoal package, another library) fails.
func TestQuickstartLinksNoCluster(t *testing.T) {
	deps := goListDeps(t)
	if _, ok := deps["github.com/shoal-data/shoal/cluster"]; ok {
		t.Errorf("the quickstart links github.com/shoal-data/shoal/cluster; it must only with -tags shoalcluster")
	}
	heavy := func(pkg string) bool {
		return pkg == "google.golang.org/grpc" || strings.HasPrefix(pkg, "google.golang.org/grpc/") ||
			pkg == "github.com/apache/arrow-go/v18/arrow/flight" || strings.HasPrefix(pkg, "github.com/apache/arrow-go/v18/arrow/flight/")
	}
	allowed := []string{"github.com/apache/arrow-go/v18/parquet/pqarrow"}
	for pkg, imports := range deps {
		if heavy(pkg) || slices.Contains(allowed, pkg) {
			continue
		}
		for _, imp := range imports {
			if heavy(imp) {
				t.Errorf("%s imports %s: the embedded quickstart must not link gRPC or Arrow Flight through it", pkg, imp)
			}
		}
	}

	// With the tag, cluster support is in.
	tagged := goListDeps(t, "-tags", "shoalcluster")
	if _, ok := tagged["github.com/shoal-data/shoal/cluster"]; !ok {
		t.Errorf("built with -tags shoalcluster, the quickstart does not link package cluster")
	}
}

// goListDeps lists the packages the quickstart links, each with its
// imports.
func goListDeps(t *testing.T, flags ...string) map[string][]string {
	t.Helper()
	args := append([]string{"list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}"}, flags...)
	out, err := exec.Command("go", append(args, ".")...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		deps[f[0]] = f[1:]
	}
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed %d packages:\n%s", len(deps), out)
	}
	return deps
}
