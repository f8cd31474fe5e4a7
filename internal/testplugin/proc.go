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

// buildOnce builds the program once per test binary.
var buildOnce struct {
	sync.Once
	bin string
	err error
	out []byte
}

// Build compiles cmd/pbtestplugin (once per test binary) and returns the
// program's path.
func Build(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pbtestplugin")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.bin = filepath.Join(dir, "pbtestplugin")
		cmd := exec.Command("go", "build", "-o", buildOnce.bin, "github.com/patchbay/patchbay/internal/testplugin/cmd/pbtestplugin")
		buildOnce.out, buildOnce.err = cmd.CombinedOutput()
	})
	if buildOnce.err != nil {
		t.Fatalf("build the test plugin: %v\n%s", buildOnce.err, buildOnce.out)
	}
	return buildOnce.bin
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
	bin := Build(t)
	p := &Proc{t: t, Sock: cfg.Sock, Journal: cfg.Sock + ".journal"}
	p.args = []string{bin, "-sock", cfg.Sock, "-journal", p.Journal, "-state", cfg.Sock + ".state"}
	if cfg.Netns != "" {
		p.args = append(p.args, "-netns", cfg.Netns)
	}
	if len(cfg.Implements) > 0 {
		p.args = append(p.args, "-implements", strings.Join(cfg.Implements, ","))
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
