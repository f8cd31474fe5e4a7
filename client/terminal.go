package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sync"
	"syscall"

	"github.com/patchbay/patchbay/api/types"
)

// TerminalIO is the caller's side of a terminal session.
type TerminalIO struct {
	// In is what the user types; nil sends nothing.
	In io.Reader
	// Out gets the terminal's output.
	Out io.Writer
	// Err, if set, gets what a process without a terminal writes to
	// stderr (attach); otherwise Out does.
	Err io.Writer
	// Resize carries new window sizes (rows, columns).
	Resize <-chan [2]uint16
	// Signals are forwarded to the process.
	Signals <-chan os.Signal
	// DetachKeys, when typed, end the session with ErrDetached and leave
	// the process running; empty means none.
	DetachKeys []byte
	// OnAttach, if set, runs once the daemon accepted the session, before
	// any output: attach then start (start -a) sees the output from its
	// first byte. An error ends the session.
	OnAttach func() error
}

// DefaultDetachKeys is Docker's detach sequence, ctrl-p ctrl-q.
const DefaultDetachKeys = types.DefaultDetachKeys

// ErrDetached is returned when the user typed the detach keys: the
// process keeps running.
var ErrDetached = types.ErrDetached

// ParseDetachKeys reads a detach sequence as Docker writes it.
func ParseDetachKeys(s string) ([]byte, error) { return types.ParseDetachKeys(s) }

// RunTerminal creates a sandbox whose process runs on a terminal the
// daemon holds (req.Process.TTY) and shows it on tio until it exits or
// the user detaches. It returns the sandbox ID and the exit code.
func (c *Client) RunTerminal(ctx context.Context, req types.SandboxCreateRequest, tio TerminalIO) (string, int, error) {
	return c.terminal(ctx, "/sandboxes/create", req, tio)
}

// ExecTerminal runs a command on a new terminal in a running sandbox
// (req.TTY) and returns its exit code.
func (c *Client) ExecTerminal(ctx context.Context, ref string, req types.ExecRequest, tio TerminalIO) (int, error) {
	_, code, err := c.terminal(ctx, "/sandboxes/"+url.PathEscape(ref)+"/exec", req, tio)
	return code, err
}

// Attach shows a running sandbox's process on tio: its terminal both
// ways, or its output when it has none. It returns the exit code once
// the process ends, or ErrDetached.
func (c *Client) Attach(ctx context.Context, ref string, tio TerminalIO) (int, error) {
	_, code, err := c.terminal(ctx, "/sandboxes/"+url.PathEscape(ref)+"/attach", nil, tio)
	return code, err
}

// SandboxStart runs a stopped sandbox's command again.
func (c *Client) SandboxStart(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodPost, "/sandboxes/"+url.PathEscape(ref)+"/start", nil, nil, nil)
}

// SandboxRestart stops a sandbox's process and starts its command again.
func (c *Client) SandboxRestart(ctx context.Context, ref string, secs int) error {
	return c.do(ctx, http.MethodPost, "/sandboxes/"+url.PathEscape(ref)+"/restart", url.Values{"t": {fmt.Sprint(secs)}}, nil, nil)
}

// terminal runs a session of the patchbay-tty protocol (see
// api/types/terminal.go).
func (c *Client) terminal(ctx context.Context, path string, body any, tio TerminalIO) (string, int, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return "", 0, err
	}
	defer conn.Close()
	br, err := upgrade(conn, path, body, types.UpgradeTTY)
	if err != nil {
		return "", 0, err
	}
	if tio.OnAttach != nil {
		if err := tio.OnAttach(); err != nil {
			return "", 0, err
		}
	}
	var mu sync.Mutex
	send := func(kind byte, p []byte) error {
		mu.Lock()
		defer mu.Unlock()
		return types.WriteFrame(conn, kind, p)
	}
	control := func(m types.StreamMessage) {
		b, _ := json.Marshal(m)
		_ = send(types.FrameControl, b)
	}
	stop := make(chan struct{})
	defer close(stop)
	detached := make(chan struct{})
	if tio.In != nil {
		go func() {
			in := types.NewEscapeReader(tio.In, tio.DetachKeys)
			buf := make([]byte, 32<<10)
			for {
				n, err := in.Read(buf)
				if n > 0 && send(types.FrameStdin, buf[:n]) != nil {
					return
				}
				if errors.Is(err, ErrDetached) {
					close(detached)
					return
				}
				if err != nil {
					return
				}
			}
		}()
	}
	go func() {
		for {
			select {
			case sz := <-tio.Resize:
				control(types.StreamMessage{Resize: &sz})
			case s := <-tio.Signals:
				if sig, ok := s.(syscall.Signal); ok {
					control(types.StreamMessage{Signal: int(sig)})
				}
			case <-stop:
				return
			}
		}
	}()
	type result struct {
		id   string
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var res result
		for {
			kind, p, err := types.ReadFrame(br)
			if err != nil {
				res.err = fmt.Errorf("lost the daemon during the session: %w", err)
				done <- res
				return
			}
			switch kind {
			case types.FrameStdout:
				_, _ = tio.Out.Write(p)
			case types.FrameStderr:
				if tio.Err != nil {
					_, _ = tio.Err.Write(p)
				} else {
					_, _ = tio.Out.Write(p)
				}
			case types.FrameControl:
				var m types.StreamMessage
				if err := json.Unmarshal(p, &m); err != nil {
					continue
				}
				switch {
				case m.Error != "":
					res.err = &APIError{Status: m.Status, Message: m.Error}
				case m.ID != "":
					res.id = m.ID
					continue
				case m.Detached:
					res.err = ErrDetached
				case m.ExitCode != nil:
					res.code = *m.ExitCode
				default:
					continue
				}
				done <- res
				return
			}
		}
	}()
	select {
	case res := <-done:
		return res.id, res.code, res.err
	case <-detached:
		return "", 0, ErrDetached
	case <-ctx.Done():
		return "", 0, ctx.Err()
	}
}
