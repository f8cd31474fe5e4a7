package ipam

import (
	"bytes"
	"errors"
	"testing"

	"github.com/patchbay/patchbay/cnm"
)

func TestRandomMAC(t *testing.T) {
	a, b := RandomMAC(), RandomMAC()
	for _, m := range []([]byte){a, b} {
		if len(m) != 6 || m[0]&1 != 0 || m[0]&2 == 0 {
			t.Fatalf("RandomMAC() = %x: want 6 bytes, unicast, locally administered", m)
		}
	}
	if bytes.Equal(a, b) {
		t.Fatalf("RandomMAC returned %s twice", a)
	}
	if _, err := ParseMAC(a.String()); err != nil {
		t.Fatalf("ParseMAC(RandomMAC()): %v", err)
	}
}

func TestParseMAC(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" means an error
	}{
		{"02:42:ac:11:00:02", "02:42:ac:11:00:02"},
		{"02-42-AC-11-00-02", "02:42:ac:11:00:02"},
		{"0242.ac11.0002", "02:42:ac:11:00:02"},
		{"01:00:5e:00:00:01", ""},
		{"ff:ff:ff:ff:ff:ff", ""},
		{"00:00:00:00:00:00", ""},
		{"02:42:ac:11:00", ""},
		{"00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01", ""},
		{"", ""},
		{"banana", ""},
	}
	for _, tt := range tests {
		got, err := ParseMAC(tt.in)
		if tt.want == "" {
			if err == nil || !errors.Is(err, cnm.ErrInvalid) {
				t.Errorf("ParseMAC(%q) = %v, %v; want invalid", tt.in, got, err)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("ParseMAC(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}
