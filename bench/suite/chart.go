package suite

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var engineColors = map[string]color.Color{
	ShoalEngine: color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	RawEngine:   color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
	"duckdb":    color.RGBA{R: 0xff, G: 0xb0, B: 0x00, A: 0xff},
	"polars":    color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
}

// logSpread is the ratio of the largest to the smallest time above which
// the chart's time axis is logarithmic.
const logSpread = 30

// WriteChart draws the report as grouped bars, one group per workload,
// one bar per engine that ran (median ms; a missing bar is an engine that
// did not run the workload), and saves it as a PNG at path. The time axis
// is logarithmic when the times span more than logSpread×.
func WriteChart(r *Report, path string) error {
	var names []string
	for _, w := range r.Workloads {
		names = append(names, w.Name)
	}
	var engines []string
	lo, hi := math.Inf(1), 0.0
	for _, e := range r.Engines {
		ran := false
		for _, w := range r.Workloads {
			if er := w.Engines[e]; er != nil && len(er.Runs) > 0 {
				ran = true
				v := ms(er.Median())
				if v > 0 {
					lo, hi = min(lo, v), max(hi, v)
				}
			}
		}
		if ran {
			engines = append(engines, e)
		}
	}
	if len(engines) == 0 || hi == 0 {
		return fmt.Errorf("suite: nothing to chart")
	}
	logScale := hi/lo > logSpread
	// On a log axis the bars are drawn in log10 units above a floor at the
	// decade of the smallest time, so that every bar has a height; the
	// ticks are labelled in ms.
	floor := math.Floor(math.Log10(lo))
	height := func(v float64) float64 {
		if v <= 0 {
			return 0
		}
		if logScale {
			return math.Log10(v) - floor
		}
		return v
	}

	p := plot.New()
	p.Title.Text = fmt.Sprintf("shoalbench size %s (%s rows), %d threads: median time per workload", r.Size.Name, commas(r.Size.Rows), r.Threads)
	p.Y.Label.Text = "time (ms)"
	if logScale {
		p.Y.Label.Text = "time (ms, log scale)"
		p.Y.Tick.Marker = plot.TickerFunc(func(min, max float64) []plot.Tick {
			var ticks []plot.Tick
			for k := math.Floor(min); k <= math.Ceil(max); k++ {
				ticks = append(ticks, plot.Tick{Value: k, Label: fmtTick(math.Pow(10, k+floor))})
				for m := 2.0; m < 10; m++ {
					if v := k + math.Log10(m); v <= max {
						ticks = append(ticks, plot.Tick{Value: v})
					}
				}
			}
			return ticks
		})
	}
	// Headroom above the tallest bar for the legend.
	p.Y.Min, p.Y.Max = 0, height(hi)*1.35
	if logScale {
		p.Y.Max = height(hi) + 0.7
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.X.Tick.Label.Rotation = math.Pi / 6
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter

	width := vg.Points(math.Max(8, 60/float64(len(engines))))
	for i, e := range engines {
		vals := make(plotter.Values, len(r.Workloads))
		for j, w := range r.Workloads {
			if er := w.Engines[e]; er != nil && len(er.Runs) > 0 {
				vals[j] = height(ms(er.Median()))
			}
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return err
		}
		bars.LineStyle.Width = 0
		c := engineColors[e]
		if c == nil {
			c = color.Gray{Y: 0x40}
		}
		bars.Color = c
		bars.Offset = vg.Length(float64(i)-float64(len(engines)-1)/2) * width
		p.Add(bars)
		p.Legend.Add(e, bars)
	}
	p.Add(plotter.NewGrid())
	p.NominalX(names...)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	w := vg.Length(math.Max(8, 1.1*float64(len(names)))) * vg.Inch
	return p.Save(w, 5*vg.Inch, path)
}

func fmtTick(v float64) string {
	switch {
	case v >= 1:
		return fmt.Sprintf("%.0f", v)
	case v >= 0.01:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.0e", v)
}

// sortedSizes orders size names S, M, L first, then the others by name.
func sortedSizes(names []string) []string {
	rank := map[string]int{"S": 0, "M": 1, "L": 2}
	slices.SortFunc(names, func(a, b string) int {
		ra, oka := rank[a]
		rb, okb := rank[b]
		switch {
		case oka && okb:
			return ra - rb
		case oka:
			return -1
		case okb:
			return 1
		}
		if a < b {
			return -1
		}
		return 1
	})
	return names
}
