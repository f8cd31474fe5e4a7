package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Sandbox logs: each line of output is recorded with its stream and the
// time it was written, by a holder that outlives the daemon.

// twoPhaseWriter runs a sandbox that writes out1 and err1, waits for the
// file gate, then writes out2 and err2 and exits. It returns a time
// after the first lines were written and before the second ones.
func twoPhaseWriter(t *testing.T, d *daemon, name string) time.Time {
	t.Helper()
	gate := filepath.Join(t.TempDir(), "gate")
	d.ok("run", "-d", "--name", name, "--", "sh", "-c",
		fmt.Sprintf("echo out1; echo err1 >&2; until [ -e %s ]; do sleep 0.05; done; echo out2; echo err2 >&2", gate))
	waitFor(t, "the first lines in the log", func() bool {
		r := d.pb("logs", name)
		return r.stdout == "out1\n" && r.stderr == "err1\n"
	})
	mid := time.Now()
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := strings.TrimSpace(d.ok("wait", name)); code != "0" {
		t.Fatalf("%s exited %s", name, code)
	}
	return mid
}

// stampedLines splits output printed with timestamps into times and
// lines, checking that the times increase.
func stampedLines(t *testing.T, what, out string) ([]time.Time, []string) {
	t.Helper()
	var times []time.Time
	var lines []string
	for _, l := range strings.SplitAfter(out, "\n") {
		if l == "" {
			continue
		}
		ts, rest, ok := strings.Cut(l, " ")
		at, err := time.Parse(time.RFC3339Nano, ts)
		if !ok || err != nil || !strings.HasSuffix(ts, "Z") || len(ts) != len("2006-01-02T15:04:05.000000000Z") {
			t.Fatalf("%s: line without a timestamp: %q", what, l)
		}
		if len(times) > 0 && at.Before(times[len(times)-1]) {
			t.Errorf("%s: times go back: %q", what, out)
		}
		times, lines = append(times, at), append(lines, rest)
	}
	return times, lines
}

func TestLogsTimestampsSinceUntil(t *testing.T) {
	d := startDaemon(t)
	mid := twoPhaseWriter(t, d, "writer")

	r := d.pb("logs", "writer")
	if r.code != 0 || r.stdout != "out1\nout2\n" || r.stderr != "err1\nerr2\n" {
		t.Errorf("logs: %s", r)
	}
	r = d.pb("logs", "-t", "writer")
	if r.code != 0 {
		t.Fatalf("logs -t: %s", r)
	}
	outTimes, outLines := stampedLines(t, "logs -t stdout", r.stdout)
	errTimes, errLines := stampedLines(t, "logs -t stderr", r.stderr)
	if strings.Join(outLines, "") != "out1\nout2\n" || strings.Join(errLines, "") != "err1\nerr2\n" {
		t.Fatalf("logs -t: %s", r)
	}
	for i, at := range []time.Time{outTimes[0], errTimes[0]} {
		if !at.Before(mid) {
			t.Errorf("first line %d written at %v, after %v", i, at, mid)
		}
	}
	for i, at := range []time.Time{outTimes[1], errTimes[1]} {
		if !at.After(mid) {
			t.Errorf("second line %d written at %v, before %v", i, at, mid)
		}
	}

	since := mid.UTC().Format(time.RFC3339Nano)
	for _, tt := range []struct {
		args           []string
		stdout, stderr string
	}{
		{[]string{"--since", since}, "out2\n", "err2\n"},
		{[]string{"--until", since}, "out1\n", "err1\n"},
		{[]string{"--since", fmt.Sprintf("%d.%09d", mid.Unix(), mid.Nanosecond())}, "out2\n", "err2\n"},
		{[]string{"--since", "1h"}, "out1\nout2\n", "err1\nerr2\n"},
		{[]string{"--until", "1h"}, "", ""},
		{[]string{"-n", "2"}, "out2\n", "err2\n"},
		{[]string{"--tail", "0"}, "", ""},
		{[]string{"--since", since, "--tail", "all", "-f"}, "out2\n", "err2\n"},
	} {
		r := d.pb(append(append([]string{"logs"}, tt.args...), "writer")...)
		if r.code != 0 || r.stdout != tt.stdout || r.stderr != tt.stderr {
			t.Errorf("logs %v: %s", tt.args, r)
		}
	}
	if r := d.pb("logs", "--since", "yesterday", "writer"); r.code == 0 || !strings.Contains(r.stderr, "invalid time") {
		t.Errorf("logs --since yesterday: %s", r)
	}

	// Attached, each stream is the CLI's own.
	r = d.pb("start", "-a", "writer")
	if r.code != 0 || r.stdout != "out1\nout2\n" || r.stderr != "err1\nerr2\n" {
		t.Errorf("start -a: %s", r)
	}

	// A terminal's output is one stream, kept byte for byte.
	d.ok("run", "-t", "-d", "--name", "tty", "--", "sh", "-c", "echo tty-out; echo tty-err >&2")
	d.ok("wait", "tty")
	r = d.pb("logs", "tty")
	if r.code != 0 || r.stdout != "tty-out\r\ntty-err\r\n" || r.stderr != "" {
		t.Errorf("logs of a terminal: %s", r)
	}
	r = d.pb("logs", "-t", "tty")
	if _, lines := stampedLines(t, "logs -t of a terminal", r.stdout); strings.Join(lines, "") != "tty-out\r\ntty-err\r\n" {
		t.Errorf("logs -t of a terminal: %s", r)
	}
}

// TestLogsDockerCLI reads the log with the real docker CLI: timestamps,
// since and until as it sends them, and stderr on its stderr.
func TestLogsDockerCLI(t *testing.T) {
	bins := dockerCLIs(t)
	d := startDaemon(t)
	mid := twoPhaseWriter(t, d, "writer")
	since := mid.UTC().Format(time.RFC3339Nano)
	for _, bin := range bins {
		t.Run(dockerVersion(t, bin), func(t *testing.T) {
			c := newDockerCLI(t, d, bin)
			r := c.run("logs", "writer")
			if r.code != 0 || r.stdout != "out1\nout2\n" || r.stderr != "err1\nerr2\n" {
				t.Errorf("docker logs: %s", r)
			}
			r = c.run("logs", "-t", "writer")
			_, outLines := stampedLines(t, "docker logs -t stdout", r.stdout)
			_, errLines := stampedLines(t, "docker logs -t stderr", r.stderr)
			if r.code != 0 || strings.Join(outLines, "") != "out1\nout2\n" || strings.Join(errLines, "") != "err1\nerr2\n" {
				t.Errorf("docker logs -t: %s", r)
			}
			for _, tt := range []struct {
				args           []string
				stdout, stderr string
			}{
				{[]string{"--since", since}, "out2\n", "err2\n"},
				{[]string{"--until", since}, "out1\n", "err1\n"},
				{[]string{"--since", "1h", "--tail", "2", "-f"}, "out2\n", "err2\n"},
				{[]string{"--since", "1h", "--until", fmt.Sprint(time.Now().Add(time.Hour).Unix())}, "out1\nout2\n", "err1\nerr2\n"},
			} {
				r := c.run(append(append([]string{"logs"}, tt.args...), "writer")...)
				if r.code != 0 || r.stdout != tt.stdout || r.stderr != tt.stderr {
					t.Errorf("docker logs %v: %s", tt.args, r)
				}
			}
			r = c.run("logs", "--since", since, "-t", "writer")
			_, outLines = stampedLines(t, "docker logs --since -t stdout", r.stdout)
			_, errLines = stampedLines(t, "docker logs --since -t stderr", r.stderr)
			if r.code != 0 || strings.Join(outLines, "") != "out2\n" || strings.Join(errLines, "") != "err2\n" {
				t.Errorf("docker logs --since -t: %s", r)
			}
			// start -a: each stream on its own.
			r = c.run("start", "-a", "writer")
			if r.code != 0 || r.stdout != "out1\nout2\n" || r.stderr != "err1\nerr2\n" {
				t.Errorf("docker start -a: %s", r)
			}
		})
	}
}

// TestLogsSurviveDaemonRestart kills the daemon while the process
// writes: the log holder keeps every line, in order, and a new daemon
// follows the log on.
func TestLogsSurviveDaemonRestart(t *testing.T) {
	d := startDaemon(t)
	dir := t.TempDir()
	// Batches of lines on both streams, each batch counted in a file,
	// until the file up appears; then the count of lines.
	script := fmt.Sprintf(`echo before
i=0; k=0
until [ -e %[1]s/up ]; do
  j=0; while [ $j -lt 50 ]; do echo line$i; echo err$i >&2; i=$((i+1)); j=$((j+1)); done
  k=$((k+1)); echo $k > %[1]s/progress.new; mv %[1]s/progress.new %[1]s/progress
  sleep 0.01
done
echo after $i`, dir)
	progress := func() int {
		b, _ := os.ReadFile(filepath.Join(dir, "progress"))
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	d.ok("run", "-d", "--name", "writer", "--", "sh", "-c", script)
	waitFor(t, "lines in the log", func() bool { return strings.Contains(d.pb("logs", "writer").stdout, "line0\n") })
	pid := d.ok("inspect", "-f", "{{.State.Pid}}", "writer")
	d.kill9() // mid-output
	down := progress()
	waitFor(t, "output while the daemon is down", func() bool { return progress() >= down+5 })
	d.start()
	if got := d.ok("inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "writer"); got != "running "+pid {
		t.Fatalf("after the daemon restart: %q, want running %s", got, pid)
	}
	if err := os.WriteFile(filepath.Join(dir, "up"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A follow started by the new daemon ends with the process.
	r := d.pb("logs", "-f", "-t", "writer")
	if r.code != 0 {
		t.Fatalf("logs -f: %s", r)
	}
	_, out := stampedLines(t, "stdout", r.stdout)
	_, errs := stampedLines(t, "stderr", r.stderr)
	if len(out) < 2 {
		t.Fatalf("logs -f: %s", r)
	}
	var n int
	if _, err := fmt.Sscanf(out[len(out)-1], "after %d\n", &n); err != nil {
		t.Fatalf("last line %q: %v", out[len(out)-1], err)
	}
	var want, wantErr strings.Builder
	want.WriteString("before\n")
	for i := range n {
		fmt.Fprintf(&want, "line%d\n", i)
		fmt.Fprintf(&wantErr, "err%d\n", i)
	}
	fmt.Fprintf(&want, "after %d\n", n)
	t.Logf("%d lines on each stream, %d batches before the daemon was killed, at least 5 while it was down", n, down)
	if got := strings.Join(out, ""); got != want.String() {
		t.Errorf("stdout across the restart: %d bytes, want %d; first difference at %d", len(got), want.Len(), firstDiff(got, want.String()))
	}
	if got := strings.Join(errs, ""); got != wantErr.String() {
		t.Errorf("stderr across the restart: %d bytes, want %d; first difference at %d", len(got), wantErr.Len(), firstDiff(got, wantErr.String()))
	}
	if st := strings.TrimSpace(d.ok("inspect", "-f", "{{.State.Status}}", "writer")); st != "exited" {
		t.Errorf("after the follow: %s", st)
	}
}

func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestLogsAttachStdin: a process started with -d -i and no terminal
// keeps its stdin open for attach (docker attach, patchbay attach), also
// across a daemon restart, and its output is in its log.
func TestLogsAttachStdin(t *testing.T) {
	bins := dockerCLIs(t)
	d := startDaemon(t)
	d.ok("run", "-d", "-i", "--name", "reader", "--", "sh", "-c", "read a; echo got-$a; read b; echo got-$b >&2; read c; echo got-$c")
	// docker attach passes its input; the process reads on.
	c := newDockerCLI(t, d, bins[0])
	cmd := exec.Command(c.bin, "attach", "reader")
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader("one\n")
	var out syncBuffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "docker attach's output", func() bool { return out.String() == "got-one\n" })
	_ = cmd.Process.Kill()
	_ = cmd.Wait()

	// A new daemon takes the input back from the log holder.
	d.kill9()
	d.start()
	// A re-adopted process is not the new daemon's child: its exit
	// status cannot be collected (-1, the CLI's 255).
	r := d.pbIn("two\nthree\n", "attach", "reader")
	if r.code != 255 || r.stdout != "got-three\n" || r.stderr != "got-two\n" {
		t.Errorf("patchbay attach after the restart: %s", r)
	}
	r = d.pb("logs", "reader")
	if r.stdout != "got-one\ngot-three\n" || r.stderr != "got-two\n" {
		t.Errorf("logs: %s", r)
	}
}
