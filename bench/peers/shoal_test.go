package peers_test

import (
	"context"
	"testing"
	"time"

	"github.com/shoal-data/shoal/bench/suite"
	"github.com/shoal-data/shoal/exec"
)

// TestShoalOnPeerData runs Shoal's expression workloads (and the two
// rewritten with expressions) over the dataset of TestPeers, whose filter
// boundaries (ship dates, discounts, quantities) are drawn on purpose, and
// checks them against the answers computed in Go from the rows written:
// what the peers are held to, Shoal is too.
func TestShoalOnPeerData(t *testing.T) {
	d := genTestData(rows(t), 1)
	dir := t.TempDir()
	if err := d.write(dir); err != nil {
		t.Fatal(err)
	}
	want := d.answers()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	data := suite.DataIn(dir)
	for _, w := range []string{suite.ScanFilterSum, suite.MapArith, suite.TPCHQ1, suite.TPCHQ6, suite.TopK10, suite.JoinGroupBy, suite.CSVConvert} {
		t.Run(w, func(t *testing.T) {
			got, _, err := suite.RunShoal(ctx, rt, data, w, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			checkAnswer(t, w, got, want[w])
		})
	}
}
