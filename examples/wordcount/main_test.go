package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shoal-data/shoal/cluster"
	"github.com/shoal-data/shoal/core"
)

// TestMain lets the test binary be the cluster's worker process.
func TestMain(m *testing.M) {
	core.Init()
	os.Exit(m.Run())
}

// want is the count computed without Shoal, in the order run prints it.
func want() string {
	counts := map[string]int{}
	for _, w := range strings.Fields(strings.ToLower(zenOfPython)) {
		counts[w]++
	}
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	sort.Slice(words, func(a, b int) bool {
		if counts[words[a]] != counts[words[b]] {
			return counts[words[a]] > counts[words[b]]
		}
		return words[a] < words[b]
	})
	var b strings.Builder
	for _, w := range words {
		fmt.Fprintf(&b, "%s: %d\n", w, counts[w])
	}
	fmt.Fprintf(&b, "documents tracked: %d\n", strings.Count(zenOfPython, "\n"))
	return b.String()
}

func TestWordCount(t *testing.T) {
	if !strings.HasPrefix(zenOfPython, "The Zen of Python, by Tim Peters\n") || !strings.Contains(zenOfPython, "Namespaces are one honking great idea -- let's do more of those!") {
		t.Fatal("zen.txt is not the Zen of Python")
	}
	var out strings.Builder
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != want() {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want())
	}
	if !strings.HasPrefix(out.String(), "is: 10\nbetter: 8\nthan: 8\n") {
		t.Fatalf("the top words are not the book's:\n%s", out.String())
	}
}

// TestWordCountOnCluster: the same program on a head and two nodes, its
// tasks and actor in the nodes' worker processes.
func TestWordCountOnCluster(t *testing.T) {
	const token = "wordcount-test"
	h, err := cluster.StartHead(cluster.HeadConfig{Addr: "127.0.0.1:0", Token: token, HeartbeatPeriod: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 2 {
		n, err := cluster.StartNode(ctx, cluster.NodeConfig{Head: h.Addr(), Token: token, WorkDir: t.TempDir(), SpillDir: t.TempDir(),
			Resources: cluster.Resources{CPUs: 2, ObjectStoreMemory: 64 << 20}})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
	}
	rt, err := cluster.NewRuntime(ctx, h.Addr(), token)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	var out strings.Builder
	if err := run(core.WithRuntime(ctx, rt), &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != want() {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want())
	}
	if rt.RemoteTasks() < 6 {
		t.Fatalf("%d tasks ran on the nodes, want the 3 maps and 3 reduces", rt.RemoteTasks())
	}
}
