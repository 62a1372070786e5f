// Wordcount is the MapReduce word count of "Learning Ray" chapter 2, over
// the Zen of Python (PEP 20, the text `import this` prints), written
// against package core: Shoal's remote functions, futures and actors.
//
//   - Each line of the Zen is a document; the documents are cut into 3
//     partitions.
//   - A map task per partition (FuncMulti, 3 results) splits each document
//     into lowercased whitespace-separated words, punctuation kept
//     (Python's document.lower().split()), and sends each (word, 1) to
//     result number (first letter's code) % 3.
//   - Reduce task j (FuncVariadic) takes result j of every map task, by
//     reference: the map outputs go from store to reduce without passing
//     through main, and sums the counts of its words.
//   - A DataTracker actor counts the documents as main hands them out,
//     as the book's DataTracker counts the items its tasks handled.
//
// It prints "word: count" lines, most frequent first (ties in word
// order), then the tracker's count. The same binary runs on a cluster:
//
//	go run ./examples/wordcount
//	SHOAL_ADDRESS=head:6380 go run ./examples/wordcount
package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	_ "github.com/shoal-data/shoal/cluster" // SHOAL_ADDRESS, and worker processes
	"github.com/shoal-data/shoal/core"
)

//go:embed zen.txt
var zenOfPython string

const numPartitions = 3

// WordCount is one (word, 1) of the map side.
type WordCount struct {
	Word  string
	Count int
}

// applyMap maps a partition of documents to numPartitions lists of
// (word, 1), by the word's first letter.
var applyMap = core.FuncMulti("wordcount.map", func(ctx context.Context, corpus []string) ([][]WordCount, error) {
	results := make([][]WordCount, numPartitions)
	for _, document := range corpus {
		for _, word := range strings.Fields(strings.ToLower(document)) {
			j := int(word[0]) % numPartitions
			results[j] = append(results[j], WordCount{word, 1})
		}
	}
	return results, nil
})

// applyReduce sums the counts of the words in its share of every map
// task's output.
var applyReduce = core.FuncVariadic("wordcount.reduce", func(ctx context.Context, results ...[]WordCount) (map[string]int, error) {
	counts := map[string]int{}
	for _, res := range results {
		for _, wc := range res {
			counts[wc.Word] += wc.Count
		}
	}
	return counts, nil
})

// DataTracker counts what it is told about, in one place.
type DataTracker struct{ counts int }

// Increment counts one more.
func (t *DataTracker) Increment(ctx context.Context) (int, error) {
	t.counts++
	return t.counts, nil
}

// Counts is the count so far.
func (t *DataTracker) Counts(ctx context.Context) (int, error) { return t.counts, nil }

var trackers = core.RegisterActor("wordcount.tracker", func(ctx context.Context, _ struct{}) (*DataTracker, error) {
	return &DataTracker{}, nil
})

func main() {
	core.Init()
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	tracker, err := trackers.New(ctx, struct{}{})
	if err != nil {
		return err
	}
	defer tracker.Stop(ctx)

	documents := strings.Split(strings.TrimRight(zenOfPython, "\n"), "\n")
	chunk := (len(documents) + numPartitions - 1) / numPartitions
	var mapResults [][]core.Ref[[]WordCount]
	for i := 0; i < len(documents); i += chunk {
		partition := documents[i:min(i+chunk, len(documents))]
		for range partition {
			core.Call0(ctx, tracker, (*DataTracker).Increment)
		}
		mapResults = append(mapResults, applyMap.Remote(ctx, numPartitions, core.Value(partition)))
	}

	outputs := make([]core.Ref[map[string]int], numPartitions)
	for j := range outputs {
		share := make([]core.Ref[[]WordCount], len(mapResults))
		for i, m := range mapResults {
			share[i] = m[j]
		}
		outputs[j] = applyReduce.Remote(ctx, core.Args(share)...)
	}
	reduced, err := core.GetAll(ctx, outputs)
	if err != nil {
		return err
	}

	type entry struct {
		word  string
		count int
	}
	var counts []entry
	for _, part := range reduced {
		for w, c := range part {
			counts = append(counts, entry{w, c})
		}
	}
	sort.Slice(counts, func(a, b int) bool {
		if counts[a].count != counts[b].count {
			return counts[a].count > counts[b].count
		}
		return counts[a].word < counts[b].word
	})
	for _, e := range counts {
		fmt.Fprintf(out, "%s: %d\n", e.word, e.count)
	}
	n, err := core.Get(ctx, core.Call0(ctx, tracker, (*DataTracker).Counts))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "documents tracked: %d\n", n)
	return nil
}
