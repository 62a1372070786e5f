package formats

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/apache/arrow-go/v18/parquet/metadata"
)

// Parquet page checksums. A page header may carry the CRC-32 (IEEE) of the
// page's bytes as stored (after compression, before decoding). arrow-go
// v18.8 neither writes nor checks it, so a flipped bit in a page decodes to
// wrong values without an error. The reader checks it here, underneath
// arrow-go: every read of the file goes through a pqChecksumReader, which
// knows where the column chunks start and checks the pages of each chunk
// that arrow-go reads.
//
// Without BufferedStream (the default) arrow-go reads a whole column chunk
// with one ReadAt, and the pages are checked in that buffer: no extra I/O,
// only a page header parse and a CRC over bytes already in memory. With
// BufferedStream arrow-go reads a chunk in small pieces, so the chunk's
// pages are read once more, page by page, when arrow-go starts on it.
//
// The check only ever adds the error of a mismatch: pages without a CRC
// are not checked, and a page header it cannot parse ends the check of that
// chunk quietly (arrow-go then reports the corruption in its own words).

// ParquetChecksumError is a Parquet page whose CRC-32 does not match its
// bytes: the file is corrupt.
type ParquetChecksumError struct {
	RowGroup int
	Column   string // the leaf column's dotted path
	Page     int    // the page's index in its column chunk, from 0
	PageType string // "data page", "data page v2", "dictionary page", "index page"
	Offset   int64  // the file offset of the page header
	Want     uint32 // the CRC the page header holds
	Got      uint32 // the CRC of the page's bytes
}

func (e *ParquetChecksumError) Error() string {
	return fmt.Sprintf("row group %d, column %s, page %d (%s at offset %d): page checksum mismatch: the header says crc32 %08x, the page's bytes give %08x (the file is corrupt)",
		e.RowGroup, e.Column, e.Page, e.PageType, e.Offset, e.Want, e.Got)
}

// pqChunk is a column chunk as the footer places it.
type pqChunk struct {
	rowGroup int
	column   string
	length   int64
}

// pqChecksumReader is the io.ReaderAt one Parquet read gives arrow-go. It
// checks the page CRCs of each column chunk arrow-go starts to read and
// keeps the first mismatch, which Read reports in place of whatever
// arrow-go makes of the failed read.
type pqChecksumReader struct {
	r io.ReaderAt

	mu      sync.Mutex
	chunks  map[int64]pqChunk // by file offset; nil until track
	checked map[int64]bool
	err     *ParquetChecksumError
}

func newPQChecksumReader(r io.ReaderAt) *pqChecksumReader {
	return &pqChecksumReader{r: r}
}

// track learns where the column chunks of md's row groups rgs lie, as
// arrow-go computes it.
func (c *pqChecksumReader) track(md *metadata.FileMetaData, rgs []int) {
	chunks := map[int64]pqChunk{}
	for _, i := range rgs {
		for j, cc := range md.RowGroups[i].Columns {
			if cc == nil || cc.MetaData == nil || j >= md.Schema.NumColumns() {
				continue
			}
			m := cc.MetaData
			chunks[pqChunkStart(m.DataPageOffset, m.DictionaryPageOffset)] = pqChunk{rowGroup: i, column: md.Schema.Column(j).Path(), length: m.TotalCompressedSize}
		}
	}
	c.mu.Lock()
	c.chunks = chunks
	c.checked = map[int64]bool{}
	c.mu.Unlock()
}

// failed is the first checksum mismatch met, if any.
func (c *pqChecksumReader) failed() *ParquetChecksumError {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *pqChecksumReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	if err != nil && (err != io.EOF || n < len(p)) {
		return n, err
	}
	c.mu.Lock()
	ch, ok := c.chunks[off]
	if ok && c.checked[off] {
		ok = false
	}
	if ok {
		c.checked[off] = true
	}
	c.mu.Unlock()
	if !ok || ch.length <= 0 {
		return n, err
	}
	var src pqPageSource
	if int64(n) >= ch.length {
		src = func(at, size int64, _ []byte) ([]byte, error) { return p[at : at+size], nil }
	} else {
		// BufferedStream: arrow-go reads the chunk piecemeal.
		src = func(at, size int64, buf []byte) ([]byte, error) {
			if int64(cap(buf)) < size {
				buf = make([]byte, size)
			}
			buf = buf[:size]
			if _, err := c.r.ReadAt(buf, off+at); err != nil && err != io.EOF {
				return nil, err
			}
			return buf, nil
		}
	}
	if cerr := pqCheckPages(src, ch, off); cerr != nil {
		c.mu.Lock()
		if c.err == nil {
			c.err = cerr
		}
		c.mu.Unlock()
		return 0, cerr
	}
	return n, err
}

// pqPageSource returns size bytes of a column chunk from offset at (relative
// to the chunk), in buf when it copies.
type pqPageSource func(at, size int64, buf []byte) ([]byte, error)

// pqMaxPageHeader bounds a page header, as arrow-go's reader does.
const pqMaxPageHeader = 16 << 20

// pqCheckPages walks the pages of one column chunk and checks the CRC of
// each page that has one. It returns only a mismatch: anything it cannot
// parse ends the walk.
func pqCheckPages(src pqPageSource, ch pqChunk, chunkOff int64) *ParquetChecksumError {
	var buf []byte
	for pos, page := int64(0), 0; pos < ch.length; page++ {
		window := min(ch.length-pos, 64<<10)
		var hdr pqPageHeader
		var hlen int64
		for {
			b, err := src(pos, window, buf)
			if err != nil {
				return nil
			}
			buf = b[:0:cap(b)]
			if hdr, hlen, err = parsePQPageHeader(b); err == nil {
				break
			}
			if window == ch.length-pos || window >= pqMaxPageHeader {
				return nil
			}
			window = min(ch.length-pos, window*4)
		}
		body := int64(hdr.compressedSize)
		if body < 0 || body > ch.length-pos-hlen {
			return nil
		}
		if hdr.crc != nil {
			b, err := src(pos+hlen, body, buf)
			if err != nil {
				return nil
			}
			buf = b[:0:cap(b)]
			if got := crc32.ChecksumIEEE(b); got != uint32(*hdr.crc) {
				return &ParquetChecksumError{RowGroup: ch.rowGroup, Column: ch.column, Page: page,
					PageType: hdr.typeName(), Offset: chunkOff + pos, Want: uint32(*hdr.crc), Got: got}
			}
		}
		pos += hlen + body
	}
	return nil
}

// pqPageHeader is what the checksum check needs of a page header.
type pqPageHeader struct {
	pageType       int32
	compressedSize int32
	crc            *int32
}

func (h pqPageHeader) typeName() string {
	switch h.pageType {
	case 0:
		return "data page"
	case 1:
		return "index page"
	case 2:
		return "dictionary page"
	case 3:
		return "data page v2"
	}
	return fmt.Sprintf("page of type %d", h.pageType)
}

// pqThriftConf bounds what a corrupt header can make the decoder allocate.
var pqThriftConf = &thrift.TConfiguration{MaxMessageSize: pqMaxPageHeader}

// parsePQPageHeader decodes the page header (Thrift compact protocol) at the
// start of b and returns it with its length. Fields 1 (type), 3
// (compressed_page_size) and 4 (crc) are kept; the rest are skipped.
func parsePQPageHeader(b []byte) (h pqPageHeader, n int64, err error) {
	buf := &thrift.TMemoryBuffer{Buffer: bytes.NewBuffer(b)}
	prot := thrift.NewTCompactProtocolConf(buf, pqThriftConf)
	ctx := context.Background()
	if _, err := prot.ReadStructBegin(ctx); err != nil {
		return h, 0, err
	}
	var haveType, haveSize bool
	for {
		_, typ, id, err := prot.ReadFieldBegin(ctx)
		if err != nil {
			return h, 0, err
		}
		if typ == thrift.STOP {
			break
		}
		switch {
		case id == 1 && typ == thrift.I32:
			h.pageType, err = prot.ReadI32(ctx)
			haveType = true
		case id == 3 && typ == thrift.I32:
			h.compressedSize, err = prot.ReadI32(ctx)
			haveSize = true
		case id == 4 && typ == thrift.I32:
			var v int32
			v, err = prot.ReadI32(ctx)
			h.crc = &v
		default:
			err = prot.Skip(ctx, typ)
		}
		if err != nil {
			return h, 0, err
		}
		if err := prot.ReadFieldEnd(ctx); err != nil {
			return h, 0, err
		}
	}
	if err := prot.ReadStructEnd(ctx); err != nil {
		return h, 0, err
	}
	if !haveType || !haveSize {
		return h, 0, fmt.Errorf("page header without type or size")
	}
	return h, int64(len(b) - buf.Len()), nil
}
