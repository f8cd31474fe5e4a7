package driver

import (
	"context"

	"github.com/patchbay/patchbay/cnm"
)

// Interfaceless is a driver whose networks have no kernel objects and
// whose endpoints have no interface (the null and host drivers): every
// call succeeds and does nothing, and it takes no options.
type Interfaceless struct {
	name    string
	needsNS bool
}

// NewInterfaceless returns such a driver named name; needsNamespace is
// false when its sandboxes live in the host namespace.
func NewInterfaceless(name string, needsNamespace bool) *Interfaceless {
	return &Interfaceless{name: name, needsNS: needsNamespace}
}

// Type implements Driver.
func (d *Interfaceless) Type() string { return d.name }

// Capabilities implements Driver.
func (d *Interfaceless) Capabilities(context.Context) (Capability, error) {
	return Capability{DataScope: ScopeLocal, ConnectivityScope: ScopeLocal, NeedsNamespace: d.needsNS}, nil
}

// ParseOptions implements Driver: there are none.
func (d *Interfaceless) ParseOptions(opts map[string]string) (any, error) {
	for k := range opts {
		return nil, cnm.Invalid("unknown option %q for driver %s", k, d.name)
	}
	return nil, nil
}

// CreateNetwork implements Driver.
func (*Interfaceless) CreateNetwork(ctx context.Context, _ Host, _ Network) (NetworkResult, error) {
	return NetworkResult{}, ctx.Err()
}

// DeleteNetwork implements Driver.
func (*Interfaceless) DeleteNetwork(context.Context, Host, Network) error { return nil }

// CreateEndpoint implements Driver.
func (d *Interfaceless) CreateEndpoint(ctx context.Context, _ Host, _ Network, ep Endpoint) (EndpointResult, error) {
	return EndpointResult{}, AcceptEndpoint(ctx, d.name, ep)
}

// DeleteEndpoint implements Driver.
func (*Interfaceless) DeleteEndpoint(context.Context, Host, Network, Endpoint) error { return nil }

// Join implements Driver: the sandbox gets no interface.
func (*Interfaceless) Join(ctx context.Context, _ Host, _ Network, _ Endpoint, _ Sandbox) (JoinInfo, error) {
	return JoinInfo{}, ctx.Err()
}

// Leave implements Driver.
func (*Interfaceless) Leave(context.Context, Host, Network, Endpoint) error { return nil }
