package sandbox

import "golang.org/x/sys/unix"

// awaitExit returns once the child process has exited (it stays a zombie
// until reaped), having waited on its pidfd through the runtime's poller:
// a parked goroutine, where a wait system call would hold an OS thread
// for the process's whole life. Without a pollable pidfd, or if the pidfd
// is closed meanwhile, it returns at once and the caller's blocking wait
// does the waiting.
func (p *Process) awaitExit() {
	if p.pidfd == nil {
		return
	}
	rc, err := p.pidfd.SyscallConn()
	if err != nil {
		return
	}
	// A pidfd polls readable once its process has exited.
	_ = rc.Read(func(fd uintptr) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		return err != unix.EINTR && (n > 0 || err != nil)
	})
}
