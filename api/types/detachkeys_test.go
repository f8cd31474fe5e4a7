package types

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestParseDetachKeys(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []byte
		ok   bool
	}{
		{"ctrl-p,ctrl-q", []byte{16, 17}, true},
		{"ctrl-a,x", []byte{1, 'x'}, true},
		{"ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", []byte{0, 27, 28, 29, 30, 31}, true},
		{"ctrl-Z", []byte{26}, true},
		{"a,b,c", []byte("abc"), true},
		{"ctrl-1", nil, false},
		{"ctrl-", nil, false},
		{"ab", nil, false},
		{"", nil, false},
	} {
		got, err := ParseDetachKeys(tt.in)
		if (err == nil) != tt.ok || !bytes.Equal(got, tt.want) {
			t.Errorf("ParseDetachKeys(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestEscapeReader(t *testing.T) {
	keys := []byte{16, 17}
	for _, tt := range []struct {
		name, in string
		want     string
		detached bool
	}{
		{"plain", "ls -l\r", "ls -l\r", false},
		{"detach", "ab\x10\x11cd", "ab", true},
		{"partial then other", "a\x10b", "a\x10b", false},
		{"partial twice", "\x10\x10\x11", "\x10", true},
		{"partial at end", "a\x10", "a", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, oneByte := range []bool{false, true} {
				var r io.Reader = bytes.NewReader([]byte(tt.in))
				if oneByte {
					r = iotest.OneByteReader(r)
				}
				got, err := io.ReadAll(&escapeReader{r: r, keys: keys})
				if string(got) != tt.want || errors.Is(err, ErrDetached) != tt.detached {
					t.Errorf("one byte at a time %v: got %q, %v; want %q, detached %v", oneByte, got, err, tt.want, tt.detached)
				}
			}
		})
	}
}
