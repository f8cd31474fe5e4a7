package logfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readAll returns the records from r's position to the end.
func readAll(t *testing.T, r *Reader) []Record {
	t.Helper()
	var out []Record
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		rec.Payload = bytes.Clone(rec.Payload)
		out = append(out, rec)
	}
}

func payloads(recs []Record) string {
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(r.Stream.String()[3:4]) // o or e
		b.WriteString(":")
		b.Write(r.Payload)
		b.WriteString("|")
	}
	return b.String()
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1700000000, 123456789)
	long := strings.Repeat("a", MaxPayload+10)
	writes := []struct {
		s Stream
		p string
	}{
		{Stdout, "one\ntwo\npart"},
		{Stderr, "err\n"},
		{Stdout, "\x1b[31mred\r\n\x00"},
		{Stdout, long + "\n"},
	}
	for i, wr := range writes {
		if err := w.Write(wr.s, t0.Add(time.Duration(i)*time.Second), []byte(wr.p)); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	b, _ := os.ReadFile(path)
	if !bytes.HasPrefix(b, []byte(Magic)) {
		t.Fatalf("no header: %q", b[:8])
	}
	r, err := OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	recs := readAll(t, r)
	want := "o:one\n|o:two\n|o:part|e:err\n|o:\x1b[31mred\r\n|o:\x00|o:" + long[:MaxPayload] + "|o:aaaaaaaaaa\n|"
	if got := payloads(recs); got != want {
		t.Errorf("records:\n%q\nwant\n%q", got, want)
	}
	if !recs[0].Time.Equal(t0) || !recs[3].Time.Equal(t0.Add(time.Second)) {
		t.Errorf("times: %v %v", recs[0].Time, recs[3].Time)
	}
	// A second writer appends to the same file.
	w, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Write(Stderr, t0, []byte("more\n"))
	w.Close()
	if got := payloads(readAll(t, r)); got != "e:more\n|" {
		t.Errorf("after append: %q", got)
	}
}

func TestPartialRecordAtEOF(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	var rec []byte
	rec = appendRecords(rec, Stdout, time.Unix(5, 0), []byte("hello\n"))
	rec = appendRecords(rec, Stderr, time.Unix(6, 0), []byte("world\n"))
	if err := create(path, rec[:len(rec)-3], false); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := payloads(readAll(t, r)); got != "o:hello\n|" {
		t.Fatalf("before the rest: %q", got)
	}
	// Again at EOF: still waiting.
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("Next = %v, want EOF", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write(rec[len(rec)-3:])
	f.Close()
	got := readAll(t, r)
	if payloads(got) != "e:world\n|" || !got[0].Time.Equal(time.Unix(6, 0)) {
		t.Fatalf("after the rest: %q", payloads(got))
	}
}

func TestSeekEndSkipsToPartial(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	rec := appendRecords(nil, Stdout, time.Unix(5, 0), []byte("old\n"))
	next := appendRecords(nil, Stdout, time.Unix(6, 0), []byte("new\n"))
	if err := create(path, append(rec, next[:5]...), false); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.SeekEnd(); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	_, _ = f.Write(next[5:])
	f.Close()
	if got := payloads(readAll(t, r)); got != "o:new\n|" {
		t.Fatalf("after SeekEnd: %q", got)
	}
}

func TestLegacyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	if err := os.WriteFile(path, []byte("old one\nold two\nno newline"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Legacy() {
		t.Fatal("not seen as legacy")
	}
	recs := readAll(t, r)
	r.Close()
	if got := payloads(recs); got != "o:old one\n|o:old two\n|o:no newline|" {
		t.Fatalf("legacy records: %q", got)
	}
	if !recs[0].Time.IsZero() {
		t.Errorf("legacy time: %v", recs[0].Time)
	}
	// A holder handed the file appends raw output.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	hw, err := NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	_ = hw.Write(Stderr, time.Now(), []byte("!\n"))
	hw.Close()
	// Opening it to write converts it.
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Write(Stderr, time.Unix(9, 0), []byte("new\n"))
	w.Close()
	r, err = OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Legacy() {
		t.Fatal("still legacy after conversion")
	}
	if got := payloads(readAll(t, r)); got != "o:old one\n|o:old two\n|o:no newline!\n|e:new\n|" {
		t.Fatalf("converted: %q", got)
	}
}

func TestTailAndFilter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		s := Stdout
		if i%2 == 1 {
			s = Stderr
		}
		_ = w.Write(s, time.Unix(int64(10+i), 0), []byte{'0' + byte(i), '\n'})
	}
	w.Close()
	all := Filter{Stdout: true, Stderr: true}
	tests := []struct {
		name string
		tail int
		f    Filter
		want string
	}{
		{"all", -1, all, "o:0\n|e:1\n|o:2\n|e:3\n|o:4\n|e:5\n|"},
		{"tail 2", 2, all, "o:4\n|e:5\n|"},
		{"tail 0", 0, all, ""},
		{"tail 10", 10, all, "o:0\n|e:1\n|o:2\n|e:3\n|o:4\n|e:5\n|"},
		{"stderr", -1, Filter{Stderr: true}, "e:1\n|e:3\n|e:5\n|"},
		{"stdout tail 2", 2, Filter{Stdout: true}, "o:2\n|o:4\n|"},
		{"since", -1, Filter{Stdout: true, Stderr: true, Since: time.Unix(13, 0)}, "e:3\n|o:4\n|e:5\n|"},
		{"until", -1, Filter{Stdout: true, Stderr: true, Until: time.Unix(11, 500)}, "o:0\n|e:1\n|"},
		{"since until tail", 1, Filter{Stdout: true, Stderr: true, Since: time.Unix(11, 0), Until: time.Unix(13, 0)}, "e:3\n|"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := OpenReader(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if tt.tail >= 0 {
				if err := r.Tail(tt.tail, tt.f); err != nil {
					t.Fatal(err)
				}
			}
			var kept []Record
			for _, rec := range readAll(t, r) {
				if tt.f.Keep(rec) {
					kept = append(kept, rec)
				}
			}
			if got := payloads(kept); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"0", time.Time{}},
		{"1700000000", time.Unix(1700000000, 0)},
		{"1700000000.5", time.Unix(1700000000, 500000000)},
		{"1700000000.000000001", time.Unix(1700000000, 1)},
		{"10m", now.Add(-10 * time.Minute)},
		{"1h30m", now.Add(-90 * time.Minute)},
		{"2026-12-01T10:00:00Z", time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)},
		{"2026-12-01T10:00:00.25+01:00", time.Date(2026, 12, 1, 9, 0, 0, 250000000, time.UTC)},
		{"2026-12-01T10:00:00", time.Date(2026, 12, 1, 10, 0, 0, 0, time.Local)},
		{"2026-12-01", time.Date(2026, 12, 1, 0, 0, 0, 0, time.Local)},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in, now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"yesterday", "12.x", "1.1234567890", "2026-13-01"} {
		if _, err := ParseTime(bad, now); err == nil {
			t.Errorf("ParseTime(%q) succeeded", bad)
		}
	}
	if got := FormatUnix(time.Unix(12, 5)); got != "12.000000005" {
		t.Errorf("FormatUnix = %q", got)
	}
	rec := Record{Time: time.Date(2026, 12, 2, 3, 4, 5, 60, time.UTC)}
	if got := Timestamp(rec); got != "2026-12-02T03:04:05.000000060Z " {
		t.Errorf("Timestamp = %q", got)
	}
}

func FuzzReader(f *testing.F) {
	f.Add(appendRecords([]byte(Magic), Stdout, time.Unix(1, 0), []byte("x\ny")))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "x.log")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := OpenReader(path)
		if err != nil {
			return
		}
		defer r.Close()
		for range len(b) + 1 {
			if _, err := r.Next(); err != nil {
				return
			}
		}
		t.Fatal("more records than bytes")
	})
}
