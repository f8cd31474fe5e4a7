package api

import (
	"context"
	"io"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/cnm"
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
// (Upgrade: patchbay-tty) on the running process: its terminal, or the
// output it logs from now on when it has none. Closing the connection
// detaches.
func (s *Server) sandboxAttach(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	info, err := s.eng.Sandbox(id)
	if err != nil {
		writeError(w, err)
		return
	}
	if r.Header.Get("Upgrade") != types.UpgradeTTY {
		writeError(w, cnm.Invalid("attach must upgrade to %s", types.UpgradeTTY))
		return
	}
	con, err := s.eng.Console(info.ID)
	if err != nil {
		writeError(w, err)
		return
	}
	id = info.ID
	s.serveTerminal(w, func(ctx context.Context, out *types.FrameWriter) (*ttySession, error) {
		sess := &ttySession{id: id, console: con, input: con != nil,
			signal: func(sig syscall.Signal) error { return s.eng.Kill(id, sig) }}
		if con != nil {
			detach := con.Attach(out)
			sess.wait = func() (int, error) {
				defer detach()
				return s.eng.Wait(ctx, id)
			}
			return sess, nil
		}
		path, err := s.eng.LogPath(id)
		if err != nil {
			return nil, err
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		_, _ = f.Seek(0, io.SeekEnd)
		sess.wait = func() (int, error) {
			defer f.Close()
			s.followLog(ctx, id, f, out)
			return s.eng.Wait(ctx, id)
		}
		return sess, nil
	})
}

// followLog copies f to w until the sandbox's process has ended (and its
// last output is copied), w fails or ctx ends.
func (s *Server) followLog(ctx context.Context, id string, f *os.File, w io.Writer) {
	for {
		if _, err := io.Copy(w, f); err != nil {
			return
		}
		sb, err := s.eng.Sandbox(id)
		if err != nil || !sb.Running() {
			_, _ = io.Copy(w, f)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(logPoll):
		}
	}
}
