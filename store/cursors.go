package store

import (
	"fmt"
	"net/netip"
)

// PutCursor saves the default IPAM driver's allocation cursor of a pool;
// the zero Addr deletes it.
func (t *Tx) PutCursor(poolID string, cursor netip.Addr) error {
	b := t.tx.Bucket(bucketCursors)
	if !cursor.IsValid() {
		return b.Delete([]byte(poolID))
	}
	return b.Put([]byte(poolID), []byte(cursor.String()))
}

// Cursors returns the saved allocation cursors by pool ID.
func (t *Tx) Cursors() (map[string]netip.Addr, error) {
	out := map[string]netip.Addr{}
	err := t.tx.Bucket(bucketCursors).ForEach(func(k, v []byte) error {
		a, err := netip.ParseAddr(string(v))
		if err != nil {
			return fmt.Errorf("decode cursor of pool %s: %w", k, err)
		}
		out[string(k)] = a
		return nil
	})
	return out, err
}
