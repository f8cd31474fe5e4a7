package daemon

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// listenUnix listens on a socket at path, replacing a stale one but
// refusing to take over one a daemon is serving. The socket is root-only
// (0600) when gid is negative; otherwise it is 0660 and owned by group
// gid (--group), and its directory is made traversable (0710) by that
// group, which may then drive the daemon.
//
// The socket is bound in a fresh 0700 directory next to path, set to
// 0600 and only then renamed into place, so it is never reachable with
// looser permissions whatever the umask and the parent directory's mode
// (the process-wide umask is not touched: the engine's goroutines are
// already creating files). Closing the listener removes the socket.
func listenUnix(path string, gid int) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create socket dir: %w", err)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("listen on %s: another daemon is serving it", path)
	}
	private, err := os.MkdirTemp(dir, ".sock-")
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	defer os.RemoveAll(private)
	tmp := filepath.Join(private, "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	// The listener would unlink tmp on Close; it removes path instead.
	l.SetUnlinkOnClose(false)
	if err := setAccess(tmp, dir, gid); err != nil {
		l.Close()
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		l.Close()
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return &unixListener{UnixListener: l, path: path}, nil
}

// setAccess gives the socket at sock, in directory dir, its mode and
// group.
func setAccess(sock, dir string, gid int) error {
	if gid < 0 {
		return os.Chmod(sock, 0o600)
	}
	if err := os.Chown(sock, -1, gid); err != nil {
		return err
	}
	if err := os.Chmod(sock, 0o660); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if err := os.Chown(dir, -1, gid); err != nil {
		return err
	}
	return os.Chmod(dir, fi.Mode().Perm()|0o010)
}

// unixListener removes its socket file when closed.
type unixListener struct {
	*net.UnixListener
	path string
}

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	_ = os.Remove(l.path)
	return err
}
