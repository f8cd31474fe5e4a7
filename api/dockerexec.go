package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
)

// Docker's exec routes: create an exec instance, start it on a hijacked
// connection (the raw terminal with a TTY, Docker's multiplexed stream
// without), resize its terminal, inspect it for the exit code.

// decodeLoose reads an optional JSON body, ignoring fields patchbay does
// not know: Docker clients of different versions send different ones.
func decodeLoose(r *http.Request, v any) error {
	if r.Body == nil {
		return nil
	}
	if err := json.NewDecoder(r.Body).Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return bodyError(err)
	}
	return nil
}

// dockerExecCreate is POST /containers/{id}/exec.
func (s *Server) dockerExecCreate(w http.ResponseWriter, r *http.Request) {
	var req types.ExecCreateRequest
	if err := decodeLoose(r, &req); err != nil {
		writeError(w, err)
		return
	}
	switch {
	case req.User != "":
		writeError(w, cnm.Invalid("patchbay runs exec commands as root: --user is not supported"))
		return
	case req.WorkingDir != "" && req.WorkingDir != "/":
		writeError(w, cnm.Invalid("patchbay runs exec commands in /: --workdir is not supported"))
		return
	}
	ref := r.PathValue("id")
	cfg := engine.ExecConfig{
		Args: req.Cmd, Env: req.Env, TTY: req.Tty, DetachKeys: req.DetachKeys,
		AttachStdin: req.AttachStdin, AttachStdout: req.AttachStdout, AttachStderr: req.AttachStderr,
	}
	if req.ConsoleSize != nil {
		cfg.ConsoleSize = *req.ConsoleSize
	}
	id, err := s.eng.ExecCreate(containerRef(ref), cfg)
	if err != nil {
		writeError(w, noSuchContainer(err, ref))
		return
	}
	writeJSON(w, http.StatusCreated, types.IDResponse{ID: id})
}

// dockerExecInspect is GET /exec/{id}/json.
func (s *Server) dockerExecInspect(w http.ResponseWriter, r *http.Request) {
	x, err := s.eng.ExecInspect(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	pc := types.ExecProcessConfig{Tty: x.Config.TTY, Arguments: []string{}}
	if len(x.Config.Args) > 0 {
		pc.Entrypoint, pc.Arguments = x.Config.Args[0], x.Config.Args[1:]
	}
	writeJSON(w, http.StatusOK, types.ExecInspect{
		ID: x.ID, Running: x.Running, ExitCode: x.ExitCode, ProcessConfig: pc,
		OpenStdin: x.Config.AttachStdin, OpenStdout: x.Config.AttachStdout, OpenStderr: x.Config.AttachStderr,
		ContainerID: x.SandboxID, DetachKeys: x.Config.DetachKeys, Pid: x.Pid,
	})
}

// dockerExecResize is POST /exec/{id}/resize?h=ROWS&w=COLS.
func (s *Server) dockerExecResize(w http.ResponseWriter, r *http.Request) {
	rows, cols, err := sizeParams(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.eng.ExecResize(r.PathValue("id"), rows, cols); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// sizeParams reads h and w.
func sizeParams(r *http.Request) (uint16, uint16, error) {
	q := r.URL.Query()
	h, err1 := strconv.ParseUint(q.Get("h"), 10, 16)
	wd, err2 := strconv.ParseUint(q.Get("w"), 10, 16)
	if err1 != nil || err2 != nil {
		return 0, 0, cnm.Invalid("invalid terminal size: h=%q w=%q", q.Get("h"), q.Get("w"))
	}
	return uint16(h), uint16(wd), nil
}

// dockerExecStart is POST /exec/{id}/start: detached, or attached on the
// hijacked connection until the command ends.
func (s *Server) dockerExecStart(w http.ResponseWriter, r *http.Request) {
	var req types.ExecStartRequest
	if err := decodeLoose(r, &req); err != nil {
		writeError(w, err)
		return
	}
	id := r.PathValue("id")
	x, err := s.eng.ExecInspect(id)
	if err != nil {
		writeError(w, err)
		return
	}
	if x.Running || x.ExitCode != nil {
		writeError(w, cnm.Conflict("Error: Exec command %s is already running", id))
		return
	}
	if req.ConsoleSize != nil && x.Config.TTY {
		defer func() { _ = s.eng.ExecResize(id, req.ConsoleSize[0], req.ConsoleSize[1]) }()
	}
	if req.Detach {
		if _, _, err := s.eng.ExecStart(context.Background(), id, engine.ExecIO{}); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	keys, err := detachKeys(x.Config.DetachKeys)
	if err != nil {
		writeError(w, err)
		return
	}
	conn, buf, err := hijackDocker(w, r, x.Config.TTY)
	if err != nil {
		s.log.Warn("exec start", "err", err)
		return
	}
	defer conn.Close()
	if x.Config.TTY {
		s.execTerminal(conn, types.NewEscapeReader(buf.Reader, keys), x)
		return
	}
	s.execPiped(conn, buf.Reader, x)
}

// hijackDocker takes the connection over as Docker does: 101 with
// "Upgrade: tcp" when the client asked to upgrade, else 200.
func hijackDocker(w http.ResponseWriter, r *http.Request, tty bool) (net.Conn, *bufio.ReadWriter, error) {
	media := types.MediaMultiplexedStream
	if tty {
		media = types.MediaRawStream
	}
	proto := ""
	if r.Header.Get("Upgrade") != "" {
		proto = "tcp"
	}
	return hijack(w, proto, media)
}

// rawWriter writes to a connection until closed.
type rawWriter struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (rw *rawWriter) Write(p []byte) (int, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.closed {
		return 0, io.ErrClosedPipe
	}
	return rw.w.Write(p)
}

func (rw *rawWriter) Close() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.closed = true
	return nil
}

// execTerminal runs an exec instance with a terminal: the raw stream is
// its terminal both ways.
func (s *Server) execTerminal(conn net.Conn, in io.Reader, x engine.ExecInfo) {
	out := &rawWriter{w: conn}
	defer out.Close()
	con, done, err := s.eng.ExecStart(context.Background(), x.ID, engine.ExecIO{Output: out})
	if err != nil {
		_, _ = out.Write([]byte(err.Error() + "\r\n"))
		return
	}
	detached := make(chan struct{})
	if x.Config.AttachStdin {
		go func() {
			if _, err := io.Copy(con, in); errors.Is(err, types.ErrDetached) {
				close(detached) // the command runs on
			}
		}()
	}
	select {
	case <-done:
	case <-detached:
		return
	}
	select {
	case <-con.Done():
	case <-time.After(drainGrace):
	}
}

// execPiped runs an exec instance without a terminal: its stdout and
// stderr as Docker's multiplexed stream, the client's input (until it
// closes its write side) as stdin.
func (s *Server) execPiped(conn net.Conn, in io.Reader, x engine.ExecInfo) {
	mu := &sync.Mutex{}
	var files [3]*os.File // the command's ends
	var ours [3]*os.File  // ours
	defer func() {
		for _, f := range append(files[:], ours[:]...) {
			if f != nil {
				f.Close()
			}
		}
	}()
	attach := []bool{x.Config.AttachStdin, x.Config.AttachStdout, x.Config.AttachStderr}
	for i, want := range attach {
		if !want {
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			s.log.Warn("exec start", "err", err)
			return
		}
		if i == 0 {
			files[i], ours[i] = r, w
		} else {
			files[i], ours[i] = w, r
		}
	}
	_, done, err := s.eng.ExecStart(context.Background(), x.ID, engine.ExecIO{Stdin: files[0], Stdout: files[1], Stderr: files[2]})
	for i, f := range files {
		if f != nil {
			f.Close() // the command holds its own copies
			files[i] = nil
		}
	}
	if err != nil {
		_ = types.WriteFrame(conn, types.FrameStderr, []byte(err.Error()+"\n"))
		return
	}
	if ours[0] != nil {
		stdin := ours[0]
		ours[0] = nil
		go func() {
			_, _ = io.Copy(stdin, in)
			stdin.Close() // EOF for the command
		}()
	}
	var wg sync.WaitGroup
	for i := 1; i <= 2; i++ {
		if ours[i] == nil {
			continue
		}
		wg.Add(1)
		go func(f *os.File, kind byte) {
			defer wg.Done()
			_, _ = io.Copy(&types.FrameWriter{Mu: mu, W: conn, Kind: kind}, f)
		}(ours[i], byte(i))
	}
	<-done
	copied := make(chan struct{})
	go func() { wg.Wait(); close(copied) }()
	select {
	case <-copied:
	case <-time.After(drainGrace):
	}
}
