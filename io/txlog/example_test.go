package txlog_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/io/formats"
	"github.com/shoal-data/shoal/io/storage"
	"github.com/shoal-data/shoal/io/txlog"
)

// Two writes into one directory make two versions of its log. Open gives
// what a reader of the directory sees: the latest version's files only,
// whatever else lies there.
func ExampleOpen() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "txlog-example")
	defer os.RemoveAll(dir)

	_ = dataset.Range(100, dataset.WithParallelism(2)).WriteParquet(ctx, dir, dataset.WriteID("first"))
	_ = dataset.Range(10, dataset.WithParallelism(1)).WriteParquet(ctx, dir, dataset.WriteID("second"), dataset.Mode(formats.Overwrite))
	// A file no manifest lists, as a crashed write would leave it.
	_ = os.WriteFile(filepath.Join(dir, "part-crashed-000000.parquet"), []byte("partial"), 0o644)

	snap, err := txlog.Open(ctx, storage.Local{}, dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("version", snap.Manifest.Version, "by write", snap.Manifest.WriteID, "rows", snap.Manifest.Rows())
	for _, f := range snap.Files {
		fmt.Println(filepath.Base(f.Path))
	}

	// Clean removes what no version needs: here the crashed write's file.
	report, _ := txlog.Clean(ctx, storage.Local{}, dir, txlog.CleanOptions{AssumeDead: true})
	for _, r := range report.Removed {
		if !strings.Contains(r, "/_shoal/") {
			fmt.Println("removed", filepath.Base(r))
		}
	}
	// Output:
	// version 1 by write second rows 10
	// part-second-000000.parquet
	// removed part-crashed-000000.parquet
}
