package bench

import (
	"testing"

	"github.com/shoal-data/shoal/dashboard"
	"github.com/shoal-data/shoal/exec"
)

// BenchmarkDashboardOverhead measures what watching a run costs: the task
// overhead job (Blocks one-row tasks) on 2 workers, first unwatched (the
// baseline), then with a dashboard serving the runtime, whose watcher
// takes a snapshot every 200 ms and keeps every task for the timeline.
func BenchmarkDashboardOverhead(b *testing.B) {
	for _, watched := range []bool{false, true} {
		name := "unwatched"
		if watched {
			name = "dashboard"
		}
		b.Run(name, func(b *testing.B) {
			rt := exec.NewLocal(exec.WithWorkers(2))
			defer rt.Close()
			if watched {
				srv, err := dashboard.Start("127.0.0.1:0", dashboard.Options{Runtime: rt})
				if err != nil {
					b.Fatal(err)
				}
				defer srv.Close()
			}
			taskOverhead(b, rt)
		})
	}
}
