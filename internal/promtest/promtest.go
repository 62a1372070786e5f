// Package promtest scrapes a Prometheus endpoint for tests: it fetches the
// text format and parses it with the reference parser (prometheus/common's
// expfmt), so a test checks what a Prometheus server would read.
package promtest

import (
	"fmt"
	"net/http"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape fetches url, with token as a bearer token when set. On 200 it
// returns every counter and gauge sample keyed by its name, followed by
// "{value}" for each of labels the sample has, in the order given:
// shoal_node_up{node-1}. Another status comes back with no samples; a
// body that does not parse is an error.
func Scrape(url, token string, labels ...string) (map[string]float64, int, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return nil, 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, res.StatusCode, nil
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		return nil, res.StatusCode, fmt.Errorf("%s does not parse as the Prometheus text format: %w", url, err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var key strings.Builder
			key.WriteString(name)
			for _, want := range labels {
				for _, l := range m.GetLabel() {
					if l.GetName() == want {
						key.WriteString("{" + l.GetValue() + "}")
					}
				}
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key.String()] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key.String()] = m.GetGauge().GetValue()
			}
		}
	}
	return out, res.StatusCode, nil
}
