package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shoal-data/shoal/io/storage"
	"github.com/shoal-data/shoal/io/txlog"
)

// filesCommand prints the files Shoal reads for a path: for a dataset
// Shoal wrote, its latest version's files, so that other engines can be
// given exactly those (DuckDB: read_parquet([...])) rather than every
// file in the directory.
func filesCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "files PATH",
		Short: "Print the committed files of a dataset, one per line",
		Long: "Print the files Shoal reads for PATH: for a dataset Shoal wrote, the files of its latest\n" +
			"committed version (other files in the directory belong to unfinished, crashed or replaced\n" +
			"writes); for other directories, every file Shoal would read. --json prints a JSON array,\n" +
			"ready for DuckDB's read_parquet([...]).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			fs, p, err := storage.Resolve(ctx, args[0], storage.Config{})
			if err != nil {
				return err
			}
			var files []storage.FileInfo
			snap, err := txlog.Open(ctx, fs, p)
			switch {
			case err != nil:
				return err
			case snap != nil:
				files = snap.Files
			default:
				if files, err = storage.Expand(ctx, fs, []string{p}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "shoal: %s has no commit log (%s/): these are all the files in it\n", args[0], txlog.LogDir)
			}
			urls := make([]string, len(files))
			for i, f := range files {
				urls[i] = fs.URL(f.Path)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(urls)
			}
			for _, u := range urls {
				fmt.Fprintln(out, u)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of the files")
	return cmd
}

// cleanCommand removes what crashed or replaced writes left in a dataset
// directory.
func cleanCommand() *cobra.Command {
	var o txlog.CleanOptions
	cmd := &cobra.Command{
		Use:   "clean DIR",
		Short: "Remove what crashed, failed or replaced writes left in a dataset directory",
		Long: "Remove from DIR what no version of the dataset needs: data files of writes that died or\n" +
			"failed, superseded files, manifests but the newest " + fmt.Sprint(txlog.KeepVersions) + ", temp files, and the\n" +
			"_shoal_staging_* directories of older Shoal versions. A write in flight is left alone: on this\n" +
			"host while its process lives, elsewhere while its heartbeat is younger than --stale-after.\n" +
			"Every write does this for its directory when it starts; this command is for directories\n" +
			"no one writes to any more (--assume-dead then takes every marked write for dead).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			fs, dir, err := storage.Resolve(ctx, args[0], storage.Config{})
			if err != nil {
				return err
			}
			rep, err := txlog.Clean(ctx, fs, dir, o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			verb := "removed"
			if o.DryRun {
				verb = "would remove"
			}
			for _, w := range rep.Live {
				fmt.Fprintf(out, "kept %s: in flight\n", w)
			}
			for _, u := range rep.Removed {
				fmt.Fprintf(out, "%s %s\n", verb, u)
			}
			if err := rep.Err(); err != nil {
				return fmt.Errorf("clean %s: %d removals failed: %w", args[0], len(rep.Errors), err)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "list what would be removed, remove nothing")
	cmd.Flags().BoolVar(&o.AssumeDead, "assume-dead", false, "take every write in flight for dead (nothing may write to DIR now)")
	cmd.Flags().DurationVar(&o.StaleAfter, "stale-after", txlog.DefaultStaleAfter, "a write on another host is dead once its heartbeat is this old")
	return cmd
}
