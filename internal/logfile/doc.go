// Package logfile is the format of a sandbox's log: a file of records,
// each the output of one stream (stdout or stderr) at one time, so that
// readers can select streams, filter by time and print timestamps as
// Docker's json-file driver does, while a terminal's bytes stay exact.
//
// A file starts with an 8-byte magic header. Each record is a 16-byte
// header, then the payload:
//
//	byte 0      stream (1 stdout, 2 stderr: Docker's numbering)
//	bytes 1-3   zero
//	bytes 4-7   payload length, big endian (at most MaxPayload)
//	bytes 8-15  time written, nanoseconds since the Unix epoch, big endian
//
// Output is split at newlines: a record holds one line with its newline,
// or a partial line (what a read returned without a newline, or
// MaxPayload bytes of a longer line). A writer appends its records with
// one write(2) on a file opened O_APPEND, so a record is never
// interleaved with another writer's; a reader that meets an incomplete
// record at the end of the file leaves it for a later read (follow).
//
// A file without the header was written by an older patchbay as the raw
// bytes of stdout and stderr together; it reads as stdout lines with no
// time, and a writer opening it converts it first.
package logfile
