// Package etcd implements cluster.Store over etcd's v3 client: the
// distributed store patchbay hosts share when they run as a cluster
// (DESIGN.md names etcd as the multi-host store). It is a thin adapter:
// conditional writes are etcd transactions comparing a key's
// ModRevision (compare and swap) or CreateRevision 0 (create only),
// watches are etcd watches from the revision after the one given, and
// leases are etcd leases, whose expiry or revocation deletes their keys
// with Delete events. Errors carry the kinds of package cnm.
package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/store/cluster"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/namespace"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DefaultDialTimeout bounds Open's first contact with the store when
// Config.DialTimeout is zero.
const DefaultDialTimeout = 5 * time.Second

// Config configures a client.
type Config struct {
	// Endpoints are the etcd members' client addresses, host:port.
	// Required.
	Endpoints []string
	// TLS, when set, secures the connection (CA, client certificate).
	TLS *tls.Config
	// DialTimeout bounds the connection and Open's first request, so a
	// store that cannot be reached fails Open instead of hanging.
	// Default DefaultDialTimeout.
	DialTimeout time.Duration
	// Prefix, when set, is put before every key, so several users (or
	// tests) can share one etcd without seeing each other's keys. Keys
	// and events are seen without it.
	Prefix string
}

// Store is one client of an etcd cluster. It is safe for concurrent use.
type Store struct {
	cli   *clientv3.Client
	kv    clientv3.KV
	watch clientv3.Watcher
	lease clientv3.Lease
	// stop ends every watch; wg counts their goroutines.
	stop context.Context
	halt context.CancelFunc
	wg   sync.WaitGroup

	mu     sync.Mutex
	closed bool
}

var _ cluster.Store = (*Store)(nil)

// Open connects to etcd and checks, within DialTimeout and ctx, that the
// store answers; an unreachable store is an ErrUnavailable naming the
// endpoints.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, cnm.Invalid("open etcd: no endpoints")
	}
	for _, ep := range cfg.Endpoints {
		if ep == "" || strings.Contains(ep, "/") {
			return nil, cnm.Invalid("open etcd: endpoint %q is not host:port", ep)
		}
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	eps := strings.Join(cfg.Endpoints, ",")
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		TLS:         cfg.TLS,
		DialTimeout: cfg.DialTimeout,
		// The client's own log would go to stderr at info level; every
		// failure it sees reaches the caller as an error instead.
		Logger:               zap.NewNop(),
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
	})
	if err != nil {
		return nil, cnm.Unavailable("open etcd %s: %w", eps, err)
	}
	s := &Store{cli: cli, kv: cli.KV, watch: cli.Watcher, lease: cli.Lease}
	if cfg.Prefix != "" {
		s.kv = namespace.NewKV(cli.KV, cfg.Prefix)
		s.watch = namespace.NewWatcher(cli.Watcher, cfg.Prefix)
		s.lease = namespace.NewLease(cli.Lease, cfg.Prefix)
	}
	s.stop, s.halt = context.WithCancel(context.Background())
	pctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if _, err := s.kv.Get(pctx, "/", clientv3.WithCountOnly()); err != nil {
		s.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("open etcd %s: %w", eps, ctx.Err())
		}
		return nil, cnm.Unavailable("open etcd %s: not reachable within %v: %w", eps, cfg.DialTimeout, err)
	}
	return s, nil
}

// Close stops the client's watches, waits for them and disconnects.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.halt()
	s.wg.Wait()
	// A closed client reports its context's cancellation; that is the
	// expected end, not a failure.
	if err := s.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("close etcd client: %w", err)
	}
	return nil
}

// begin checks the client and ctx before a call.
func (s *Store) begin(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return cnm.Unavailable("%s: cluster store client closed", op)
	}
	return nil
}

// classify turns an etcd client error into an error of a cnm kind.
func classify(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		// The caller's deadline or cancellation, whatever the client
		// made of it.
		return cnm.Unavailable("%s: %w", op, cerr)
	}
	switch {
	case errors.Is(err, rpctypes.ErrLeaseNotFound):
		return cnm.NotFound("%s: no such lease (expired?)", op)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return cnm.Unavailable("%s: %w", op, err)
	}
	code := codes.Unknown
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		code = ee.Code()
	} else if st, ok := status.FromError(err); ok {
		code = st.Code()
	}
	switch code {
	case codes.InvalidArgument, codes.OutOfRange:
		return cnm.Invalid("%s: %w", op, err)
	case codes.NotFound:
		return cnm.NotFound("%s: %w", op, err)
	case codes.AlreadyExists, codes.Aborted:
		return cnm.Conflict("%s: %w", op, err)
	}
	return cnm.Unavailable("%s: %w", op, err)
}
