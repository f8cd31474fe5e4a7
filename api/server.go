// Package api is patchbay's HTTP server: the Docker Engine API network
// routes plus patchbay's own sandbox routes, over a unix socket. It maps
// error kinds to status codes; nothing else in patchbay knows HTTP. The
// wire types it reads and writes live in api/types, which the client
// shares without linking this server or the engine.
package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
)

// MinAPIVersion is the oldest /vX.Y/ prefix patchbay accepts.
const MinAPIVersion = "1.24"

// Version is patchbay's version.
const Version = "0.1.0"

// MaxBodySize bounds every request body; a larger one is refused with
// 413 before it is read to the end.
const MaxBodySize = 1 << 20

// Default timeouts of a Server.
const (
	// DefaultBodyTimeout bounds reading one request's body: a client
	// sending it a byte at a time is cut off then.
	DefaultBodyTimeout = 30 * time.Second
	// DefaultIdleTimeout closes a keep-alive connection with no request
	// for that long.
	DefaultIdleTimeout = 2 * time.Minute
	// headerTimeout bounds reading a request's headers.
	headerTimeout = 10 * time.Second
)

// Server serves an engine.
type Server struct {
	eng *engine.Engine
	log *slog.Logger
	mux *http.ServeMux
	// plugins lists the plugins for GET /plugins/legacy (plugins.go).
	plugins PluginLister
	// BodyTimeout and IdleTimeout may be changed before Serve; NewServer
	// sets the defaults. Each bounds one connection only: a slow client
	// holds its own connection, never another's. Neither bounds a
	// response (a wait, a followed log) nor an upgraded connection.
	BodyTimeout time.Duration
	IdleTimeout time.Duration
}

// NewServer returns the HTTP handler for an engine.
func NewServer(eng *engine.Engine, log *slog.Logger) *Server {
	s := &Server{eng: eng, log: log, mux: http.NewServeMux(), BodyTimeout: DefaultBodyTimeout, IdleTimeout: DefaultIdleTimeout}
	routes := map[string]http.HandlerFunc{
		"GET /_ping":                     s.ping,
		"HEAD /_ping":                    s.ping,
		"GET /version":                   s.version,
		"GET /info":                      s.info,
		"GET /networks":                  s.networkList,
		"POST /networks/create":          s.networkCreate,
		"POST /networks/prune":           s.networkPrune,
		"GET /networks/{id}":             s.networkInspect,
		"DELETE /networks/{id}":          s.networkRemove,
		"POST /networks/{id}/connect":    s.networkConnect,
		"POST /networks/{id}/disconnect": s.networkDisconnect,
		"GET /containers/json":           s.containerList,
		"GET /containers/{id}/json":      s.containerInspect,
		"GET /sandboxes":                 s.sandboxList,
		"POST /sandboxes/create":         s.sandboxCreate,
		"GET /sandboxes/{id}":            s.sandboxInspect,
		"DELETE /sandboxes/{id}":         s.sandboxRemove,
		"POST /sandboxes/{id}/stop":      s.sandboxStop,
		"POST /sandboxes/{id}/kill":      s.sandboxKill,
		"POST /sandboxes/{id}/wait":      s.sandboxWait,
		"GET /sandboxes/{id}/logs":       s.sandboxLogs,
		"POST /sandboxes/{id}/exec":      s.sandboxExec,
		"GET /firewall":                  s.firewall,
	}
	// Exec, attach and lifecycle routes (see processRoutes), and the
	// swarm and image answers clients depend on (see compatRoutes).
	maps.Copy(routes, s.processRoutes())
	maps.Copy(routes, s.compatRoutes())
	for pattern, h := range routes {
		s.mux.HandleFunc(pattern, h)
	}
	s.pluginRoutes()
	return s
}

var versionPrefix = regexp.MustCompile(`^/v([0-9]+\.[0-9]+)/`)

// ServeHTTP checks and strips an optional /vX.Y API version prefix,
// refuses paths with dot segments, bounds the body and dispatches. What
// no route serves gets Docker's error shape: 405 for a known path with
// another method, 501 for Docker API areas patchbay does not provide,
// 404 for the rest.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Server", "patchbay/"+Version+" (linux)")
	h.Set("Api-Version", types.APIVersion)
	h.Set("Ostype", "linux")
	if m := versionPrefix.FindStringSubmatch(r.URL.Path); m != nil {
		if err := checkVersion(m[1]); err != nil {
			writeError(w, err)
			return
		}
		r.URL.Path = r.URL.Path[len(m[0])-1:]
		if r.URL.RawPath != "" {
			r.URL.RawPath = r.URL.RawPath[len(m[0])-1:]
		}
	}
	if err := checkPath(r.URL.Path); err != nil {
		writeError(w, err)
		return
	}
	if r.Body != nil {
		// Attached runs too: the limit covers the JSON request, not the
		// upgraded connection that follows.
		r.Body = http.MaxBytesReader(w, s.bodyDeadline(w, r), MaxBodySize)
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.unrouted(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// bodyDeadline sets the connection's read deadline BodyTimeout ahead
// while r's body is read, and clears it once the body has been read to
// its end, so the handler's wait, its streamed response or the upgraded
// connection that follows is not cut. A body that does not arrive in
// time fails to read, and the server closes the connection.
func (s *Server) bodyDeadline(w http.ResponseWriter, r *http.Request) io.ReadCloser {
	if r.ContentLength == 0 || r.Body == http.NoBody || s.BodyTimeout <= 0 {
		return r.Body
	}
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(s.BodyTimeout)); err != nil {
		return r.Body
	}
	return &deadlineBody{ReadCloser: r.Body, rc: rc}
}

// deadlineBody clears the read deadline when its body reaches EOF.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// Serve serves on a listener until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	// No ReadTimeout or WriteTimeout: they would cut waits, followed logs
	// and attached runs. The body has its own deadline (bodyDeadline).
	srv := &http.Server{Handler: s, ReadHeaderTimeout: headerTimeout, IdleTimeout: s.IdleTimeout, MaxHeaderBytes: 64 << 10}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(l); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// firewall returns the rules patchbay installed, as nft would print them.
func (s *Server) firewall(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"Ruleset": s.eng.FirewallRules()})
}

func (s *Server) sandboxList(w http.ResponseWriter, r *http.Request) {
	all := boolParam(r, "all")
	out := []types.Sandbox{}
	for _, sb := range s.eng.Sandboxes() {
		if all || sb.Running() {
			out = append(out, SandboxFrom(sb))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) sandboxInspect(w http.ResponseWriter, r *http.Request) {
	sb, err := s.eng.Sandbox(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, SandboxFrom(sb))
}

func (s *Server) sandboxRemove(w http.ResponseWriter, r *http.Request) {
	if err := s.eng.RemoveSandbox(r.Context(), r.PathValue("id"), boolParam(r, "force")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) sandboxStop(w http.ResponseWriter, r *http.Request) {
	t := 10 * time.Second
	if v := r.URL.Query().Get("t"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, cnm.Invalid("invalid timeout %q", v))
			return
		}
		t = time.Duration(n) * time.Second
	}
	if err := s.eng.Stop(r.Context(), r.PathValue("id"), t); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) sandboxKill(w http.ResponseWriter, r *http.Request) {
	sig := syscall.SIGKILL
	if v := r.URL.Query().Get("signal"); v != "" {
		n, err := ParseSignal(v)
		if err != nil {
			writeError(w, err)
			return
		}
		sig = n
	}
	if err := s.eng.Kill(r.PathValue("id"), sig); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) sandboxWait(w http.ResponseWriter, r *http.Request) {
	code, err := s.eng.Wait(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"StatusCode": code})
}

// sandboxLogs streams the log of a sandbox's process (detached or with
// a terminal) as Docker's multiplexed stream, each record on its stream:
// follow, timestamps, since, until and tail as on Docker's logs route,
// and stdout and stderr (both when neither is given).
func (s *Server) sandboxLogs(w http.ResponseWriter, r *http.Request) {
	info, err := s.eng.Sandbox(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	q, err := parseLogQuery(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if !q.filter.Stdout && !q.filter.Stderr {
		q.filter.Stdout, q.filter.Stderr = true, true
	}
	s.streamLog(w, r, info, q, false)
}

// ParseSignal accepts a number or a name with or without SIG.
func ParseSignal(v string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(v); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	names := map[string]syscall.Signal{
		"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "KILL": syscall.SIGKILL,
		"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "TERM": syscall.SIGTERM, "STOP": syscall.SIGSTOP, "CONT": syscall.SIGCONT,
	}
	name := v
	if len(name) > 3 && name[:3] == "SIG" {
		name = name[3:]
	}
	if sig, ok := names[name]; ok {
		return sig, nil
	}
	return 0, cnm.Invalid("invalid signal %q", v)
}
