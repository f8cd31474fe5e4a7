package portspec

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func r(start, end uint16) Range { return Range{start, end} }
func p(port uint16) Range       { return Range{port, port} }

var v4lo = netip.MustParseAddr("127.0.0.1")

// validSpecs is shared with the fuzz test as its seed corpus.
var validSpecs = []struct {
	in    string
	want  Spec
	canon string
}{
	{"80", Spec{Ports: p(80), Proto: TCP}, "80/tcp"},
	{"80/udp", Spec{Ports: p(80), Proto: UDP}, "80/udp"},
	{"80/sctp", Spec{Ports: p(80), Proto: SCTP}, "80/sctp"},
	{"80/UDP", Spec{Ports: p(80), Proto: UDP}, "80/udp"},
	{"80/Tcp", Spec{Ports: p(80), Proto: TCP}, "80/tcp"},
	{"65535", Spec{Ports: p(65535), Proto: TCP}, "65535/tcp"},
	{"1", Spec{Ports: p(1), Proto: TCP}, "1/tcp"},
	{"8080:80", Spec{HostPorts: p(8080), Ports: p(80), Proto: TCP}, "8080:80/tcp"},
	{":80", Spec{Ports: p(80), Proto: TCP}, "80/tcp"},
	{"127.0.0.1:8080:80", Spec{HostIP: v4lo, HostPorts: p(8080), Ports: p(80), Proto: TCP}, "127.0.0.1:8080:80/tcp"},
	{"127.0.0.1::80", Spec{HostIP: v4lo, Ports: p(80), Proto: TCP}, "127.0.0.1::80/tcp"},
	{"[::1]:8080:80", Spec{HostIP: netip.IPv6Loopback(), HostPorts: p(8080), Ports: p(80), Proto: TCP}, "[::1]:8080:80/tcp"},
	{"[::]::80", Spec{HostIP: netip.IPv6Unspecified(), Ports: p(80), Proto: TCP}, "[::]::80/tcp"},
	{"[::]::80/udp", Spec{HostIP: netip.IPv6Unspecified(), Ports: p(80), Proto: UDP}, "[::]::80/udp"},
	{"[2001:db8::1]:443:8443/tcp", Spec{HostIP: netip.MustParseAddr("2001:db8::1"), HostPorts: p(443), Ports: p(8443), Proto: TCP}, "[2001:db8::1]:443:8443/tcp"},
	{"[::ffff:10.0.0.1]:80:80", Spec{HostIP: netip.MustParseAddr("::ffff:10.0.0.1"), HostPorts: p(80), Ports: p(80), Proto: TCP}, "[::ffff:10.0.0.1]:80:80/tcp"},
	{"8000-8100:80-180", Spec{HostPorts: r(8000, 8100), Ports: r(80, 180), Proto: TCP}, "8000-8100:80-180/tcp"},
	{"8000-8010:80", Spec{HostPorts: r(8000, 8010), Ports: p(80), Proto: TCP}, "8000-8010:80/tcp"},
	{"8000-8000:80-80", Spec{HostPorts: p(8000), Ports: p(80), Proto: TCP}, "8000:80/tcp"},
	{"7000-7999", Spec{Ports: r(7000, 7999), Proto: TCP}, "7000-7999/tcp"},
	{"7000-7999/udp", Spec{Ports: r(7000, 7999), Proto: UDP}, "7000-7999/udp"},
	{"0.0.0.0:8080:80/tcp", Spec{HostIP: netip.IPv4Unspecified(), HostPorts: p(8080), Ports: p(80), Proto: TCP}, "0.0.0.0:8080:80/tcp"},
	{"10.1.2.3:8000-8001:80-81/udp", Spec{HostIP: netip.MustParseAddr("10.1.2.3"), HostPorts: r(8000, 8001), Ports: r(80, 81), Proto: UDP}, "10.1.2.3:8000-8001:80-81/udp"},
	{"127.0.0.1::7000-7002", Spec{HostIP: v4lo, Ports: r(7000, 7002), Proto: TCP}, "127.0.0.1::7000-7002/tcp"},
	{"080", Spec{Ports: p(80), Proto: TCP}, "80/tcp"},
}

func TestParseValid(t *testing.T) {
	for _, tc := range validSpecs {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("Parse(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if s := got.String(); s != tc.canon {
				t.Errorf("Parse(%q).String() = %q, want %q", tc.in, s, tc.canon)
			}
			again, err := Parse(got.String())
			if err != nil || again != got {
				t.Errorf("Parse(%q) = %+v, %v; want %+v", got.String(), again, err, got)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		// empty
		{"", `invalid port spec "": spec is empty`},
		// too many colons
		{"1.2.3.4:80:80:80", "too many colons"},
		{"a:b:c:d", "too many colons"},
		{"[::1]:80:80:80", "too many colons"},
		// port out of range
		{"8080:0", `invalid port spec "8080:0": port 0 is out of range 1-65535`},
		{"0", "port 0 is out of range 1-65535"},
		{"0:80", "port 0 is out of range 1-65535"},
		{"65536", "port 65536 is out of range 1-65535"},
		{"80:65536", "port 65536 is out of range 1-65535"},
		{"99999999999999999999999", "is out of range 1-65535"},
		{"0-10", "port 0 is out of range 1-65535"},
		// non-numeric
		{"http", `port "http" is not a number`},
		{"80x", `port "80x" is not a number`},
		{"x:80", `port "x" is not a number`},
		{"+80", `port "+80" is not a number`},
		{" 80", `port " 80" is not a number`},
		{"80-90-100", `port "90-100" is not a number`},
		{"8080:", "missing container port"},
		{"127.0.0.1:8080:", "missing container port"},
		{"80-", `missing port number in "80-"`},
		{"-80", `missing port number in "-80"`},
		{"/tcp", "missing container port"},
		// inverted range
		{"9000-8000", "port range 9000-8000 is inverted"},
		{"9000-8000:80", "port range 9000-8000 is inverted"},
		// length mismatch
		{"8000-8001:80-82", "host port range 8000-8001 (2 ports) and container port range 80-82 (3 ports) differ in length"},
		{"8080:80-81", "host port range 8080 (1 ports) and container port range 80-81 (2 ports) differ in length"},
		// protocol
		{"80/icmp", `invalid port spec "80/icmp": unknown protocol "icmp"`},
		{"80/", "missing protocol"},
		{"80/tcp/udp", `unknown protocol "tcp/udp"`},
		// bad IP
		{"256.0.0.1:80:80", `bad host IP "256.0.0.1"`},
		{"localhost:80:80", `bad host IP "localhost"`},
		{"[fe80::1%eth0]:80:80", "zones are not supported"},
		{"[not-an-ip]:80:80", `bad host IP "not-an-ip"`},
		{"::80", "host IP is empty"},
		{"[]:80:80", "host IP is empty"},
		// IPv6 host IP not in brackets
		{"::1:8080:80", "IPv6 host IP ::1 must be enclosed in brackets"},
		{"2001:db8::1:8080:80", "IPv6 host IP 2001:db8::1 must be enclosed in brackets"},
		{"::::80", "IPv6 host IP :: must be enclosed in brackets"},
		{":::80", "too many colons"},
		// brackets around IPv4
		{"[127.0.0.1]:8080:80", "IPv4 host IP 127.0.0.1 must not be enclosed in brackets"},
		// other bracket misuse
		{"[::1:8080:80", `missing "]"`},
		{"[::1]8080:80", "must be followed by"},
		{"[::1]:80", `use "[::1]::80"`},
		{"8080:[::1]:80", "unexpected bracket"},
		{"[::1]:[80]:80", "unexpected bracket"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want error containing %q", tc.in, got, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Parse(%q) error = %q, want it to contain %q", tc.in, err, tc.wantErr)
			}
			if want := "invalid port spec " + quote(tc.in); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Parse(%q) error = %q, want prefix %q", tc.in, err, want)
			}
			if got != (Spec{}) {
				t.Errorf("Parse(%q) returned non-zero Spec %+v with error", tc.in, got)
			}
		})
	}
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

func TestParseExpose(t *testing.T) {
	valid := []struct {
		in    string
		want  Range
		proto Proto
	}{
		{"80", p(80), TCP},
		{"80/udp", p(80), UDP},
		{"80/SCTP", p(80), SCTP},
		{"7000-7010/tcp", r(7000, 7010), TCP},
		{"7000-7010", r(7000, 7010), TCP},
	}
	for _, tc := range valid {
		got, proto, err := ParseExpose(tc.in)
		if err != nil || got != tc.want || proto != tc.proto {
			t.Errorf("ParseExpose(%q) = %v, %q, %v; want %v, %q, nil", tc.in, got, proto, err, tc.want, tc.proto)
		}
	}

	invalid := []struct {
		in      string
		wantErr string
	}{
		{"", `invalid expose spec "": spec is empty`},
		{"0", "port 0 is out of range 1-65535"},
		{"65536/udp", "port 65536 is out of range 1-65535"},
		{"http", `port "http" is not a number`},
		{"9000-8000", "port range 9000-8000 is inverted"},
		{"80/icmp", `invalid expose spec "80/icmp": unknown protocol "icmp"`},
		{"80/", "missing protocol"},
		{"8080:80", "not a host IP or host port"},
		{"[::1]:80:80", "not a host IP or host port"},
		{"/tcp", "missing container port"},
	}
	for _, tc := range invalid {
		got, proto, err := ParseExpose(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("ParseExpose(%q) = %v, %q, %v; want error containing %q", tc.in, got, proto, err, tc.wantErr)
		}
	}
}

func TestRange(t *testing.T) {
	tests := []struct {
		r      Range
		len    int
		isZero bool
		str    string
	}{
		{Range{}, 0, true, ""},
		{p(80), 1, false, "80"},
		{r(8000, 8100), 101, false, "8000-8100"},
		{r(1, 65535), 65535, false, "1-65535"},
		{r(9000, 8000), 0, false, "9000-8000"},
	}
	for _, tc := range tests {
		if got := tc.r.Len(); got != tc.len {
			t.Errorf("%+v.Len() = %d, want %d", tc.r, got, tc.len)
		}
		if got := tc.r.IsZero(); got != tc.isZero {
			t.Errorf("%+v.IsZero() = %v, want %v", tc.r, got, tc.isZero)
		}
		if got := tc.r.String(); got != tc.str {
			t.Errorf("%+v.String() = %q, want %q", tc.r, got, tc.str)
		}
	}
}

func TestKey(t *testing.T) {
	if got := Key(80, TCP); got != "80/tcp" {
		t.Errorf("Key(80, TCP) = %q", got)
	}
	if got := Key(53, UDP); got != "53/udp" {
		t.Errorf("Key(53, UDP) = %q", got)
	}
}

func TestMappingString(t *testing.T) {
	tests := []struct {
		m    Mapping
		want string
	}{
		{Mapping{HostPort: 8080, Port: 80, Proto: TCP}, "80/tcp -> 0.0.0.0:8080"},
		{Mapping{HostIP: netip.IPv4Unspecified(), HostPort: 8080, Port: 80, Proto: TCP}, "80/tcp -> 0.0.0.0:8080"},
		{Mapping{HostIP: v4lo, HostPort: 8080, Port: 80, Proto: SCTP}, "80/sctp -> 127.0.0.1:8080"},
		{Mapping{HostIP: netip.IPv6Loopback(), HostPort: 8080, Port: 80, Proto: UDP}, "80/udp -> [::1]:8080"},
		{Mapping{HostIP: netip.IPv6Unspecified(), HostPort: 32768, Port: 443, Proto: TCP}, "443/tcp -> [::]:32768"},
	}
	for _, tc := range tests {
		if got := tc.m.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.m, got, tc.want)
		}
	}
}

// fakePicker records calls and hands out ports from next, or the start of
// the requested range.
type fakePicker struct {
	calls []Range
	next  uint16
	err   error
}

func (f *fakePicker) pick(r Range) (uint16, error) {
	f.calls = append(f.calls, r)
	if f.err != nil {
		return 0, f.err
	}
	if !r.IsZero() {
		return r.End, nil
	}
	f.next++
	return f.next - 1, nil
}

func TestExpand(t *testing.T) {
	tests := []struct {
		spec      string
		next      uint16
		want      []Mapping
		wantCalls []Range
	}{
		{
			// Case 1: no host ports; one ephemeral pick per container port.
			spec: "127.0.0.1::7000-7002/udp",
			next: 32768,
			want: []Mapping{
				{HostIP: v4lo, HostPort: 32768, Port: 7000, Proto: UDP},
				{HostIP: v4lo, HostPort: 32769, Port: 7001, Proto: UDP},
				{HostIP: v4lo, HostPort: 32770, Port: 7002, Proto: UDP},
			},
			wantCalls: []Range{{}, {}, {}},
		},
		{
			spec:      "80",
			next:      40000,
			want:      []Mapping{{HostPort: 40000, Port: 80, Proto: TCP}},
			wantCalls: []Range{{}},
		},
		{
			// Case 2: equal lengths; pairwise, pick not called.
			spec: "[::1]:8000-8002:80-82",
			want: []Mapping{
				{HostIP: netip.IPv6Loopback(), HostPort: 8000, Port: 80, Proto: TCP},
				{HostIP: netip.IPv6Loopback(), HostPort: 8001, Port: 81, Proto: TCP},
				{HostIP: netip.IPv6Loopback(), HostPort: 8002, Port: 82, Proto: TCP},
			},
		},
		{
			spec: "8080:80/sctp",
			want: []Mapping{{HostPort: 8080, Port: 80, Proto: SCTP}},
		},
		{
			// Pairwise at the top of the port space must not overflow.
			spec: "65534-65535:65534-65535",
			want: []Mapping{
				{HostPort: 65534, Port: 65534, Proto: TCP},
				{HostPort: 65535, Port: 65535, Proto: TCP},
			},
		},
		{
			// Case 3: host range + single container port; pick from range.
			spec:      "0.0.0.0:8000-8010:80",
			want:      []Mapping{{HostIP: netip.IPv4Unspecified(), HostPort: 8010, Port: 80, Proto: TCP}},
			wantCalls: []Range{r(8000, 8010)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			spec, err := Parse(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			f := &fakePicker{next: tc.next}
			got, err := spec.Expand(f.pick)
			if err != nil {
				t.Fatalf("Expand: %v", err)
			}
			if !equalMappings(got, tc.want) {
				t.Errorf("Expand = %v, want %v", got, tc.want)
			}
			if !equalRanges(f.calls, tc.wantCalls) {
				t.Errorf("pick called with %v, want %v", f.calls, tc.wantCalls)
			}
		})
	}
}

func TestExpandErrors(t *testing.T) {
	errNoPorts := errors.New("no free ports")

	t.Run("pick error is wrapped", func(t *testing.T) {
		for _, in := range []string{"127.0.0.1::80", "8000-8010:80/udp"} {
			spec, err := Parse(in)
			if err != nil {
				t.Fatal(err)
			}
			_, err = spec.Expand((&fakePicker{err: errNoPorts}).pick)
			if !errors.Is(err, errNoPorts) {
				t.Fatalf("Expand(%q) error = %v, want wrapping %v", in, err, errNoPorts)
			}
			if !strings.Contains(err.Error(), quote(spec.String())) {
				t.Errorf("Expand(%q) error = %q, want it to name the spec %q", in, err, spec.String())
			}
		}
	})

	t.Run("pick out of range", func(t *testing.T) {
		spec, _ := Parse("8000-8010:80")
		_, err := spec.Expand(func(Range) (uint16, error) { return 9000, nil })
		if err == nil || !strings.Contains(err.Error(), "returned host port 9000, want a port in 8000-8010") {
			t.Fatalf("err = %v", err)
		}
		spec, _ = Parse("80")
		_, err = spec.Expand(func(Range) (uint16, error) { return 0, nil })
		if err == nil || !strings.Contains(err.Error(), "returned host port 0") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("nil pick", func(t *testing.T) {
		spec, _ := Parse("80")
		if _, err := spec.Expand(nil); err == nil {
			t.Fatal("want error for nil pick")
		}
		spec, _ = Parse("8080:80")
		if _, err := spec.Expand(nil); err != nil {
			t.Fatalf("pairwise with nil pick: %v", err)
		}
	})

	t.Run("invalid spec", func(t *testing.T) {
		bad := []Spec{
			{},
			{Ports: p(80)}, // no proto
			{HostPorts: r(8000, 8001), Ports: r(80, 82), Proto: TCP},
		}
		for _, s := range bad {
			if m, err := s.Expand((&fakePicker{next: 1}).pick); err == nil {
				t.Errorf("%+v.Expand() = %v, want error", s, m)
			}
		}
	})
}

func equalMappings(a, b []Mapping) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalRanges(a, b []Range) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
