package sandbox

import (
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// OpenNetlink opens a sandbox's namespace file, checked as OpenNetns
// does, and a netlink handle bound to it; the caller closes both.
func OpenNetlink(path string) (netns.NsHandle, *netlink.Handle, error) {
	ns, err := OpenNetns(path)
	if err != nil {
		return ns, nil, err
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return netns.None(), nil, fmt.Errorf("open netlink in %s: %w", path, err)
	}
	return ns, h, nil
}

// OpenHost opens the namespace the engine treats as the host and two
// netlink handles bound to it: one for requests, one for the deletions
// done off the request path (a deletion holds its socket for a kernel
// grace period).
func OpenHost(path string) (ns netns.NsHandle, h, reap *netlink.Handle, err error) {
	ns, err = netns.GetFromPath(path)
	if err != nil {
		return netns.None(), nil, nil, fmt.Errorf("open host namespace %s: %w", path, err)
	}
	if h, err = netlink.NewHandleAt(ns); err == nil {
		if reap, err = netlink.NewHandleAt(ns); err != nil {
			h.Close()
		}
	}
	if err != nil {
		ns.Close()
		return netns.None(), nil, nil, fmt.Errorf("open netlink in %s: %w", path, err)
	}
	return ns, h, reap, nil
}
