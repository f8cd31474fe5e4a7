package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/patchbay/patchbay/api"
	"github.com/patchbay/patchbay/client"
	"github.com/patchbay/patchbay/daemon"
	"github.com/patchbay/patchbay/engine"
	"github.com/patchbay/patchbay/ipam"
	"github.com/spf13/cobra"
)

func newDaemonCmd(e *env) *cobra.Command {
	var (
		cfg    engine.Config
		pools  string
		device string
		debug  bool
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
			cfg.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
			if pools != "" {
				p, err := ipam.ParsePools(pools)
				if err != nil {
					return err
				}
				cfg.DefaultPools = p
			}
			cfg, err := daemon.EngineConfig(cfg, device)
			if err != nil {
				return err
			}
			return runDaemon(cmd.Context(), e.host, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Root, "root", "/var/lib/patchbay", "directory of persistent state")
	f.StringVar(&cfg.ExecRoot, "exec-root", "/run/patchbay", "directory of namespaces, generated files and the socket")
	f.StringVar(&device, "bridge-device", "", "device of the default bridge network (default patchbay0)")
	f.StringVar(&pools, "default-address-pools", "", "pools for automatic subnets, e.g. 10.10.0.0/16/24")
	f.StringVar(&cfg.ResolvConf, "resolv-conf", "", "host resolv.conf sandboxes derive theirs from (default /etc/resolv.conf)")
	f.Var(addrList{&cfg.DNS}, "dns", "DNS server for every sandbox, instead of the host's (repeatable)")
	f.BoolVarP(&debug, "debug", "D", false, "debug logging")
	return cmd
}

func runDaemon(ctx context.Context, host string, cfg engine.Config) error {
	log := cfg.Logger
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The -H default follows --exec-root when not given explicitly.
	if host == client.DefaultHost || host == "" {
		host = "unix://" + filepath.Join(cfg.ExecRoot, "patchbay.sock")
	}
	path, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		return fmt.Errorf("invalid host %q: only unix:///path is supported", host)
	}
	eng, err := engine.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer eng.Close()
	l, err := listenUnix(path)
	if err != nil {
		return err
	}
	log.Info("patchbay daemon ready", "socket", path, "root", cfg.Root)
	return api.NewServer(eng, log).Serve(ctx, l)
}

// listenUnix listens on a root-only socket, replacing a stale one.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create socket dir: %w", err)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("listen on %s: another daemon is serving it", path)
	}
	_ = os.Remove(path)
	old := syscall.Umask(0o117)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
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
