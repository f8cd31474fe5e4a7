// Package client is the Go client of the patchbay API over its unix
// socket.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/cnm"
)

// DefaultHost is where the daemon listens unless told otherwise.
const DefaultHost = "unix:///run/patchbay/patchbay.sock"

// Client talks to one daemon.
type Client struct {
	host string
	path string
	http *http.Client
}

// New returns a client for a host of the form unix:///path.
func New(host string) (*Client, error) {
	if host == "" {
		host = DefaultHost
	}
	path, ok := strings.CutPrefix(host, "unix://")
	if !ok || path == "" {
		return nil, cnm.Invalid("invalid host %q: only unix:///path is supported", host)
	}
	c := &Client{host: host, path: path}
	c.http = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return c.dial(ctx)
		},
		MaxIdleConns: 4,
	}}
	return c, nil
}

func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.path)
	if err != nil {
		return nil, &DaemonError{Host: c.host, Err: err}
	}
	return conn, nil
}

// DaemonError reports that the daemon cannot be reached.
type DaemonError struct {
	Host string
	Err  error
}

func (e *DaemonError) Error() string {
	return fmt.Sprintf("cannot connect to the patchbay daemon at %s (%v): is it running? Start one with: patchbay daemon", e.Host, e.Err)
}

func (e *DaemonError) Unwrap() []error { return []error{cnm.ErrUnavailable, e.Err} }

// APIError is an error reply of the daemon.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

// Unwrap returns the error kind matching the status.
func (e *APIError) Unwrap() error { return types.KindOf(e.Status) }

func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := "http://patchbay" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var de *DaemonError
		if errors.As(err, &de) {
			return de
		}
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return decodeError(resp)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("decode reply of %s %s: %w", method, path, err)
		}
	}
	return nil
}

func decodeError(resp *http.Response) error {
	var e types.ErrorResponse
	data, _ := io.ReadAll(resp.Body)
	if json.Unmarshal(data, &e) != nil || e.Message == "" {
		e.Message = fmt.Sprintf("daemon replied %s: %s", resp.Status, bytes.TrimSpace(data))
	}
	return &APIError{Status: resp.StatusCode, Message: e.Message}
}

// Ping checks the daemon answers.
func (c *Client) Ping(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/_ping", nil, nil, nil)
}

// FirewallRules returns the rules the daemon installed, in nft's syntax.
func (c *Client) FirewallRules(ctx context.Context) (string, error) {
	var out map[string]string
	err := c.do(ctx, http.MethodGet, "/firewall", nil, nil, &out)
	return out["Ruleset"], err
}

// Version returns the daemon's version (GET /version, Docker's shape).
func (c *Client) Version(ctx context.Context) (types.VersionResponse, error) {
	var out types.VersionResponse
	return out, c.do(ctx, http.MethodGet, "/version", nil, nil, &out)
}

// NetworkList lists networks passing the filters.
func (c *Client) NetworkList(ctx context.Context, f types.Filters) ([]types.NetworkResource, error) {
	var q url.Values
	if len(f) > 0 {
		q = url.Values{"filters": {f.Encode()}}
	}
	var out []types.NetworkResource
	return out, c.do(ctx, http.MethodGet, "/networks", q, nil, &out)
}

// NetworkInspect returns one network.
func (c *Client) NetworkInspect(ctx context.Context, ref string) (types.NetworkResource, error) {
	var out types.NetworkResource
	return out, c.do(ctx, http.MethodGet, "/networks/"+url.PathEscape(ref), nil, nil, &out)
}

// NetworkCreate creates a network.
func (c *Client) NetworkCreate(ctx context.Context, req types.NetworkCreateRequest) (types.NetworkCreateResponse, error) {
	var out types.NetworkCreateResponse
	return out, c.do(ctx, http.MethodPost, "/networks/create", nil, req, &out)
}

// NetworkRemove removes a network.
func (c *Client) NetworkRemove(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodDelete, "/networks/"+url.PathEscape(ref), nil, nil, nil)
}

// NetworkConnect connects a sandbox to a network.
func (c *Client) NetworkConnect(ctx context.Context, ref string, req types.NetworkConnectRequest) error {
	return c.do(ctx, http.MethodPost, "/networks/"+url.PathEscape(ref)+"/connect", nil, req, nil)
}

// NetworkDisconnect disconnects a sandbox from a network.
func (c *Client) NetworkDisconnect(ctx context.Context, ref string, req types.NetworkDisconnectRequest) error {
	return c.do(ctx, http.MethodPost, "/networks/"+url.PathEscape(ref)+"/disconnect", nil, req, nil)
}

// NetworkPrune removes unused custom networks passing the filters
// (until, label, label!).
func (c *Client) NetworkPrune(ctx context.Context, f ...types.Filters) (types.NetworksPruneReport, error) {
	var q url.Values
	if len(f) > 0 && len(f[0]) > 0 {
		q = url.Values{"filters": {f[0].Encode()}}
	}
	var out types.NetworksPruneReport
	return out, c.do(ctx, http.MethodPost, "/networks/prune", q, nil, &out)
}

// SandboxList lists running sandboxes, or all.
func (c *Client) SandboxList(ctx context.Context, all bool) ([]types.Sandbox, error) {
	var out []types.Sandbox
	return out, c.do(ctx, http.MethodGet, "/sandboxes", url.Values{"all": {fmt.Sprint(all)}}, nil, &out)
}

// SandboxInspect returns one sandbox.
func (c *Client) SandboxInspect(ctx context.Context, ref string) (types.Sandbox, error) {
	var out types.Sandbox
	return out, c.do(ctx, http.MethodGet, "/sandboxes/"+url.PathEscape(ref), nil, nil, &out)
}

// SandboxCreate creates a sandbox, starting a detached process if asked.
func (c *Client) SandboxCreate(ctx context.Context, req types.SandboxCreateRequest) (types.SandboxCreateResponse, error) {
	var out types.SandboxCreateResponse
	return out, c.do(ctx, http.MethodPost, "/sandboxes/create", nil, req, &out)
}

// SandboxRemove removes a sandbox.
func (c *Client) SandboxRemove(ctx context.Context, ref string, force bool) error {
	return c.do(ctx, http.MethodDelete, "/sandboxes/"+url.PathEscape(ref), url.Values{"force": {fmt.Sprint(force)}}, nil, nil)
}

// SandboxStop stops a sandbox's process (SIGTERM, SIGKILL after secs).
func (c *Client) SandboxStop(ctx context.Context, ref string, secs int) error {
	return c.do(ctx, http.MethodPost, "/sandboxes/"+url.PathEscape(ref)+"/stop", url.Values{"t": {fmt.Sprint(secs)}}, nil, nil)
}

// SandboxKill signals a sandbox's process.
func (c *Client) SandboxKill(ctx context.Context, ref, signal string) error {
	return c.do(ctx, http.MethodPost, "/sandboxes/"+url.PathEscape(ref)+"/kill", url.Values{"signal": {signal}}, nil, nil)
}

// SandboxWait waits for a sandbox's process to exit.
func (c *Client) SandboxWait(ctx context.Context, ref string) (int, error) {
	var out struct{ StatusCode int }
	err := c.do(ctx, http.MethodPost, "/sandboxes/"+url.PathEscape(ref)+"/wait", nil, nil, &out)
	return out.StatusCode, err
}

// LogsOptions select what SandboxLogs shows.
type LogsOptions struct {
	// Follow streams what is written until the process ends.
	Follow bool
	// Timestamps prefixes each line with the time it was written.
	Timestamps bool
	// Since and Until keep lines written in that span: Unix seconds
	// with an optional fraction, or an RFC 3339 date; empty is no limit.
	Since, Until string
	// Tail keeps the last lines: a number or "all" (empty: all).
	Tail string
}

// SandboxLogs copies a sandbox's log: what its process wrote to stdout
// to stdout, to stderr to stderr.
func (c *Client) SandboxLogs(ctx context.Context, ref string, opts LogsOptions, stdout, stderr io.Writer) error {
	q := url.Values{"follow": {fmt.Sprint(opts.Follow)}, "timestamps": {fmt.Sprint(opts.Timestamps)}}
	for k, v := range map[string]string{"since": opts.Since, "until": opts.Until, "tail": opts.Tail} {
		if v != "" {
			q.Set(k, v)
		}
	}
	u := "http://patchbay/sandboxes/" + url.PathEscape(ref) + "/logs?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var de *DaemonError
		if errors.As(err, &de) {
			return de
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return decodeError(resp)
	}
	br := bufio.NewReader(resp.Body)
	for {
		kind, p, err := types.ReadFrame(br)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read log: %w", err)
		}
		w := stdout
		if kind == types.FrameStderr {
			w = stderr
		}
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
}

// Stdio are the files an attached process uses.
type Stdio struct {
	Stdin, Stdout, Stderr *os.File
}
