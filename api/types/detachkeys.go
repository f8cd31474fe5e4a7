package types

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// DefaultDetachKeys is Docker's detach sequence, ctrl-p ctrl-q.
const DefaultDetachKeys = "ctrl-p,ctrl-q"

// ErrDetached is returned when the user typed the detach keys: the
// process keeps running.
var ErrDetached = errors.New("read escape sequence")

// ParseDetachKeys reads a detach sequence as Docker writes it: keys
// separated by commas, each a single character or ctrl-X where X is a
// letter or one of @ [ \ ] ^ _.
func ParseDetachKeys(s string) ([]byte, error) {
	var out []byte
	for _, k := range strings.Split(s, ",") {
		switch {
		case len(k) == 1:
			out = append(out, k[0])
		case strings.HasPrefix(k, "ctrl-") && len(k) == 6:
			c := k[5]
			switch {
			case c >= 'a' && c <= 'z':
				out = append(out, c-'a'+1)
			case c >= 'A' && c <= 'Z':
				out = append(out, c-'A'+1)
			case strings.IndexByte("@[\\]^_", c) >= 0:
				out = append(out, c-'@')
			default:
				return nil, fmt.Errorf("invalid detach keys %q: unknown character %q", s, k)
			}
		default:
			return nil, fmt.Errorf("invalid detach keys %q: unknown key %q", s, k)
		}
	}
	return out, nil
}

// NewEscapeReader passes r through until keys are read in a row, then
// fails with ErrDetached. A partial match is held back, and passed on
// when the next key does not continue it. No keys pass r through.
func NewEscapeReader(r io.Reader, keys []byte) io.Reader {
	return &escapeReader{r: r, keys: keys}
}

type escapeReader struct {
	r       io.Reader
	keys    []byte
	matched int
}

func (e *escapeReader) Read(p []byte) (int, error) {
	if len(e.keys) == 0 {
		return e.r.Read(p)
	}
	buf := make([]byte, len(p))
	n, err := e.r.Read(buf)
	out := p[:0]
	for _, b := range buf[:n] {
		if b == e.keys[e.matched] {
			e.matched++
			if e.matched == len(e.keys) {
				return len(out), ErrDetached
			}
			continue
		}
		// Held keys go on, unless they overflow p: then they are lost,
		// which only happens to a sequence typed in a very small read.
		if e.matched > 0 && len(out)+e.matched <= cap(p) {
			out = append(out, e.keys[:e.matched]...)
		}
		e.matched = 0
		if b == e.keys[0] {
			e.matched = 1
			continue
		}
		if len(out) < cap(p) {
			out = append(out, b)
		}
	}
	return len(out), err
}
