package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/engine"
)

// drainGrace bounds how long a session waits, after its process ended,
// for output that a child still holding the terminal keeps back.
const drainGrace = time.Second

// ttySession is a process a terminal session shows.
type ttySession struct {
	id string
	// console takes input and window sizes; nil when the process has no
	// terminal (attach then only shows its output).
	console *engine.Console
	// stdin takes input when there is no console (a process started to
	// read input without a terminal).
	stdin io.Writer
	// input: what the client types goes to the console, or stdin.
	input bool
	// wait returns the exit code once the process has ended.
	wait   func() (int, error)
	signal func(syscall.Signal) error
}

// hijack takes the connection over and answers the upgrade to proto.
func hijack(w http.ResponseWriter, proto, contentType string) (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("connection cannot be upgraded")
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("hijack connection: %w", err)
	}
	// The server's request deadlines do not bound a session.
	_ = conn.SetDeadline(time.Time{})
	status := "101 Switching Protocols"
	if proto == "" {
		status = "200 OK"
	}
	_, _ = fmt.Fprintf(buf, "HTTP/1.1 %s\r\n", status)
	if contentType != "" {
		_, _ = fmt.Fprintf(buf, "Content-Type: %s\r\n", contentType)
	}
	if proto != "" {
		_, _ = fmt.Fprintf(buf, "Connection: Upgrade\r\nUpgrade: %s\r\n", proto)
	}
	_, _ = buf.WriteString("\r\n")
	if err := buf.Flush(); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("answer upgrade: %w", err)
	}
	return conn, buf, nil
}

// serveTerminal runs a patchbay-tty session (see api/types/terminal.go):
// start gets the writer for the process's output and starts or finds
// the process; ctx ends with the session.
func (s *Server) serveTerminal(w http.ResponseWriter, start func(ctx context.Context, out *types.FrameWriter) (*ttySession, error)) {
	conn, buf, err := hijack(w, types.UpgradeTTY, "")
	if err != nil {
		s.log.Warn("terminal session", "err", err)
		return
	}
	defer conn.Close()
	mu := &sync.Mutex{}
	out := &types.FrameWriter{Mu: mu, W: conn, Kind: types.FrameStdout}
	defer out.Close()
	ctl := &types.FrameWriter{Mu: mu, W: conn, Kind: types.FrameControl}
	send := func(m types.StreamMessage) {
		b, _ := json.Marshal(m)
		_, _ = ctl.Write(b)
	}
	// ctx ends with the session, for what start leaves running.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess, err := start(ctx, out)
	if err != nil {
		send(types.StreamMessage{Error: err.Error(), Status: StatusOf(err)})
		return
	}
	send(types.StreamMessage{ID: sess.id})
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		s.terminalInput(buf.Reader, sess)
	}()
	type result struct {
		code int
		err  error
	}
	ended := make(chan result, 1)
	go func() {
		code, err := sess.wait()
		ended <- result{code, err}
	}()
	select {
	case <-gone:
		// The client detached (or went away): the process runs on.
		out.Close()
		return
	case res := <-ended:
		if sess.console != nil {
			select {
			case <-sess.console.Done():
			case <-time.After(drainGrace):
			}
		}
		out.Close()
		if res.err != nil {
			send(types.StreamMessage{Error: res.err.Error(), Status: StatusOf(res.err)})
			return
		}
		send(types.StreamMessage{ExitCode: &res.code})
	}
}

// terminalInput applies the client's frames until the connection ends.
func (s *Server) terminalInput(r *bufio.Reader, sess *ttySession) {
	for {
		kind, p, err := types.ReadFrame(r)
		if err != nil {
			return
		}
		switch kind {
		case types.FrameStdin:
			switch {
			case !sess.input:
			case sess.console != nil:
				_, _ = sess.console.Write(p)
			case sess.stdin != nil:
				_, _ = sess.stdin.Write(p)
			}
		case types.FrameControl:
			var m types.StreamMessage
			if json.Unmarshal(p, &m) != nil {
				continue
			}
			if m.Resize != nil && sess.console != nil {
				_ = sess.console.Resize(m.Resize[0], m.Resize[1])
			}
			if m.Signal > 0 && sess.signal != nil {
				_ = sess.signal(syscall.Signal(m.Signal))
			}
		}
	}
}
