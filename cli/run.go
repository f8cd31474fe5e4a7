package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/client"
	"github.com/spf13/cobra"
)

// endpointFlags are the static endpoint settings of run, sandbox create
// and network connect.
type endpointFlags struct {
	ip, ip6, mac string
	aliases      []string
}

// register adds --ip, --ip6, --mac-address and the alias flag (named
// --alias on connect and --network-alias on run, as in Docker).
func (f *endpointFlags) register(cmd *cobra.Command, aliasFlag string) {
	fl := cmd.Flags()
	fl.StringVar(&f.ip, "ip", "", "IPv4 address (e.g. 172.30.100.104)")
	fl.StringVar(&f.ip6, "ip6", "", "IPv6 address (e.g. 2001:db8::33)")
	fl.StringVar(&f.mac, "mac-address", "", "MAC address (e.g. 92:d0:c6:0a:29:33)")
	fl.StringArrayVar(&f.aliases, aliasFlag, nil, "add network-scoped alias")
}

// settings returns the endpoint settings, nil when none were given.
func (f *endpointFlags) settings() *types.EndpointSettings {
	if f.ip == "" && f.ip6 == "" && f.mac == "" && len(f.aliases) == 0 {
		return nil
	}
	es := &types.EndpointSettings{Aliases: f.aliases, MacAddress: f.mac}
	if f.ip != "" || f.ip6 != "" {
		es.IPAMConfig = &types.EndpointIPAMConfig{IPv4Address: f.ip, IPv6Address: f.ip6}
	}
	return es
}

// registerNetwork adds --network and its hidden Docker alias --net. With
// more, the flag repeats (as Docker 25+): the first network goes to
// network, the others to more.
func registerNetwork(cmd *cobra.Command, network *string, more *[]string) {
	const usage = `connect to a network: a name, "none", "host" or "container:NAME" (default: the default bridge)`
	if more != nil {
		v := networkFlag{first: network, more: more}
		cmd.Flags().Var(v, "network", usage+"; repeat to connect to several")
		cmd.Flags().Var(v, "net", usage)
	} else {
		cmd.Flags().StringVar(network, "network", "", usage)
		cmd.Flags().StringVar(network, "net", "", usage)
	}
	_ = cmd.Flags().MarkHidden("net")
}

// networkFlag is a repeatable --network.
type networkFlag struct {
	first *string
	more  *[]string
}

func (f networkFlag) String() string {
	return strings.Join(append([]string{*f.first}, *f.more...), ",")
}
func (networkFlag) Type() string { return "network" }
func (f networkFlag) Set(v string) error {
	if *f.first == "" {
		*f.first = v
	} else {
		*f.more = append(*f.more, v)
	}
	return nil
}

// runOpts are the flags of run.
type runOpts struct {
	detach, rm     bool
	name, hostname string
	network        string
	networks       []string // --network given again
	ep             endpointFlags
	env            []string
	publish        []string
	expose         []string
	publishAll     bool
	names          nameFlags
	term           ttyOpts
	restart        string
}

// register adds -i, -t and --detach-keys.
func (o *ttyOpts) register(cmd *cobra.Command, detach bool) {
	fl := cmd.Flags()
	fl.BoolVarP(&o.interactive, "interactive", "i", false, "keep STDIN open: send what is typed or piped to the process")
	fl.BoolVarP(&o.tty, "tty", "t", false, "allocate a pseudo-TTY as the process's controlling terminal")
	if detach {
		fl.StringVar(&o.detachKeys, "detach-keys", "", "override the key sequence for detaching (default \"ctrl-p,ctrl-q\")")
	}
}

// nameFlags are the name-service flags of run.
type nameFlags struct {
	domainname                               string
	dns, dnsSearch, dnsOption, addHost, link []string
}

func (f *nameFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.domainname, "domainname", "", "sandbox NIS domain name (hostname.domainname is its FQDN)")
	fl.StringArrayVar(&f.dns, "dns", nil, "set custom DNS servers")
	fl.StringArrayVar(&f.dnsSearch, "dns-search", nil, "set custom DNS search domains")
	fl.StringArrayVar(&f.dnsOption, "dns-option", nil, "set DNS options")
	fl.StringArrayVar(&f.addHost, "add-host", nil, "add a custom host-to-IP mapping (host:ip, ip may be host-gateway)")
	fl.StringArrayVar(&f.link, "link", nil, "add a link to another sandbox (name[:alias])")
}

func (f *nameFlags) apply(req *types.SandboxCreateRequest) {
	req.Domainname, req.DNS, req.DNSSearch, req.DNSOptions = f.domainname, f.dns, f.dnsSearch, f.dnsOption
	req.ExtraHosts, req.Links = f.addHost, f.link
}

// newRunCmd is run: a new sandbox running a command, attached or detached.
func newRunCmd(e *env) *cobra.Command {
	var o runOpts
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] [--] COMMAND [ARG...]",
		Short: "Run a command in a new sandbox",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd.Context(), e, &o, args)
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false) // flags after COMMAND are the command's
	fl.BoolVarP(&o.detach, "detach", "d", false, "run in the background and print the sandbox ID")
	fl.BoolVar(&o.rm, "rm", false, "remove the sandbox when the command exits")
	fl.StringVar(&o.name, "name", "", "assign a name to the sandbox")
	fl.StringVarP(&o.hostname, "hostname", "h", "", "sandbox host name")
	fl.Bool("help", false, "help for run") // -h is --hostname, as in Docker
	fl.StringArrayVarP(&o.env, "env", "e", nil, "set environment variables (K=V, or K to pass the current value)")
	fl.StringArrayVarP(&o.publish, "publish", "p", nil, "publish a sandbox port to the host ([ip:][hostPort:]port[/proto], ranges allowed)")
	fl.BoolVarP(&o.publishAll, "publish-all", "P", false, "publish every exposed port to an ephemeral host port")
	fl.StringArrayVar(&o.expose, "expose", nil, "expose a port or a range of ports (port[/proto])")
	o.term.register(cmd, true)
	fl.StringVar(&o.restart, "restart", "no", "restart policy when the command exits: no, on-failure[:max-retries], always, unless-stopped")
	registerNetwork(cmd, &o.network, &o.networks)
	o.ep.register(cmd, "network-alias")
	o.names.register(cmd)
	return cmd
}

// restartPolicy is --restart as sent: empty for the default, no.
func (o *runOpts) restartPolicy() string {
	if o.restart == "no" {
		return ""
	}
	return o.restart
}

// runRun creates the sandbox and runs the command.
func runRun(ctx context.Context, e *env, o *runOpts, args []string) error {
	env, err := parseEnv(o.env, os.LookupEnv)
	if err != nil {
		return err
	}
	req := types.SandboxCreateRequest{
		Name: o.name, Hostname: o.hostname, Network: o.network, Networks: o.networks, Endpoint: o.ep.settings(),
		Ports: o.publish, Expose: o.expose, PublishAll: o.publishAll,
		Process: &types.ProcessRequest{Args: args, Env: env, Detached: o.detach, AutoRemove: o.rm, Restart: o.restartPolicy(),
			Terminal: types.Terminal{TTY: o.term.tty, OpenStdin: o.term.interactive}},
	}
	o.names.apply(&req)
	c, err := e.client()
	if err != nil {
		return err
	}
	if o.term.tty && !o.detach {
		if err := e.checkTTY(o.term); err != nil {
			return err
		}
		ts, err := e.openTerminal(ctx, o.term.interactive, o.term.detachKeys, false)
		if err != nil {
			return err
		}
		defer ts.close()
		req.Process.ConsoleSize = ts.size
		_, code, err := c.RunTerminal(ts.ctx, req, ts.tio)
		return sessionEnd(code, err)
	}
	if o.detach {
		resp, err := c.SandboxCreate(ctx, req)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, resp.ID)
		return nil
	}
	sigs, stop := forwardSignals()
	defer stop()
	_, code, err := c.RunAttached(ctx, req, e.stdio(), sigs)
	if err != nil {
		return err
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}

// newExecCmd is exec: a command in a running sandbox, attached.
func newExecCmd(e *env) *cobra.Command {
	var envs []string
	var to ttyOpts
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] SANDBOX [--] COMMAND [ARG...]",
		Short: "Run a command in a running sandbox",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, argv := args[0], args[1:]
			if argv[0] == "--" {
				argv = argv[1:]
			}
			if len(argv) == 0 {
				return fmt.Errorf("exec requires a command")
			}
			env, err := parseEnv(envs, os.LookupEnv)
			if err != nil {
				return err
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			if to.tty {
				if err := e.checkTTY(to); err != nil {
					return err
				}
				ts, err := e.openTerminal(cmd.Context(), to.interactive, to.detachKeys, false)
				if err != nil {
					return err
				}
				defer ts.close()
				req := types.ExecRequest{Args: argv, Env: env, Terminal: types.Terminal{TTY: true, OpenStdin: to.interactive, ConsoleSize: ts.size}}
				code, err := c.ExecTerminal(ts.ctx, ref, req, ts.tio)
				return sessionEnd(code, err)
			}
			sigs, stop := forwardSignals()
			defer stop()
			code, err := c.ExecAttached(cmd.Context(), ref, types.ExecRequest{Args: argv, Env: env}, e.stdio(), sigs)
			if err != nil {
				return err
			}
			if code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringArrayVarP(&envs, "env", "e", nil, "set environment variables (K=V, or K to pass the current value)")
	to.register(cmd, true)
	return cmd
}

// parseEnv reads -e values as Docker does: "K=V" as given, "K" alone
// takes K's value from lookup and is dropped when K is unset.
func parseEnv(vals []string, lookup func(string) (string, bool)) ([]string, error) {
	var out []string
	for _, v := range vals {
		k, _, hasValue := strings.Cut(v, "=")
		switch {
		case k == "":
			return nil, fmt.Errorf("invalid environment variable: %s", v)
		case hasValue:
			out = append(out, v)
		default:
			if val, ok := lookup(k); ok {
				out = append(out, k+"="+val)
			}
		}
	}
	return out, nil
}

// forwardSignals catches the signals a foreground process should get
// instead of the CLI; stop ends the catching.
func forwardSignals() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	return ch, func() { signal.Stop(ch) }
}

// stdio returns the files an attached process uses: the env's streams
// when they are files, else the process's own.
func (e *env) stdio() client.Stdio {
	return client.Stdio{
		Stdin:  asFile(e.stdin, os.Stdin),
		Stdout: asFile(e.stdout, os.Stdout),
		Stderr: asFile(e.stderr, os.Stderr),
	}
}

// asFile returns v when it is a file, else def.
func asFile(v any, def *os.File) *os.File {
	if f, ok := v.(*os.File); ok {
		return f
	}
	return def
}
