package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/patchbay/patchbay/cnm"
)

// nsSysctls are set in every new namespace. The IPv6 ones are skipped
// when the kernel has no IPv6.
var nsSysctls = []struct {
	path, value string
	optional    bool
}{
	{"/proc/sys/net/ipv4/conf/all/arp_notify", "1", false},
	{"/proc/sys/net/ipv4/conf/default/arp_notify", "1", false},
	{"/proc/sys/net/ipv6/conf/all/accept_dad", "0", true},
	{"/proc/sys/net/ipv6/conf/default/accept_dad", "0", true},
	// No IPv6 link-local on new interfaces unless the endpoint is IPv6:
	// it would only add DAD, MLD and router solicitations to the bridge.
	{"/proc/sys/net/ipv6/conf/default/addr_gen_mode", "1", true},
}

// CreateNetns creates a fresh network namespace and bind-mounts it at
// path, creating the file and its parent directory (0700) as needed. In
// the new namespace lo is up, arp_notify is on and IPv6 DAD is off. On
// failure nothing is left at path.
func CreateNetns(path string) (retErr error) {
	if err := createNsFile(path); err != nil {
		return fmt.Errorf("create netns %s: %w", path, err)
	}
	defer func() {
		if retErr != nil {
			_ = RemoveNetns(path)
		}
	}()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			errc <- newNetnsOnMainThread(path)
			return
		}
		// The thread is never unlocked: it ends in the new namespace and
		// the runtime destroys it when this goroutine returns.
		errc <- newNetnsOnThread(path)
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("create netns %s: %w", path, err)
	}
	return nil
}

// newNetnsOnMainThread is newNetnsOnThread for the main thread, which the
// runtime cannot destroy: a locked goroutine exiting there wedges it
// forever, keeping the namespace alive and making /proc/self/ns/net lie.
// So here, and only here, the thread switches back before unlocking.
func newNetnsOnMainThread(path string) error {
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open current netns: %w", err)
	}
	defer unix.Close(orig)
	err = newNetnsOnThread(path)
	if serr := unix.Setns(orig, unix.CLONE_NEWNET); serr != nil {
		// Stay locked: the wedged thread never runs Go code again.
		return errors.Join(err, fmt.Errorf("restore netns: %w", serr))
	}
	runtime.UnlockOSThread()
	return err
}

// newNetnsOnThread runs on a locked thread that is thrown away afterwards.
func newNetnsOnThread(path string) error {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	if err := setupNetns(); err != nil {
		return err
	}
	src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
	if err := unix.Mount(src, path, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount %s: %w", src, err)
	}
	return nil
}

// setupNetns configures the namespace the calling thread is in.
func setupNetns() error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("open netlink: %w", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	for _, s := range nsSysctls {
		err := writeExisting(s.path, []byte(s.value))
		if err != nil && !(s.optional && errors.Is(err, os.ErrNotExist)) {
			return fmt.Errorf("set sysctl %s: %w", s.path, err)
		}
	}
	return nil
}

// writeExisting writes data to a file that must already exist.
func writeExisting(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// BindNetns bind-mounts the existing network namespace file src (for
// example /proc/PID/ns/net or another bind mount) at path.
func BindNetns(src, path string) (retErr error) {
	if err := checkNetnsPath(src); err != nil {
		return fmt.Errorf("bind netns %s: %w", src, err)
	}
	if err := createNsFile(path); err != nil {
		return fmt.Errorf("bind netns %s: %w", src, err)
	}
	defer func() {
		if retErr != nil {
			_ = RemoveNetns(path)
		}
	}()
	if err := unix.Mount(src, path, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind netns %s on %s: %w", src, path, err)
	}
	return nil
}

// RemoveNetns unmounts and removes path. A missing path is not an error.
func RemoveNetns(path string) error {
	// Bind mounts may be stacked; peel them all off.
	for range 16 {
		err := unix.Unmount(path, unix.MNT_DETACH)
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if errors.Is(err, unix.EINVAL) {
			break
		}
		if err != nil {
			return fmt.Errorf("unmount netns %s: %w", path, err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove netns %s: %w", path, err)
	}
	return nil
}

// IsNetns reports whether path is a live network namespace file.
func IsNetns(path string) bool {
	return checkNetnsPath(path) == nil
}

// OpenNetns opens the namespace at path for netlink. The caller closes
// the handle.
func OpenNetns(path string) (netns.NsHandle, error) {
	h, err := netns.GetFromPath(path)
	if err != nil {
		return netns.None(), fmt.Errorf("open netns %s: %w", path, err)
	}
	if err := checkNetnsFd(int(h)); err != nil {
		h.Close()
		return netns.None(), fmt.Errorf("open netns %s: %w", path, err)
	}
	return h, nil
}

// createNsFile makes the empty mount point for a namespace bind mount.
func createNsFile(path string) error {
	if IsNetns(path) {
		return cnm.Conflict("%s is already a network namespace", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o444)
	if err != nil {
		return fmt.Errorf("create file: %w", err)
	}
	return f.Close()
}

// checkNetnsPath fails unless path is a network namespace file. The
// error does not name path; callers do.
func checkNetnsPath(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer unix.Close(fd)
	return checkNetnsFd(fd)
}

// checkNetnsFd fails unless fd refers to a network namespace.
func checkNetnsFd(fd int) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return fmt.Errorf("statfs: %w", err)
	}
	if st.Type != unix.NSFS_MAGIC {
		return cnm.Invalid("not a namespace file")
	}
	t, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err != nil {
		return fmt.Errorf("get namespace type: %w", err)
	}
	if t != unix.CLONE_NEWNET {
		return cnm.Invalid("not a network namespace")
	}
	return nil
}
