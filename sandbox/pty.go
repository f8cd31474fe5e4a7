package sandbox

import (
	"fmt"
	"os"

	"github.com/creack/pty"
)

// OpenPTY opens a pseudo-terminal pair: the master stays with the caller,
// the slave is handed to a process started with Terminal set.
func OpenPTY() (master, slave *os.File, err error) {
	master, slave, err = pty.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("open pseudo-terminal: %w", err)
	}
	return master, slave, nil
}

// ResizePTY sets a terminal's window size; the foreground process group
// gets SIGWINCH. Zero sizes are ignored.
func ResizePTY(t *os.File, rows, cols uint16) error {
	if rows == 0 || cols == 0 {
		return nil
	}
	if err := pty.Setsize(t, &pty.Winsize{Rows: rows, Cols: cols}); err != nil {
		return fmt.Errorf("resize terminal: %w", err)
	}
	return nil
}
