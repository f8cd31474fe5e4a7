// Package types holds patchbay's wire types: the Docker Engine API
// shapes of networks, containers and the negotiation replies, patchbay's
// own sandbox routes, list filters, error replies and the attached-run
// stream protocol. The server (api), the Go client and the CLI share
// them. It is a leaf: of patchbay's packages it imports only cnm, so a
// program that links the client does not link the engine.
package types

// APIVersion is the Docker Engine API version patchbay speaks and
// advertises. A client uses min(its own, this) for its paths; current
// docker CLIs and SDKs refuse servers below 1.40.
const APIVersion = "1.51"
