package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
)

// Docker's container lifecycle routes, for sandboxes: start, stop,
// restart, kill, wait, remove, logs, attach and resize.

// sandboxOf finds a container by Docker reference, with Docker's
// not-found message.
func (s *Server) sandboxOf(r *http.Request) (engine.SandboxInfo, error) {
	ref := r.PathValue("id")
	info, err := s.eng.Sandbox(containerRef(ref))
	if err != nil {
		return info, noSuchContainer(err, ref)
	}
	return info, nil
}

// dockerStart is POST /containers/{id}/start: 204, or 304 when running.
func (s *Server) dockerStart(w http.ResponseWriter, r *http.Request) {
	info, err := s.sandboxOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	started, err := s.eng.StartAgain(r.Context(), info.ID)
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

// dockerStop is POST /containers/{id}/stop: 204, or 304 when not running.
func (s *Server) dockerStop(w http.ResponseWriter, r *http.Request) {
	info, err := s.sandboxOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	t, err := stopTimeout(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if !info.Running() {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if err := s.eng.Stop(r.Context(), info.ID, t); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// dockerRestart is POST /containers/{id}/restart.
func (s *Server) dockerRestart(w http.ResponseWriter, r *http.Request) {
	info, err := s.sandboxOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	t, err := stopTimeout(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.eng.Restart(r.Context(), info.ID, t); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// dockerKill is POST /containers/{id}/kill?signal=.
func (s *Server) dockerKill(w http.ResponseWriter, r *http.Request) {
	info, err := s.sandboxOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	sig := syscall.SIGKILL
	if v := r.URL.Query().Get("signal"); v != "" {
		if sig, err = ParseSignal(v); err != nil {
			writeError(w, err)
			return
		}
	}
	if !info.Running() {
		writeError(w, cnm.Conflict("Cannot kill container: %s: container %s is not running", r.PathValue("id"), info.ID))
		return
	}
	if err := s.eng.Kill(info.ID, sig); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// dockerWait is POST /containers/{id}/wait: the header goes out at once,
// the exit code once the process has ended.
func (s *Server) dockerWait(w http.ResponseWriter, r *http.Request) {
	info, err := s.sandboxOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	switch c := r.URL.Query().Get("condition"); c {
	case "", "not-running", "next-exit", "removed":
	default:
		writeError(w, cnm.Invalid("invalid condition: %q", c))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	resp := types.WaitResponse{}
	if r.URL.Query().Get("condition") == "next-exit" && !info.Running() {
		// The exit of the process started next (docker start -a).
		since := time.Time{}
		if info.Process != nil {
			since = info.Process.Started
		}
		err = s.eng.UntilStarted(r.Context(), info.ID, since)
	}
	code := 0
	if err == nil {
		code, err = s.eng.Wait(r.Context(), info.ID)
	}
	if err != nil {
		resp.Error = &types.WaitError{Message: err.Error()}
	}
	resp.StatusCode = code
	writeJSONBody(w, resp)
}

// dockerRemove is DELETE /containers/{id}?force=.
func (s *Server) dockerRemove(w http.ResponseWriter, r *http.Request) {
	if boolParam(r, "link") {
		writeError(w, cnm.Invalid("patchbay does not remove links by name: remove the sandbox instead"))
		return
	}
	info, err := s.sandboxOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.eng.RemoveSandbox(r.Context(), info.ID, boolParam(r, "force")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// dockerResize is POST /containers/{id}/resize?h=&w=.
func (s *Server) dockerResize(w http.ResponseWriter, r *http.Request) {
	info, err := s.sandboxOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	rows, cols, err := sizeParams(r)
	if err != nil {
		writeError(w, err)
		return
	}
	con, err := s.eng.Console(info.ID)
	if err != nil {
		writeError(w, err)
		return
	}
	if con == nil {
		writeError(w, cnm.Conflict("container %s has no terminal", r.PathValue("id")))
		return
	}
	if err := con.Resize(rows, cols); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// dockerLogs is GET /containers/{id}/logs: the log as a raw stream for a
// process with a terminal, else Docker's multiplexed stream with each
// record on its stream. stdout and stderr select streams, since and
// until times, tail the last records; timestamps prefixes each record
// with its time; follow streams until the process ends.
func (s *Server) dockerLogs(w http.ResponseWriter, r *http.Request) {
	info, err := s.sandboxOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	q, err := parseLogQuery(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if !q.filter.Stdout && !q.filter.Stderr {
		writeError(w, cnm.Invalid("Bad parameters: you must choose at least one stream"))
		return
	}
	s.streamLog(w, r, info, q, info.Process != nil && info.Process.TTY)
}

// dockerAttach is POST /containers/{id}/attach on a hijacked connection:
// the process's terminal both ways when it has one, else its output from
// now on (after the log so far with logs=1) as Docker's multiplexed
// stream; a stopped container is attached from its next start (docker
// start -a attaches first). The stream ends when the process does; the
// client detaches by closing it.
func (s *Server) dockerAttach(w http.ResponseWriter, r *http.Request) {
	info, err := s.sandboxOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if info.Process == nil {
		writeError(w, cnm.Conflict("container %s has no process to attach to", r.PathValue("id")))
		return
	}
	keys, err := detachKeys(r.URL.Query().Get("detachKeys"))
	if err != nil {
		writeError(w, err)
		return
	}
	tty := info.Process.TTY
	wantIn := boolParam(r, "stdin")
	wantOut, wantErr := boolParam(r, "stdout"), boolParam(r, "stderr")
	conn, buf, err := hijackDocker(w, r, tty)
	if err != nil {
		s.log.Warn("attach", "err", err)
		return
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut io.Writer = io.Discard, io.Discard
	switch {
	case tty && (wantOut || wantErr):
		rw := &rawWriter{w: conn}
		defer rw.Close()
		out = rw
	case !tty:
		mu := &sync.Mutex{}
		fw := &types.FrameWriter{Mu: mu, W: conn, Kind: types.FrameStdout}
		defer fw.Close()
		ew := &types.FrameWriter{Mu: mu, W: conn, Kind: types.FrameStderr}
		defer ew.Close()
		if wantOut {
			out = fw
		}
		if wantErr {
			errOut = ew
		}
	}
	con, in, stream, err := s.attachTo(ctx, info.ID, out, errOut, boolParam(r, "logs"))
	if err != nil {
		if errOut == io.Discard {
			errOut = out
		}
		_, _ = errOut.Write([]byte(err.Error() + "\n"))
		return
	}
	// With a terminal and input, the client closing its side ends the
	// attachment (that is how the docker CLI detaches), as the detach
	// keys do; otherwise the attachment ends when writing to the client
	// fails. A process without a terminal keeps its stdin open when the
	// client's input ends, as Docker's does unless StdinOnce.
	go func() {
		err := s.attachInput(types.NewEscapeReader(buf.Reader, keys), in, wantIn)
		if con != nil && wantIn || errors.Is(err, types.ErrDetached) {
			cancel()
		}
	}()
	_, _ = stream()
}

// writeJSONBody writes v as the body, headers already sent.
func writeJSONBody(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// detachKeys parses a detachKeys parameter; empty is Docker's default.
func detachKeys(v string) ([]byte, error) {
	if v == "" {
		v = types.DefaultDetachKeys
	}
	keys, err := types.ParseDetachKeys(v)
	if err != nil {
		return nil, cnm.Invalid("%v", err)
	}
	return keys, nil
}

// attachInput passes what the client types to the process's input, its
// terminal or stdin (when it asked to and there is one), and returns
// when the client closes its side (nil) or types the detach keys
// (types.ErrDetached), or the input fails.
func (s *Server) attachInput(r io.Reader, in io.Writer, wantIn bool) error {
	if in == nil || !wantIn {
		in = io.Discard
	}
	_, err := io.Copy(in, r)
	return err
}
