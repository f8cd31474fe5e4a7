package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"

	"github.com/patchbay/patchbay/api/types"
)

// RunAttached creates a sandbox and runs its process on the caller's
// stdio. It returns the sandbox ID and the exit code. Signals received
// on sigs are forwarded to the process.
func (c *Client) RunAttached(ctx context.Context, req types.SandboxCreateRequest, stdio Stdio, sigs <-chan os.Signal) (string, int, error) {
	return c.attach(ctx, "/sandboxes/create", req, stdio, sigs)
}

// ExecAttached runs a command inside a running sandbox on the caller's
// stdio and returns its exit code.
func (c *Client) ExecAttached(ctx context.Context, ref string, req types.ExecRequest, stdio Stdio, sigs <-chan os.Signal) (int, error) {
	_, code, err := c.attach(ctx, "/sandboxes/"+url.PathEscape(ref)+"/exec", req, stdio, sigs)
	return code, err
}

func (c *Client) attach(ctx context.Context, path string, body any, stdio Stdio, sigs <-chan os.Signal) (string, int, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return "", 0, err
	}
	defer conn.Close()
	br, err := upgrade(conn, path, body, types.UpgradeProto)
	if err != nil {
		return "", 0, err
	}
	files := []*os.File{orNull(stdio.Stdin, os.O_RDONLY), orNull(stdio.Stdout, os.O_WRONLY), orNull(stdio.Stderr, os.O_WRONLY)}
	if err := types.SendFiles(conn.(*net.UnixConn), files...); err != nil {
		return "", 0, err
	}
	dec := json.NewDecoder(br)
	var start types.StreamMessage
	if err := dec.Decode(&start); err != nil {
		return "", 0, fmt.Errorf("read start: %w", err)
	}
	if start.Error != "" {
		return "", 0, &APIError{Status: start.Status, Message: start.Error}
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		enc := json.NewEncoder(conn)
		for {
			select {
			case s := <-sigs:
				if sig, ok := s.(syscall.Signal); ok {
					_ = enc.Encode(types.StreamMessage{Signal: int(sig)})
				}
			case <-stop:
				return
			}
		}
	}()
	var end types.StreamMessage
	if err := dec.Decode(&end); err != nil {
		return start.ID, 0, fmt.Errorf("lost the daemon while the process ran: %w", err)
	}
	if end.Error != "" {
		return start.ID, 0, &APIError{Status: end.Status, Message: end.Error}
	}
	if end.ExitCode == nil {
		return start.ID, 0, fmt.Errorf("daemon sent no exit code")
	}
	return start.ID, *end.ExitCode, nil
}

func orNull(f *os.File, flag int) *os.File {
	if f != nil {
		return f
	}
	n, err := os.OpenFile(os.DevNull, flag, 0)
	if err != nil {
		return os.Stdin
	}
	return n
}

// upgrade sends a POST of body to path on conn asking to switch to proto,
// and returns the reader of what follows the 101 answer; any other answer
// is the daemon's error.
func upgrade(conn net.Conn, path string, body any, proto string) (*bufio.Reader, error) {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	req, err := http.NewRequest(http.MethodPost, "http://patchbay"+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", proto)
	if err := req.Write(conn); err != nil {
		return nil, fmt.Errorf("send request: %w", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, fmt.Errorf("read reply: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return br, nil
}
