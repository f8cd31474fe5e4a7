package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestMain(m *testing.M) {
	// The test binary is what Start and Exec re-execute.
	InitMain()
	os.Exit(m.Run())
}

// requireRoot skips the test unless it runs as root; on CI it fails.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("test needs root")
	}
	t.Skip("test needs root")
}

// newNetns creates a namespace in a temporary directory and removes it,
// checking no mount is left behind, when the test ends.
func newNetns(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "netns")
	t.Cleanup(func() { assertNoMounts(t, dir) })
	t.Cleanup(func() {
		if err := RemoveNetns(path); err != nil {
			t.Errorf("RemoveNetns: %v", err)
		}
	})
	if err := CreateNetns(path); err != nil {
		t.Fatalf("CreateNetns: %v", err)
	}
	return path
}

// assertNoMounts fails if any mount of this process lies under dir.
func assertNoMounts(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatalf("read mountinfo: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, dir) {
			t.Errorf("mount left behind: %s", line)
		}
	}
}

// nsLink names the network namespace at path (a /proc link or a bind
// mount) the way readlink of /proc/PID/ns/net does: "net:[INODE]".
func nsLink(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return fmt.Sprintf("net:[%d]", fi.Sys().(*syscall.Stat_t).Ino)
}

// outputFile returns a temporary file for a process's stdout or stderr
// and a function reading what was written to it.
func outputFile(t *testing.T) (*os.File, func() string) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, func() string {
		b, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
}
