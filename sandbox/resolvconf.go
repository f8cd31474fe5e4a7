package sandbox

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"strings"
)

// ResolvConfig is a resolv.conf's content.
type ResolvConfig struct {
	Nameservers []netip.Addr
	Search      []string
	Options     []string
	// Other keeps lines of other kinds (sortlist, domain…) as they are.
	Other []string
}

// ParseResolvConf reads a resolv.conf. Comments, blank lines and
// nameservers that are not addresses are dropped; a later search line
// replaces an earlier one, as the resolver does.
func ParseResolvConf(data []byte) ResolvConfig {
	var c ResolvConfig
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0][0] == '#' || f[0][0] == ';' {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) > 1 {
				if a, err := netip.ParseAddr(f[1]); err == nil {
					c.Nameservers = append(c.Nameservers, a.Unmap())
				}
			}
		case "search":
			c.Search = f[1:]
		case "options":
			c.Options = append(c.Options, f[1:]...)
		default:
			c.Other = append(c.Other, strings.Join(f, " "))
		}
	}
	return c
}

// Render writes the file, with a header naming patchbay and note.
func (c ResolvConfig) Render(note string) []byte {
	var b bytes.Buffer
	b.WriteString(resolvHeader)
	if note != "" {
		fmt.Fprintf(&b, "# %s\n", note)
	}
	for _, a := range c.Nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", a)
	}
	if len(c.Search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(c.Search, " "))
	}
	if len(c.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(c.Options, " "))
	}
	for _, l := range c.Other {
		b.WriteString(l + "\n")
	}
	return b.Bytes()
}
