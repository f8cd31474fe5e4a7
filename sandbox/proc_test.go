package sandbox

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/patchbay/patchbay/cnm"
)

// sandboxFiles writes hostname, hosts and resolv.conf for a sandbox named
// host and returns the mounts putting them over /etc.
func sandboxFiles(t *testing.T, host string) (hostsPath string, mounts []Mount) {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{
		"hostname":    []byte(host + "\n"),
		"hosts":       HostsFile([]HostEntry{{Addr: netip.MustParseAddr("172.30.0.2"), Names: []string{host}}}, nil),
		"resolv.conf": ParseResolvConf([]byte("nameserver 192.0.2.53\n")).Render(""),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := WriteFile(p, data); err != nil {
			t.Fatal(err)
		}
		mounts = append(mounts, Mount{Source: p, Target: "/etc/" + name})
	}
	return filepath.Join(dir, "hosts"), mounts
}

// startSleeper starts `sleep 30` in a fresh sandbox named web and kills it
// when the test ends.
func startSleeper(t *testing.T) (*Process, string, string) {
	t.Helper()
	ns := newNetns(t)
	hosts, mounts := sandboxFiles(t, "web")
	p, err := Start(ProcSpec{Args: []string{"sleep", "30"}, NetnsPath: ns, Hostname: "web", Mounts: mounts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Signal(syscall.SIGKILL)
		_, _ = p.Wait()
	})
	return p, ns, hosts
}

func TestStartSandbox(t *testing.T) {
	requireRoot(t)
	ns := newNetns(t)
	_, mounts := sandboxFiles(t, "web")
	hostHosts, _ := os.ReadFile("/etc/hosts")
	hostName, _ := os.Hostname()
	out, read := outputFile(t)
	p, err := Start(ProcSpec{
		Args: []string{"/bin/sh", "-c", `cat /etc/hostname; cat /proc/sys/kernel/hostname
echo "env $HOSTNAME $FOO $PATH"; pwd; cat /etc/hosts /etc/resolv.conf
tail -n +3 /proc/net/dev | cut -d: -f1`},
		Env:       []string{"FOO=bar"},
		Dir:       "/tmp",
		NetnsPath: ns,
		Hostname:  "web",
		Mounts:    mounts,
		Stdout:    out,
		Stderr:    out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(); err != nil || code != 0 {
		t.Fatalf("Wait = %d, %v; output:\n%s", code, err, read())
	}
	want := "web\nweb\nenv web bar " + defaultPath + "\n/tmp\n" +
		string(HostsFile([]HostEntry{{Addr: netip.MustParseAddr("172.30.0.2"), Names: []string{"web"}}}, nil)) +
		resolvHeader + "nameserver 192.0.2.53\n" +
		"lo\n"
	if got := read(); strings.ReplaceAll(got, " ", "") != strings.ReplaceAll(want, " ", "") {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	if b, _ := os.ReadFile("/etc/hosts"); string(b) != string(hostHosts) {
		t.Errorf("host /etc/hosts changed")
	}
	if h, _ := os.Hostname(); h != hostName {
		t.Errorf("host name changed to %q", h)
	}
}

func TestStartExitCode(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		script string
		want   int
	}{
		{"exit 0", 0},
		{"exit 7", 7},
		{"kill -TERM $$", 128 + int(syscall.SIGTERM)},
	}
	for _, tt := range tests {
		p, err := Start(ProcSpec{Args: []string{"/bin/sh", "-c", tt.script}})
		if err != nil {
			t.Fatal(err)
		}
		if code, err := p.Wait(); err != nil || code != tt.want {
			t.Errorf("%q: Wait = %d, %v; want %d", tt.script, code, err, tt.want)
		}
	}
}

func TestStartFailure(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	notExec := filepath.Join(dir, "script")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		spec ProcSpec
		code int
		kind error
	}{
		{"missing in PATH", ProcSpec{Args: []string{"no-such-command-xyz"}}, 127, cnm.ErrNotFound},
		{"missing path", ProcSpec{Args: []string{"/no/such/command"}}, 127, cnm.ErrNotFound},
		{"not executable", ProcSpec{Args: []string{notExec}}, 126, cnm.ErrForbidden},
		{"directory", ProcSpec{Args: []string{"/tmp"}}, 126, cnm.ErrForbidden},
		{"bad mount", ProcSpec{Args: []string{"true"}, Mounts: []Mount{{Source: plain, Target: "/no/such/target"}}}, 125, nil},
		{"bad dir", ProcSpec{Args: []string{"true"}, Dir: "/no/such/dir"}, 125, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Start(tt.spec)
			var se *StartError
			if !errors.As(err, &se) || se.Code != tt.code {
				t.Fatalf("Start = %v, want StartError with code %d", err, tt.code)
			}
			if tt.kind != nil && !errors.Is(err, tt.kind) {
				t.Errorf("error %v is not %v", err, tt.kind)
			}
		})
	}
	if _, err := Start(ProcSpec{Args: []string{"true"}, NetnsPath: plain}); !errors.Is(err, cnm.ErrInvalid) {
		t.Errorf("Start in a non-namespace = %v, want invalid", err)
	}
	if _, err := Start(ProcSpec{}); !errors.Is(err, cnm.ErrInvalid) {
		t.Errorf("Start without args = %v, want invalid", err)
	}
}

func TestExec(t *testing.T) {
	requireRoot(t)
	p, ns, hostsPath := startSleeper(t)
	if sid, err := unix.Getsid(p.Pid); err != nil || sid != p.Pid {
		t.Errorf("getsid = %d, %v; want own session %d", sid, err, p.Pid)
	}
	// Rewritten in place, the new content shows through the bind mount.
	newHosts := HostsFile(nil, []HostEntry{{Addr: netip.MustParseAddr("10.1.1.1"), Names: []string{"db"}}})
	if err := WriteFile(hostsPath, newHosts); err != nil {
		t.Fatal(err)
	}
	out, read := outputFile(t)
	e, err := Exec(ExecSpec{
		Target: p,
		Args:   []string{"sh", "-c", `cat /proc/sys/kernel/hostname; echo "$HOSTNAME $X"; pwd; readlink /proc/self/ns/net; cat /etc/hosts`},
		Env:    []string{"X=y"},
		Stdout: out,
		Stderr: out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sid, err := unix.Getsid(e.Pid); err != nil || sid != e.Pid {
		t.Errorf("exec getsid = %d, %v; want own session %d", sid, err, e.Pid)
	}
	if code, err := e.Wait(); err != nil || code != 0 {
		t.Fatalf("Wait = %d, %v; output:\n%s", code, err, read())
	}
	want := "web\nweb y\n/\n" + nsLink(t, ns) + "\n" + string(newHosts)
	if got := read(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	if _, err := Exec(ExecSpec{Target: p, Args: []string{"no-such-command-xyz"}}); !errors.Is(err, cnm.ErrNotFound) {
		t.Errorf("Exec of a missing command = %v, want not found", err)
	}
}
