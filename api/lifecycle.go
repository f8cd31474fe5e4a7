package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
	"github.com/patchbay/patchbay/internal/logfile"
)

// Lifecycle routes of patchbay's own API: start, restart and attach.

// logPoll is how often a followed log is read again.
const logPoll = 200 * time.Millisecond

// sandboxStart is POST /sandboxes/{id}/start: 204 once the recorded
// command runs again, 304 if it was running.
func (s *Server) sandboxStart(w http.ResponseWriter, r *http.Request) {
	started, err := s.eng.StartAgain(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if !started {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// sandboxRestart is POST /sandboxes/{id}/restart?t=SECONDS.
func (s *Server) sandboxRestart(w http.ResponseWriter, r *http.Request) {
	t, err := stopTimeout(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.eng.Restart(r.Context(), r.PathValue("id"), t); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// stopTimeout reads the t parameter (seconds; default 10).
func stopTimeout(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("t")
	if v == "" {
		return 10 * time.Second, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < -1 {
		return 0, cnm.Invalid("invalid timeout %q", v)
	}
	if n == -1 {
		n = 1 << 20 // wait for ever, as Docker's -1
	}
	return time.Duration(n) * time.Second, nil
}

// sandboxAttach is POST /sandboxes/{id}/attach, a terminal session
// (Upgrade: patchbay-tty) on the sandbox's process: its terminal, or the
// output it logs when it has none. A stopped sandbox is attached from
// its next start. Closing the connection detaches.
func (s *Server) sandboxAttach(w http.ResponseWriter, r *http.Request) {
	info, err := s.eng.Sandbox(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if r.Header.Get("Upgrade") != types.UpgradeTTY {
		writeError(w, cnm.Invalid("attach must upgrade to %s", types.UpgradeTTY))
		return
	}
	if info.Process == nil {
		writeError(w, cnm.Conflict("sandbox %s has no process to attach to", info.Name))
		return
	}
	id := info.ID
	s.serveTerminal(w, func(ctx context.Context, out *types.FrameWriter) (*ttySession, error) {
		errOut := &types.FrameWriter{Mu: out.Mu, W: out.W, Kind: types.FrameStderr}
		con, in, stream, err := s.attachTo(ctx, id, out, errOut, false)
		if err != nil {
			return nil, err
		}
		return &ttySession{id: id, console: con, stdin: in, input: in != nil, wait: stream,
			signal: func(sig syscall.Signal) error { return s.eng.Kill(id, sig) }}, nil
	})
}

// attachTo attaches out to the sandbox's process, waiting for its next
// start if it is stopped: out gets its terminal's output (the console is
// returned, and is its input), or, when it has none, the stdout it logs
// from now on (from the start with logs) while errOut gets its stderr;
// in is then its stdin if it reads input (run -d -i), else nil. stream
// passes the output until the process ends and returns its exit code.
func (s *Server) attachTo(ctx context.Context, id string, out, errOut io.Writer, logs bool) (con *engine.Console, in io.Writer, stream func() (int, error), err error) {
	info, err := s.eng.Sandbox(id)
	if err != nil {
		return nil, nil, nil, err
	}
	if info.Process == nil {
		return nil, nil, nil, cnm.Conflict("sandbox %s has no process to attach to", info.Name)
	}
	path, err := s.eng.LogPath(id)
	if err != nil {
		return nil, nil, nil, err
	}
	// Where this attachment's output starts in the log: the end, now.
	var log *logfile.Reader
	if !info.Process.TTY {
		log, err = logfile.OpenReader(path)
		if err == nil && !logs {
			err = log.SeekEnd()
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			if log != nil {
				log.Close()
			}
			return nil, nil, nil, err
		}
	}
	closeLog := func() {
		if log != nil {
			log.Close()
		}
	}
	var withdraw func() bool
	if info.Process.TTY && !info.Running() {
		if withdraw, err = s.eng.AttachNext(id, out); err != nil {
			return nil, nil, nil, err
		}
	}
	since := info.Process.Started
	if info.Running() {
		since = time.Time{}
	}
	if err := s.eng.UntilStarted(ctx, id, since); err != nil {
		if withdraw != nil {
			withdraw()
		}
		closeLog()
		return nil, nil, nil, err
	}
	wait := func() (int, error) { return s.eng.Wait(ctx, id) }
	if info.Process.TTY {
		// taken: the start attached out to the new terminal already.
		taken := withdraw != nil && !withdraw()
		con, err := s.eng.Console(id)
		switch {
		case err != nil && !taken:
			return nil, nil, nil, err
		case con != nil && !taken:
			con.Attach(out) // out is dropped at its first failed write
		}
		if con == nil {
			return nil, nil, wait, nil
		}
		return con, con, wait, nil
	}
	if log == nil {
		// Nothing was logged before this start.
		if log, err = logfile.OpenReader(path); err != nil {
			return nil, nil, nil, err
		}
	}
	if errOut == nil {
		errOut = out
	}
	if in, err = s.eng.Stdin(id); err != nil {
		log.Close()
		return nil, nil, nil, err
	}
	emit := func(rec logfile.Record) error {
		w := out
		if rec.Stream == logfile.Stderr {
			w = errOut
		}
		_, err := w.Write(rec.Payload)
		return err
	}
	return nil, in, func() (int, error) {
		defer log.Close()
		_ = s.followLog(ctx, id, log, followOpts{follow: true}, emit, nil)
		return s.eng.Wait(ctx, id)
	}, nil
}
