package testplugin

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// builds are the programs built so far by this test binary, by package.
var builds struct {
	sync.Mutex
	m map[string]*build
}

type build struct {
	once sync.Once
	bin  string
	err  error
	out  []byte
}

// Package paths of the plugin programs tests build and run.
const (
	// TestPluginPkg is cmd/pbtestplugin, this package's plugin.
	TestPluginPkg = "github.com/patchbay/patchbay/internal/testplugin/cmd/pbtestplugin"
	// BridgePluginPkg wraps patchbay's own bridge driver in a plugin.
	BridgePluginPkg = "github.com/patchbay/patchbay/internal/testplugin/bridgeplugin"
	// HelpersPluginPkg is written with github.com/docker/go-plugins-helpers.
	HelpersPluginPkg = "github.com/patchbay/patchbay/internal/testplugin/helpersplugin"
)

// Build compiles cmd/pbtestplugin (once per test binary) and returns the
// program's path.
func Build(t testing.TB) string { return BuildPkg(t, TestPluginPkg) }

// BuildPkg compiles the program pkg (once per test binary) and returns
// its path.
func BuildPkg(t testing.TB, pkg string) string {
	t.Helper()
	builds.Lock()
	if builds.m == nil {
		builds.m = map[string]*build{}
	}
	b := builds.m[pkg]
	if b == nil {
		b = &build{}
		builds.m[pkg] = b
	}
	builds.Unlock()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "pbplugin")
		if err != nil {
			b.err = err
			return
		}
		b.bin = filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-o", b.bin, pkg)
		b.out, b.err = cmd.CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("build the plugin %s: %v\n%s", pkg, b.err, b.out)
	}
	return b.bin
}

// Proc is a running test plugin process.
type Proc struct {
	t       testing.TB
	args    []string
	Sock    string
	Journal string
	cmd     *exec.Cmd
	stderr  *bytes.Buffer
	// done is closed once the process has been waited for.
	done chan struct{}
}

// Config says how to run the plugin.
type Config struct {
	// Sock is the socket path to serve on (e.g. DIR/NAME.sock).
	Sock string
	// Netns is the namespace the plugin makes its links in (the
	// daemon's host namespace).
	Netns string
	// Implements defaults to NetworkDriver and IpamDriver.
	Implements []string
}

// Start runs the plugin and waits until its socket accepts connections;
// it is killed on cleanup.
func Start(t testing.TB, cfg Config) *Proc {
	t.Helper()
	args := []string{"-journal", cfg.Sock + ".journal", "-state", cfg.Sock + ".state"}
	if len(cfg.Implements) > 0 {
		args = append(args, "-implements", strings.Join(cfg.Implements, ","))
	}
	return StartPkg(t, TestPluginPkg, cfg.Sock, cfg.Netns, args...)
}

// StartPkg builds the plugin program pkg and runs it with -sock sock,
// -netns netns (when not empty) and args, as Start does. Every plugin
// program of this tree takes -sock and -netns.
func StartPkg(t testing.TB, pkg, sock, netns string, args ...string) *Proc {
	t.Helper()
	bin := BuildPkg(t, pkg)
	p := &Proc{t: t, Sock: sock, Journal: sock + ".journal"}
	p.args = append([]string{bin, "-sock", sock}, args...)
	if netns != "" {
		p.args = append(p.args, "-netns", netns)
	}
	p.start()
	t.Cleanup(p.Kill)
	return p
}

func (p *Proc) start() {
	p.t.Helper()
	p.stderr = &bytes.Buffer{}
	p.cmd = exec.Command(p.args[0], p.args[1:]...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start the test plugin: %v", err)
	}
	exited := make(chan error, 1)
	done := make(chan struct{})
	p.done = done
	go func() {
		err := p.cmd.Wait()
		close(done)
		exited <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if c, err := net.Dial("unix", p.Sock); err == nil {
			c.Close()
			return
		}
		select {
		case err := <-exited:
			p.t.Fatalf("the test plugin exited: %v\n%s", err, p.stderr)
		case <-ctx.Done():
			p.t.Fatalf("the test plugin did not listen on %s", p.Sock)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Kill stops the plugin at once (SIGKILL), leaving its socket file
// behind as a crashed plugin would.
func (p *Proc) Kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.cmd = nil
}

// Restart starts the plugin again with the same arguments (its state,
// kept in memory, is gone).
func (p *Proc) Restart() {
	p.t.Helper()
	p.Kill()
	p.start()
}

// Calls returns what the plugin has been called with so far, one call
// a line: "Interface.Method {json body}".
func (p *Proc) Calls() string {
	b, _ := os.ReadFile(p.Journal)
	return string(b)
}
