package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestPortConflictAfterRestart: a program that takes a published port's
// host port while the daemon is down keeps it after the restart. The
// mapping is refused as a conflict: not installed, so the port's traffic
// reaches that program and not the container; logged; shown by inspect.
func TestPortConflictAfterRestart(t *testing.T) {
	d := startDaemon(t)
	d.ok("network", "create", "--subnet", "10.0.11.0/24", "pubnet")
	d.ok("run", "-d", "--name", "web", "--hostname", "webhost", "-p", "8080:80", "--network", "pubnet", "--",
		"busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
	waitListening(t, d, "web", ":80/tcp")
	get := func() string {
		t.Helper()
		out, _ := inNS(t, d.host.Outside, "timeout", "3", "busybox", "wget", "-qO-", "http://"+hostIP+":8080/hostname")
		return strings.TrimSpace(out)
	}
	if got := get(); got != "webhost" {
		t.Fatalf("before the restart: published port answered %q, want webhost", got)
	}
	d.stop()

	// The test's own server takes the host port while patchbay is down.
	var ln net.Listener
	inNetns(t, d.host.Path, func() {
		var err error
		if ln, err = net.Listen("tcp4", "0.0.0.0:8080"); err != nil {
			t.Fatalf("take host port 8080: %v", err)
		}
	})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "test-listener")
	})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Shutdown(context.Background())
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("test server: %v", err)
		}
	})

	d.start()
	if got := get(); got != "test-listener" {
		t.Errorf("after the restart: host port 8080 answered %q, want the test's own listener", got)
	}
	sb, err := d.client().SandboxInspect(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(sb.PortConflicts) != 1 {
		t.Fatalf("inspect port conflicts = %+v, want the one on 8080", sb.PortConflicts)
	}
	c := sb.PortConflicts[0]
	if c.Port != "80/tcp" || c.HostPort != "8080" || !strings.Contains(c.Error, "already in use") {
		t.Errorf("inspect port conflict = %+v, want 80/tcp on host port 8080, already in use", c)
	}
	if b := sb.NetworkSettings.Ports["80/tcp"]; len(b) != 0 {
		t.Errorf("inspect lists the refused binding as in force: %+v", b)
	}
	if out := d.ok("sandbox", "inspect", "web"); !strings.Contains(out, `"PortConflicts"`) {
		t.Errorf("sandbox inspect does not show the conflict:\n%s", out)
	}
	if r := d.pb("container", "inspect", "web"); strings.Contains(r.stdout, "PortConflicts") {
		t.Errorf("Docker's container JSON carries patchbay's PortConflicts:\n%s", r.stdout)
	}

	// The log names the sandbox and the port (read once the daemon has
	// stopped, so its output is complete).
	d.ok("rm", "-f", "web")
	d.stop()
	log := d.log.String()
	if !strings.Contains(log, "published port not installed") || !strings.Contains(log, "sb=web") || !strings.Contains(log, "port=8080:80/tcp") {
		t.Errorf("daemon log lacks the conflict warning naming sb=web and port=8080:80/tcp:\n%s", log)
	}
	if got := get(); got != "test-listener" {
		t.Errorf("after removing the sandbox: host port 8080 answered %q, want the test's own listener", got)
	}
}
