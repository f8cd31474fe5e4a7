package api

import (
	"maps"
	"strconv"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
	"github.com/patchbay/patchbay/portspec"
)

// NetworkFrom renders a network in Docker's inspect shape.
func NetworkFrom(n engine.NetworkInfo) types.NetworkResource {
	r := types.NetworkResource{
		Name: n.Name, ID: n.ID, Created: n.Created, Scope: n.Scope, Driver: n.Driver,
		EnableIPv6: n.EnableIPv6, Internal: n.Internal, Attachable: n.Attachable,
		IPAM:       types.IPAM{Driver: n.IPAM.Driver, Options: n.IPAM.Options, Config: []types.IPAMConfig{}},
		Containers: map[string]types.EndpointResource{},
		Options:    nonNil(n.Options), Labels: nonNil(n.Labels),
		Unavailable: n.Unavailable,
	}
	for _, c := range n.IPAM.Config {
		ic := types.IPAMConfig{Subnet: c.Subnet.String()}
		if c.Subnet.Addr().Is4() {
			r.EnableIPv4 = true
		}
		if c.IPRange.IsValid() {
			ic.IPRange = c.IPRange.String()
		}
		if c.Gateway.IsValid() {
			ic.Gateway = c.Gateway.String()
		}
		for k, v := range c.AuxAddresses {
			if ic.AuxAddress == nil {
				ic.AuxAddress = map[string]string{}
			}
			ic.AuxAddress[k] = v.String()
		}
		r.IPAM.Config = append(r.IPAM.Config, ic)
	}
	for _, ep := range n.Endpoints {
		er := types.EndpointResource{Name: ep.SandboxName, EndpointID: ep.ID, MacAddress: ep.MAC}
		if ep.IPv4.IsValid() {
			er.IPv4Address = ep.IPv4.String()
		}
		if ep.IPv6.IsValid() {
			er.IPv6Address = ep.IPv6.String()
		}
		r.Containers[ep.SandboxID] = er
	}
	return r
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return maps.Clone(m)
}

// SandboxFrom renders a sandbox in a shape close to Docker's container
// inspect.
func SandboxFrom(sb engine.SandboxInfo) types.Sandbox {
	r := types.Sandbox{
		ID: sb.ID, Name: sb.Name, Created: sb.Created,
		State:  types.State{Status: cnm.StateCreated},
		Config: types.SandboxConfig{Hostname: sb.Hostname, Domainname: sb.Domainname},
		HostConfig: types.HostConfig{RestartPolicy: types.RestartPolicy{Name: "no"}, Adopted: sb.Adopted, DNSSearch: sb.DNSSearch, DNSOptions: sb.DNSOptions,
			DNS: []string{}, ExtraHosts: []string{}, Links: []string{}},
		NetworkSettings: types.NetworkSettings{
			SandboxID: sb.ID, SandboxKey: sb.NetnsPath, Networks: map[string]types.EndpointSettingsOut{},
			Ports: map[string][]types.PortBinding{},
		},
	}
	for _, m := range sb.Ports {
		host := "0.0.0.0"
		switch {
		case m.HostIP.IsValid():
			host = m.HostIP.String()
		case m.Addr.Is6():
			host = "::"
		}
		key := portspec.Key(m.Port, portspec.Proto(m.Proto))
		if m.Conflict != "" {
			r.PortConflicts = append(r.PortConflicts, types.PortConflict{Port: key, HostIP: host, HostPort: strconv.Itoa(int(m.HostPort)), Error: m.Conflict})
			continue
		}
		r.NetworkSettings.Ports[key] = append(r.NetworkSettings.Ports[key], types.PortBinding{HostIP: host, HostPort: strconv.Itoa(int(m.HostPort))})
	}
	if p := sb.Process; p != nil {
		r.Args = p.Args
		if len(p.Args) > 0 {
			r.Path = p.Args[0]
			r.Args = p.Args[1:]
		}
		r.Config.Cmd, r.Config.Env = p.Args, p.Env
		r.Config.Tty, r.Config.OpenStdin = p.TTY, p.OpenStdin
		if p.Restart.Name != "" {
			r.HostConfig.RestartPolicy = types.RestartPolicy{Name: p.Restart.Name, MaximumRetryCount: p.Restart.MaximumRetryCount}
		}
		r.RestartCount = p.RestartCount
		r.State = types.State{
			Status: p.State, Running: p.State == cnm.StateRunning, ExitCode: p.ExitCode,
			StartedAt: p.Started, FinishedAt: p.Finished,
		}
		if r.State.Running {
			r.State.Pid = p.Pid
		}
		r.HostConfig.AutoRemove = p.AutoRemove
		r.LogPath = p.LogPath
	}
	for _, a := range sb.DNS {
		r.HostConfig.DNS = append(r.HostConfig.DNS, a.String())
	}
	for _, h := range sb.ExtraHosts {
		r.HostConfig.ExtraHosts = append(r.HostConfig.ExtraHosts, h.Name+":"+h.Addr.String())
	}
	for _, l := range sb.Links {
		r.HostConfig.Links = append(r.HostConfig.Links, "/"+l.Name+":/"+sb.Name+"/"+l.Alias)
	}
	switch {
	case sb.Container != "":
		r.HostConfig.NetworkMode = "container:" + sb.Container
	case sb.HostNetwork:
		r.HostConfig.NetworkMode = cnm.ModeHost
	}
	for i, ep := range sb.Endpoints {
		if i == 0 && !sb.HostNetwork {
			r.HostConfig.NetworkMode = ep.NetworkName
		}
		o := types.EndpointSettingsOut{
			Aliases: ep.Aliases, NetworkID: ep.NetworkID, EndpointID: ep.ID,
			MacAddress: ep.MAC, InterfaceName: ep.IfName,
		}
		if ep.IPv4.IsValid() {
			o.IPAddress, o.IPPrefixLen = ep.IPv4.Addr().String(), ep.IPv4.Bits()
		}
		if ep.IPv6.IsValid() {
			o.GlobalIPv6Address, o.GlobalIPv6PrefixLen = ep.IPv6.Addr().String(), ep.IPv6.Bits()
		}
		if ep.Gateway4.IsValid() {
			o.Gateway = ep.Gateway4.String()
		}
		if ep.Gateway6.IsValid() {
			o.IPv6Gateway = ep.Gateway6.String()
		}
		r.NetworkSettings.Networks[ep.NetworkName] = o
	}
	return r
}
