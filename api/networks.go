package api

import (
	"net/http"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
)

func (s *Server) networkList(w http.ResponseWriter, r *http.Request) {
	f, err := ParseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	out := []NetworkResource{}
	for _, n := range s.eng.Networks() {
		ok, err := f.MatchNetwork(n)
		if err != nil {
			writeError(w, err)
			return
		}
		if ok {
			out = append(out, NetworkFrom(n))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) networkInspect(w http.ResponseWriter, r *http.Request) {
	n, err := s.eng.Network(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, NetworkFrom(n))
}

func (s *Server) networkCreate(w http.ResponseWriter, r *http.Request) {
	var req NetworkCreateRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.EnableIPv4 != nil && !*req.EnableIPv4 {
		writeError(w, cnm.Invalid("IPv6-only networks are not supported yet"))
		return
	}
	if req.Scope != "" && req.Scope != cnm.ScopeLocal {
		writeError(w, cnm.Invalid("scope %q is not supported yet", req.Scope))
		return
	}
	if req.Ingress || req.ConfigOnly {
		writeError(w, cnm.Invalid("ingress and config-only networks are not supported"))
		return
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
	n, err := s.eng.CreateNetwork(r.Context(), ec)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, NetworkCreateResponse{ID: n.ID})
}

func (s *Server) networkRemove(w http.ResponseWriter, r *http.Request) {
	if err := s.eng.RemoveNetwork(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func endpointOptions(es *EndpointSettings) engine.EndpointOptions {
	var o engine.EndpointOptions
	if es == nil {
		return o
	}
	o.Aliases, o.MAC = es.Aliases, es.MacAddress
	if es.IPAMConfig != nil {
		o.IPv4, o.IPv6 = es.IPAMConfig.IPv4Address, es.IPAMConfig.IPv6Address
	}
	return o
}

func (s *Server) networkConnect(w http.ResponseWriter, r *http.Request) {
	var req NetworkConnectRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if _, err := s.eng.Connect(r.Context(), r.PathValue("id"), req.Container, endpointOptions(req.EndpointConfig)); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) networkDisconnect(w http.ResponseWriter, r *http.Request) {
	var req NetworkDisconnectRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := s.eng.Disconnect(r.Context(), r.PathValue("id"), req.Container, req.Force); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) networkPrune(w http.ResponseWriter, r *http.Request) {
	names, err := s.eng.PruneNetworks(r.Context())
	if names == nil {
		names = []string{}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, NetworksPruneReport{NetworksDeleted: names})
}
