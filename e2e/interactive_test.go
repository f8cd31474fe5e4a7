package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/creack/pty"
)

// TestInteractiveRun is seeds 000 and 001 typed at a terminal: a shell
// in a sandbox without networking, on a real terminal.
func TestInteractiveRun(t *testing.T) {
	d := startDaemon(t)
	s := d.screen(t, "run", "-it", "--rm", "--network", "none", "--", "busybox", "sh")
	s.expect("/ # ")
	s.typeKeys("ifconfig\r")
	out := s.expect("/ # ")
	if !strings.Contains(out, "127.0.0.1") || strings.Contains(out, "eth0") {
		t.Errorf("ifconfig in a --network none sandbox:\n%s", out)
	}
	s.typeKeys("tty; [ $$ = $(cut -d' ' -f6 /proc/$$/stat) ] && echo session-leader\r")
	if out := s.expect("/ # "); !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "session-leader") {
		t.Errorf("the shell's terminal:\n%s", out)
	}
	s.typeKeys("stty size\r")
	if out := s.expect("/ # "); !strings.Contains(out, "24 80") {
		t.Errorf("window size:\n%s", out)
	}
	// The window follows the local one (SIGWINCH).
	if err := pty.Setsize(s.ptm, &pty.Winsize{Rows: 30, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	// The resize travels CLI -> daemon -> terminal; ask until it landed.
	for i := 0; ; i++ {
		s.typeKeys(fmt.Sprintf("stty size; echo size-%d-$((0+1))\r", i))
		if out := s.expect(fmt.Sprintf("size-%d-1", i)); strings.Contains(out, "30 100") {
			break
		}
		if i == 200 {
			t.Fatalf("the window size never followed the local one:\n%s", s.text())
		}
	}
	s.expect("/ # ")
	// ^Z stops the foreground job; the shell's job control takes it back.
	// The marker comes from the job itself, so the job is in the
	// foreground when it shows.
	s.typeKeys("sh -c 'echo nap-$((4*4)); exec sleep 1000'\r")
	s.expect("nap-16")
	s.typeKeys("\x1a")
	s.expect("Stopped")
	s.expect("/ # ")
	s.typeKeys("kill -9 %1; echo killed-$((5*5))\r")
	s.expect("killed-25")
	s.expect("/ # ")
	// ^C interrupts the foreground command, not the shell.
	s.typeKeys("sh -c 'echo sleep-$((2*3)); exec sleep 1000'; echo after-$((3+4))\r")
	s.expect("sleep-6") // the job runs in the foreground: ^C is a signal now
	s.typeKeys("\x03")
	s.expect("/ # ")
	s.typeKeys("echo still-here\r")
	s.expect("still-here")
	s.expect("/ # ")
	s.typeKeys("exit 3\r")
	if code := s.wait(); code != 3 {
		t.Errorf("exit code = %d, want 3; screen:\n%s", code, s.text())
	}
	if strings.Contains(s.text(), "after-7") {
		t.Errorf("^C did not interrupt sleep:\n%s", s.text())
	}
	if out := d.ok("ps", "-a", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("--rm left sandboxes: %q", out)
	}
	// ^D ends the shell with status 0.
	s = d.screen(t, "run", "-it", "--rm", "--", "busybox", "sh")
	s.expect("/ # ")
	s.typeKeys("\x04")
	if code := s.wait(); code != 0 {
		t.Errorf("^D: exit code %d; screen:\n%s", code, s.text())
	}
}

// TestInteractiveExec is seed 003 typed at a terminal: a shell in a
// running sandbox, its interfaces and routes; and exec -i with pipes.
func TestInteractiveExec(t *testing.T) {
	d := startDaemon(t)
	d.ok("network", "create", "--subnet", "10.0.9.0/24", "execnet")
	d.ok("run", "-d", "--name", "nginx-1", "--network", "execnet", "--", "busybox", "httpd", "-f", "-p", "80")
	s := d.screen(t, "exec", "-it", "nginx-1", "/bin/bash")
	s.expect("# ")
	s.typeKeys("ifconfig; route -n; echo done-$((1+2))\r")
	out := s.expect("done-3")
	if !strings.Contains(out, "eth0") || !strings.Contains(out, "10.0.9.") || !strings.Contains(out, "0.0.0.0         10.0.9.1") {
		t.Errorf("ifconfig and route in the sandbox:\n%s", out)
	}
	s.typeKeys("tty; echo done-$((2+2))\r")
	if out := s.expect("done-4"); !strings.Contains(out, "/dev/pts/") {
		t.Errorf("tty:\n%s", out)
	}
	s.typeKeys("exit 5\r")
	if code := s.wait(); code != 5 {
		t.Errorf("exec -it exit code = %d, want 5", code)
	}
	if r := d.pbIn("ls\n", "exec", "-it", "nginx-1", "sh"); r.code == 0 || !strings.Contains(r.stderr, "not a TTY") {
		t.Errorf("exec -it from a pipe: %s", r)
	}
	// -i without -t: a pipe, closed at EOF.
	r := d.pbIn("one\ntwo\n", "exec", "-i", "nginx-1", "sh", "-c", "wc -l; test -t 0 || echo not-a-tty")
	if r.code != 0 || !strings.Contains(r.stdout, "2") || !strings.Contains(r.stdout, "not-a-tty") {
		t.Errorf("exec -i: %s", r)
	}
}

// TestStartStopRestart checks that a stopped sandbox starts again as
// itself: same ID, name, network and address.
func TestStartStopRestart(t *testing.T) {
	d := startDaemon(t)
	d.ok("network", "create", "--subnet", "10.0.8.0/24", "lifenet")
	d.ok("run", "-d", "--name", "web", "--network", "lifenet", "--", "busybox", "httpd", "-f", "-p", "80")
	before := d.ok("inspect", "-f", "{{.ID}} {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "web")
	pid := d.ok("inspect", "-f", "{{.State.Pid}}", "web")
	d.ok("stop", "-t", "1", "web")
	if st := d.ok("inspect", "-f", "{{.State.Status}}", "web"); strings.TrimSpace(st) != "exited" {
		t.Fatalf("after stop: %s", st)
	}
	d.ok("start", "web")
	if st := d.ok("inspect", "-f", "{{.State.Status}}", "web"); strings.TrimSpace(st) != "running" {
		t.Fatalf("after start: %s", st)
	}
	if after := d.ok("inspect", "-f", "{{.ID}} {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "web"); after != before {
		t.Errorf("start changed the sandbox: %q, was %q", after, before)
	}
	d.ok("restart", "-t", "1", "web")
	if after := d.ok("inspect", "-f", "{{.ID}} {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "web"); after != before {
		t.Errorf("restart changed the sandbox: %q, was %q", after, before)
	}
	if p := d.ok("inspect", "-f", "{{.State.Pid}}", "web"); p == pid {
		t.Errorf("restart kept pid %s", p)
	}
	// Starting a running sandbox changes nothing.
	d.ok("start", "web")
	// The address answers after the restarts.
	r := d.pb("run", "--rm", "--network", "lifenet", "--", "busybox", "wget", "-q", "-O", "-", "http://web/")
	if strings.Contains(r.stderr, "bad address") || strings.Contains(r.stderr, "refused") {
		t.Errorf("web after restart: %s", r)
	}
}

// TestAttachDetach attaches to a shell started with -itd, detaches
// with ctrl-p ctrl-q and with --detach-keys, and sees its exit code.
func TestAttachDetach(t *testing.T) {
	d := startDaemon(t)
	d.ok("run", "-itd", "--name", "sh1", "--", "busybox", "sh")
	s := d.screen(t, "attach", "sh1")
	s.typeKeys("echo hello-$((6*7))\r")
	s.expect("hello-42")
	s.typeKeys("\x10\x11")
	if code := s.wait(); code != 0 {
		t.Errorf("detach: exit code %d; screen:\n%s", code, s.text())
	}
	if st := d.ok("inspect", "-f", "{{.State.Status}}", "sh1"); strings.TrimSpace(st) != "running" {
		t.Fatalf("after detach: %s", st)
	}
	s = d.screen(t, "attach", "--detach-keys", "ctrl-a,x", "sh1")
	s.typeKeys("echo again-$((1+1))\r")
	s.expect("again-2")
	s.typeKeys("\x01x")
	if code := s.wait(); code != 0 {
		t.Errorf("detach with ctrl-a,x: exit code %d", code)
	}
	s = d.screen(t, "attach", "sh1")
	s.typeKeys("exit 4\r")
	if code := s.wait(); code != 4 {
		t.Errorf("attach: exit code %d, want 4; screen:\n%s", code, s.text())
	}
	// Without a terminal, attach shows the output and ^C reaches the
	// process (Docker's --sig-proxy).
	d.ok("run", "-d", "--name", "ticker", "--", "sh", "-c", `trap "echo got-int; exit 0" INT; while :; do echo tick; sleep 0.2; done`)
	s = d.screen(t, "attach", "ticker")
	s.expect("tick")
	s.typeKeys("\x03")
	s.expect("got-int")
	if code := s.wait(); code != 0 {
		t.Errorf("attach to ticker: exit code %d; screen:\n%s", code, s.text())
	}
	// Its output was logged meanwhile.
	if out := d.ok("logs", "sh1"); !strings.Contains(out, "hello-42") {
		t.Errorf("logs of a -t sandbox: %q", out)
	}
}

// TestStartAttached checks start -a and start -ai: the output from its
// first byte (the shell's first prompt) and the exit code.
func TestStartAttached(t *testing.T) {
	d := startDaemon(t)
	d.ok("run", "-d", "--name", "once", "--", "sh", "-c", "echo said-$((2+3)); exit 3")
	d.ok("wait", "once")
	r := d.pb("start", "-a", "once")
	if r.code != 3 || r.stdout != "said-5\n" {
		t.Errorf("start -a: %s", r)
	}
	if r := d.pb("attach", "once"); r.code == 0 || !strings.Contains(r.stderr, "start it first") {
		t.Errorf("attach to a stopped sandbox: %s", r)
	}
	d.ok("run", "-itd", "--name", "sh3", "--", "busybox", "sh")
	d.ok("stop", "-t", "1", "sh3")
	s := d.screen(t, "start", "-ai", "sh3")
	s.expect("/ # ")
	s.typeKeys("exit 6\r")
	if code := s.wait(); code != 6 {
		t.Errorf("start -ai: exit code %d; screen:\n%s", code, s.text())
	}
}

// TestTerminalSurvivesDaemonRestart: a shell started with -itd keeps
// its terminal when the daemon dies (no hangup), and the restarted
// daemon attaches to it again.
func TestTerminalSurvivesDaemonRestart(t *testing.T) {
	d := startDaemon(t)
	d.ok("run", "-itd", "--name", "sh5", "--", "busybox", "sh")
	pid := d.ok("inspect", "-f", "{{.State.Pid}}", "sh5")
	d.kill9()
	d.start()
	if got := d.ok("inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "sh5"); got != "running "+pid {
		t.Fatalf("after the daemon restart: %q, want running %s", got, pid)
	}
	s := d.screen(t, "attach", "sh5")
	s.typeKeys("echo back-$((1+1))\r")
	s.expect("back-2")
	s.typeKeys("exit 8\r")
	// A process re-adopted after a restart is not the new daemon's
	// child: its exit status cannot be collected (recorded as -1).
	s.wait()
	if st := d.ok("inspect", "-f", "{{.State.Status}}", "sh5"); strings.TrimSpace(st) != "exited" {
		t.Errorf("after exit: %s", st)
	}
}
