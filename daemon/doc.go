// Package daemon is patchbay's composition root: it builds the engine
// from its parts, listens on the API socket and serves the API until its
// context ends. It is the only place that names concrete drivers; the
// CLI only parses flags into a Config and calls Run.
package daemon
