package bench

import (
	"context"
	"testing"
	"time"
)

// TestPipelineModesAgree runs the three-stage pipeline in every mode at a
// small size: every mode must see every row, and the three full pipelines
// the same checksum. Timing is the benchmark's business, not the test's.
func TestPipelineModesAgree(t *testing.T) {
	c := PipelineFor(100*time.Millisecond, 16, 2048, 2, CalibrateMap())
	ctx := context.Background()
	var want float64
	for _, mode := range []PipelineMode{Sequential, Streaming, Windowed, ReadOnly, MapOnly, ActorOnly} {
		res, err := RunPipeline(ctx, c, 2, mode)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if res.Rows != int64(c.Blocks*c.Rows) {
			t.Errorf("%s: %d rows, want %d", mode, res.Rows, c.Blocks*c.Rows)
		}
		switch mode {
		case Sequential:
			want = res.Checksum
		case Streaming, Windowed, ActorOnly:
			if res.Checksum != want {
				t.Errorf("%s: checksum %v, sequential gave %v", mode, res.Checksum, want)
			}
		}
		if (mode == Streaming || mode == ActorOnly) && (res.ActorBusy <= 0 || res.ActorBusy > 1.01) {
			t.Errorf("%s: actor busy %.2f, want a fraction", mode, res.ActorBusy)
		}
		t.Logf("%-12s %v busy %.2f", mode, res.Wall.Round(time.Millisecond), res.ActorBusy)
	}
}
