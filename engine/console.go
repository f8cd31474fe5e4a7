package engine

import (
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/patchbay/patchbay/internal/logfile"
	"github.com/patchbay/patchbay/sandbox"
)

// Console is the daemon's end of a process's pseudo-terminal: it copies
// what the process writes to the sandbox's log (if any, as stdout
// records) and to every
// attached writer, and passes input and window sizes to the terminal.
// It ends by itself once no process holds the terminal any more.
type Console struct {
	master *os.File
	log    *logfile.Writer
	done   chan struct{}

	// mu guards the fields below.
	mu   sync.Mutex
	outs map[int]io.Writer
	next int
}

// newConsole starts copying master's output; first are attached before
// any output is read (nil ones are skipped).
func newConsole(master *os.File, log *logfile.Writer, first ...io.Writer) *Console {
	c := &Console{master: master, log: log, done: make(chan struct{}), outs: map[int]io.Writer{}}
	for _, w := range first {
		if w != nil {
			c.outs[c.next] = w
			c.next++
		}
	}
	go c.run()
	return c
}

func (c *Console) run() {
	defer close(c.done)
	defer c.master.Close()
	if c.log != nil {
		defer c.log.Close()
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := c.master.Read(buf)
		if n > 0 {
			c.fanOut(buf[:n])
		}
		if err != nil {
			return // EIO once every holder of the slave is gone
		}
	}
}

func (c *Console) fanOut(p []byte) {
	if c.log != nil {
		_ = c.log.Write(logfile.Stdout, time.Now(), p)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, w := range c.outs {
		if _, err := w.Write(p); err != nil {
			delete(c.outs, k) // that client went away
		}
	}
}

// Attach adds w to the writers that get the terminal's output from now
// on; detach removes it.
func (c *Console) Attach(w io.Writer) (detach func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.next
	c.next++
	c.outs[k] = w
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.outs, k)
	}
}

// Write types p at the terminal.
func (c *Console) Write(p []byte) (int, error) {
	n, err := c.master.Write(p)
	if errors.Is(err, os.ErrClosed) {
		return n, io.ErrClosedPipe
	}
	return n, err
}

// Resize sets the terminal's window size (rows, columns).
func (c *Console) Resize(rows, cols uint16) error {
	select {
	case <-c.done:
		return nil
	default:
	}
	return sandbox.ResizePTY(c.master, rows, cols)
}

// Done is closed once the terminal has no more output.
func (c *Console) Done() <-chan struct{} { return c.done }

// openConsole opens a pseudo-terminal of the given size (rows, columns;
// zero keeps the default) and returns its master and slave.
func openConsole(size [2]uint16) (master, slave *os.File, err error) {
	master, slave, err = sandbox.OpenPTY()
	if err != nil {
		return nil, nil, err
	}
	if err := sandbox.ResizePTY(master, size[0], size[1]); err != nil {
		master.Close()
		slave.Close()
		return nil, nil, err
	}
	return master, slave, nil
}
