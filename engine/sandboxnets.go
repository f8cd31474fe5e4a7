package engine

import (
	"context"
	"errors"
	"strings"

	"github.com/patchbay/patchbay/cnm"
)

// createNets are the networks a sandbox create joins, in order: the
// first gets the request's endpoint options and published ports, the
// others (run --network a --network b, as Docker 25+) default ones.
type createNets struct {
	refs []string   // as the user named them
	nets []*network // resolved
}

// resolveNetworks finds the request's networks before anything changes.
// Only networks that give a sandbox its own interface combine: none,
// host and container:NAME stand alone.
func (e *Engine) resolveNetworks(ctx context.Context, req SandboxCreate) (createNets, error) {
	c := createNets{refs: append([]string{req.Network}, req.Networks...)}
	seen := map[string]string{}
	for _, ref := range c.refs {
		if len(c.refs) > 1 && (ref == "" || strings.HasPrefix(ref, "container:")) {
			return createNets{}, cnm.Invalid("conflicting options: network %q cannot be combined with other networks", ref)
		}
		n, err := e.findNetwork(ref)
		if err != nil {
			return createNets{}, err
		}
		if first, dup := seen[n.ID]; dup {
			return createNets{}, cnm.Invalid("network %s is given twice (as %s and %s)", n.Name, first, ref)
		}
		seen[n.ID] = ref
		e.opMu.Lock()
		_, err = e.driverOf(ctx, n)
		e.opMu.Unlock()
		if err != nil {
			return createNets{}, err
		}
		if len(c.refs) > 1 && (!n.cap.NeedsNamespace || !n.cap.Connectable) {
			return createNets{}, cnm.Invalid("conflicting options: network %s cannot be combined with other networks", n.Name)
		}
		c.nets = append(c.nets, n)
	}
	return c, nil
}

// joinAllLocked joins sb to each network in order, re-resolving each
// (it may have gone while opMu was released) and naming it as the user
// did if it has. It returns the endpoints in order and an undo of every
// join; on error nothing is left. Caller holds opMu; nothing is
// published, and sb.eps is left as it was.
func (e *Engine) joinAllLocked(ctx context.Context, c *createNets, sb *sbox, opts EndpointOptions) (_ []*cnm.Endpoint, _ func(), retErr error) {
	var undos []func()
	undo := func() { undoAll(undos) }
	was := sb.eps
	defer func() {
		sb.eps = was
		if retErr != nil {
			undo()
		}
	}()
	var eps []*cnm.Endpoint
	for i := range c.nets {
		n, err := e.findNetwork(c.nets[i].ID)
		if errors.Is(err, cnm.ErrNotFound) {
			return nil, nil, cnm.NotFound("network %s not found: it was removed meanwhile", c.refs[i])
		}
		if err != nil {
			return nil, nil, err
		}
		c.nets[i] = n
		o := EndpointOptions{}
		if i == 0 {
			o = opts
		}
		ep, u, err := e.joinLocked(ctx, n, sb, o)
		if err != nil {
			return nil, nil, err
		}
		undos = append(undos, u)
		eps = append(eps, ep)
		// The next join sees it: interface names, default routes.
		sb.eps = append(sb.eps, ep)
	}
	for i, n := range c.nets {
		if err := e.stillThere(n, nil); err != nil {
			return nil, nil, cnm.NotFound("network %s not found: it was removed meanwhile", c.refs[i])
		}
	}
	return eps, undo, nil
}
