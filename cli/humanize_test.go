package cli

import (
	"testing"
	"time"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/cnm"
)

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "Less than a second"},
		{time.Second, "1 second"},
		{5 * time.Second, "5 seconds"},
		{59 * time.Second, "59 seconds"},
		{60 * time.Second, "About a minute"},
		{119 * time.Second, "About a minute"},
		{2 * time.Minute, "2 minutes"},
		{59 * time.Minute, "59 minutes"},
		{60 * time.Minute, "About an hour"},
		{90 * time.Minute, "2 hours"},
		{47 * time.Hour, "47 hours"},
		{48 * time.Hour, "2 days"},
		{13 * 24 * time.Hour, "13 days"},
		{14 * 24 * time.Hour, "2 weeks"},
		{60 * 24 * time.Hour, "2 months"},
		{800 * 24 * time.Hour, "2 years"},
	}
	for _, tt := range tests {
		if got := humanDuration(tt.d); got != tt.want {
			t.Errorf("humanDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestStatusAndCreated(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	tests := []struct {
		name string
		st   types.State
		want string
	}{
		{"running", types.State{Status: cnm.StateRunning, Running: true, StartedAt: ago(3 * time.Minute)}, "Up 3 minutes"},
		{"exited 0", types.State{Status: cnm.StateExited, ExitCode: 0, FinishedAt: ago(2 * time.Second)}, "Exited (0) 2 seconds ago"},
		{"exited 137", types.State{Status: cnm.StateExited, ExitCode: 137, FinishedAt: ago(time.Hour)}, "Exited (137) About an hour ago"},
		{"exit status lost", types.State{Status: cnm.StateExited, ExitCode: -1, FinishedAt: ago(5 * time.Minute)}, "Exited (unknown) 5 minutes ago"},
		{"exited, no finish time", types.State{Status: cnm.StateExited, ExitCode: 1}, "Exited (1)"},
		{"created", types.State{Status: cnm.StateCreated}, "Created"},
		{"no process", types.State{}, "Created"},
	}
	for _, tt := range tests {
		if got := statusOf(tt.st, now); got != tt.want {
			t.Errorf("%s: statusOf = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := runningFor(ago(5*time.Second), now); got != "5 seconds ago" {
		t.Errorf("runningFor = %q", got)
	}
	if got := runningFor(ago(2*time.Minute+10*time.Second), now); got != "2 minutes ago" {
		t.Errorf("runningFor = %q", got)
	}
	if got := runningFor(time.Time{}, now); got != "" {
		t.Errorf("runningFor(zero) = %q", got)
	}
}

func TestQuoteCommand(t *testing.T) {
	tests := []struct {
		cmd   string
		trunc bool
		want  string
	}{
		{"sleep 100", true, `"sleep 100"`},
		{"12345678901234567890", true, `"12345678901234567890"`},
		{"busybox httpd -f -p 8080", true, `"busybox httpd -f -p…"`},
		{"busybox httpd -f -p 8080", false, `"busybox httpd -f -p 8080"`},
		{`sh -c "echo hi"`, true, `"sh -c \"echo hi\""`},
		{"ünïcödé ünïcödé ünïcödé", true, `"ünïcödé ünïcödé ünï…"`},
		{"", true, `""`},
	}
	for _, tt := range tests {
		if got := quoteCommand(tt.cmd, tt.trunc); got != tt.want {
			t.Errorf("quoteCommand(%q, %v) = %s, want %s", tt.cmd, tt.trunc, got, tt.want)
		}
	}
}

func TestShortID(t *testing.T) {
	id := "0123456789abcdef0123"
	if got := shortID(id, true); got != "0123456789ab" {
		t.Errorf("trunc: %q", got)
	}
	if got := shortID(id, false); got != id {
		t.Errorf("no trunc: %q", got)
	}
	if got := shortID("abc", true); got != "abc" {
		t.Errorf("short: %q", got)
	}
}
