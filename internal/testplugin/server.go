// Package testplugin is a small but real Docker network and IPAM plugin,
// written from the protocol description, for patchbay's tests: the
// program in cmd/pbtestplugin serves it on a unix socket, and tests run
// it as a separate process (Build, Start). Its network driver works as
// kuryr or weave do: a bridge per network and, on Join, a veth pair in
// the daemon's namespace whose free end it names as SrcName for the
// daemon to move into the sandbox. Its IPAM keeps pools in memory (so it
// asks for request replay). It answers errors in the shapes real plugins
// use, and network options (-o testplugin.fail=…) make it fail on
// purpose. Every call it gets is appended to a journal file, so tests
// can check what went over the wire.
package testplugin

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/patchbay/patchbay/plugin/wire"
	"github.com/vishvananda/netlink"
)

// Options that make the test plugin misbehave, given as network driver
// options (-o) or IPAM options (--ipam-opt).
const (
	// OptFail names the error shape CreateNetwork (or RequestPool)
	// answers with: "err200" ({"Err"} with 200), "error500" ({"Error"}
	// with 500), "err500" ({"Err"} with 500), "text500" (a plain body),
	// "notfound" (404).
	OptFail = "testplugin.fail"
	// OptJoin changes Join's answer: "nosuchif" names an interface that
	// does not exist; "crash" exits the process in the middle of the
	// join, after the veth pair was made.
	OptJoin = "testplugin.join"
)

// Server is the plugin: an http.Handler.
type Server struct {
	implements []string
	h          *netlink.Handle
	journal    io.Writer
	mux        *http.ServeMux

	// mu guards the maps below and serialises the journal.
	mu   sync.Mutex
	nets map[string]*tnet
	eps  map[string]*tep
	ipam *pools
	// state is the file the network driver's state is kept in (as real
	// plugins keep theirs), so a restarted plugin knows its networks;
	// the IPAM state is kept in memory only.
	state string
}

// NewServer returns a plugin implementing ifaces, making its links
// through h (a netlink handle in the daemon's namespace), journalling to
// journal (may be nil).
func NewServer(ifaces []string, h *netlink.Handle, journal io.Writer, state string) *Server {
	s := &Server{implements: ifaces, h: h, journal: journal, mux: http.NewServeMux(),
		nets: map[string]*tnet{}, eps: map[string]*tep{}, ipam: newPools(), state: state}
	s.load()
	s.mux.HandleFunc("POST /Plugin.Activate", func(w http.ResponseWriter, r *http.Request) {
		s.record("Plugin.Activate", nil)
		reply(w, http.StatusOK, wire.ActivateResponse{Implements: s.implements})
	})
	for _, i := range ifaces {
		switch i {
		case wire.NetworkDriver:
			s.networkRoutes()
		case wire.IpamDriver:
			s.ipamRoutes()
		}
	}
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// handle registers a method whose body decodes into a fresh Req.
func handle[Req any](s *Server, method string, fn func(req *Req) (int, any)) {
	s.mux.HandleFunc("POST /"+method, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		s.record(method, body)
		req := new(Req)
		if len(body) > 0 {
			if err := json.Unmarshal(body, req); err != nil {
				reply(w, http.StatusBadRequest, map[string]string{"Err": "bad request: " + err.Error()})
				return
			}
		}
		code, resp := fn(req)
		reply(w, code, resp)
	})
}

func (s *Server) record(method string, body []byte) {
	if s.journal == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.journal, "%s %s\n", method, strings.TrimSpace(string(body)))
}

// raw is a reply body written as is.
type raw string

func reply(w http.ResponseWriter, code int, v any) {
	if r, ok := v.(raw); ok {
		w.WriteHeader(code)
		_, _ = io.WriteString(w, string(r))
		return
	}
	w.Header().Set("Content-Type", wire.MediaType)
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// failure is the reply of a call asked to fail in the given shape.
func failure(shape, msg string) (int, any) {
	switch shape {
	case "error500":
		return http.StatusInternalServerError, map[string]string{"Error": msg}
	case "err500":
		return http.StatusInternalServerError, map[string]string{"Err": msg}
	case "text500":
		return http.StatusInternalServerError, raw(msg)
	case "notfound":
		return http.StatusNotFound, raw("404 page not found")
	case "ipam200":
		return http.StatusOK, map[string]string{"Error": msg}
	default:
		return http.StatusOK, map[string]string{"Err": msg}
	}
}

// genericOptions returns the -o options inside Docker's generic-options
// shape.
func genericOptions(opts map[string]any) map[string]string {
	out := map[string]string{}
	g, _ := opts["com.docker.network.generic"].(map[string]any)
	for k, v := range g {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// ok is the empty success reply.
func ok() (int, any) { return http.StatusOK, struct{}{} }

// Exit is how the process ends on purpose (OptJoin=crash); a variable of
// the server so tests in-process could replace it.
func (s *Server) exit() { os.Exit(3) }

// saved is the network driver's state file.
type saved struct {
	Nets map[string]*tnet
	Eps  map[string]*tep
}

func (s *Server) load() {
	if s.state == "" {
		return
	}
	b, err := os.ReadFile(s.state)
	if err != nil {
		return
	}
	var st saved
	if json.Unmarshal(b, &st) == nil {
		if st.Nets != nil {
			s.nets = st.Nets
		}
		if st.Eps != nil {
			s.eps = st.Eps
		}
	}
}

// saveLocked writes the network driver's state. Caller holds mu.
func (s *Server) saveLocked() {
	if s.state == "" {
		return
	}
	b, _ := json.Marshal(saved{Nets: s.nets, Eps: s.eps})
	_ = os.WriteFile(s.state, b, 0o600)
}
