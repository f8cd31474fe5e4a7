package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
)

// sandboxCreate creates a sandbox and, if asked, starts its process:
// detached in the plain request, or attached to the caller's stdio over
// an upgraded connection (see api/types/stream.go).
func (s *Server) sandboxCreate(w http.ResponseWriter, r *http.Request) {
	var req types.SandboxCreateRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Process != nil && len(req.Process.Args) == 0 {
		writeError(w, cnm.Invalid("no command given"))
		return
	}
	attached := req.Process != nil && !req.Process.Detached
	want := ""
	if attached {
		want = types.UpgradeProto
		if req.Process.TTY {
			want = types.UpgradeTTY
		}
	}
	if r.Header.Get("Upgrade") != want {
		writeError(w, cnm.Invalid("attached runs must upgrade to %s (%s with a terminal), detached ones must not", types.UpgradeProto, types.UpgradeTTY))
		return
	}
	if !attached {
		id, name, _, err := s.createAndStart(r.Context(), req, nil, nil)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, types.SandboxCreateResponse{ID: id, Name: name})
		return
	}
	if req.Process.TTY {
		s.serveTerminal(w, func(ctx context.Context, out *types.FrameWriter) (*ttySession, error) {
			id, _, con, err := s.createAndStart(context.Background(), req, nil, out)
			if err != nil {
				return nil, err
			}
			return &ttySession{
				id: id, console: con, input: req.Process.OpenStdin,
				wait:   func() (int, error) { return s.eng.Wait(context.Background(), id) },
				signal: func(sig syscall.Signal) error { return s.eng.Kill(id, sig) },
			}, nil
		})
		return
	}
	s.attached(w, func(ctx context.Context, stdio []*os.File) (*running, error) {
		id, _, _, err := s.createAndStart(ctx, req, stdio, nil)
		if err != nil {
			return nil, err
		}
		return &running{
			id:     id,
			wait:   func() (int, error) { return s.eng.Wait(context.Background(), id) },
			signal: func(sig syscall.Signal) error { return s.eng.Kill(id, sig) },
		}, nil
	})
}

// createAndStart creates the sandbox and starts its process on stdio,
// or on a new terminal whose output goes to out.
func (s *Server) createAndStart(ctx context.Context, req types.SandboxCreateRequest, stdio []*os.File, out io.Writer) (string, string, *engine.Console, error) {
	opts, err := endpointOptions(req.Endpoint)
	if err != nil {
		return "", "", nil, err
	}
	var policy cnm.RestartPolicy
	if req.Process != nil {
		if policy, err = engine.ParseRestartPolicy(req.Process.Restart); err != nil {
			return "", "", nil, err
		}
		if policy.Name != "no" && req.Process.AutoRemove {
			return "", "", nil, cnm.Invalid("conflicting options: cannot specify both --restart and --rm")
		}
	}
	sb, err := s.eng.CreateSandbox(ctx, engine.SandboxCreate{
		Name: req.Name, Hostname: req.Hostname, Network: req.Network, Networks: req.Networks,
		Endpoint: opts, AdoptPID: req.AdoptPID, AdoptNetns: req.AdoptNetns,
		Ports: req.Ports, Expose: req.Expose, PublishAll: req.PublishAll,
		DNS: engine.DNSOptions{
			DNS: req.DNS, DNSSearch: req.DNSSearch, DNSOptions: req.DNSOptions,
			ExtraHosts: req.ExtraHosts, Domainname: req.Domainname, Links: req.Links,
		},
	})
	if err != nil || req.Process == nil {
		return sb.ID, sb.Name, nil, err
	}
	spec := engine.ProcessSpec{
		Restart: policy,
		Args:    req.Process.Args, Env: req.Process.Env,
		Detached: req.Process.Detached, AutoRemove: req.Process.AutoRemove,
		TTY: req.Process.TTY, ConsoleSize: req.Process.ConsoleSize, OpenStdin: req.Process.OpenStdin,
	}
	if stdio != nil {
		spec.Stdin, spec.Stdout, spec.Stderr = stdio[0], stdio[1], stdio[2]
	}
	if out != nil {
		spec.Output = out
	}
	_, con, err := s.eng.StartConsole(ctx, sb.ID, spec)
	if err != nil {
		// A command that cannot start leaves nothing behind.
		_ = s.eng.RemoveSandbox(context.Background(), sb.ID, true)
		return "", "", nil, err
	}
	return sb.ID, sb.Name, con, nil
}

func (s *Server) sandboxExec(w http.ResponseWriter, r *http.Request) {
	var req types.ExecRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	want := types.UpgradeProto
	if req.TTY {
		want = types.UpgradeTTY
	}
	if r.Header.Get("Upgrade") != want {
		writeError(w, cnm.Invalid("exec must upgrade to %s (%s with a terminal)", types.UpgradeProto, types.UpgradeTTY))
		return
	}
	id := r.PathValue("id")
	if _, err := s.eng.Sandbox(id); err != nil {
		writeError(w, err)
		return
	}
	if req.TTY {
		s.serveTerminal(w, func(ctx context.Context, out *types.FrameWriter) (*ttySession, error) {
			xid, err := s.eng.ExecCreate(id, engine.ExecConfig{
				Args: req.Args, Env: req.Env, TTY: true, ConsoleSize: req.ConsoleSize,
				AttachStdin: req.OpenStdin, AttachStdout: true, AttachStderr: true,
			})
			if err != nil {
				return nil, err
			}
			con, done, err := s.eng.ExecStart(context.Background(), xid, engine.ExecIO{Output: out})
			if err != nil {
				return nil, err
			}
			return &ttySession{
				id: id, console: con, input: req.OpenStdin,
				wait: func() (int, error) {
					<-done
					x, err := s.eng.ExecInspect(xid)
					if err != nil || x.ExitCode == nil {
						return -1, err
					}
					return *x.ExitCode, nil
				},
			}, nil
		})
		return
	}
	s.attached(w, func(ctx context.Context, stdio []*os.File) (*running, error) {
		p, err := s.eng.Exec(ctx, id, engine.ExecSpec{Args: req.Args, Env: req.Env, Stdin: stdio[0], Stdout: stdio[1], Stderr: stdio[2]})
		if err != nil {
			return nil, err
		}
		return &running{
			id:     id,
			wait:   p.Wait,
			signal: p.Signal,
		}, nil
	})
}

// running is a process started on an attached connection.
type running struct {
	id     string
	wait   func() (int, error)
	signal func(syscall.Signal) error
}

// attached upgrades the connection, receives the caller's stdio, starts
// the process and reports its start and exit. Signal lines from the
// caller are delivered to the sandbox's process.
func (s *Server) attached(w http.ResponseWriter, start func(context.Context, []*os.File) (*running, error)) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		writeError(w, fmt.Errorf("connection cannot be upgraded"))
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		s.log.Warn("hijack", "err", err)
		return
	}
	defer conn.Close()
	uc, ok := conn.(*net.UnixConn)
	if !ok || buf.Reader.Buffered() > 0 {
		return
	}
	_, _ = fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", types.UpgradeProto)
	stdio, err := types.RecvFiles(uc, 3)
	if err != nil {
		s.log.Warn("attached run", "err", err)
		return
	}
	closeAll := func() {
		for _, f := range stdio {
			f.Close() // the process holds its own copies
		}
	}
	defer closeAll() // also if start panics
	enc := json.NewEncoder(conn)
	run, err := start(context.Background(), stdio)
	closeAll()
	if err != nil {
		_ = enc.Encode(types.StreamMessage{Error: err.Error(), Status: StatusOf(err)})
		return
	}
	_ = enc.Encode(types.StreamMessage{ID: run.id})
	go func() {
		dec := json.NewDecoder(conn)
		for {
			var m types.StreamMessage
			if err := dec.Decode(&m); err != nil {
				return
			}
			if m.Signal > 0 {
				_ = run.signal(syscall.Signal(m.Signal))
			}
		}
	}()
	code, err := run.wait()
	if err != nil {
		_ = enc.Encode(types.StreamMessage{Error: err.Error(), Status: StatusOf(err)})
		return
	}
	_ = enc.Encode(types.StreamMessage{ExitCode: &code})
}
