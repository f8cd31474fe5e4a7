package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/patchbay/patchbay/cnm"
)

// nsID identifies a namespace: the device and inode of its nsfs file.
type nsID struct{ dev, ino uint64 }

func statNs(path string) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsID{}, err
	}
	return nsID{dev: st.Dev, ino: st.Ino}, nil
}

// openAdopted checks the namespace a sandbox create asks to adopt (by
// process or by path) and opens it, before anything changes. The caller
// binds the returned file (by /proc/self/fd), so a PID recycled between
// the check and the bind cannot swap the namespace, and closes it.
//
// It refuses with cnm.ErrInvalid a negative PID, a path that is not
// absolute and clean (no "." or ".." parts) and a file that is not a
// network namespace, with cnm.ErrNotFound a process or path that does
// not exist, with cnm.ErrForbidden the daemon's own network namespace
// or init's (the host's: a sandbox there would move the host's routes),
// and with cnm.ErrConflict a namespace another sandbox already owns.
func (e *Engine) openAdopted(req SandboxCreate) (*os.File, error) {
	src, what := req.AdoptNetns, adoptName(req)
	switch {
	case req.AdoptPID < 0:
		return nil, cnm.Invalid("invalid pid %d: must be a positive process ID", req.AdoptPID)
	case req.AdoptPID > 0:
		src = fmt.Sprintf("/proc/%d/ns/net", req.AdoptPID)
	default:
		if !filepath.IsAbs(src) || filepath.Clean(src) != src {
			return nil, cnm.Invalid("invalid netns path %q: must be absolute, without . or .. parts", src)
		}
	}
	f, err := os.Open(src)
	if errors.Is(err, os.ErrNotExist) {
		if req.AdoptPID > 0 {
			return nil, cnm.NotFound("process %d not found", req.AdoptPID)
		}
		return nil, cnm.NotFound("netns %s not found", src)
	}
	if errors.Is(err, os.ErrPermission) {
		return nil, cnm.Forbidden("cannot adopt %s: permission denied", what)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", what, err)
	}
	if err := e.checkAdoptable(f, what); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// adoptName names what req adopts, for errors.
func adoptName(req SandboxCreate) string {
	if req.AdoptPID != 0 {
		return fmt.Sprintf("process %d", req.AdoptPID)
	}
	return "netns " + req.AdoptNetns
}

// checkAdoptable fails unless f is a network namespace that neither the
// daemon nor another sandbox holds. what names f in errors.
func (e *Engine) checkAdoptable(f *os.File, what string) error {
	path := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &sfs); err != nil {
		return fmt.Errorf("adopt %s: %w", what, err)
	}
	if sfs.Type != unix.NSFS_MAGIC {
		return cnm.Invalid("cannot adopt %s: not a namespace file", what)
	}
	if t, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE); err != nil || t != unix.CLONE_NEWNET {
		return cnm.Invalid("cannot adopt %s: not a network namespace", what)
	}
	id, err := statNs(path)
	if err != nil {
		return fmt.Errorf("adopt %s: %w", what, err)
	}
	// The daemon's own namespace, the one it treats as the host's (the
	// same one unless configured otherwise) and init's (the host's when
	// the daemon runs in a namespace of its own).
	for _, own := range []string{"/proc/self/ns/net", e.cfg.HostNetns, "/proc/1/ns/net"} {
		o, err := statNs(own)
		if err != nil && own == "/proc/1/ns/net" {
			continue // init of another user namespace: not ours to see, nor to adopt
		}
		if err != nil {
			return fmt.Errorf("adopt %s: find the daemon's namespace: %w", what, err)
		}
		if id == o {
			return cnm.Forbidden("cannot adopt %s: its network namespace is the daemon's own or the host's", what)
		}
	}
	if owner := e.nsOwner(id); owner != "" {
		return cnm.Conflict("cannot adopt %s: its network namespace is already sandbox %s's", what, owner)
	}
	return nil
}

// nsOwner returns the name of the sandbox whose namespace is id, or "".
func (e *Engine) nsOwner(id nsID) string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, sb := range e.sandboxes {
		if sb.NetnsPath == "" || sb.Container != "" {
			continue
		}
		if o, err := statNs(sb.NetnsPath); err == nil && o == id {
			return sb.Name
		}
	}
	return ""
}
