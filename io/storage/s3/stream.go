package s3

import (
	"fmt"
	"io"
	"os"

	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shoal-data/shoal/io/storage"
)

// A CSV or JSON reader going through a file in order would otherwise read
// it with ReadAt one buffer at a time: one GET per MiB, each a round trip
// during which the parser waits. A stream is one GET per run of bytes
// instead, its body read as the parser asks; while the parser works the
// server keeps sending into the socket's buffers, so reading and parsing
// overlap with no goroutine of Shoal's.
const (
	// streamMinChunk is the least a stream's GET asks for; later GETs of
	// one stream double up to streamMaxChunk, for a reader that goes on
	// past what it expected.
	streamMinChunk = 1 << 20
	streamMaxChunk = 64 << 20
	// streamDrain is the most of a GET's body Close reads to the end, so
	// that the connection is reused rather than closed (a reader of a
	// range stops a little before the range it asked for ends).
	streamDrain = 256 << 10
)

// Stream implements storage.Streamer.
func (f *s3File) Stream(off, expect int64) io.ReadCloser {
	return &s3Stream{f: f, pos: off, next: max(expect, streamMinChunk)}
}

// s3Stream reads an object from pos on through ranged GETs: the first
// asks for the bytes the reader expects, each later one for twice the
// last. A body cut short is resumed where it stopped, as get does.
type s3Stream struct {
	f       *s3File
	pos     int64 // offset of the next byte Read returns
	end     int64 // end of the current GET's range
	next    int64 // bytes the next GET asks for
	body    io.ReadCloser
	attempt int // failed GETs since the last byte read
	err     error
}

func (s *s3Stream) Read(p []byte) (int, error) {
	for s.err == nil {
		if s.pos >= s.f.size {
			return 0, io.EOF
		}
		if len(p) == 0 {
			return 0, nil
		}
		if s.body == nil {
			if err := s.open(); err != nil {
				s.err = err
				break
			}
		}
		n, err := s.body.Read(p)
		s.pos += int64(n)
		if n > 0 {
			s.attempt = 0
		}
		switch {
		case err == nil:
			return n, nil
		case err == io.EOF && s.pos >= s.end:
			s.closeBody() // this GET is done; the next Read sends another
		default:
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			s.closeBody()
			s.attempt++
			if s.f.ctx.Err() != nil {
				s.err = &storage.PathError{Op: "read", URL: s.f.Name(), Err: fmt.Errorf("reading bytes from %d: %w", s.pos, s.f.ctx.Err())}
			} else if s.attempt >= s.f.s.attempts || s.f.s.backoff(s.f.ctx, s.attempt, err) != nil {
				s.err = &storage.PathError{Op: "read", URL: s.f.Name(), Err: fmt.Errorf(
					"gave up after %s reading bytes from %d: %w", attempts(s.attempt), s.pos, err)}
			}
		}
		if n > 0 {
			return n, nil
		}
	}
	return 0, s.err
}

// open sends the GET for the bytes from pos on.
func (s *s3Stream) open() error {
	s.f.mu.Lock()
	closed := s.f.closed
	s.f.mu.Unlock()
	if closed {
		return &storage.PathError{Op: "read", URL: s.f.Name(), Err: os.ErrClosed}
	}
	s.end = min(s.pos+s.next, s.f.size)
	s.next = min(2*s.next, streamMaxChunk)
	rng := fmt.Sprintf("bytes=%d-%d", s.pos, s.end-1)
	in := &s3api.GetObjectInput{Bucket: &s.f.bucket, Key: &s.f.key, Range: &rng}
	if s.f.etag != "" {
		in.IfMatch = &s.f.etag
	}
	s.f.gets.Add(1)
	out, err := s.f.s.client.GetObject(s.f.ctx, in)
	if err != nil {
		return s.f.s.pathErr("read", s.f.path, s.f.bucket, err)
	}
	s.body = out.Body
	return nil
}

// closeBody ends the current GET, reading what little is left of its
// body so that its connection serves the next request.
func (s *s3Stream) closeBody() {
	if s.body == nil {
		return
	}
	if rest := s.end - s.pos; rest > 0 && rest <= streamDrain {
		_, _ = io.Copy(io.Discard, io.LimitReader(s.body, rest))
	}
	s.body.Close()
	s.body = nil
}

// Close ends the stream; later Reads fail.
func (s *s3Stream) Close() error {
	s.closeBody()
	if s.err == nil {
		s.err = &storage.PathError{Op: "read", URL: s.f.Name(), Err: os.ErrClosed}
	}
	return nil
}
