package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveShort serves a Server with short timeouts on a unix socket and
// returns its path.
func serveShort(t *testing.T, extra func(*Server)) string {
	t.Helper()
	s := NewServer(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.BodyTimeout, s.IdleTimeout = 200*time.Millisecond, 200*time.Millisecond
	if extra != nil {
		extra(s)
	}
	path := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); <-done })
	return path
}

func dial(t *testing.T, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reads until the server closes c; it fails the test if
// that takes longer than the test may wait (not a timing assertion: the
// bound is two orders of magnitude above the timeout).
func closedByServer(t *testing.T, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server never closed the connection; got %q", got)
	}
	return string(got)
}

func ping(t *testing.T, path string) {
	t.Helper()
	hc := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	resp, err := hc.Get("http://patchbay/_ping")
	if err != nil {
		t.Fatalf("another client's ping: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("another client's ping: %s", resp.Status)
	}
}

func TestSlowBodyCutOff(t *testing.T) {
	path := serveShort(t, nil)
	var slow []net.Conn
	for range 20 {
		c := dial(t, path)
		fmt.Fprintf(c, "POST /networks/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
		slow = append(slow, c)
	}
	// The others are served meanwhile.
	ping(t, path)
	for _, c := range slow {
		if got := closedByServer(t, c); got != "" && !strings.Contains(got, "400") {
			t.Fatalf("slow body answered %q", got)
		}
	}
}

func TestIdleKeepAliveClosed(t *testing.T) {
	path := serveShort(t, nil)
	c := dial(t, path)
	fmt.Fprintf(c, "GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("ping: %s, close %v", resp.Status, resp.Close)
	}
	closedByServer(t, c)
}

// TestBodyDeadlineEndsWithBody: a handler that runs longer than the body
// timeout after reading its body is neither cancelled nor cut.
func TestBodyDeadlineEndsWithBody(t *testing.T) {
	path := serveShort(t, func(s *Server) {
		s.mux.HandleFunc("POST /test/long", func(w http.ResponseWriter, r *http.Request) {
			var v struct{}
			if err := decode(r, &v); err != nil {
				writeError(w, err)
				return
			}
			select {
			case <-time.After(3 * s.BodyTimeout):
			case <-r.Context().Done():
				http.Error(w, "cancelled", http.StatusInternalServerError)
				return
			}
			fmt.Fprint(w, "done")
		})
	})
	c := dial(t, path)
	fmt.Fprintf(c, "POST /test/long HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "done" {
		t.Fatalf("long handler: %s %q", resp.Status, body)
	}
}
