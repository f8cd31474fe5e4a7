package plugin

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/patchbay/patchbay/cnm"
)

// DefaultDirs returns where Docker looks for legacy plugins: sockets under
// /run/docker/plugins, spec files under /etc/docker/plugins and
// /usr/lib/docker/plugins.
func DefaultDirs() []string {
	return []string{"/run/docker/plugins", "/etc/docker/plugins", "/usr/lib/docker/plugins"}
}

// TLSConfig is the TLS part of a .json spec file.
type TLSConfig struct {
	InsecureSkipVerify bool
	CAFile             string
	CertFile           string
	KeyFile            string
}

// Spec is where a plugin is: its name, its address (unix:///path,
// tcp://host:port or http(s)://host:port) and, from a .json file, TLS.
type Spec struct {
	Name      string
	Addr      string
	TLSConfig *TLSConfig `json:",omitempty"`
	// File is the socket or spec file the plugin was found by.
	File string `json:"-"`
}

// Discovery finds plugins by name as Docker does: first a socket
// NAME.sock or NAME/NAME.sock, then a spec file NAME.spec, NAME.json,
// NAME/NAME.spec or NAME/NAME.json, each in Dirs in order.
type Discovery struct {
	Dirs []string
}

func (d Discovery) dirs() []string {
	if len(d.Dirs) == 0 {
		return DefaultDirs()
	}
	return d.Dirs
}

// validName keeps a plugin name from walking out of the directories.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// Locate returns the spec of the named plugin. A plugin no file names is
// an error of kind cnm.ErrNotFound.
func (d Discovery) Locate(name string) (Spec, error) {
	if !validName(name) {
		return Spec{}, cnm.Invalid("invalid plugin name %q", name)
	}
	for _, dir := range d.dirs() {
		for _, p := range []string{filepath.Join(dir, name+".sock"), filepath.Join(dir, name, name+".sock")} {
			if fi, err := os.Stat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
				return Spec{Name: name, Addr: "unix://" + p, File: p}, nil
			}
		}
	}
	for _, dir := range d.dirs() {
		for _, p := range []string{
			filepath.Join(dir, name+".spec"), filepath.Join(dir, name+".json"),
			filepath.Join(dir, name, name+".spec"), filepath.Join(dir, name, name+".json"),
		} {
			if _, err := os.Stat(p); err != nil {
				continue
			}
			return readSpec(name, p)
		}
	}
	return Spec{}, cnm.NotFound("plugin %q not found in %s", name, strings.Join(d.dirs(), ", "))
}

// readSpec reads a .spec (one URL) or .json spec file.
func readSpec(name, path string) (Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Spec{}, fmt.Errorf("read plugin spec %s: %w", path, err)
	}
	s := Spec{Name: name, File: path}
	if strings.HasSuffix(path, ".json") {
		if err := json.Unmarshal(b, &s); err != nil {
			return Spec{}, cnm.Invalid("read plugin spec %s: %v", path, err)
		}
		s.Name, s.File = name, path
		if s.TLSConfig != nil && s.TLSConfig.CAFile == "" {
			s.TLSConfig.InsecureSkipVerify = true // as Docker
		}
	} else {
		s.Addr = strings.TrimSpace(string(b))
	}
	u, err := url.Parse(s.Addr)
	if err != nil || u.Scheme == "" {
		return Spec{}, cnm.Invalid("plugin spec %s: address %q is not a URL with a scheme", path, s.Addr)
	}
	switch u.Scheme {
	case "unix", "tcp", "http", "https":
	default:
		return Spec{}, cnm.Invalid("plugin spec %s: unsupported scheme %q", path, u.Scheme)
	}
	return s, nil
}

// Names lists the names of every plugin the directories hold, sorted.
func (d Discovery) Names() []string {
	seen := map[string]bool{}
	for _, dir := range d.dirs() {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() {
				for _, ext := range []string{".sock", ".spec", ".json"} {
					if _, err := os.Stat(filepath.Join(dir, name, name+ext)); err == nil {
						seen[name] = true
					}
				}
				continue
			}
			for _, ext := range []string{".sock", ".spec", ".json"} {
				if stem, ok := strings.CutSuffix(name, ext); ok && validName(stem) {
					seen[stem] = true
				}
			}
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
