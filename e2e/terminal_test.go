package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// screen is a program running on a pseudo-terminal that the test types
// into and reads, as a user at a terminal would.
type screen struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	ptm   *os.File
	pts   *os.File // kept open, to read the terminal's settings at the end
	saved *unix.Termios
	mark  int // expect looks at the output after this offset

	mu  sync.Mutex
	out bytes.Buffer

	read   chan struct{} // closed when the output ends
	exited chan struct{}
	code   int
}

// screenTimeout bounds how long a test waits for text to appear before
// it fails (a hang guard, not a timing assertion).
const screenTimeout = 60 * time.Second

// startScreen runs argv on a new 24x80 terminal with environment env.
func startScreen(t *testing.T, env []string, argv ...string) *screen {
	t.Helper()
	ptm, pts, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	if err := pty.Setsize(ptm, &pty.Winsize{Rows: 24, Cols: 80}); err != nil {
		t.Fatal(err)
	}
	saved, err := unix.IoctlGetTermios(int(pts.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &screen{t: t, name: strings.Join(argv, " "), cmd: cmd, ptm: ptm, pts: pts, saved: saved,
		read: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		defer close(s.read)
		buf := make([]byte, 4096)
		for {
			n, err := ptm.Read(buf)
			s.mu.Lock()
			s.out.Write(buf[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() {
		defer close(s.exited)
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			s.code = ee.ExitCode()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-s.exited
		ptm.Close()
		pts.Close()
	})
	return s
}

// screen starts patchbay on a screen.
func (d *daemon) screen(t *testing.T, args ...string) *screen {
	env := append(os.Environ(), "PATCHBAY_HOST=unix://"+d.sock, "TERM=xterm")
	return startScreen(t, env, append([]string{binary}, args...)...)
}

// screen starts the docker CLI on a screen.
func (c *dockerCLI) screen(args ...string) *screen {
	return startScreen(c.t, append(c.env, "TERM=xterm"), append([]string{c.bin}, args...)...)
}

// typeKeys writes keys as typed.
func (s *screen) typeKeys(keys string) {
	s.t.Helper()
	if _, err := s.ptm.Write([]byte(keys)); err != nil {
		s.t.Fatalf("%s: type %q: %v", s.name, keys, err)
	}
}

// expect waits until text appears after the last expected text and
// returns what came up to it.
func (s *screen) expect(text string) string {
	s.t.Helper()
	deadline := time.Now().Add(screenTimeout)
	for {
		s.mu.Lock()
		all := s.out.String()
		s.mu.Unlock()
		if i := strings.Index(all[s.mark:], text); i >= 0 {
			got := all[s.mark : s.mark+i+len(text)]
			s.mark += i + len(text)
			return got
		}
		select {
		case <-s.read:
			s.mu.Lock()
			all = s.out.String()
			s.mu.Unlock()
			if !strings.Contains(all[s.mark:], text) {
				s.t.Fatalf("%s: output ended without %q; screen:\n%s", s.name, text, all)
			}
			continue
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: %q did not appear; screen:\n%s", s.name, text, all)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wait waits for the program to exit, checks that it left the terminal
// as it found it, and returns its exit code.
func (s *screen) wait() int {
	s.t.Helper()
	select {
	case <-s.exited:
	case <-time.After(screenTimeout):
		s.mu.Lock()
		defer s.mu.Unlock()
		s.t.Fatalf("%s did not exit; screen:\n%s", s.name, s.out.String())
	}
	now, err := unix.IoctlGetTermios(int(s.pts.Fd()), unix.TCGETS)
	if err != nil {
		s.t.Fatal(err)
	}
	if now.Lflag != s.saved.Lflag || now.Iflag != s.saved.Iflag || now.Oflag != s.saved.Oflag {
		s.t.Errorf("%s left the terminal changed: lflag %#x iflag %#x oflag %#x, was %#x %#x %#x",
			s.name, now.Lflag, now.Iflag, now.Oflag, s.saved.Lflag, s.saved.Iflag, s.saved.Oflag)
	}
	return s.code
}

// screenText is everything the screen showed.
func (s *screen) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}
