package dns

import (
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The poller answers the UDP sockets, and accepts on the TCP listeners,
// of every sandbox a Resolver serves, from one goroutine: the sockets sit
// in an epoll set of its own, whose descriptor the runtime's poller
// watches. A sandbox thus costs no goroutine and no buffers while it asks
// nothing; one query in flight costs one wake-up and four system calls
// (epoll_wait, recvmmsg, sendmmsg, and an epoll_wait that finds nothing
// more to do). TCP connections, rare, get a goroutine each.

// pollBatch is how many packets one system call reads or writes at most.
const pollBatch = 32

// poller is one epoll set and the goroutine that serves it; it runs
// while at least one socket is registered.
type poller struct {
	// mu guards the fields below.
	mu    sync.Mutex
	socks map[int32]*pollSock // by registration id
	next  int32
	ep    *os.File // the epoll set, nil while nothing is registered
	fd    int      // ep's descriptor
	done  chan struct{}
}

// pollSock is a registered socket and the server it answers for.
type pollSock struct {
	id   int32
	s    *server
	udp  *net.UDPConn // nil for a TCP listener
	raw  syscall.RawConn
	busy sync.Mutex // held while its packets are handled
	gone bool       // guarded by busy: unregistered, do not touch
}

// add registers c, a *net.UDPConn or a *net.TCPListener, answered for s.
func (p *poller) add(s *server, c interface {
	SyscallConn() (syscall.RawConn, error)
}) (*pollSock, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("register resolver socket: %w", err)
	}
	udp, _ := c.(*net.UDPConn)
	p.mu.Lock()
	if p.ep == nil {
		if err := p.startLocked(); err != nil {
			p.mu.Unlock()
			return nil, fmt.Errorf("register resolver socket: %w", err)
		}
	}
	p.next++
	u := &pollSock{id: p.next, s: s, udp: udp, raw: raw}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: u.id}
	var cerr error
	if err := raw.Control(func(fd uintptr) { cerr = unix.EpollCtl(p.epfd(), unix.EPOLL_CTL_ADD, int(fd), &ev) }); err != nil {
		cerr = err
	}
	if cerr != nil {
		stop := p.detachIfIdleLocked()
		p.mu.Unlock()
		stop()
		return nil, fmt.Errorf("register resolver socket: %w", cerr)
	}
	p.socks[u.id] = u
	p.mu.Unlock()
	return u, nil
}

// startLocked creates the epoll set and starts its goroutine.
func (p *poller) startLocked() error {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll: %w", err)
	}
	// Non-blocking, so the runtime's poller watches it.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return fmt.Errorf("epoll: %w", err)
	}
	p.ep, p.fd = os.NewFile(uintptr(fd), "resolver-epoll"), fd
	p.socks = make(map[int32]*pollSock)
	p.done = make(chan struct{})
	go p.loop(p.ep, p.done)
	return nil
}

// remove unregisters u; once it returns, the poller no longer touches
// u's socket. The last removal stops the poller's goroutine.
func (p *poller) remove(u *pollSock) {
	u.busy.Lock()
	u.gone = true
	u.busy.Unlock()
	p.mu.Lock()
	delete(p.socks, u.id)
	_ = u.raw.Control(func(fd uintptr) { _ = unix.EpollCtl(p.epfd(), unix.EPOLL_CTL_DEL, int(fd), nil) })
	stop := p.detachIfIdleLocked()
	p.mu.Unlock()
	stop()
}

// epfd is the epoll set's descriptor (not ep.Fd(), which would make
// the file blocking). Caller holds mu and p.ep is set.
func (p *poller) epfd() int { return p.fd }

// detachIfIdleLocked, when no socket is registered, detaches the epoll
// set and returns what stops its goroutine, to be called without mu
// held (the goroutine may be waiting for mu).
func (p *poller) detachIfIdleLocked() func() {
	if len(p.socks) > 0 || p.ep == nil {
		return func() {}
	}
	ep, done := p.ep, p.done
	p.ep, p.socks, p.done = nil, nil, nil
	return func() {
		_ = ep.Close()
		<-done
	}
}

// loop serves the sockets in the epoll set ep until ep is closed.
func (p *poller) loop(ep *os.File, done chan struct{}) {
	defer close(done)
	raw, err := ep.SyscallConn()
	if err != nil {
		return
	}
	b := newPollBufs()
	events := make([]unix.EpollEvent, 64)
	_ = raw.Read(func(fd uintptr) bool {
		for {
			n, err := epollPoll(fd, events)
			if err == unix.EINTR {
				continue
			}
			if err != nil || n == 0 {
				return false // wait for the set to become readable
			}
			for _, ev := range events[:n] {
				p.mu.Lock()
				u := p.socks[ev.Fd]
				p.mu.Unlock()
				if u != nil {
					u.serve(b)
				}
			}
		}
	})
}

// pollBufs are the poller's buffers, shared by every socket it serves.
type pollBufs struct {
	rm, wm *mmsgs
	in     [][]byte
	out    [][]byte
}

func newPollBufs() *pollBufs {
	b := &pollBufs{rm: newMmsgs(pollBatch), wm: newMmsgs(pollBatch), in: make([][]byte, pollBatch), out: make([][]byte, pollBatch)}
	for i := range pollBatch {
		b.in[i] = make([]byte, maxUDP)
		b.out[i] = make([]byte, 0, maxUDP)
	}
	return b
}

// serve handles what is ready on u's socket.
func (u *pollSock) serve(b *pollBufs) {
	u.busy.Lock()
	defer u.busy.Unlock()
	if u.gone {
		return
	}
	if u.udp == nil {
		u.accept()
		return
	}
	u.answer(b)
}

// accept takes a connection waiting on a TCP listener and serves it
// from a goroutine of its own, within maxTCPConns.
func (u *pollSock) accept() {
	nfd := -1
	// A listener's RawConn has no Read; Control holds the descriptor open
	// as well, and nothing else accepts on it.
	_ = u.raw.Control(func(fd uintptr) {
		for {
			var err error
			nfd, _, err = unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			if err != unix.EINTR && err != unix.ECONNABORTED {
				if err != nil {
					nfd = -1
					if err != unix.EAGAIN {
						// Out of descriptors, say: the listener stays
						// readable, so do not spin on it.
						time.Sleep(time.Millisecond)
					}
				}
				return
			}
		}
	})
	if nfd < 0 {
		return
	}
	f := os.NewFile(uintptr(nfd), "resolver-tcp")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return
	}
	s := u.s
	if s.tcpConns.Add(1) > maxTCPConns {
		s.tcpConns.Add(-1)
		_ = c.Close()
		return
	}
	s.wg.Go(func() {
		defer s.tcpConns.Add(-1)
		s.serveConn(c)
	})
}

// answer answers what is queued on a UDP socket: local answers at once,
// in one sendmmsg per batch read; forwarded queries from goroutines of
// their own.
func (u *pollSock) answer(b *pollBufs) {
	s := u.s
	for {
		n := 0
		err := u.raw.Read(func(fd uintptr) bool {
			for i := range pollBatch {
				b.rm.prepRecv(i, b.in[i])
			}
			var err error
			for {
				n, err = recvmmsg(fd, b.rm, pollBatch)
				if err != unix.EINTR {
					break
				}
			}
			if err != nil {
				n = 0
			}
			if n == 0 {
				return true
			}
			w := 0
			for i := range n {
				req := b.in[i][:b.rm.hdrs[i].Len]
				name := &b.rm.names[i]
				resp, v := s.r.handle(s.view, req, b.out[w][:0], false)
				switch v {
				case verdictReply:
					b.wm.prepSend(w, resp, name, b.rm.hdrs[i].Hdr.Namelen)
					w++
				case verdictForward:
					if to, ok := addrPortOf(name); ok {
						c := u.udp
						s.forwardUDP(req, func(resp []byte) { _, _ = c.WriteToUDPAddrPort(resp, to) })
					}
				}
			}
			for done := 0; done < w; {
				k, err := sendmmsg(fd, b.wm, done, w)
				if err == unix.EINTR {
					continue
				}
				if err != nil || k == 0 {
					// Skip the message that failed (a client gone away).
					k = 1
				}
				done += k
			}
			return true
		})
		// A full batch may have left more queued.
		if err != nil || n < pollBatch {
			return
		}
	}
}
