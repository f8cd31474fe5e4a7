package cli

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/patchbay/patchbay/api/types"
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

// humanDuration renders d the way Docker's ps does; the API's container
// list uses the same function, so both show the same text.
func humanDuration(d time.Duration) string { return types.HumanDuration(d) }

// runningFor is ps's CREATED column: "2 minutes ago".
func runningFor(created, now time.Time) string {
	if created.IsZero() {
		return ""
	}
	return humanDuration(now.Sub(created)) + " ago"
}

// statusOf is ps's STATUS column, as Docker's container list reports it.
func statusOf(st types.State, now time.Time) string { return types.StatusText(st, now) }

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
func commandOf(sb types.Sandbox) string {
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
