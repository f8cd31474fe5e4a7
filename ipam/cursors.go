package ipam

import (
	"maps"
	"net/netip"
	"sync"
)

// CursorStore persists the default driver's allocation cursors (the last
// address handed out in each pool), so serial allocation continues where
// it stopped after a restart instead of reusing released addresses.
type CursorStore interface {
	// LoadCursors returns the saved cursors by pool ID.
	LoadCursors() (map[string]netip.Addr, error)
	// SaveCursor saves the cursor of a pool; the zero Addr forgets it
	// (the pool was released).
	SaveCursor(poolID string, cursor netip.Addr) error
}

// MemCursors is a CursorStore in memory, for tests and for a driver
// whose cursors need not outlive the process. The zero value is ready to
// use; it is safe for concurrent use.
type MemCursors struct {
	mu sync.Mutex
	m  map[string]netip.Addr
}

// LoadCursors returns a copy of the saved cursors.
func (c *MemCursors) LoadCursors() (map[string]netip.Addr, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.m), nil
}

// SaveCursor saves or, with the zero Addr, forgets a cursor.
func (c *MemCursors) SaveCursor(poolID string, cursor netip.Addr) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !cursor.IsValid() {
		delete(c.m, poolID)
		return nil
	}
	if c.m == nil {
		c.m = map[string]netip.Addr{}
	}
	c.m[poolID] = cursor
	return nil
}
