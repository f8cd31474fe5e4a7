package portspec

import "testing"

func FuzzParse(f *testing.F) {
	for _, tc := range validSpecs {
		f.Add(tc.in)
	}
	for _, s := range []string{
		"", "8080:0", "65536", "9000-8000", "8000-8001:80-82", "80/icmp",
		"::1:8080:80", "[127.0.0.1]:8080:80", "[::1]:80", "::80", "[fe80::1%eth0]:80:80",
		"[::ffff:1.2.3.4]::1-2/SCTP", "1.2.3.4:1-65535:1-65535/udp",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Parse(in)
		if err != nil {
			if s != (Spec{}) {
				t.Fatalf("Parse(%q) returned %+v with error %v", in, s, err)
			}
			return
		}
		if s.Ports.IsZero() || s.Ports.Start == 0 || s.Ports.Start > s.Ports.End {
			t.Fatalf("Parse(%q): bad container ports %+v", in, s.Ports)
		}
		if !s.HostPorts.IsZero() && (s.HostPorts.Start == 0 || s.HostPorts.Start > s.HostPorts.End) {
			t.Fatalf("Parse(%q): bad host ports %+v", in, s.HostPorts)
		}
		if s.Proto != TCP && s.Proto != UDP && s.Proto != SCTP {
			t.Fatalf("Parse(%q): bad proto %q", in, s.Proto)
		}
		if !s.HostPorts.IsZero() && s.Ports.Len() > 1 && s.HostPorts.Len() != s.Ports.Len() {
			t.Fatalf("Parse(%q): mismatched ranges %+v", in, s)
		}
		canon := s.String()
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q) = %+v; re-parsing canonical %q failed: %v", in, s, canon, err)
		}
		if again != s {
			t.Fatalf("Parse(%q) = %+v; Parse(%q) = %+v", in, s, canon, again)
		}
		if c2 := again.String(); c2 != canon {
			t.Fatalf("canonical form not stable: %q -> %q", canon, c2)
		}
		// Expand must succeed on every parsed spec with a well-behaved chooser.
		ms, err := s.Expand(func(r Range) (uint16, error) {
			if r.IsZero() {
				return 32768, nil
			}
			return r.Start, nil
		})
		if err != nil {
			t.Fatalf("Parse(%q) = %+v; Expand: %v", in, s, err)
		}
		if len(ms) == 0 || len(ms) > s.Ports.Len() {
			t.Fatalf("Parse(%q) = %+v; Expand returned %d mappings", in, s, len(ms))
		}
	})
}
