package cli

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/patchbay/patchbay/client"
	"github.com/patchbay/patchbay/daemon"
	"github.com/spf13/cobra"
)

func newDaemonCmd(e *env) *cobra.Command {
	var (
		cfg   daemon.Config
		debug bool
	)
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the patchbay engine",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelInfo
			if debug {
				level = slog.LevelDebug
			}
			cfg.Engine.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
			// The -H default follows --exec-root when not given explicitly.
			if e.host != client.DefaultHost {
				cfg.Host = e.host
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return daemon.Run(ctx, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Engine.Root, "root", "/var/lib/patchbay", "directory of persistent state")
	f.StringVar(&cfg.Engine.ExecRoot, "exec-root", "/run/patchbay", "directory of namespaces, generated files and the socket")
	f.StringVar(&cfg.BridgeDevice, "bridge-device", "", "device of the default bridge network (default patchbay0)")
	f.StringVar(&cfg.DefaultAddressPools, "default-address-pools", "", "pools for automatic subnets, e.g. 10.10.0.0/16/24")
	f.StringVar(&cfg.Engine.ResolvConf, "resolv-conf", "", "host resolv.conf sandboxes derive theirs from (default /etc/resolv.conf)")
	f.Var(addrList{&cfg.Engine.DNS}, "dns", "DNS server for every sandbox, instead of the host's (repeatable)")
	f.StringVar(&cfg.Cluster.Store, "cluster-store", "", "cluster store hosts share global networks through: etcd://HOST:PORT[,HOST:PORT…]")
	f.StringArrayVar(&cfg.Cluster.StoreOpts, "cluster-store-opt", nil, "cluster store option KEY=VALUE: kv.cacertfile, kv.certfile, kv.keyfile (TLS; repeatable)")
	f.StringVar(&cfg.Cluster.Advertise, "cluster-advertise", "", "interface or IP address of this host the others reach it at (with --cluster-store)")
	f.StringVar(&cfg.Cluster.NodeName, "node-name", "", "this host's name in the cluster, unique among hosts (default the hostname)")
	f.DurationVar(&cfg.Cluster.TTL, "cluster-ttl", daemon.DefaultClusterTTL, "a host that stops refreshing its lease is gone for the others after this")
	f.Uint16Var(&cfg.Cluster.DataPathPort, "data-path-port", 0, "UDP port of overlay (VXLAN) traffic, the same on every host (default 4789)")
	f.StringArrayVar(&cfg.PluginDirs, "plugin-dir", nil, "directory of Docker plugin sockets and spec files (repeatable; default /run/docker/plugins, /etc/docker/plugins, /usr/lib/docker/plugins)")
	f.StringVarP(&cfg.Group, "group", "G", "", "group (name or GID) that may use the API socket (0660); default root only (0600)")
	f.BoolVar(&cfg.DockerPlugin.Serve, "serve-docker-plugin", false, "also serve dockerd as its network and IPAM plugin \"patchbay\" (docker network create -d patchbay --ipam-driver patchbay)")
	f.StringVar(&cfg.DockerPlugin.Dir, "docker-plugin-dir", "/run/docker/plugins", "directory of the Docker plugin socket patchbay.sock (with --serve-docker-plugin)")
	f.BoolVarP(&debug, "debug", "D", false, "debug logging")
	return cmd
}

// addrList is a repeatable flag of IP addresses.
type addrList struct{ addrs *[]netip.Addr }

func (l addrList) String() string {
	if l.addrs == nil {
		return ""
	}
	var s []string
	for _, a := range *l.addrs {
		s = append(s, a.String())
	}
	return strings.Join(s, ",")
}

func (l addrList) Set(v string) error {
	a, err := netip.ParseAddr(v)
	if err != nil {
		return fmt.Errorf("%q is not an IP address", v)
	}
	*l.addrs = append(*l.addrs, a.Unmap())
	return nil
}

func (addrList) Type() string { return "ip" }
