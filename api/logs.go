package api

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
	"github.com/patchbay/patchbay/internal/logfile"
)

// Reading a sandbox's log (see internal/logfile), for the logs routes
// and attach.

// logQuery is what a logs request asks for.
type logQuery struct {
	filter logfile.Filter
	// tail keeps the last tail records the filter selects; -1 all.
	tail       int
	follow     bool
	timestamps bool
}

// parseLogQuery reads stdout, stderr, follow, timestamps, since, until
// and tail as Docker's logs route has them; the caller decides what
// asking for neither stream means. since and until may be Unix seconds
// (what clients send), a date or a duration counted back from now.
func parseLogQuery(r *http.Request) (logQuery, error) {
	q := r.URL.Query()
	lq := logQuery{tail: -1, follow: boolParam(r, "follow"), timestamps: boolParam(r, "timestamps")}
	lq.filter.Stdout, lq.filter.Stderr = boolParam(r, "stdout"), boolParam(r, "stderr")
	now := time.Now()
	var err error
	if lq.filter.Since, err = logfile.ParseTime(q.Get("since"), now); err != nil {
		return logQuery{}, cnm.Invalid("since: %v", err)
	}
	if lq.filter.Until, err = logfile.ParseTime(q.Get("until"), now); err != nil {
		return logQuery{}, cnm.Invalid("until: %v", err)
	}
	if v := q.Get("tail"); v != "" && v != "all" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return logQuery{}, cnm.Invalid("invalid tail %q", v)
		}
		lq.tail = max(n, -1) // negative is all, as Docker has it
	}
	return lq, nil
}

// streamLog answers with a sandbox's log as q asks: a raw stream (a
// terminal's output), or Docker's multiplexed one, each record on its
// stream.
func (s *Server) streamLog(w http.ResponseWriter, r *http.Request, info engine.SandboxInfo, q logQuery, raw bool) {
	media := types.MediaMultiplexedStream
	if raw {
		media = types.MediaRawStream
	}
	w.Header().Set("Content-Type", media)
	w.WriteHeader(http.StatusOK)
	rw := newRecordWriter(w, raw, q.timestamps)
	if err := s.sendLog(r.Context(), info.ID, q, rw.emit, rw.flush); err != nil && r.Context().Err() == nil {
		s.log.Warn("send log", "sb", info.Name, "err", err)
	}
}

// sendLog passes the sandbox's log records that q selects to emit, and
// with q.follow those written later until the process has ended.
// flush is called whenever what was written so far should reach the
// client (nil: never).
func (s *Server) sendLog(ctx context.Context, id string, q logQuery, emit func(logfile.Record) error, flush func()) error {
	path, err := s.eng.LogPath(id)
	if err != nil {
		return err
	}
	r, err := logfile.OpenReader(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // nothing logged yet
	}
	if err != nil {
		return err
	}
	defer r.Close()
	if q.tail >= 0 {
		if err := r.Tail(q.tail, q.filter); err != nil {
			return err
		}
	}
	keep := func(rec logfile.Record) error {
		if !q.filter.Keep(rec) {
			return nil
		}
		return emit(rec)
	}
	return s.followLog(ctx, id, r, followOpts{follow: q.follow, until: q.filter.Until}, keep, flush)
}

// followOpts says how long followLog reads.
type followOpts struct {
	// follow: read what is written until the process has ended;
	// otherwise stop at the end of the log.
	follow bool
	// until, if set, ends the follow once the clock or a record passes
	// it.
	until time.Time
}

// followLog passes r's records to emit until the end of the log, and
// with follow until the sandbox's process has ended (and its last
// output is passed), emit fails or ctx ends.
func (s *Server) followLog(ctx context.Context, id string, r *logfile.Reader, o followOpts, emit func(logfile.Record) error, flush func()) error {
	past := logfile.Filter{Until: o.until}
	drain := func() (bool, error) {
		defer func() {
			if flush != nil {
				flush()
			}
		}()
		for {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			if o.follow && past.After(rec) {
				return true, nil
			}
			if err := emit(rec); err != nil {
				return true, err
			}
		}
	}
	for {
		if stop, err := drain(); stop || err != nil || !o.follow {
			return err
		}
		if !o.until.IsZero() && time.Now().After(o.until) {
			return nil
		}
		sb, err := s.eng.Sandbox(id)
		if err != nil || !sb.Running() {
			_, err := drain()
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(logPoll):
		}
	}
}

// recordWriter writes records to a response: as they are with a raw
// stream, else as frames of Docker's multiplexed stream, each prefixed
// by its time with timestamps.
type recordWriter struct {
	w          *bufio.Writer
	raw        bool
	timestamps bool
	fl         http.Flusher
}

func newRecordWriter(w http.ResponseWriter, raw, timestamps bool) *recordWriter {
	fl, _ := w.(http.Flusher)
	return &recordWriter{w: bufio.NewWriterSize(w, 32<<10), raw: raw, timestamps: timestamps, fl: fl}
}

func (rw *recordWriter) emit(rec logfile.Record) error {
	p := rec.Payload
	if rw.timestamps {
		p = append([]byte(logfile.Timestamp(rec)), p...)
	}
	if rw.raw {
		_, err := rw.w.Write(p)
		return err
	}
	kind := types.FrameStdout
	if rec.Stream == logfile.Stderr {
		kind = types.FrameStderr
	}
	return types.WriteFrame(rw.w, kind, p)
}

func (rw *recordWriter) flush() {
	if rw.w.Flush() == nil && rw.fl != nil {
		rw.fl.Flush()
	}
}
