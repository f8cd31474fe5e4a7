package daemon

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	// A parent anyone may traverse: the socket must still never be
	// reachable with looser permissions than 0600.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "run", "patchbay.sock")
	l, err := listenUnix(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("socket dir mode %v, want 0700", di.Mode().Perm())
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "patchbay.sock" {
		t.Errorf("socket dir holds %v, want only patchbay.sock", entries)
	}

	// The socket serves.
	accepted := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}

	// A second daemon on the same socket is refused.
	if l2, err := listenUnix(path, -1); err == nil {
		l2.Close()
		t.Fatal("second listen on a served socket succeeded")
	}

	// Closing removes the socket.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after close: %v", err)
	}
}

func TestListenUnixReplacesStale(t *testing.T) {
	path := filepath.Join(t.TempDir(), "patchbay.sock")
	// A socket nobody serves, as a killed daemon leaves it.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	l, err := listenUnix(path, -1)
	if err != nil {
		t.Fatalf("listen over a stale socket: %v", err)
	}
	defer l.Close()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestListenUnixGroup(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run", "patchbay.sock")
	const gid = 4242 // need not exist: --group takes a GID as Docker's -G does
	l, err := listenUnix(path, gid)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o777 != 0o660 || st.Gid != gid {
		t.Errorf("socket mode %o gid %d, want 0660 gid %d", st.Mode&0o777, st.Gid, gid)
	}
	if err := syscall.Stat(filepath.Dir(path), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o777 != 0o710 || st.Gid != gid {
		t.Errorf("socket dir mode %o gid %d, want 0710 gid %d (traversable by the group)", st.Mode&0o777, st.Gid, gid)
	}
}

func TestLookupGroup(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
		bad  bool
	}{
		{"", -1, false}, {"0", 0, false}, {"root", 0, false}, {"4242", 4242, false}, {"no-such-group-xyz", 0, true},
	} {
		got, err := lookupGroup(tt.in)
		if (err != nil) != tt.bad || (!tt.bad && got != tt.want) {
			t.Errorf("lookupGroup(%q) = %d, %v", tt.in, got, err)
		}
	}
}
