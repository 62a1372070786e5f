package dataset

import (
	"bytes"
	"os"
	"testing"

	"github.com/shoal-data/shoal/pipeline"
)

func TestProgressWriterDefault(t *testing.T) {
	yes := func() bool { return true }
	no := func() bool { return false }
	var buf, other bytes.Buffer
	cases := []struct {
		name string
		opts []Option
		tty  func() bool
		want any
	}{
		{"no option, not a terminal", nil, no, nil},
		{"no option, terminal", nil, yes, os.Stderr},
		{"WithProgress", []Option{WithProgress(&buf)}, no, &buf},
		{"WithProgress(nil) on a terminal", []Option{WithProgress(nil)}, yes, nil},
		{"exec options", []Option{WithExecOptions(pipeline.Options{Progress: &other})}, yes, &other},
		{"WithProgress wins", []Option{WithExecOptions(pipeline.Options{Progress: &other}), WithProgress(&buf)}, no, &buf},
	}
	for _, c := range cases {
		cfg := &config{}
		for _, o := range c.opts {
			o(cfg)
		}
		got := cfg.progressWriter(c.tty)
		if got == nil && c.want == nil {
			continue
		}
		if any(got) != c.want {
			t.Errorf("%s: progress writer %v, want %v", c.name, got, c.want)
		}
	}
}
