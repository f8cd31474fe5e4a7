package types

import (
	"fmt"
	"strconv"
	"time"

	"github.com/patchbay/patchbay/cnm"
)

// HumanDuration renders d the way Docker's ps does ("5 seconds",
// "About a minute", "3 hours", "2 weeks").
func HumanDuration(d time.Duration) string {
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

// StatusText is a sandbox's status as ps shows it and Docker's container
// list reports it: "Up 3 minutes", "Exited (0) 2 seconds ago", "Exited
// (unknown) …" when the daemon could not collect the exit status, or
// "Created".
func StatusText(st State, now time.Time) string {
	switch {
	case st.Running:
		return "Up " + HumanDuration(now.Sub(st.StartedAt))
	case st.Status == cnm.StateExited:
		code := strconv.Itoa(st.ExitCode)
		if st.ExitCode == -1 {
			code = "unknown"
		}
		s := "Exited (" + code + ")"
		if !st.FinishedAt.IsZero() {
			s += " " + HumanDuration(now.Sub(st.FinishedAt)) + " ago"
		}
		return s
	}
	return "Created"
}
