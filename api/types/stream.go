package types

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// Attached runs (run without -d, exec) pass the caller's stdin, stdout
// and stderr to the daemon, so the process uses the caller's terminal or
// pipes directly, whatever namespaces the caller is in:
//
//  1. the client sends the request with "Upgrade: patchbay-stdio";
//  2. the server answers 101 Switching Protocols;
//  3. the client sends one byte carrying its three descriptors
//     (SCM_RIGHTS) on the unix socket;
//  4. the server writes JSON lines (StreamMessage): {"Id"} once the
//     process runs or {"Error","Status"} if it could not start, then
//     {"ExitCode"}; the client may write {"Signal"} lines meanwhile.

// UpgradeProto is the Upgrade header value of attached calls.
const UpgradeProto = "patchbay-stdio"

// SendFiles sends files over a unix connection.
func SendFiles(c *net.UnixConn, files ...*os.File) error {
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	_, _, err := c.WriteMsgUnix([]byte{0}, unix.UnixRights(fds...), nil)
	if err != nil {
		return fmt.Errorf("send descriptors: %w", err)
	}
	return nil
}

// RecvFiles receives n files sent with SendFiles.
func RecvFiles(c *net.UnixConn, n int) ([]*os.File, error) {
	oob := make([]byte, unix.CmsgSpace(n*4))
	buf := make([]byte, 1)
	_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("receive descriptors: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("receive descriptors: %w", err)
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), fmt.Sprintf("fd%d", fd)))
		}
	}
	if len(files) != n {
		for _, f := range files {
			f.Close()
		}
		return nil, fmt.Errorf("receive descriptors: got %d, want %d", len(files), n)
	}
	return files, nil
}
