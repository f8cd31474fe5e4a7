package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/patchbay/patchbay/api"
	"github.com/patchbay/patchbay/cnm"
)

// shortIDLen is how much of an ID the lists show unless --no-trunc.
const shortIDLen = 12

// commandWidth is how wide ps shows a command unless --no-trunc.
const commandWidth = 20

// shortID cuts an ID to its 12-character form when trunc is set.
func shortID(id string, trunc bool) string {
	if trunc && len(id) > shortIDLen {
		return id[:shortIDLen]
	}
	return id
}

// humanDuration renders d the way Docker's ps does ("5 seconds",
// "About a minute", "3 hours", "2 weeks").
func humanDuration(d time.Duration) string {
	seconds := int(d.Seconds())
	switch {
	case seconds < 1:
		return "Less than a second"
	case seconds == 1:
		return "1 second"
	case seconds < 60:
		return fmt.Sprintf("%d seconds", seconds)
	}
	minutes := int(d.Minutes())
	switch {
	case minutes == 1:
		return "About a minute"
	case minutes < 60:
		return fmt.Sprintf("%d minutes", minutes)
	}
	hours := int(d.Hours() + 0.5)
	switch {
	case hours == 1:
		return "About an hour"
	case hours < 48:
		return fmt.Sprintf("%d hours", hours)
	case hours < 24*7*2:
		return fmt.Sprintf("%d days", hours/24)
	case hours < 24*30*2:
		return fmt.Sprintf("%d weeks", hours/24/7)
	case hours < 24*365*2:
		return fmt.Sprintf("%d months", hours/24/30)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/24/365)
}

// runningFor is ps's CREATED column: "2 minutes ago".
func runningFor(created, now time.Time) string {
	if created.IsZero() {
		return ""
	}
	return humanDuration(now.Sub(created)) + " ago"
}

// statusOf is ps's STATUS column: "Up 3 minutes", "Exited (0) 2 seconds
// ago", "Exited (unknown) …" when the daemon could not collect the exit
// status, or "Created".
func statusOf(st api.State, now time.Time) string {
	switch {
	case st.Running:
		return "Up " + humanDuration(now.Sub(st.StartedAt))
	case st.Status == cnm.StateExited:
		code := strconv.Itoa(st.ExitCode)
		if st.ExitCode == -1 {
			code = "unknown"
		}
		s := "Exited (" + code + ")"
		if !st.FinishedAt.IsZero() {
			s += " " + humanDuration(now.Sub(st.FinishedAt)) + " ago"
		}
		return s
	}
	return "Created"
}

// ellipsis shortens s to at most width characters, the last being "…".
func ellipsis(s string, width int) string {
	if width <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}

// commandOf is a sandbox's command line.
func commandOf(sb api.Sandbox) string {
	if len(sb.Config.Cmd) > 0 {
		return strings.Join(sb.Config.Cmd, " ")
	}
	return strings.TrimSpace(sb.Path + " " + strings.Join(sb.Args, " "))
}

// quoteCommand is ps's COMMAND column: quoted, and cut to 20 characters
// when trunc is set.
func quoteCommand(cmd string, trunc bool) string {
	if trunc {
		cmd = ellipsis(cmd, commandWidth)
	}
	return strconv.Quote(cmd)
}
