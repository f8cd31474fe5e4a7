package overlay

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/store/cluster"
)

// VNIPrefix is where VNI claims live in the cluster store: key
// VNIPrefix+"<n>", value the ID of the network holding it.
const VNIPrefix = "/patchbay/v1/vni/"

// maxVNI is the largest VXLAN network identifier (24 bits).
const maxVNI = 1<<24 - 1

// dataVNI is the key of the VNI in a network's driver data.
const dataVNI = "vni"

// VNIRange is an inclusive range of VNIs.
type VNIRange struct{ First, Last uint32 }

// DefaultVNIs is the range networks take their VNI from unless told: the
// one Docker's swarm managers allocate from, leaving 1–4095 for VXLANs
// made by hand or by other tools on the same hosts.
var DefaultVNIs = VNIRange{First: 4096, Last: maxVNI}

func (r VNIRange) size() uint32 { return r.Last - r.First + 1 }

// Bounds of the search for a free VNI: probes of consecutive VNIs from the
// network's own starting point, then rounds of a list of the claims and
// an attempt on every free VNI it shows.
const (
	probes      = 8
	listRounds  = 4
	listTriesBy = 64 // attempts per round
)

// AllocateNetwork implements driver.Allocator: it claims a VNI for the
// whole cluster with a create-only write of VNIPrefix+"<n>" holding the
// network's ID, and returns it as the network's data ({"vni": "<n>"}).
// The search starts at a point hashed from the network ID, so concurrent
// creates from several hosts rarely try the same VNI; a lost race moves
// on. A VNI asked for by option is claimed as it is or refused. Calling
// it again for the same network returns the VNI it already holds when
// the search meets it.
func (d *Driver) AllocateNetwork(ctx context.Context, nw driver.Network) (map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o, err := options(nw)
	if err != nil {
		return nil, err
	}
	if o.VNI != 0 {
		ok, err := d.claim(ctx, nw.ID, o.VNI)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, cnm.Conflict("allocate VNI %d for network %s: taken by another network", o.VNI, nw.Name)
		}
		return vniData(o.VNI), nil
	}
	r := d.cfg.VNIs
	start := r.First + hashID(nw.ID)%r.size()
	for i := range min(uint32(probes), r.size()) {
		vni := r.First + (start-r.First+i)%r.size()
		ok, err := d.claim(ctx, nw.ID, vni)
		if err != nil {
			return nil, err
		}
		if ok {
			return vniData(vni), nil
		}
	}
	for range listRounds {
		free, err := d.freeVNIs(ctx, nw.ID, start)
		if err != nil {
			return nil, err
		}
		if len(free) == 0 {
			return nil, cnm.Unavailable("allocate VNI for network %s: all %d VNIs of %d–%d are taken", nw.Name, r.size(), r.First, r.Last)
		}
		for _, vni := range free[:min(len(free), listTriesBy)] {
			ok, err := d.claim(ctx, nw.ID, vni)
			if err != nil {
				return nil, err
			}
			if ok {
				return vniData(vni), nil
			}
		}
	}
	return nil, cnm.Unavailable("allocate VNI for network %s: every free VNI tried was taken meanwhile by concurrent creates; try again", nw.Name)
}

// claim tries to take vni for the network: true if it now holds it (or
// held it already), false if another network does.
func (d *Driver) claim(ctx context.Context, id string, vni uint32) (bool, error) {
	key := VNIPrefix + strconv.FormatUint(uint64(vni), 10)
	_, err := d.cfg.Cluster.Put(ctx, key, []byte(id), cluster.PutOptions{Create: true})
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, cnm.ErrConflict) {
		return false, fmt.Errorf("claim VNI %d: %w", vni, err)
	}
	kv, err := d.cfg.Cluster.Get(ctx, key)
	switch {
	case errors.Is(err, cnm.ErrNotFound):
		return false, nil // freed meanwhile; the search goes on
	case err != nil:
		return false, fmt.Errorf("read claim of VNI %d: %w", vni, err)
	}
	return string(kv.Value) == id, nil
}

// freeVNIs lists the VNIs of the range no network claims, in search order
// from start; if the network already holds one, that one alone.
func (d *Driver) freeVNIs(ctx context.Context, id string, start uint32) ([]uint32, error) {
	kvs, _, err := d.cfg.Cluster.List(ctx, VNIPrefix)
	if err != nil {
		return nil, fmt.Errorf("list VNI claims: %w", err)
	}
	r := d.cfg.VNIs
	taken := make(map[uint32]bool, len(kvs))
	for _, kv := range kvs {
		n, err := strconv.ParseUint(strings.TrimPrefix(kv.Key, VNIPrefix), 10, 32)
		if err != nil {
			continue
		}
		if string(kv.Value) == id {
			return []uint32{uint32(n)}, nil
		}
		taken[uint32(n)] = true
	}
	var free []uint32
	for i := uint32(0); i < r.size() && len(free) < listTriesBy; i++ {
		vni := r.First + (start-r.First+i)%r.size()
		if !taken[vni] {
			free = append(free, vni)
		}
	}
	return free, nil
}

// FreeNetwork implements driver.Allocator: it deletes the network's VNI
// claim, if the claim is still this network's.
func (d *Driver) FreeNetwork(ctx context.Context, nw driver.Network) error {
	vni, ok, err := networkVNI(nw)
	if err != nil || !ok {
		return err
	}
	key := VNIPrefix + strconv.FormatUint(uint64(vni), 10)
	kv, err := d.cfg.Cluster.Get(ctx, key)
	if errors.Is(err, cnm.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read claim of VNI %d: %w", vni, err)
	}
	if string(kv.Value) != nw.ID {
		return nil // another network's now
	}
	err = d.cfg.Cluster.Delete(ctx, key, cluster.DeleteOptions{PrevRevision: kv.ModRevision})
	if err != nil && !errors.Is(err, cnm.ErrNotFound) && !errors.Is(err, cnm.ErrConflict) {
		return fmt.Errorf("free VNI %d: %w", vni, err)
	}
	return nil
}

var _ driver.Allocator = (*Driver)(nil)

func vniData(vni uint32) map[string]string {
	return map[string]string{dataVNI: strconv.FormatUint(uint64(vni), 10)}
}

// networkVNI is the network's VNI: from its data (what AllocateNetwork
// returned), else from its options; ok is false when it has none.
func networkVNI(nw driver.Network) (vni uint32, ok bool, err error) {
	if s, has := nw.Data[dataVNI]; has {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil || n == 0 || n > maxVNI {
			return 0, false, cnm.Invalid("network %s: bad VNI %q in its driver data", nw.Name, s)
		}
		return uint32(n), true, nil
	}
	o, err := options(nw)
	if err != nil {
		return 0, false, err
	}
	return o.VNI, o.VNI != 0, nil
}

func hashID(id string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return h.Sum32()
}
