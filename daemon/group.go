package daemon

import (
	"fmt"
	"os/user"
	"strconv"
)

// lookupGroup returns the GID of group, a name or a number, or -1 for
// "" (no group: the socket stays root-only).
func lookupGroup(group string) (int, error) {
	if group == "" {
		return -1, nil
	}
	if gid, err := strconv.Atoi(group); err == nil && gid >= 0 {
		return gid, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, fmt.Errorf("--group %s: no such group", group)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil || gid < 0 {
		return 0, fmt.Errorf("--group %s: invalid gid %q", group, g.Gid)
	}
	return gid, nil
}
