package dns

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// View is one sandbox's view of names: what the engine knows for the
// networks the asking sandbox is on. It is called on the hot path of
// every query and must answer from memory; it must not keep name.
type View interface {
	// Lookup returns the addresses of name (lower-cased, without trailing
	// dot) of one family (v6 false: IPv4) and whether the name is known at
	// all. Known with no address of that family is answered NOERROR with
	// no records; unknown is forwarded upstream. The resolver does not
	// modify addrs.
	Lookup(name string, v6 bool) (addrs []netip.Addr, known bool)
	// Reverse returns the names of addr (for PTR), canonical first.
	Reverse(addr netip.Addr) []string
}

// Config configures a Resolver. Zero fields take the defaults.
type Config struct {
	// Upstreams returns the current upstream servers, tried in order (at
	// most MaxUpstreams of them). It is called once per forwarded query.
	// Nil or empty: queries for names the view does not know get SERVFAIL.
	Upstreams func() []netip.AddrPort
	// TTL of local answers, in seconds (default 10: addresses get reused).
	TTL uint32
	// Timeout of one try of one upstream (default 2 s).
	Timeout time.Duration
	// MaxInflight bounds the queries being forwarded at once, over every
	// Serve of the Resolver (default 1024). Beyond it, SERVFAIL at once.
	MaxInflight int
	// Logger receives forwarding failures at debug level (default: none).
	Logger *slog.Logger
}

// Defaults and limits.
const (
	DefaultTTL         = 10
	DefaultTimeout     = 2 * time.Second
	DefaultMaxInflight = 1024
	// MaxUpstreams is how many upstream servers one query tries, like
	// MAXNS of resolv.conf; a forward takes at most MaxUpstreams×Timeout.
	MaxUpstreams = 3
	// tcpIdle closes a client's TCP connection idle that long.
	tcpIdle = 10 * time.Second
	// maxTCPConns bounds one Serve's TCP client connections.
	maxTCPConns = 128
)

// Resolver answers queries on the sockets given to Serve. One Resolver
// serves any number of sandboxes; its forwarding bound is shared.
type Resolver struct {
	cfg Config
	// inflight holds one token per query being forwarded.
	inflight chan struct{}
	// next rotates the order of addresses in answers.
	next atomic.Uint32
	// poll serves the UDP sockets of every Start.
	poll poller
}

// New returns a Resolver with cfg, defaults filled in.
func New(cfg Config) *Resolver {
	if cfg.Upstreams == nil {
		cfg.Upstreams = func() []netip.AddrPort { return nil }
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = DefaultMaxInflight
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Resolver{cfg: cfg, inflight: make(chan struct{}, cfg.MaxInflight)}
}

// Serve answers the queries arriving on udp and tcp (either may be nil),
// sockets the engine opened inside a sandbox's namespace, with names from
// view, until ctx ends. Serve owns the sockets: it closes them when ctx
// ends, and returns once everything it started (TCP connections,
// forwards) has stopped. Forwarded queries leave from the daemon's
// namespace (ordinary sockets of the process), so loopback upstreams
// work.
func (r *Resolver) Serve(ctx context.Context, udp net.PacketConn, tcp net.Listener, view View) {
	stop, err := r.Start(udp, tcp, view)
	if err != nil {
		r.cfg.Logger.Debug("serve resolver", "err", err)
	} else {
		<-ctx.Done()
		stop()
	}
	if udp != nil {
		_ = udp.Close()
	}
	if tcp != nil {
		_ = tcp.Close()
	}
}

// Start answers the queries arriving on udp and tcp (either may be nil)
// with names from view, until stop is called. It costs no goroutine of
// its own: a *net.UDPConn and a *net.TCPListener are served by the
// Resolver's poller, shared by every sandbox (other kinds of socket get
// goroutines).
// Once stop has returned nothing Start began runs any more (forwards
// and TCP connections have ended) and the caller closes the sockets.
func (r *Resolver) Start(udp net.PacketConn, tcp net.Listener, view View) (stop func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{r: r, view: view, ctx: ctx}
	var loops sync.WaitGroup
	var socks []*pollSock
	stopAll := func() {
		for _, u := range socks {
			r.poll.remove(u)
		}
	}
	switch c := udp.(type) {
	case nil:
	case *net.UDPConn:
		u, err := r.poll.add(s, c)
		if err != nil {
			cancel()
			return nil, err
		}
		socks = append(socks, u)
	default:
		loops.Go(func() { s.readPackets(c) })
	}
	switch l := tcp.(type) {
	case nil:
	case *net.TCPListener:
		u, err := r.poll.add(s, l)
		if err != nil {
			stopAll()
			cancel()
			loops.Wait()
			return nil, err
		}
		socks = append(socks, u)
	default:
		loops.Go(func() { s.serveTCP(l) })
	}
	return func() {
		stopAll()
		cancel()
		// Readers and the accepting goroutine stop on ctx through their
		// sockets' deadlines.
		if udp != nil {
			_ = udp.SetReadDeadline(time.Now())
		}
		if d, ok := tcp.(interface{ SetDeadline(time.Time) error }); ok {
			_ = d.SetDeadline(time.Now())
		}
		loops.Wait()
		s.wg.Wait()
	}, nil
}

// server is one sandbox's sockets and view.
type server struct {
	r    *Resolver
	view View
	ctx  context.Context
	// wg counts forwards and TCP connections.
	wg sync.WaitGroup
	// tcpConns counts open TCP client connections.
	tcpConns atomic.Int32
}

// acquire takes a forwarding token, or reports that there is none.
func (r *Resolver) acquire() bool {
	select {
	case r.inflight <- struct{}{}:
		return true
	default:
		return false
	}
}

func (r *Resolver) release() { <-r.inflight }
