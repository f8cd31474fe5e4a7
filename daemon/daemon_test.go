package daemon

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
)

func TestSocketPath(t *testing.T) {
	tests := []struct {
		host, want string
		bad        bool
	}{
		{host: "", want: "/run/pb/patchbay.sock"},
		{host: "unix:///tmp/x.sock", want: "/tmp/x.sock"},
		{host: "tcp://127.0.0.1:2375", bad: true},
		{host: "unix://", bad: true},
	}
	for _, tt := range tests {
		cfg := Config{Engine: engine.Config{ExecRoot: "/run/pb"}, Host: tt.host}
		got, err := cfg.socketPath()
		if tt.bad {
			if !errors.Is(err, cnm.ErrInvalid) {
				t.Errorf("%q: err %v, want invalid", tt.host, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: %q, %v; want %q", tt.host, got, err, tt.want)
		}
	}
}

func TestEngineConfigPools(t *testing.T) {
	cfg := Config{Engine: engine.Config{Root: "/r", ExecRoot: "/e"}, DefaultAddressPools: "10.10.0.0/16/24"}
	ecfg, err := cfg.engineConfig(newPlugins(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(ecfg.DefaultPools) != 1 || ecfg.DefaultPools[0].Base != netip.MustParsePrefix("10.10.0.0/16") || ecfg.DefaultPools[0].Size != 24 {
		t.Errorf("pools %+v", ecfg.DefaultPools)
	}
	if ecfg.Logger == nil {
		t.Error("no logger")
	}
}

// A bad configuration is refused before anything is created.
func TestRunRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	for _, cfg := range []Config{
		{Engine: engine.Config{Root: filepath.Join(dir, "r"), ExecRoot: filepath.Join(dir, "e")}, DefaultAddressPools: "bogus"},
		{Engine: engine.Config{Root: filepath.Join(dir, "r"), ExecRoot: filepath.Join(dir, "e")}, Host: "tcp://127.0.0.1:1"},
	} {
		if err := Run(context.Background(), cfg); !errors.Is(err, cnm.ErrInvalid) {
			t.Errorf("%+v: err %v, want invalid", cfg, err)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("created %v", m)
	}
}
