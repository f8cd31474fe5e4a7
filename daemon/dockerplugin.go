package daemon

import (
	"context"
	"log/slog"
	"sync"

	"github.com/patchbay/patchbay/dockerplugin"
	"github.com/patchbay/patchbay/engine"
)

// DockerPluginConfig configures serving patchbay to dockerd as a legacy
// network and IPAM plugin named "patchbay".
type DockerPluginConfig struct {
	// Serve turns it on (--serve-docker-plugin).
	Serve bool
	// Dir is where the socket patchbay.sock is made
	// (--docker-plugin-dir); default /run/docker/plugins, where dockerd
	// looks for legacy plugins.
	Dir string
}

// serve starts the plugin server on the engine, when configured; the
// returned func stops it and waits for it. A server that fails is
// logged: the daemon's own API keeps serving.
func (c DockerPluginConfig) serve(ctx context.Context, eng *engine.Engine, log *slog.Logger) (stop func()) {
	if !c.Serve {
		return func() {}
	}
	dir := c.Dir
	if dir == "" {
		dir = dockerplugin.DefaultDir
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := dockerplugin.New(eng, log).Serve(ctx, dir); err != nil {
			log.Error("docker plugin server stopped", "err", err)
		}
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}
