package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/patchbay/patchbay/api"
	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
	"github.com/patchbay/patchbay/ipam"
)

// SocketName is the API socket's file name under the exec root, used
// when Config.Host is empty.
const SocketName = "patchbay.sock"

// Config configures a daemon.
type Config struct {
	// Engine configures the engine; Root and ExecRoot are required, and
	// Engine.Logger is the daemon's log too.
	Engine engine.Config
	// Host is where the API listens, unix:///path. Default: SocketName
	// under Engine.ExecRoot.
	Host string
	// DefaultAddressPools, when set, replaces Engine.DefaultPools with
	// pools in the --default-address-pools syntax ("10.10.0.0/16/24,…").
	DefaultAddressPools string
	// BridgeDevice is the device of the default "bridge" network
	// (--bridge-device); default patchbay0.
	BridgeDevice string
	// PluginDirs are where Docker plugins (NAME.sock, NAME.spec,
	// NAME.json) are looked for (--plugin-dir); default
	// plugin.DefaultDirs().
	PluginDirs []string
	// Group, a group name or GID (--group, Docker's -G), may use the
	// socket: it is then 0660 and owned by that group. Default: the
	// socket is root-only (0600).
	Group string
	// Cluster joins other hosts through a cluster store (cluster.go).
	Cluster ClusterConfig
	// DockerPlugin, when set, serves patchbay to dockerd as a network and
	// IPAM plugin (--serve-docker-plugin; see dockerplugin.go).
	DockerPlugin DockerPluginConfig
}

// Run opens the engine, serves the API on the unix socket and, when ctx
// ends, stops serving and closes the engine.
func Run(ctx context.Context, cfg Config) error {
	if os.Getenv("GOGC") == "" {
		// A daemon that mostly waits holds little live data: collecting at
		// 50% growth instead of 100% keeps its footprint small (about 3 MB
		// less with 1000 running sandboxes) for a few collections more.
		debug.SetGCPercent(50)
	}
	path, err := cfg.socketPath()
	if err != nil {
		return err
	}
	gid, err := lookupGroup(cfg.Group)
	if err != nil {
		return err
	}
	plugs := newPlugins(cfg.PluginDirs)
	ecfg, err := cfg.engineConfig(plugs)
	if err != nil {
		return err
	}
	closeCluster, err := cfg.Cluster.open(ctx, &ecfg)
	if err != nil {
		return err
	}
	defer closeCluster()
	if ecfg.Drivers, err = Drivers(plugs.findDriverOr(ecfg.Cluster != nil), cfg.Cluster.drivers(ecfg)...); err != nil {
		return err
	}
	eng, err := engine.New(ctx, ecfg)
	if err != nil {
		return err
	}
	defer eng.Close()
	defer cfg.DockerPlugin.serve(ctx, eng, ecfg.Logger)()
	l, err := listenUnix(path, gid)
	if err != nil {
		return err
	}
	ecfg.Logger.Info("patchbay daemon ready", "socket", path, "root", ecfg.Root)
	srv := api.NewServer(eng, ecfg.Logger)
	srv.SetPlugins(plugs)
	return srv.Serve(ctx, l)
}

// engineConfig completes the engine's configuration from the daemon's.
func (c Config) engineConfig(plugs *plugins) (engine.Config, error) {
	ecfg := c.Engine
	if c.DefaultAddressPools != "" {
		p, err := ipam.ParsePools(c.DefaultAddressPools)
		if err != nil {
			return engine.Config{}, err
		}
		ecfg.DefaultPools = p
	}
	if ecfg.Logger == nil {
		ecfg.Logger = slog.Default()
	}
	ecfg, err := EngineConfig(ecfg, c.BridgeDevice)
	if err != nil {
		return ecfg, err
	}
	if ecfg.Drivers, err = Drivers(plugs.findDriver); err != nil {
		return ecfg, err
	}
	ecfg.IPAMFinder = plugs.findIPAM
	return ecfg, nil
}

// socketPath is the path of Host, or the default under the exec root.
func (c Config) socketPath() (string, error) {
	if c.Host == "" {
		return filepath.Join(c.Engine.ExecRoot, SocketName), nil
	}
	path, ok := strings.CutPrefix(c.Host, "unix://")
	if !ok || path == "" {
		return "", cnm.Invalid("invalid host %q: only unix:///path is supported", c.Host)
	}
	return path, nil
}
