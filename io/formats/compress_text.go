package formats

import (
	"bufio"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/shoal-data/shoal/io/storage"
)

// Text files (CSV, JSON, text) are often stored compressed: trips.csv.gz,
// events.jsonl.zst. The compression is named by the last extension, as
// DuckDB, Polars and pyarrow name it; the file is decompressed as it is
// read, and read by one task (a compressed stream cannot be entered in
// the middle). klauspost/compress decodes gzip and zstd (faster than the
// standard library's gzip, and the standard library has no zstd); bzip2
// comes from the standard library.

// textCompressions maps a compression extension to its name.
var textCompressions = map[string]string{".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bzip2"}

// textCompression names the compression of the file name ("" for none).
func textCompression(name string) string {
	return textCompressions[strings.ToLower(fileExt(name))]
}

// stripCompression is name without its compression extension.
func stripCompression(name string) string {
	if textCompression(name) == "" {
		return name
	}
	return name[:len(name)-len(fileExt(name))]
}

// decompressed reads r, the bytes of the file name, decompressed; closing
// the result releases the decoder (not r).
func decompressed(name string, r io.Reader) (io.ReadCloser, error) {
	switch textCompression(name) {
	case "gzip":
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("not a gzip file (its name ends in %s): %w", fileExt(name), err)
		}
		return decodeErrors{z, "gzip"}, nil
	case "zstd":
		// One goroutine-free decoder: Shoal's tasks are the parallelism.
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return decodeErrors{zstdCloser{z}, "zstd"}, nil
	case "bzip2":
		return decodeErrors{io.NopCloser(bzip2.NewReader(bufio.NewReaderSize(r, 64<<10))), "bzip2"}, nil
	}
	return io.NopCloser(r), nil
}

// decodeErrors says that a decoder's errors are the compressed data's.
type decodeErrors struct {
	io.ReadCloser
	kind string
}

func (d decodeErrors) Read(p []byte) (int, error) {
	n, err := d.ReadCloser.Read(p)
	var pe *storage.PathError
	if err != nil && err != io.EOF && !errors.As(err, &pe) { // a read's own error stays as it is
		err = fmt.Errorf("the %s data is truncated or corrupt: %w", d.kind, err)
	}
	return n, err
}

type zstdCloser struct{ *zstd.Decoder }

func (z zstdCloser) Close() error { z.Decoder.Close(); return nil }

// closers closes each of its closers, first to last.
type closers []io.Closer

func (cs closers) Close() error {
	var first error
	for _, c := range cs {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// FormatExt is the lower-case extension that names the format of a file,
// past a compression extension: ".csv" for trips.csv.gz.
func FormatExt(name string) string {
	return strings.ToLower(fileExt(stripCompression(strings.TrimRight(name, "/"))))
}

// Writes compress with the same codecs, named by CSVOptions.Compression
// and JSONOptions.Compression.

// writeCompressions maps a write's compression name to its extension.
var writeCompressions = map[string]string{"gzip": ".gz", "zstd": ".zst"}

func checkWriteCompression(name string) error {
	if _, ok := writeCompressions[name]; name != "" && !ok {
		return fmt.Errorf("unknown compression %q (want gzip, zstd or none)", name)
	}
	return nil
}

// compressionExt is the extension a file compressed with name gets.
func compressionExt(name string) string { return writeCompressions[name] }

// encodeCompressed runs encode on w, through a compressor when name
// names one, which it closes (flushing it, not w) once encode succeeded.
func encodeCompressed(w io.Writer, name string, encode func(io.Writer) error) error {
	var cw io.WriteCloser
	switch name {
	case "":
		return encode(w)
	case "gzip":
		cw = gzip.NewWriter(w)
	case "zstd":
		z, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return err
		}
		cw = z
	default:
		return checkWriteCompression(name)
	}
	if err := encode(cw); err != nil {
		cw.Close() // releases the encoder; the write failed anyway
		return err
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("%s: finishing the file: %w", name, err)
	}
	return nil
}
