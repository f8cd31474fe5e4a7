package sandbox

import (
	"fmt"
	"os"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// NetnsPool keeps a few fresh network namespaces ready, so creating a
// sandbox costs a bind mount instead of a namespace set-up (unshare and
// the per-namespace init of every network subsystem, which dominates an
// attach). Spare namespaces are held only as file descriptors: if the
// daemon dies they vanish with it and nothing is left to sweep.
type NetnsPool struct {
	ready chan *os.File
	stop  chan struct{}
	wg    sync.WaitGroup
}

// NewNetnsPool starts a pool that keeps up to size namespaces ready.
func NewNetnsPool(size int) *NetnsPool {
	p := &NetnsPool{ready: make(chan *os.File, size), stop: make(chan struct{})}
	p.wg.Add(1)
	go p.fill()
	return p
}

func (p *NetnsPool) fill() {
	defer p.wg.Done()
	for {
		f, err := newNetnsFile()
		if err != nil {
			// Callers fall back to CreateNetns, which reports the error.
			return
		}
		select {
		case p.ready <- f:
		case <-p.stop:
			f.Close()
			return
		}
	}
}

// Create bind-mounts a ready namespace at path, or creates one there if
// none is ready. The namespace is set up as CreateNetns sets it up.
func (p *NetnsPool) Create(path string) error {
	var f *os.File
	select {
	case f = <-p.ready:
	default:
		return CreateNetns(path)
	}
	defer f.Close()
	if err := createNsFile(path); err != nil {
		return fmt.Errorf("create netns %s: %w", path, err)
	}
	src := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	if err := unix.Mount(src, path, "", unix.MS_BIND, ""); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("create netns %s: bind mount: %w", path, err)
	}
	return nil
}

// Close stops refilling and releases the spare namespaces.
func (p *NetnsPool) Close() {
	close(p.stop)
	p.wg.Wait()
	for {
		select {
		case f := <-p.ready:
			f.Close()
		default:
			return
		}
	}
}

// newNetnsFile creates a set-up namespace and returns it as an open file.
func newNetnsFile() (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// Never taint the main thread; let another goroutine do it.
			runtime.UnlockOSThread()
			res <- result{err: errMainThread}
			return
		}
		// The thread is never unlocked: it ends in the new namespace
		// and the runtime destroys it when this goroutine returns.
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			res <- result{err: fmt.Errorf("unshare: %w", err)}
			return
		}
		if err := setupNetns(); err != nil {
			res <- result{err: err}
			return
		}
		fd, err := unix.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			res <- result{err: fmt.Errorf("open new netns: %w", err)}
			return
		}
		res <- result{f: os.NewFile(uintptr(fd), "netns")}
	}()
	r := <-res
	if r.err == errMainThread {
		return newNetnsFile()
	}
	return r.f, r.err
}

var errMainThread = fmt.Errorf("on the main thread")
