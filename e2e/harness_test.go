// Package e2e tests patchbay end to end: the real binary, its daemon run
// inside a throwaway host namespace, the CLI as a user runs it, and real
// traffic between sandboxes.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchbay/patchbay/client"
	"github.com/patchbay/patchbay/internal/netnstest"
	"golang.org/x/sys/unix"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "patchbay-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "patchbay")
	build := exec.Command("go", "build", "-o", binary, "../cmd/patchbay")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build patchbay:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// daemon is a patchbay daemon running in a throwaway host namespace.
type daemon struct {
	t      testing.TB
	host   *netnstest.Host
	dir    string
	sock   string
	cmd    *exec.Cmd
	log    *bytes.Buffer
	resolv string
	args   []string // extra daemon flags
}

// startDaemon builds a host namespace and runs a daemon in it. Cleanup
// removes every sandbox and network through the daemon, stops it, and
// unmounts anything left under its directories.
func startDaemon(t testing.TB) *daemon {
	t.Helper()
	return startDaemonIn(t, netnstest.NewHost(t))
}

// startDaemonIn runs a daemon with its own state in an existing host
// namespace, with extra daemon flags.
func startDaemonIn(t testing.TB, h *netnstest.Host, args ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, host: h, dir: t.TempDir(), args: args}
	d.sock = filepath.Join(d.dir, "exec", "patchbay.sock")
	d.resolv = filepath.Join(d.dir, "resolv.conf")
	if err := os.WriteFile(d.resolv, []byte("nameserver 127.0.0.53\nnameserver 192.0.2.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.cleanup)
	d.start()
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	d.log = &bytes.Buffer{}
	d.cmd = exec.Command("nsenter", "--net="+d.host.Path, "--", binary, "daemon",
		"--root", filepath.Join(d.dir, "root"), "--exec-root", filepath.Join(d.dir, "exec"),
		"-H", "unix://"+d.sock, "--resolv-conf", d.resolv)
	d.cmd.Args = append(d.cmd.Args, d.args...)
	var out io.Writer = d.log
	// PATCHBAY_E2E_DAEMON_LOG names a directory that receives each
	// daemon's output as it is written, for debugging a run that hangs.
	if dir := os.Getenv("PATCHBAY_E2E_DAEMON_LOG"); dir != "" {
		name := strings.NewReplacer("/", "_").Replace(d.t.Name())
		f, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			d.t.Fatal(err)
		}
		d.t.Cleanup(func() { f.Close() })
		out = io.MultiWriter(d.log, f)
	}
	d.cmd.Stdout, d.cmd.Stderr = out, out
	if err := d.cmd.Start(); err != nil {
		d.t.Fatalf("start daemon: %v", err)
	}
	c := d.client()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := c.Ping(context.Background()); err == nil {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("daemon did not come up:\n%s", d.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill9 kills the daemon without warning.
func (d *daemon) kill9() {
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	_ = d.cmd.Wait()
}

func (d *daemon) stop() {
	if d.cmd == nil || d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		// Wait is already running; a second one would never return.
		d.t.Errorf("daemon did not stop within 10s of SIGTERM; killing it")
		_ = d.cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}

func (d *daemon) client() *client.Client {
	c, err := client.New("unix://" + d.sock)
	if err != nil {
		d.t.Fatal(err)
	}
	return c
}

func (d *daemon) cleanup() {
	if d.cmd != nil && d.cmd.ProcessState == nil {
		ctx := context.Background()
		c := d.client()
		if sbs, err := c.SandboxList(ctx, true); err == nil {
			for _, sb := range sbs {
				if err := c.SandboxRemove(ctx, sb.ID, true); err != nil {
					d.t.Errorf("cleanup: remove sandbox %s: %v", sb.Name, err)
				}
			}
		}
		_, _ = c.NetworkPrune(ctx)
		d.stop()
		d.checkNoLogHolder()
	}
	if d.t.Failed() {
		d.t.Logf("daemon log:\n%s", d.log)
	}
	unmountUnder(d.dir)
}

// unmountUnder detaches any mount left below dir (a safety net so the
// test's temporary directory can be removed even after a failure).
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir) {
			_ = unix.Unmount(fields[4], unix.MNT_DETACH)
		}
	}
}

// result is the outcome of one CLI call.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// pb runs the CLI against the daemon from the test's own namespaces.
func (d *daemon) pb(args ...string) result {
	d.t.Helper()
	return d.pbIn("", args...)
}

func (d *daemon) pbIn(stdin string, args ...string) result {
	d.t.Helper()
	return d.pbVia(nil, stdin, args...)
}

// pbVia runs the CLI under a wrapper command (e.g. unshare), so it runs
// in other namespaces than the test's.
func (d *daemon) pbVia(wrapper []string, stdin string, args ...string) result {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	all := append(append(slices.Clone(wrapper), binary), args...)
	cmd := exec.CommandContext(ctx, all[0], all[1:]...)
	cmd.Env = append(os.Environ(), "PATCHBAY_HOST=unix://"+d.sock)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		d.t.Fatalf("run patchbay %v: %v", args, err)
	}
	return r
}

// ok runs the CLI and fails the test unless it exits 0.
func (d *daemon) ok(args ...string) string {
	d.t.Helper()
	r := d.pb(args...)
	if r.code != 0 {
		d.t.Fatalf("patchbay %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}
