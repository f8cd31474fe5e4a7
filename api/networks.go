package api

import (
	"net/http"
	"time"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
)

// networkList is GET /networks. As in Docker, list entries carry no
// endpoints (Containers is empty); inspect has them.
func (s *Server) networkList(w http.ResponseWriter, r *http.Request) {
	f, err := types.ParseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	if err := checkNetworkFilters(f); err != nil {
		writeError(w, err)
		return
	}
	out := []types.NetworkResource{}
	for _, n := range s.eng.Networks() {
		ok, err := matchNetwork(f, n)
		if err != nil {
			writeError(w, err)
			return
		}
		if ok {
			nr := NetworkFrom(n)
			nr.Containers = map[string]types.EndpointResource{}
			out = append(out, nr)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// networkInspect is GET /networks/{id}: full ID, exact name or unique ID
// prefix; scope, if given, must be the network's; verbose must be a
// boolean (there are no swarm services to add).
func (s *Server) networkInspect(w http.ResponseWriter, r *http.Request) {
	if _, err := strictBoolParam(r, "verbose"); err != nil {
		writeError(w, err)
		return
	}
	ref := r.PathValue("id")
	n, err := s.eng.Network(ref)
	if err != nil {
		writeError(w, err)
		return
	}
	if sc := r.URL.Query().Get("scope"); sc != "" && sc != n.Scope {
		writeError(w, cnm.NotFound("network %s not found", ref))
		return
	}
	writeJSON(w, http.StatusOK, NetworkFrom(n))
}

// networkCreate is POST /networks/create.
func (s *Server) networkCreate(w http.ResponseWriter, r *http.Request) {
	var req types.NetworkCreateRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	ec, err := networkCreateOf(req)
	if err != nil {
		writeError(w, err)
		return
	}
	n, err := s.eng.CreateNetwork(r.Context(), ec)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, types.NetworkCreateResponse{ID: n.ID})
}

// networkCreateOf checks a create request for what patchbay cannot do
// and turns it into the engine's request.
func networkCreateOf(req types.NetworkCreateRequest) (engine.NetworkCreate, error) {
	switch {
	case req.EnableIPv4 != nil && !*req.EnableIPv4:
		return engine.NetworkCreate{}, cnm.Invalid("IPv6-only networks (EnableIPv4=false) are not supported yet")
	case req.Scope != "" && req.Scope != cnm.ScopeLocal:
		return engine.NetworkCreate{}, cnm.Invalid("scope %q is not supported: patchbay creates local networks", req.Scope)
	case req.Ingress:
		return engine.NetworkCreate{}, cnm.Invalid("ingress networks are not supported: patchbay has no swarm")
	case req.ConfigOnly:
		return engine.NetworkCreate{}, cnm.Invalid("config-only networks are not supported")
	case req.ConfigFrom != nil && req.ConfigFrom.Network != "":
		return engine.NetworkCreate{}, cnm.Invalid("config-from networks are not supported")
	}
	ec := engine.NetworkCreate{
		Name: req.Name, Driver: req.Driver, Options: req.Options, Labels: req.Labels,
		Internal: req.Internal, Attachable: req.Attachable, EnableIPv6: req.EnableIPv6,
	}
	if req.IPAM != nil {
		ec.IPAMDriver, ec.IPAMOptions = req.IPAM.Driver, req.IPAM.Options
		for _, c := range req.IPAM.Config {
			ec.IPAM = append(ec.IPAM, engine.IPAMRequest{Subnet: c.Subnet, IPRange: c.IPRange, Gateway: c.Gateway, AuxAddresses: c.AuxAddress})
		}
	}
	return ec, nil
}

func (s *Server) networkRemove(w http.ResponseWriter, r *http.Request) {
	if err := s.eng.RemoveNetwork(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// endpointOptions turns endpoint settings into the engine's options and
// refuses the settings patchbay cannot honour.
func endpointOptions(es *types.EndpointSettings) (engine.EndpointOptions, error) {
	var o engine.EndpointOptions
	if es == nil {
		return o, nil
	}
	switch {
	case len(es.Links) > 0:
		return o, cnm.Invalid("links are not supported yet")
	case len(es.DriverOpts) > 0:
		return o, cnm.Invalid("endpoint driver options are not supported")
	case es.GwPriority != 0:
		return o, cnm.Invalid("gateway priority is not supported")
	case es.IPAMConfig != nil && len(es.IPAMConfig.LinkLocalIPs) > 0:
		return o, cnm.Invalid("link-local addresses are not supported")
	}
	o.Aliases, o.MAC = es.Aliases, es.MacAddress
	if es.IPAMConfig != nil {
		o.IPv4, o.IPv6 = es.IPAMConfig.IPv4Address, es.IPAMConfig.IPv6Address
	}
	return o, nil
}

// containerRef accepts Docker's "/name" form of a container name too.
func containerRef(ref string) string {
	if len(ref) > 1 && ref[0] == '/' {
		return ref[1:]
	}
	return ref
}

func (s *Server) networkConnect(w http.ResponseWriter, r *http.Request) {
	var req types.NetworkConnectRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	opts, err := endpointOptions(req.EndpointConfig)
	if err != nil {
		writeError(w, err)
		return
	}
	if req.Container == "" {
		writeError(w, cnm.Invalid("no container specified"))
		return
	}
	if _, err := s.eng.Connect(r.Context(), r.PathValue("id"), containerRef(req.Container), opts); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) networkDisconnect(w http.ResponseWriter, r *http.Request) {
	var req types.NetworkDisconnectRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Container == "" {
		writeError(w, cnm.Invalid("no container specified"))
		return
	}
	if err := s.eng.Disconnect(r.Context(), r.PathValue("id"), containerRef(req.Container), req.Force); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// networkPrune is POST /networks/prune with the until, label and label!
// filters.
func (s *Server) networkPrune(w http.ResponseWriter, r *http.Request) {
	f, err := types.ParseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	match, err := pruneMatcher(f, time.Now())
	if err != nil {
		writeError(w, err)
		return
	}
	names, err := s.eng.PruneNetworksMatching(r.Context(), match)
	if err != nil {
		writeError(w, err)
		return
	}
	if names == nil {
		names = []string{}
	}
	writeJSON(w, http.StatusOK, types.NetworksPruneReport{NetworksDeleted: names})
}
