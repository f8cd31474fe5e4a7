package driver

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/patchbay/patchbay/cnm"
)

// Finder finds a driver the registry was not given, by name: the remote
// plugin discovery behind drivers that live in other processes. It
// returns an error of kind cnm.ErrNotFound when there is no such plugin.
type Finder func(ctx context.Context, name string) (Driver, error)

// Registry maps driver names to drivers. It is built in the composition
// root (package daemon) and handed to the engine, which names no concrete
// driver. Built-in drivers are registered up front; others are found
// lazily, on first use by name, through the Finder, and found again
// after a failure (a plugin that restarted). Safe for concurrent use.
type Registry struct {
	builtin map[string]entry
	find    Finder

	mu    sync.Mutex
	found map[string]entry
}

type entry struct {
	d   Driver
	cap Capability
}

// NewRegistry returns a registry of the given drivers; find (may be nil)
// finds others.
func NewRegistry(find Finder, drivers ...Driver) (*Registry, error) {
	r := &Registry{builtin: map[string]entry{}, find: find, found: map[string]entry{}}
	for _, d := range drivers {
		if _, dup := r.builtin[d.Type()]; dup {
			return nil, fmt.Errorf("register driver %s: registered twice", d.Type())
		}
		c, err := d.Capabilities(context.Background())
		if err != nil {
			return nil, fmt.Errorf("register driver %s: %w", d.Type(), err)
		}
		r.builtin[d.Type()] = entry{d, normalize(c)}
	}
	return r, nil
}

func normalize(c Capability) Capability {
	if c.DataScope == "" {
		c.DataScope = ScopeLocal
	}
	if c.ConnectivityScope == "" {
		c.ConnectivityScope = c.DataScope
	}
	return c
}

// Lookup returns the named driver and its capabilities. A driver that is
// not there is an error of kind cnm.ErrNotFound naming it; one that was
// found but cannot be reached, of kind cnm.ErrUnavailable.
func (r *Registry) Lookup(ctx context.Context, name string) (Driver, Capability, error) {
	if e, ok := r.builtin[name]; ok {
		return e.d, e.cap, nil
	}
	r.mu.Lock()
	e, ok := r.found[name]
	r.mu.Unlock()
	if ok {
		return e.d, e.cap, nil
	}
	if r.find == nil {
		return nil, Capability{}, cnm.NotFound("network driver %q not found (have %s)", name, strings.Join(r.Names(), ", "))
	}
	d, err := r.find(ctx, name)
	if err != nil {
		return nil, Capability{}, fmt.Errorf("network driver %s: %w", name, err)
	}
	c, err := d.Capabilities(ctx)
	if err != nil {
		return nil, Capability{}, cnm.Unavailable("network driver %s: get capabilities: %v", name, err)
	}
	e = entry{d, normalize(c)}
	r.mu.Lock()
	r.found[name] = e
	r.mu.Unlock()
	return e.d, e.cap, nil
}

// Forget drops a found driver, so the next Lookup finds it again (after
// its process restarted, say). Built-in drivers stay.
func (r *Registry) Forget(name string) {
	r.mu.Lock()
	delete(r.found, name)
	r.mu.Unlock()
}

// Builtins returns the drivers the registry was built with, sorted by
// name.
func (r *Registry) Builtins() []Driver {
	var out []Driver
	for _, n := range slices.Sorted(maps.Keys(r.builtin)) {
		out = append(out, r.builtin[n].d)
	}
	return out
}

// All returns the built-in drivers and those found so far.
func (r *Registry) All() []Driver {
	out := r.Builtins()
	r.mu.Lock()
	for _, n := range slices.Sorted(maps.Keys(r.found)) {
		out = append(out, r.found[n].d)
	}
	r.mu.Unlock()
	return out
}

// Names lists the built-in drivers and those found so far, sorted.
func (r *Registry) Names() []string {
	var out []string
	for n := range r.builtin {
		out = append(out, n)
	}
	r.mu.Lock()
	for n := range r.found {
		out = append(out, n)
	}
	r.mu.Unlock()
	slices.Sort(out)
	return out
}
