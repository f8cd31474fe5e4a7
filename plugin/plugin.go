// Package plugin speaks Docker's legacy (v1) plugin protocol as a
// client: discovery of plugins by name through socket and spec files
// (discovery.go), the HTTP transport with its handshake, deadlines,
// retries and error shapes (client.go), and the Manager, which finds and
// activates plugins lazily, on first use, and finds a restarted one
// again. The wire bodies are in package plugin/wire. Packages
// drivers/remote and ipam/remote adapt the NetworkDriver and IpamDriver
// interfaces on top.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/patchbay/patchbay/cnm"
)

// Manager finds plugins by name and keeps the activated ones. Safe for
// concurrent use.
type Manager struct {
	disc Discovery

	mu     sync.Mutex
	active map[string]*Plugin
}

// Plugin is an activated plugin.
type Plugin struct {
	Client     *Client
	Implements []string
}

// NewManager returns a manager searching dirs (default DefaultDirs()).
func NewManager(dirs []string) *Manager {
	return &Manager{disc: Discovery{Dirs: slices.Clone(dirs)}, active: map[string]*Plugin{}}
}

// Dirs returns the directories the manager searches.
func (m *Manager) Dirs() []string { return m.disc.dirs() }

// Get returns the named plugin, activated, if it implements iface. A
// plugin no file names is an error of kind cnm.ErrNotFound; one that
// does not answer the handshake, of kind cnm.ErrUnavailable; one that
// implements something else, of kind cnm.ErrNotFound.
func (m *Manager) Get(ctx context.Context, name, iface string) (*Plugin, error) {
	m.mu.Lock()
	p := m.active[name]
	m.mu.Unlock()
	if p == nil {
		var err error
		if p, err = m.activate(ctx, name); err != nil {
			return nil, err
		}
	}
	if !slices.Contains(p.Implements, iface) {
		return nil, cnm.NotFound("plugin %s does not implement %s (implements %v)", name, iface, p.Implements)
	}
	return p, nil
}

func (m *Manager) activate(ctx context.Context, name string) (*Plugin, error) {
	spec, err := m.disc.Locate(name)
	if err != nil {
		return nil, err
	}
	c, err := NewClient(spec)
	if err != nil {
		return nil, err
	}
	impl, err := c.Activate(ctx)
	if err != nil {
		return nil, fmt.Errorf("activate: %w", asUnavailable(err))
	}
	p := &Plugin{Client: c, Implements: impl}
	m.mu.Lock()
	m.active[name] = p
	m.mu.Unlock()
	return p, nil
}

// asUnavailable gives a handshake that failed the unavailable kind: a
// plugin that cannot activate cannot be used.
func asUnavailable(err error) error {
	return cnm.Unavailable("%w", err)
}

// Forget drops an activated plugin, so the next Get locates and
// activates it again (after it restarted, possibly elsewhere).
func (m *Manager) Forget(name string) {
	m.mu.Lock()
	delete(m.active, name)
	m.mu.Unlock()
}

// Info is one plugin as `plugin ls` and `plugin inspect` show it.
type Info struct {
	Name       string
	Addr       string
	File       string
	Implements []string
	// TLS is the TLS configuration of a .json spec file (nil without).
	TLS *TLSConfig
	// Status is "active" or why the plugin cannot be used.
	Status string
}

// listTimeout bounds the handshake of each plugin List checks.
const listTimeout = 5 * time.Second

// List reports every plugin the directories name, activating each
// (within ctx) to learn what it implements.
func (m *Manager) List(ctx context.Context) []Info {
	var out []Info
	for _, name := range m.disc.Names() {
		info, _ := m.check(ctx, name)
		out = append(out, info)
	}
	return out
}

// Inspect reports the named plugin as List does. A plugin no file names
// is an error of kind cnm.ErrNotFound (an invalid name, cnm.ErrInvalid);
// one that does not answer is reported, not an error.
func (m *Manager) Inspect(ctx context.Context, name string) (Info, error) {
	info, err := m.check(ctx, name)
	if err != nil {
		return Info{}, err
	}
	return info, nil
}

// check locates the named plugin and checks that it answers the
// handshake (within listTimeout of ctx). The error is Locate's.
func (m *Manager) check(ctx context.Context, name string) (Info, error) {
	info := Info{Name: name, Status: "active"}
	spec, err := m.disc.Locate(name)
	if err != nil {
		info.Status = err.Error()
		return info, err
	}
	info.Addr, info.File, info.TLS = spec.Addr, spec.File, spec.TLSConfig
	m.mu.Lock()
	p := m.active[name]
	m.mu.Unlock()
	actx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	if p == nil || p.Client.Spec().Addr != spec.Addr {
		p, err = m.activate(actx, name)
	} else {
		// Known: check it still answers.
		_, err = p.Client.Activate(actx)
	}
	if err != nil {
		info.Status = "unavailable: " + err.Error()
	} else {
		info.Implements = p.Implements
	}
	return info, nil
}

// Caller calls one interface of a named plugin through a Manager: it
// activates the plugin on first use and, after a call finds the plugin
// unreachable, locates and activates it again on the next one (a plugin
// that restarted, possibly at another address).
type Caller struct {
	m     *Manager
	name  string
	iface string
}

// Caller returns a Caller of the named plugin's interface iface.
func (m *Manager) Caller(name, iface string) *Caller {
	return &Caller{m: m, name: name, iface: iface}
}

// Name returns the plugin's name.
func (c *Caller) Name() string { return c.name }

// Call calls /<iface>.<method> (see Client.Call).
func (c *Caller) Call(ctx context.Context, method string, args, ret any) error {
	p, err := c.m.Get(ctx, c.name, c.iface)
	if err != nil {
		return fmt.Errorf("plugin %s: %s.%s: %w", c.name, c.iface, method, err)
	}
	err = p.Client.Call(ctx, c.iface+"."+method, args, ret)
	if err != nil && errors.Is(err, cnm.ErrUnavailable) {
		c.m.Forget(c.name)
	}
	return err
}
