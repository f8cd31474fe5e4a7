package dns

import (
	"bufio"
	"bytes"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ParseResolvConf returns the servers of the nameserver lines of
// resolv.conf content, in order, with port 53. Lines that do not hold an
// IPv4 or IPv6 address (with an optional zone) are skipped, as the C
// library does.
func ParseResolvConf(content []byte) []netip.AddrPort {
	var ups []netip.AddrPort
	sc := bufio.NewScanner(bytes.NewReader(content))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil {
			continue
		}
		ups = append(ups, netip.AddrPortFrom(a.Unmap(), 53))
	}
	return ups
}

// DefaultPollInterval is how often a Watcher looks at its file at most.
const DefaultPollInterval = time.Second

// Watcher follows a resolv.conf file: it looks at the file again (size,
// modification and change times, inode) when asked and at least Interval
// has passed since it last looked, and re-reads it when it changed. It
// starts no goroutine. Its Upstreams method fits Config.Upstreams.
type Watcher struct {
	path     string
	interval time.Duration

	// mu guards the fields below.
	mu      sync.Mutex
	checked time.Time
	id      fileID
	content []byte
	ups     []netip.AddrPort
	version uint64
}

// fileID identifies one version of a file.
type fileID struct {
	ino, size      uint64
	mtime, ctime   int64
	exists, loaded bool
}

// NewWatcher returns a Watcher of path, looking at it at most every
// interval (0: DefaultPollInterval). A missing file has no servers.
func NewWatcher(path string, interval time.Duration) *Watcher {
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	return &Watcher{path: path, interval: interval}
}

// Upstreams returns the servers of the file's current content.
func (w *Watcher) Upstreams() []netip.AddrPort {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.refreshLocked()
	return slices.Clone(w.ups)
}

// Content returns the file's current content and a version number that
// changes whenever the content was re-read.
func (w *Watcher) Content() ([]byte, uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.refreshLocked()
	return slices.Clone(w.content), w.version
}

// refreshLocked re-reads the file if it is time to look and it changed.
func (w *Watcher) refreshLocked() {
	now := time.Now()
	if w.id.loaded && now.Sub(w.checked) < w.interval {
		return
	}
	w.checked = now
	id := statID(w.path)
	if id == w.id {
		return
	}
	content, err := os.ReadFile(w.path)
	if err != nil {
		content, id = nil, fileID{loaded: true}
	}
	w.id, w.content = id, content
	w.ups = ParseResolvConf(content)
	w.version++
}

// statID returns the identity of the file at path.
func statID(path string) fileID {
	fi, err := os.Stat(path)
	if err != nil {
		return fileID{loaded: true}
	}
	id := fileID{size: uint64(fi.Size()), mtime: fi.ModTime().UnixNano(), exists: true, loaded: true}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.ino = st.Ino
		id.ctime = st.Ctim.Nano()
	}
	return id
}
