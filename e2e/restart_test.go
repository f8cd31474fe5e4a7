package e2e

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// until polls the sandbox's inspect template until cond holds, failing
// after a hang guard.
func (d *daemon) until(ref, format string, cond func(string) bool) string {
	d.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out := strings.TrimSpace(d.ok("inspect", "-f", format, ref))
		if cond(out) {
			return out
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("inspect %s %s: still %q", ref, format, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRestartPolicies checks --restart as Docker has it: on-failure
// with a limit, always until stopped by hand, and unless-stopped and
// always kept across a daemon restart.
func TestRestartPolicies(t *testing.T) {
	d := startDaemon(t)
	if r := d.pb("run", "-d", "--rm", "--restart", "always", "--", "true"); r.code == 0 || !strings.Contains(r.stderr, "--restart and --rm") {
		t.Errorf("--restart with --rm: %s", r)
	}
	if r := d.pb("run", "-d", "--restart", "sometimes", "--", "true"); r.code == 0 || !strings.Contains(r.stderr, "invalid restart policy") {
		t.Errorf("bad policy: %s", r)
	}
	if out := d.ok("ps", "-a", "-q"); out != "" {
		t.Errorf("refused runs left sandboxes: %q", out)
	}

	d.ok("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "--", "sh", "-c", "echo run; exit 3")
	d.until("flaky", "{{.RestartCount}} {{.State.Status}}", func(s string) bool { return s == "2 exited" })
	if out := d.ok("logs", "flaky"); out != "run\nrun\nrun\n" {
		t.Errorf("on-failure:2 ran %q, want three runs", out)
	}
	if p := d.ok("inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "flaky"); strings.TrimSpace(p) != "on-failure:2" {
		t.Errorf("restart policy shown as %q", p)
	}

	d.ok("run", "-d", "--name", "loop", "--restart", "always", "--", "sh", "-c", "exit 0")
	d.until("loop", "{{.RestartCount}}", func(s string) bool { n, _ := strconv.Atoi(s); return n >= 2 })
	d.ok("stop", "-t", "1", "loop")
	count := d.ok("inspect", "-f", "{{.RestartCount}}", "loop")
	d.ok("start", "loop") // by hand: runs, and the count starts again
	d.until("loop", "{{.RestartCount}}", func(s string) bool { return s != count || s == "0" })
	d.ok("stop", "-t", "1", "loop")
	stoppedAt, _ := strconv.Atoi(strings.TrimSpace(d.ok("inspect", "-f", "{{.RestartCount}}", "loop")))

	// Across a daemon restart: unless-stopped comes back unless stopped
	// by hand; always comes back even then.
	d.ok("run", "-d", "--name", "keeper", "--restart", "unless-stopped", "--", "busybox", "sleep", "1000")
	d.ok("run", "-d", "--name", "stopped", "--restart", "unless-stopped", "--", "busybox", "sleep", "1000")
	d.ok("stop", "-t", "1", "stopped")
	pid, _ := strconv.Atoi(strings.TrimSpace(d.ok("inspect", "-f", "{{.State.Pid}}", "keeper")))
	d.stop()
	// The process dies while the daemon is down.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.start()
	d.until("keeper", "{{.State.Status}}", func(s string) bool { return s == "running" })
	d.until("loop", "{{.RestartCount}}", func(s string) bool { n, _ := strconv.Atoi(s); return n >= stoppedAt+2 })
	if st := strings.TrimSpace(d.ok("inspect", "-f", "{{.State.Status}}", "stopped")); st != "exited" {
		t.Errorf("unless-stopped, stopped by hand, after a daemon restart: %s", st)
	}
}
