package formats

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Parquet fuzzing and corruption. The targets fuzz one part of a file and
// keep the rest valid, so that the fuzzer spends its time past the magic
// and length checks: FuzzParquetFooter the footer's Thrift bytes,
// FuzzParquetPages the bytes between the leading magic and the footer (the
// column chunks: page headers and pages). Their bases are the small
// parquet-testing files in testdata/parquet and files written here.

// pqFuzzBase is a valid Parquet file split into its parts.
type pqFuzzBase struct {
	name   string
	data   []byte
	footer int // where the footer's Thrift bytes start
}

func (b pqFuzzBase) pages() []byte  { return b.data[4:b.footer] }
func (b pqFuzzBase) thrift() []byte { return b.data[b.footer : len(b.data)-8] }

var (
	pqFuzzBasesOnce sync.Once
	pqFuzzBasesList []pqFuzzBase
)

// pqFuzzBases lists the base files, the same on every call.
func pqFuzzBases(t testing.TB) []pqFuzzBase {
	pqFuzzBasesOnce.Do(func() {
		var files [][2]string
		paths, _ := filepath.Glob(filepath.Join("testdata", "parquet", "*.parquet"))
		sort.Strings(paths)
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, [2]string{filepath.Base(p), string(b)})
		}
		mem := memory.NewGoAllocator()
		in := pqSampleRecs(t, mem, 40, 25)
		for _, o := range []ParquetOptions{
			{RowGroupRows: 30, Compression: "none", DisableDictionary: true},
			{RowGroupRows: 50, Compression: "snappy"},
		} {
			files = append(files, [2]string{fmt.Sprintf("written-%s.parquet", o.Compression), string(pqEncode(t, o, in))})
		}
		pqRelease(in)
		for _, f := range files {
			data := []byte(f[1])
			n := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
			pqFuzzBasesList = append(pqFuzzBasesList, pqFuzzBase{name: f[0], data: data, footer: len(data) - 8 - n})
		}
	})
	if len(pqFuzzBasesList) < 4 {
		t.Fatalf("only %d Parquet fuzz bases", len(pqFuzzBasesList))
	}
	return pqFuzzBasesList
}

// pqFuzzRead inspects and reads a whole file (and again counting rows
// only) under a checked allocator capped at 256 MiB. A read that succeeds
// must give the rows its footer promises; a failure must name the file and
// not be a panic the reader recovered from anywhere but inside arrow-go.
func pqFuzzRead(t *testing.T, name string, data []byte) (rows int64, err error) {
	checked := pqCheckedAlloc()
	defer checked.AssertSize(t, 0)
	mem := &pqLimitAlloc{mem: checked, limit: 256 << 20}
	p := Parquet(ParquetOptions{})
	f := pqFile(name, data)
	ctx := context.Background()
	meta, err := p.Inspect(ctx, f)
	if err != nil {
		pqFuzzCheckErr(t, name, err)
		return 0, err
	}
	for _, req := range []ReadRequest{{Alloc: mem, BatchRows: 5, Limit: -1}, {Alloc: mem, Columns: []string{}, Limit: -1}} {
		var got int64
		err := p.Read(ctx, f, meta, req, func(r arrow.RecordBatch) error {
			got += r.NumRows()
			for _, c := range r.Columns() {
				if int64(c.Len()) != r.NumRows() {
					t.Errorf("column of %d values in a block of %d rows", c.Len(), r.NumRows())
				}
			}
			r.Release()
			return nil
		})
		if err != nil {
			pqFuzzCheckErr(t, name, err)
			return 0, err
		}
		if got != meta.Rows {
			t.Fatalf("read %d rows (columns %v), the footer says %d", got, req.Columns, meta.Rows)
		}
	}
	return meta.Rows, nil
}

func pqFuzzCheckErr(t *testing.T, name string, err error) {
	t.Helper()
	if !strings.Contains(err.Error(), name) {
		t.Fatalf("error does not name the file: %v", err)
	}
	if strings.Contains(err.Error(), "internal error while reading") {
		t.Fatal(err)
	}
}

// FuzzParquetFooter fuzzes the footer's Thrift bytes (schema, row groups,
// column chunk offsets, statistics) in front of a base file's pages.
func FuzzParquetFooter(f *testing.F) {
	bases := pqFuzzBases(f)
	for i, b := range bases {
		f.Add(uint8(i), b.thrift())
		cut := b.thrift()
		f.Add(uint8(i), cut[:len(cut)/2])
	}
	f.Fuzz(func(t *testing.T, which uint8, thrift []byte) {
		b := bases[int(which)%len(bases)]
		data := make([]byte, 0, b.footer+len(thrift)+8)
		data = append(data, b.data[:b.footer]...)
		data = append(data, thrift...)
		data = binary.LittleEndian.AppendUint32(data, uint32(len(thrift)))
		data = append(data, "PAR1"...)
		_, _ = pqFuzzRead(t, "fuzz-footer-"+b.name, data)
	})
}

// FuzzParquetPages fuzzes the column chunks (page headers, levels, values,
// dictionaries) under a base file's footer; the bytes are cut or padded
// with zeros to their original length so the footer's offsets still point
// into them.
func FuzzParquetPages(f *testing.F) {
	bases := pqFuzzBases(f)
	for i, b := range bases {
		f.Add(uint8(i), b.pages())
		flipped := append([]byte(nil), b.pages()...)
		flipped[len(flipped)/2] ^= 0x40
		f.Add(uint8(i), flipped)
	}
	f.Fuzz(func(t *testing.T, which uint8, pages []byte) {
		b := bases[int(which)%len(bases)]
		data := append([]byte(nil), b.data...)
		region := data[4:b.footer]
		clear(region[copy(region, pages):])
		_, _ = pqFuzzRead(t, "fuzz-pages-"+b.name, data)
	})
}

// TestParquetSeededCorruptions corrupts valid files at seeded places (bits
// flipped, bytes overwritten, the file cut short) and reads each under a
// deadline: every read must end, in an error naming the file or in the
// rows the footer promises; no panic escapes. The outcomes are logged.
func TestParquetSeededCorruptions(t *testing.T) {
	var files []pqFuzzBase
	if dir := filepath.Join(pqTestingDir, "data"); dirExists(dir) {
		for _, name := range pqListParquet(t, dir) {
			if _, bad := pqUnsupported[name]; bad {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if len(b) <= 64<<10 {
				files = append(files, pqFuzzBase{name: name, data: b})
			}
		}
	} else {
		skipWithoutTestdata(t, "parquet-testing files not found at "+dir)
	}
	const cases = 200
	rng := rand.New(rand.NewPCG(13, 200))
	outcomes := map[string]int{}
	for i := range cases {
		base := files[rng.IntN(len(files))]
		data := append([]byte(nil), base.data...)
		var how string
		switch k := rng.IntN(4); k {
		case 0, 1: // bit flips at up to 8 places
			n := 1 + rng.IntN(8)
			for range n {
				data[rng.IntN(len(data))] ^= 1 << rng.IntN(8)
			}
			how = fmt.Sprintf("%d-flips", n)
		case 2: // a run of bytes overwritten
			at, n := rng.IntN(len(data)), 1+rng.IntN(64)
			for j := at; j < min(at+n, len(data)); j++ {
				data[j] = byte(rng.Uint32())
			}
			how = fmt.Sprintf("overwrite-%d-at-%d", n, at)
		default: // cut short
			data = data[:rng.IntN(len(data))]
			how = fmt.Sprintf("cut-at-%d", len(data))
		}
		name := fmt.Sprintf("corrupt-%03d-%s-%s", i, how, base.name)
		// The read runs as a subtest (a panic fails it by name) on a
		// goroutine of its own, so that a hang fails the test here.
		done := make(chan error, 1)
		go func() {
			var err error
			t.Run(name, func(t *testing.T) { _, err = pqFuzzRead(t, name, data) })
			done <- err
		}()
		select {
		case err := <-done:
			var ce *ParquetChecksumError
			switch {
			case err == nil:
				outcomes["read"]++
			case errors.As(err, &ce):
				outcomes["error: page checksum"]++
			case strings.Contains(err.Error(), "panicked"):
				outcomes["error: arrow-go panicked, recovered"]++
			default:
				outcomes["error"]++
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: still reading after 20 s", name)
		}
	}
	t.Logf("%d seeded corruptions of %d files: %v", cases, len(files), outcomes)
}

func dirExists(d string) bool {
	st, err := os.Stat(d)
	return err == nil && st.IsDir()
}
