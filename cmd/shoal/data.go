package main

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/io/formats"
	"github.com/shoal-data/shoal/io/storage"
	"github.com/shoal-data/shoal/io/txlog"
)

// readFlags are the flags every reading command takes.
type readFlags struct {
	format      string
	delimiter   string
	noHeader    bool
	invalidUTF8 string
}

func (f *readFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.format, "format", "", "input format: parquet, csv, json, text (default: from the file extension)")
	cmd.Flags().StringVar(&f.delimiter, "delimiter", ",", "CSV field delimiter")
	cmd.Flags().BoolVar(&f.noHeader, "no-header", false, "CSV files have no header line")
	cmd.Flags().StringVar(&f.invalidUTF8, "invalid-utf8", "error", "CSV, JSON and text values that are not UTF-8: error, replace (with U+FFFD) or binary (CSV and text: read the column as binary)")
}

var extFormats = map[string]string{
	".parquet": "parquet", ".pq": "parquet",
	".csv": "csv", ".tsv": "csv",
	".json": "json", ".jsonl": "json", ".ndjson": "json",
	".txt": "text", ".text": "text", ".log": "text",
}

// detectFormat names the format of a path from its extension, or from the
// extension of the first file under it when it is a directory.
func detectFormat(ctx context.Context, p string) (string, error) {
	if f, ok := extFormats[formats.FormatExt(p)]; ok {
		return f, nil
	}
	fs, local, err := storage.Resolve(ctx, p, storage.Config{})
	if err != nil {
		return "", err
	}
	// A dataset Shoal wrote says its format in its log.
	snap, err := txlog.Open(ctx, fs, local)
	if err != nil {
		return "", err
	}
	if snap != nil {
		return snap.Manifest.Format, nil
	}
	files, err := storage.Expand(ctx, fs, []string{local})
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if fmtName, ok := extFormats[formats.FormatExt(f.Path)]; ok {
			return fmtName, nil
		}
	}
	return "", fmt.Errorf("%s: cannot tell the format from the file names; pass --format", p)
}

func (f *readFlags) read(ctx context.Context, p string) (*dataset.Dataset, error) {
	format := f.format
	if format == "" {
		var err error
		if format, err = detectFormat(ctx, p); err != nil {
			return nil, err
		}
	}
	var bad formats.InvalidUTF8
	if err := bad.UnmarshalText([]byte(f.invalidUTF8)); err != nil {
		return nil, fmt.Errorf("--invalid-utf8: %w", err)
	}
	var d *dataset.Dataset
	switch format {
	case "parquet":
		d = dataset.ReadParquet(ctx, p)
	case "csv":
		delim := []rune(f.delimiter)
		if len(delim) != 1 {
			return nil, fmt.Errorf("--delimiter must be one character, not %q", f.delimiter)
		}
		if strings.HasSuffix(strings.ToLower(p), ".tsv") && f.delimiter == "," {
			delim = []rune{'\t'}
		}
		d = dataset.ReadCSV(ctx, p, dataset.CSVOptions(formats.CSVOptions{Delimiter: delim[0], NoHeader: f.noHeader, InvalidUTF8: bad}))
	case "json":
		d = dataset.ReadJSON(ctx, p, dataset.JSONOptions(formats.JSONOptions{InvalidUTF8: bad}))
	case "text":
		d = dataset.ReadText(ctx, p, dataset.TextOptions(formats.TextOptions{InvalidUTF8: bad}))
	default:
		return nil, fmt.Errorf("unknown format %q (parquet, csv, json, text)", format)
	}
	return d, d.Err()
}

func schemaCommand() *cobra.Command {
	var rf readFlags
	cmd := &cobra.Command{
		Use:   "schema PATH",
		Short: "Print the schema of a dataset",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := rf.read(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			s, err := d.Schema(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, f := range s.Fields() {
				null := ""
				if !f.Nullable {
					null = " not null"
				}
				fmt.Fprintf(out, "%s: %s%s\n", f.Name, f.Type, null)
			}
			return nil
		},
	}
	rf.register(cmd)
	return cmd
}

func headCommand() *cobra.Command {
	var rf readFlags
	var n int
	cmd := &cobra.Command{
		Use:   "head [-n N] PATH",
		Short: "Print the first rows of a dataset",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if n < 0 {
				return fmt.Errorf("-n must not be negative")
			}
			d, err := rf.read(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return d.ShowTo(cmd.Context(), cmd.OutOrStdout(), n)
		},
	}
	cmd.Flags().IntVarP(&n, "lines", "n", 10, "number of rows")
	rf.register(cmd)
	return cmd
}

func countCommand() *cobra.Command {
	var rf readFlags
	cmd := &cobra.Command{
		Use:   "count PATH",
		Short: "Print the number of rows",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := rf.read(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			n, err := d.Count(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), n)
			return nil
		},
	}
	rf.register(cmd)
	return cmd
}

func convertCommand() *cobra.Command {
	var rf readFlags
	var to, compression, mode string
	var partitionBy []string
	var files int
	cmd := &cobra.Command{
		Use:   "convert SRC DST",
		Short: "Rewrite a dataset in another format (DST is a directory; its extension or --to names the format, Parquet when it has none)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if to == "" {
				ext := strings.ToLower(path.Ext(strings.TrimRight(args[1], "/")))
				f, ok := extFormats[ext]
				if ext == "" {
					f, ok = "parquet", true
				}
				if !ok {
					return fmt.Errorf("%s: cannot tell the output format from the name; pass --to parquet|csv|json", args[1])
				}
				to = f
			}
			var wmode formats.WriteMode
			switch mode {
			case "error":
				wmode = formats.ErrorIfExists
			case "overwrite":
				wmode = formats.Overwrite
			case "append":
				wmode = formats.Append
			default:
				return fmt.Errorf("--mode must be error, overwrite or append, not %q", mode)
			}
			d, err := rf.read(ctx, args[0])
			if err != nil {
				return err
			}
			if files > 0 {
				d = d.Repartition(files)
			}
			opts := []dataset.WriteOption{dataset.Mode(wmode)}
			if len(partitionBy) > 0 {
				opts = append(opts, dataset.PartitionBy(partitionBy...))
			}
			text := compression // CSV and JSON files are plain unless asked
			if text == "none" {
				text = ""
			}
			switch to {
			case "parquet":
				opts = append(opts, dataset.ParquetOptions(formats.ParquetOptions{Compression: compression}))
				return d.WriteParquet(ctx, args[1], opts...)
			case "csv":
				opts = append(opts, dataset.CSVOptions(formats.CSVOptions{Compression: text}))
				return d.WriteCSV(ctx, args[1], opts...)
			case "json":
				opts = append(opts, dataset.JSONOptions(formats.JSONOptions{Compression: text}))
				return d.WriteJSON(ctx, args[1], opts...)
			}
			return fmt.Errorf("cannot write format %q (parquet, csv, json)", to)
		},
	}
	rf.register(cmd)
	cmd.Flags().StringVar(&to, "to", "", "output format: parquet, csv, json (default: from DST's extension)")
	cmd.Flags().StringVar(&compression, "compression", "", "compression: for Parquet snappy (the default), zstd, gzip, lz4, brotli or none; for CSV and JSON gzip or zstd (plain by default)")
	cmd.Flags().StringVar(&mode, "mode", "error", "if DST holds files: error, overwrite or append")
	cmd.Flags().StringSliceVar(&partitionBy, "partition-by", nil, "write col=value/ directories by these columns")
	cmd.Flags().IntVar(&files, "files", 0, "write this many files (repartition first; 0 keeps the blocks as they are)")
	return cmd
}
