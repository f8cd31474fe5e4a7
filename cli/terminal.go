package cli

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/patchbay/patchbay/client"
	"golang.org/x/term"
)

// ttyOpts are the terminal flags of run, exec and attach.
type ttyOpts struct {
	interactive, tty bool
	detachKeys       string
}

// termSession is the local side of a terminal session: the user's
// terminal, raw while the session lasts, its size and the detach keys.
type termSession struct {
	tio    client.TerminalIO
	size   [2]uint16
	resize chan [2]uint16
	// ctx ends when the CLI is told to stop (SIGTERM, SIGHUP).
	ctx     context.Context
	cleanup []func()
}

// openTerminal prepares a session: with input from a terminal, that
// terminal goes raw until close; window changes are sent along. With
// proxy, signals the CLI gets go to the process (as Docker's
// --sig-proxy); without, they end the session.
func (e *env) openTerminal(ctx context.Context, input bool, detachKeys string, proxy bool) (*termSession, error) {
	keys, err := client.ParseDetachKeys(orDefault(detachKeys, client.DefaultDetachKeys))
	if err != nil {
		return nil, err
	}
	in := asFile(e.stdin, os.Stdin)
	out := asFile(e.stdout, os.Stdout)
	s := &termSession{tio: client.TerminalIO{Out: e.stdout, Err: e.stderr}}
	if input {
		s.tio.In, s.tio.DetachKeys = in, keys
	}
	sizeOf := func() ([2]uint16, bool) {
		for _, f := range []*os.File{out, in} {
			if term.IsTerminal(int(f.Fd())) {
				if w, h, err := term.GetSize(int(f.Fd())); err == nil {
					return [2]uint16{uint16(h), uint16(w)}, true
				}
			}
		}
		return [2]uint16{}, false
	}
	s.size, _ = sizeOf()
	if input && term.IsTerminal(int(in.Fd())) {
		old, err := term.MakeRaw(int(in.Fd()))
		if err != nil {
			return nil, err
		}
		s.cleanup = append(s.cleanup, func() { _ = term.Restore(int(in.Fd()), old) })
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	resize := make(chan [2]uint16, 1)
	stopWinch := make(chan struct{})
	go func() {
		for {
			select {
			case <-winch:
				if sz, ok := sizeOf(); ok {
					select {
					case resize <- sz:
					case <-stopWinch:
						return
					}
				}
			case <-stopWinch:
				return
			}
		}
	}()
	s.tio.Resize, s.resize = resize, resize
	// Keys typed at a raw terminal are the process's; signals sent to
	// the CLI end the session (the terminal is restored) and leave the
	// process running.
	s.cleanup = append(s.cleanup, func() { signal.Stop(winch); close(stopWinch) })
	if proxy {
		sigs, stop := forwardSignals()
		s.tio.Signals, s.ctx = sigs, ctx
		s.cleanup = append(s.cleanup, stop)
		return s, nil
	}
	ctx, cancel := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT)
	s.ctx = ctx
	s.cleanup = append(s.cleanup, cancel)
	return s, nil
}

// checkTTY refuses -it when the input is not a terminal, as Docker
// does: the process would read a pipe through a terminal's line
// discipline.
func (e *env) checkTTY(o ttyOpts) error {
	if o.tty && o.interactive && !term.IsTerminal(int(asFile(e.stdin, os.Stdin).Fd())) {
		return errors.New("the input device is not a TTY: use -i without -t to read a pipe")
	}
	return nil
}

// close restores the terminal.
func (s *termSession) close() {
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		s.cleanup[i]()
	}
}

// sessionEnd turns a session's outcome into the CLI's: the exit code
// passes through, detaching is success.
func sessionEnd(code int, err error) error {
	switch {
	case errors.Is(err, client.ErrDetached):
		return nil
	case errors.Is(err, context.Canceled):
		return errors.New("session ended by a signal; the process keeps running (patchbay attach shows it again)")
	case err != nil:
		return err
	case code != 0:
		return exitError{code}
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
