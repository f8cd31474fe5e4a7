package daemon

import (
	"context"
	"sync"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/drivers/remote"
	"github.com/patchbay/patchbay/ipam"
	ipamremote "github.com/patchbay/patchbay/ipam/remote"
	"github.com/patchbay/patchbay/plugin"
	"github.com/patchbay/patchbay/plugin/wire"
)

// plugins finds Docker plugins for the engine: network drivers (the
// registry's Finder) and IPAM drivers (the engine's IPAMFinder), and
// lists them for `plugin ls`. Plugins are found lazily, on first use by
// name; one that restarted is found again on the next call after a
// failed one (see plugin.Caller).
type plugins struct {
	m *plugin.Manager

	// mu guards ipams: one IPAM driver per plugin name, as it keeps the
	// prefixes of the pools it handed out.
	mu    sync.Mutex
	ipams map[string]*ipamremote.Driver
}

func newPlugins(dirs []string) *plugins {
	return &plugins{m: plugin.NewManager(dirs), ipams: map[string]*ipamremote.Driver{}}
}

// findDriver is the registry's Finder: the named plugin, activated, if
// it implements NetworkDriver.
func (p *plugins) findDriver(ctx context.Context, name string) (driver.Driver, error) {
	if _, err := p.m.Get(ctx, name, wire.NetworkDriver); err != nil {
		return nil, err
	}
	return remote.New(name, p.m.Caller(name, wire.NetworkDriver)), nil
}

// findIPAM is the engine's IPAMFinder. It makes no call: the plugin is
// located and activated on the driver's first call, and a missing one
// fails that call naming it.
func (p *plugins) findIPAM(_ context.Context, name string) (ipam.Driver, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.ipams[name]
	if d == nil {
		d = ipamremote.New(name, p.m.Caller(name, wire.IpamDriver))
		p.ipams[name] = d
	}
	return d, nil
}

// List is what GET /plugins/legacy serves (api.PluginLister).
func (p *plugins) List(ctx context.Context) []types.Plugin {
	var out []types.Plugin
	for _, i := range p.m.List(ctx) {
		out = append(out, pluginInfo(i))
	}
	return out
}

// Inspect is what GET /plugins/legacy/{name}/json serves
// (api.PluginLister).
func (p *plugins) Inspect(ctx context.Context, name string) (types.Plugin, error) {
	i, err := p.m.Inspect(ctx, name)
	if err != nil {
		return types.Plugin{}, err
	}
	return pluginInfo(i), nil
}

func pluginInfo(i plugin.Info) types.Plugin {
	out := types.Plugin{Name: i.Name, Implements: i.Implements, Address: i.Addr, File: i.File, Status: i.Status}
	if t := i.TLS; t != nil {
		out.TLS = &types.PluginTLS{InsecureSkipVerify: t.InsecureSkipVerify, CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile}
	}
	return out
}
