// Package dockerplugin serves patchbay to a real dockerd as a legacy
// (v1) Docker plugin: Plugin.Activate, every NetworkDriver call and every
// IpamDriver call, on a unix socket in Docker's plugin directory
// (/run/docker/plugins/patchbay.sock). It speaks the wire protocol (the
// bodies of package plugin/wire) and maps each call onto the engine:
// networks Docker creates are patchbay networks with Docker's ID,
// endpoints Docker joins are patchbay endpoints of a sandbox keyed by
// Docker's SandboxKey, whose interface the driver leaves in the host
// namespace for dockerd to move, and published ports go through the
// engine's nftables maps (ProgramExternalConnectivity).
package dockerplugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/plugin/wire"
)

// Name is the plugin's name: Docker's -d and --ipam-driver value, and
// the socket's file name (Name+".sock").
const Name = "patchbay"

// DefaultDir is where dockerd looks for legacy plugin sockets.
const DefaultDir = "/run/docker/plugins"

// Engine is what the server needs of the engine.
type Engine interface {
	CreateNetworkWithID(ctx context.Context, id string, req engine.NetworkCreate, patchbayIPAM bool) (cnm.Network, error)
	RemoveNetwork(ctx context.Context, ref string) error
	Network(ref string) (engine.NetworkInfo, error)
	JoinDocker(ctx context.Context, req engine.DockerEndpoint) (engine.DockerJoin, error)
	LeaveDocker(ctx context.Context, netID, epID string) error
	PublishDocker(ctx context.Context, netID, epID string, ports []engine.DockerPort) ([]cnm.PortMapping, error)
	UnpublishDocker(ctx context.Context, netID, epID string) error
	DefaultIPAM() ipam.Driver
}

// Server is the plugin's HTTP server.
type Server struct {
	eng  Engine
	ipam ipam.Driver
	log  *slog.Logger

	// mu guards pending: endpoints Docker created and has not joined
	// yet, by network and endpoint ID (CreateEndpoint carries their
	// addresses; Join does not).
	mu      sync.Mutex
	pending map[string]pendingEndpoint
}

type pendingEndpoint struct {
	v4, v6 string
	mac    net.HardwareAddr
}

// New returns a server for eng.
func New(eng Engine, log *slog.Logger) *Server {
	return &Server{eng: eng, ipam: eng.DefaultIPAM(), log: log, pending: map[string]pendingEndpoint{}}
}

// Handler routes POST /<Interface>.<Method>.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /Plugin.Activate", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, wire.ActivateResponse{Implements: []string{wire.NetworkDriver, wire.IpamDriver}})
	})
	for name, h := range s.networkHandlers() {
		mux.HandleFunc("POST /"+wire.NetworkDriver+"."+name, s.wrap(name, h, false))
	}
	for name, h := range s.ipamHandlers() {
		mux.HandleFunc("POST /"+wire.IpamDriver+"."+name, s.wrap(name, h, true))
	}
	return mux
}

// handler decodes nothing itself: it gets the body and returns the reply
// value or an error.
type handler func(ctx context.Context, body []byte) (any, error)

// maxBody bounds a request body.
const maxBody = 1 << 20

func (s *Server) wrap(name string, h handler, isIPAM bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
		if err == nil {
			var out any
			out, err = h(r.Context(), body)
			if err == nil {
				if out == nil {
					out = struct{}{}
				}
				reply(w, http.StatusOK, out)
				return
			}
		}
		s.log.Debug("docker plugin call failed", "call", name, "err", err)
		resp := wire.Response{Err: err.Error()}
		if isIPAM {
			resp = wire.Response{Error: err.Error()}
		}
		reply(w, statusOf(err), resp)
	}
}

// statusOf maps an error kind to an HTTP status; dockerd reads the
// message either way.
func statusOf(err error) int {
	switch {
	case errors.Is(err, cnm.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, cnm.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, cnm.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, cnm.ErrForbidden):
		return http.StatusForbidden
	default:
		return http.StatusInternalServerError
	}
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", wire.MediaType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body into v; an empty body leaves v zero.
func decode(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return cnm.Invalid("decode request: %v", err)
	}
	return nil
}

// Serve listens on Name+".sock" in dir until ctx ends, then removes the
// socket. A stale socket file left by a crash is replaced.
func (s *Server) Serve(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create plugin directory: %w", err)
	}
	path := filepath.Join(dir, Name+".sock")
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale plugin socket: %w", err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return fmt.Errorf("restrict plugin socket: %w", err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	s.log.Info("serving Docker plugin", "socket", path)
	err = srv.Serve(l)
	cancel()
	<-done
	_ = os.Remove(path)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
