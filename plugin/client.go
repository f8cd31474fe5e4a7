package plugin

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/patchbay/patchbay/plugin/wire"
)

// Defaults of a Client.
const (
	// MaxReply bounds the size of a reply body.
	MaxReply = 1 << 20
	// RetryFor bounds how long a call retries a plugin it cannot connect
	// to (one that is restarting), within the call's own deadline.
	RetryFor = 2 * time.Second
	// firstBackoff is the first wait between connection attempts; each
	// next one doubles.
	firstBackoff = 50 * time.Millisecond
)

// Client calls one plugin: POST /<Interface>.<Method> with a JSON body.
// Only connection failures are retried, with bounded backoff; every
// call honours its context's deadline and cancellation. Safe for
// concurrent use.
type Client struct {
	spec     Spec
	base     string
	http     *http.Client
	retryFor time.Duration
	// onRetry, if set, runs before each wait between connection
	// attempts (tests).
	onRetry func()
}

// NewClient returns a client of the plugin spec names.
func NewClient(spec Spec) (*Client, error) {
	u, err := url.Parse(spec.Addr)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: parse address %q: %w", spec.Name, spec.Addr, err)
	}
	tr := &http.Transport{
		// A fresh connection per call: a plugin that restarted is
		// reached again at once, never through a dead idle connection.
		// A unix socket connects in microseconds.
		DisableKeepAlives:     true,
		ResponseHeaderTimeout: 0, // the call's context bounds it
	}
	base := ""
	switch u.Scheme {
	case "unix":
		path := u.Path
		if u.Host != "" { // unix://relative/path
			path = u.Host + u.Path
		}
		var d net.Dialer
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		}
		base = "http://plugin"
	case "tcp", "http", "https":
		scheme := "http"
		if spec.TLSConfig != nil || u.Scheme == "https" {
			scheme = "https"
			tc, err := tlsConfig(spec.TLSConfig)
			if err != nil {
				return nil, fmt.Errorf("plugin %s: %w", spec.Name, err)
			}
			tr.TLSClientConfig = tc
		}
		base = scheme + "://" + u.Host
	default:
		return nil, fmt.Errorf("plugin %s: unsupported address %q", spec.Name, spec.Addr)
	}
	return &Client{spec: spec, base: base, http: &http.Client{Transport: tr}, retryFor: RetryFor}, nil
}

func tlsConfig(c *TLSConfig) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c == nil {
		return tc, nil
	}
	tc.InsecureSkipVerify = c.InsecureSkipVerify
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("read CA file %s: no certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" || c.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Spec returns where the client calls.
func (c *Client) Spec() Spec { return c.spec }

// Name returns the plugin's name.
func (c *Client) Name() string { return c.spec.Name }

// Activate runs the handshake and returns the interfaces the plugin
// implements.
func (c *Client) Activate(ctx context.Context) ([]string, error) {
	var r wire.ActivateResponse
	if err := c.Call(ctx, "Plugin.Activate", nil, &r); err != nil {
		return nil, err
	}
	return r.Implements, nil
}

// Call posts args (nil: an empty body) to /<method> and decodes the reply
// into ret (may be nil). An error names the plugin and the method; it is
// of kind cnm.ErrUnavailable when the plugin cannot be reached or does
// not answer in time (with the context's error reachable through
// errors.Is), ErrNotImplemented for a 404, and otherwise carries the
// message the plugin sent (Err or Error, in a 200 reply or another
// status, or the raw body).
func (c *Client) Call(ctx context.Context, method string, args, ret any) error {
	if err := ctx.Err(); err != nil {
		return c.fail(method, 0, "", err)
	}
	var body []byte
	if args != nil {
		var err error
		if body, err = json.Marshal(args); err != nil {
			return fmt.Errorf("plugin %s: %s: encode request: %w", c.spec.Name, method, err)
		}
	}
	resp, err := c.post(ctx, method, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxReply+1))
	if err != nil {
		return c.fail(method, resp.StatusCode, "", fmt.Errorf("read reply: %w", err))
	}
	if len(data) > MaxReply {
		return &Error{Plugin: c.spec.Name, Method: method, Status: resp.StatusCode, Msg: fmt.Sprintf("reply larger than %d bytes", MaxReply)}
	}
	if resp.StatusCode != http.StatusOK {
		return c.statusError(method, resp.StatusCode, data)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		data = []byte("null") // some plugins answer nothing at all
	}
	var inBand wire.Response
	if err := json.Unmarshal(data, &inBand); err != nil && !isNonObject(err) {
		return &Error{Plugin: c.spec.Name, Method: method, Status: resp.StatusCode, Msg: "malformed reply: " + err.Error()}
	}
	if m := firstNonEmpty(inBand.Err, inBand.Error); m != "" {
		return &Error{Plugin: c.spec.Name, Method: method, Status: resp.StatusCode, Msg: m, Remote: true}
	}
	if ret != nil {
		if err := json.Unmarshal(data, ret); err != nil {
			return &Error{Plugin: c.spec.Name, Method: method, Status: resp.StatusCode, Msg: "malformed reply: " + err.Error()}
		}
	}
	return nil
}

// isNonObject reports whether a decode error only says the reply was not
// an object (a JSON array or string has no error fields).
func isNonObject(err error) bool {
	var te *json.UnmarshalTypeError
	return errors.As(err, &te)
}

// post sends one call, retrying connection failures with backoff until
// retryFor or the context's deadline.
func (c *Client) post(ctx context.Context, method string, body []byte) (*http.Response, error) {
	give := time.Now().Add(c.retryFor)
	wait := firstBackoff
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/"+method, bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("plugin %s: %s: %w", c.spec.Name, method, err)
		}
		req.Header.Set("Accept", wire.MediaType)
		if body != nil {
			req.Header.Set("Content-Type", wire.MediaType)
		}
		resp, err := c.http.Do(req)
		if err == nil {
			return resp, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, c.fail(method, 0, "", fmt.Errorf("%w (%v)", ctxErr, unwrapURL(err)))
		}
		if !isConnectError(err) || time.Now().Add(wait).After(give) {
			return nil, c.fail(method, 0, "", unwrapURL(err))
		}
		if c.onRetry != nil {
			c.onRetry()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, c.fail(method, 0, "", ctx.Err())
		case <-t.C:
		}
		wait *= 2
	}
}

// isConnectError reports whether err happened before the request reached
// the plugin, so sending it again is safe.
func isConnectError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// statusError turns a non-200 reply into an error: {"Err": …} or
// {"Error": …} if the body is one, else the body itself.
func (c *Client) statusError(method string, status int, data []byte) error {
	e := &Error{Plugin: c.spec.Name, Method: method, Status: status, Remote: true}
	var r wire.Response
	if json.Unmarshal(data, &r) == nil {
		e.Msg = firstNonEmpty(r.Err, r.Error)
	}
	if e.Msg == "" {
		e.Msg = strings.TrimSpace(string(data))
	}
	if e.Msg == "" {
		e.Msg = http.StatusText(status)
	}
	return e
}

func (c *Client) fail(method string, status int, msg string, cause error) error {
	return &Error{Plugin: c.spec.Name, Method: method, Status: status, Msg: msg, Cause: cause}
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
