// Command shoal looks at data without writing a program, and runs a
// cluster.
//
//	shoal schema PATH          print the schema
//	shoal head -n 5 PATH       print the first rows
//	shoal count PATH           print the row count
//	shoal convert SRC DST      rewrite data in another format
//	shoal files PATH           print a dataset's committed files
//	shoal clean DIR            remove what crashed or replaced writes left
//	shoal start --head         run a cluster's head
//	shoal start --address H:P  run a node that joins it
//	shoal status               list the cluster's nodes
//	shoal stop                 stop the cluster
//
// PATH is a file, a directory or a glob, local or s3://bucket/prefix. The
// format comes from the file extension, or --format. S3 is reached with
// the AWS default credential chain; AWS_ENDPOINT_URL points it at an
// S3-compatible store.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	// shoal reads and writes s3:// paths (and so do its cluster's workers,
	// which run this binary).
	_ "github.com/shoal-data/shoal/io/storage/s3"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cmd := newRootCommand()
	cmd.SetContext(ctx)
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "shoal:", err)
		stop()
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "shoal",
		Short:         "Shoal: distributed dataset processing in Go",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(schemaCommand(), headCommand(), countCommand(), convertCommand(),
		filesCommand(), cleanCommand(), startCommand(), statusCommand(), stopCommand())
	return root
}
