package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/api"
)

// BenchmarkPublishRange reports what publishing a 1000-port range adds to
// starting and removing a sandbox, through the API of a daemon in a
// throwaway namespace, and that no process is started for it.
// Run: go test -run '^$' -bench PublishRange -benchtime 1x ./e2e
func BenchmarkPublishRange(b *testing.B) {
	d := startDaemon(b)
	c := d.client()
	ctx := context.Background()
	if _, err := c.NetworkCreate(ctx, api.NetworkCreateRequest{Name: "pub"}); err != nil {
		b.Fatal(err)
	}
	run := func(name string, ports []string) (create, remove latencies) {
		for i := 0; i < 20; i++ {
			sb := fmt.Sprintf("%s%d", name, i)
			create = append(create, timed(b, func() error {
				_, err := c.SandboxCreate(ctx, api.SandboxCreateRequest{Name: sb, Network: "pub", Ports: ports})
				return err
			}))
			remove = append(remove, timed(b, func() error { return c.SandboxRemove(ctx, sb, true) }))
		}
		return create, remove
	}
	plainC, plainR := run("plain", nil)
	rangeC, rangeR := run("ranged", []string{"20000-20999:7000-7999"})
	plainC.report(b, "start-no-ports")
	rangeC.report(b, "start-1000-ports")
	plainR.report(b, "remove-no-ports")
	rangeR.report(b, "remove-1000-ports")
	b.ReportMetric(ms(rangeC.pct(0.5)-plainC.pct(0.5)), "range-adds-to-start-ms")
	b.ReportMetric(ms(rangeR.pct(0.5)-plainR.pct(0.5)), "range-adds-to-remove-ms")
	// No process per port: the daemon has no children.
	children := strings.TrimSpace(string(must(b, "pgrep", "-P", fmt.Sprint(d.cmd.Process.Pid))))
	b.ReportMetric(float64(len(strings.Fields(children))), "daemon-children")
}
