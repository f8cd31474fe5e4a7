package types

import (
	"bytes"
	"encoding/binary"
	"io"
	"sync"
	"testing"
)

func TestFrames(t *testing.T) {
	var buf bytes.Buffer
	mu := &sync.Mutex{}
	out := &FrameWriter{Mu: mu, W: &buf, Kind: FrameStdout}
	if _, err := out.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFrame(&buf, FrameControl, []byte(`{"Id":"x"}`)); err != nil {
		t.Fatal(err)
	}
	// Docker's multiplexed header: kind, three zeros, big-endian length.
	if h := buf.Bytes()[:8]; !bytes.Equal(h, []byte{1, 0, 0, 0, 0, 0, 0, 5}) {
		t.Errorf("header % x", h)
	}
	for _, want := range []struct {
		kind byte
		p    string
	}{{FrameStdout, "hello"}, {FrameControl, `{"Id":"x"}`}} {
		kind, p, err := ReadFrame(&buf)
		if err != nil || kind != want.kind || string(p) != want.p {
			t.Errorf("ReadFrame = %d %q %v, want %d %q", kind, p, err, want.kind, want.p)
		}
	}
	if _, _, err := ReadFrame(&buf); err != io.EOF {
		t.Errorf("after the last frame: %v", err)
	}
	out.Close()
	if _, err := out.Write([]byte("late")); err == nil {
		t.Error("write after Close succeeded")
	}
	var h [8]byte
	h[0] = FrameStdin
	binary.BigEndian.PutUint32(h[4:], maxFrame+1)
	if _, _, err := ReadFrame(bytes.NewReader(h[:])); err == nil {
		t.Error("an oversized frame was accepted")
	}
}
