// Package archtest checks the import boundaries DESIGN.md draws: kernel
// libraries (netlink, netns, nftables) and bbolt stay in the few packages
// that own them, the engine names no concrete driver, and the wire types
// stay a leaf. Its tests read the import graph with `go list`; GoList is
// exported for other packages' dependency tests (the client's).
package archtest
