// Command killwriter writes a dataset for the kill -9 tests of the commit
// protocol (dataset/commit_fault_test.go, which builds and runs it). It
// prints each phase of the write on stdout as it begins, so that the test
// can kill it during the one it aims at:
//
//	phase write      the write is started (files being encoded)
//	phase commit     every file is written; the commit begins
//	phase committed  the commit returned
//
// The dataset is Range(files*rows) in files blocks, one file each.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/io/formats"
	"github.com/shoal-data/shoal/io/storage"
	_ "github.com/shoal-data/shoal/io/storage/s3" // s3:// outputs
	"github.com/shoal-data/shoal/ops"
)

// phased reports a sink's phases on stdout.
type phased struct{ *formats.Sink }

func (p phased) Start(ctx context.Context) error {
	err := p.Sink.Start(ctx)
	fmt.Println("phase write")
	return err
}

func (p phased) Commit(ctx context.Context, results []ops.WriteResult) error {
	fmt.Println("phase commit")
	err := p.Sink.Commit(ctx, results)
	fmt.Println("phase committed")
	return err
}

func main() {
	out := flag.String("out", "", "output directory, local or s3://")
	mode := flag.String("mode", "append", "append or overwrite")
	files := flag.Int("files", 50, "files (blocks) to write")
	rows := flag.Int("rows", 20000, "rows per file")
	attempts := flag.Int("attempts", 0, "S3 attempts per request (0: the default)")
	flag.Parse()

	m := formats.Append
	if *mode == "overwrite" {
		m = formats.Overwrite
	}
	cfg := storage.Config{S3: storage.S3Options{
		Endpoint:        os.Getenv("SHOAL_TEST_S3_ENDPOINT"),
		AccessKeyID:     os.Getenv("SHOAL_TEST_S3_ACCESS_KEY"),
		SecretAccessKey: os.Getenv("SHOAL_TEST_S3_SECRET_KEY"),
		MaxAttempts:     *attempts,
		MaxBackoff:      200 * time.Millisecond,
	}}
	ctx := context.Background()
	rt := exec.NewLocal(exec.WithWorkers(4))
	defer rt.Close()
	sink, err := formats.NewSink(ctx, formats.SinkOptions{Path: *out, Encoder: formats.Parquet(formats.ParquetOptions{}), Storage: cfg, Mode: m})
	if err == nil {
		err = dataset.Range(int64(*files)*int64(*rows), dataset.WithRuntime(rt), dataset.WithParallelism(*files)).Write(ctx, phased{sink})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "killwriter:", err)
		os.Exit(1)
	}
	fmt.Println("done")
}
