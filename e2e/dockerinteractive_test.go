package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

// TestDockerInteractive drives patchbay sandboxes with the real docker
// CLI as seed 003 does: exec -it at a terminal, exec with pipes, the
// lifecycle verbs, logs -f and attach with its detach keys.
func TestDockerInteractive(t *testing.T) {
	for _, bin := range dockerCLIs(t) {
		t.Run(dockerVersion(t, bin), func(t *testing.T) { testDockerInteractive(t, bin) })
	}
}

func testDockerInteractive(t *testing.T, bin string) {
	d := startDaemon(t)
	c := newDockerCLI(t, d, bin)
	c.ok("network", "create", "--subnet", "10.0.11.0/24", "seednet")
	d.ok("run", "-d", "--name", "nginx-1", "--network", "seednet", "--", "busybox", "httpd", "-f", "-p", "80")
	addr := c.ok("inspect", "-f", "{{.NetworkSettings.Networks.seednet.IPAddress}}", "nginx-1")

	s := c.screen("exec", "-it", "nginx-1", "/bin/bash")
	s.expect("# ")
	s.typeKeys("ifconfig; route; tty; echo done-$((1+2))\r")
	out := s.expect("done-3")
	for _, want := range []string{"eth0", strings.TrimSpace(addr), "default", "/dev/pts/"} {
		if !strings.Contains(out, want) {
			t.Errorf("docker exec -it: %q missing from:\n%s", want, out)
		}
	}
	s.typeKeys("exit 7\r")
	if code := s.wait(); code != 7 {
		t.Errorf("docker exec -it exit code = %d, want 7; screen:\n%s", code, s.text())
	}

	// Without a terminal: Docker's multiplexed stream, both ways.
	r := c.run("exec", "nginx-1", "sh", "-c", "echo out; echo err >&2; exit 3")
	if r.code != 3 || r.stdout != "out\n" || r.stderr != "err\n" {
		t.Errorf("docker exec: %s", r)
	}
	cmd := exec.Command(bin, "exec", "-i", "nginx-1", "wc", "-l")
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader("a\nb\nc\n")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil || strings.TrimSpace(stdout.String()) != "3" {
		t.Errorf("docker exec -i with a pipe: %q, %v", stdout.String(), err)
	}

	// Lifecycle: the sandbox keeps its address.
	c.ok("stop", "-t", "1", "nginx-1")
	if st := c.ok("inspect", "-f", "{{.State.Status}}", "nginx-1"); strings.TrimSpace(st) != "exited" {
		t.Errorf("after docker stop: %s", st)
	}
	c.ok("start", "nginx-1")
	c.ok("restart", "-t", "1", "nginx-1")
	if got := c.ok("inspect", "-f", "{{.NetworkSettings.Networks.seednet.IPAddress}}", "nginx-1"); got != addr {
		t.Errorf("address after start and restart: %q, was %q", got, addr)
	}
	c.ok("kill", "nginx-1")
	if code := strings.TrimSpace(c.ok("wait", "nginx-1")); code != "137" {
		t.Errorf("docker wait after kill: %q", code)
	}
	c.ok("rm", "nginx-1")
	c.fails("No such container", "container", "inspect", "nginx-1")

	// logs -f follows until the process ends.
	d.ok("run", "-d", "--name", "talker", "--", "sh", "-c", "echo one; read x </dev/null; echo two")
	if out := c.ok("logs", "-f", "talker"); out != "one\ntwo\n" {
		t.Errorf("docker logs -f: %q", out)
	}
	if out := c.ok("logs", "--tail", "1", "talker"); out != "two\n" {
		t.Errorf("docker logs --tail 1: %q", out)
	}

	// start -a attaches first: the output from its first byte.
	r = c.run("start", "-a", "talker")
	if r.code != 0 || r.stdout != "one\ntwo\n" {
		t.Errorf("docker start -a: %s", r)
	}

	// attach to a shell started with -itd; ctrl-p ctrl-q detaches.
	d.ok("run", "-itd", "--name", "sh2", "--", "busybox", "sh")
	s = c.screen("attach", "sh2")
	s.typeKeys("echo hi-$((5+5))\r")
	s.expect("hi-10")
	s.typeKeys("\x10\x11")
	s.wait()
	if st := c.ok("inspect", "-f", "{{.State.Status}}", "sh2"); strings.TrimSpace(st) != "running" {
		t.Errorf("after detaching: %s", st)
	}
	s = c.screen("attach", "sh2")
	s.typeKeys("exit 2\r")
	if code := s.wait(); code != 2 {
		t.Errorf("docker attach exit code = %d, want 2; screen:\n%s", code, s.text())
	}
	s = c.screen("start", "-ai", "sh2")
	s.expect("/ # ")
	s.typeKeys("exit 9\r")
	if code := s.wait(); code != 9 {
		t.Errorf("docker start -ai exit code = %d, want 9; screen:\n%s", code, s.text())
	}
}

// TestDockerAttachAPIDetach speaks the attach route as an SDK client
// does: the Upgrade: tcp handshake, the raw terminal both ways, and the
// detach keys recognised by the daemon, which closes the stream and
// leaves the process running.
func TestDockerAttachAPIDetach(t *testing.T) {
	d := startDaemon(t)
	d.ok("run", "-itd", "--name", "sh4", "--", "busybox", "sh")
	conn, err := net.Dial("unix", d.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1.51/containers/sh4/attach?stream=1&stdin=1&stdout=1&stderr=1&detachKeys=ctrl-a,x HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "tcp" || resp.Header.Get("Content-Type") != "application/vnd.docker.raw-stream" {
		t.Fatalf("attach answered %s %v", resp.Status, resp.Header)
	}
	fmt.Fprintf(conn, "echo api-$((20+3))\r")
	var seen strings.Builder
	buf := make([]byte, 1024)
	for !strings.Contains(seen.String(), "api-23") {
		n, err := br.Read(buf)
		seen.Write(buf[:n])
		if err != nil {
			t.Fatalf("attach stream ended early: %v; read %q", err, seen.String())
		}
	}
	fmt.Fprintf(conn, "\x01x")
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Errorf("after the detach keys: %v", err)
	}
	if st := d.ok("inspect", "-f", "{{.State.Status}}", "sh4"); strings.TrimSpace(st) != "running" {
		t.Errorf("after detaching: %s", st)
	}
}
