package engine

import (
	"testing"
	"time"

	"github.com/patchbay/patchbay/cnm"
)

func TestParseRestartPolicy(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want cnm.RestartPolicy
		ok   bool
	}{
		{"", cnm.RestartPolicy{Name: "no"}, true},
		{"no", cnm.RestartPolicy{Name: "no"}, true},
		{"always", cnm.RestartPolicy{Name: "always"}, true},
		{"unless-stopped", cnm.RestartPolicy{Name: "unless-stopped"}, true},
		{"on-failure", cnm.RestartPolicy{Name: "on-failure"}, true},
		{"on-failure:3", cnm.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}, true},
		{"on-failure:-1", cnm.RestartPolicy{}, false},
		{"on-failure:x", cnm.RestartPolicy{}, false},
		{"always:2", cnm.RestartPolicy{}, false},
		{"sometimes", cnm.RestartPolicy{}, false},
	} {
		got, err := ParseRestartPolicy(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseRestartPolicy(%q) = %+v, %v", tt.in, got, err)
		}
	}
}

func TestShouldRestart(t *testing.T) {
	pol := func(name string, max int) cnm.RestartPolicy {
		return cnm.RestartPolicy{Name: name, MaximumRetryCount: max}
	}
	for _, tt := range []struct {
		name string
		p    cnm.Process
		code int
		want bool
	}{
		{"no policy", cnm.Process{}, 1, false},
		{"no", cnm.Process{Restart: pol("no", 0)}, 1, false},
		{"always after success", cnm.Process{Restart: pol("always", 0)}, 0, true},
		{"unless-stopped after failure", cnm.Process{Restart: pol("unless-stopped", 0)}, 2, true},
		{"stopped by hand", cnm.Process{Restart: pol("always", 0), ManuallyStopped: true}, 137, false},
		{"on-failure after success", cnm.Process{Restart: pol("on-failure", 0)}, 0, false},
		{"on-failure without limit", cnm.Process{Restart: pol("on-failure", 0), RestartCount: 50}, 1, true},
		{"on-failure under the limit", cnm.Process{Restart: pol("on-failure", 2), RestartCount: 1}, 1, true},
		{"on-failure at the limit", cnm.Process{Restart: pol("on-failure", 2), RestartCount: 2}, 1, false},
		{"on-failure, ended while the daemon was down", cnm.Process{Restart: pol("on-failure", 0)}, -1, true},
		{"auto-remove", cnm.Process{Restart: pol("always", 0), AutoRemove: true}, 1, false},
	} {
		if got := shouldRestart(&tt.p, tt.code); got != tt.want {
			t.Errorf("%s: shouldRestart = %v", tt.name, got)
		}
	}
}

func TestRestartDelay(t *testing.T) {
	if d := restartDelay(0); d != restartDelayFirst {
		t.Errorf("first delay %v", d)
	}
	if d := restartDelay(3); d != 8*restartDelayFirst {
		t.Errorf("fourth delay %v", d)
	}
	if d := restartDelay(1000); d != restartDelayMax || d > time.Minute {
		t.Errorf("delay after many restarts %v", d)
	}
}
