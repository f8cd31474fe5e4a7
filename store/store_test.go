package store

import (
	"errors"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/cnm"
	bolt "go.etcd.io/bbolt"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t *testing.T) (*Store, string) {
	path := filepath.Join(t.TempDir(), "state", "patchbay.db")
	return open(t, path), path
}

var created = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func network(id, name string) *cnm.Network {
	return &cnm.Network{ID: id, Name: name, Driver: "bridge", Scope: "local", Created: created,
		IPAM:    cnm.IPAM{Driver: "default", Config: []cnm.IPAMConfig{{Subnet: netip.MustParsePrefix("172.20.0.0/16"), Gateway: netip.MustParseAddr("172.20.0.1")}}},
		Options: map[string]string{"com.docker.network.bridge.name": "br-" + id}, Labels: map[string]string{"l": name},
		Cursors: map[string]netip.Addr{"172.20.0.0/16": netip.MustParseAddr("172.20.0.7")}}
}

func endpoint(id, net string) *cnm.Endpoint {
	return &cnm.Endpoint{ID: id, NetworkID: net, SandboxID: "sb1", IfName: "eth0", HostIfName: "veth" + id,
		MAC: "02:42:ac:14:00:02", IPv4: netip.MustParsePrefix("172.20.0.2/16"), Gateway4: netip.MustParseAddr("172.20.0.1"),
		Aliases: []string{"web"}, Seq: 3}
}

func sandbox(id, name string) *cnm.Sandbox {
	return &cnm.Sandbox{ID: id, Name: name, Hostname: name, Created: created, NetnsPath: "/run/patchbay/netns/" + id,
		Process: &cnm.Process{Args: []string{"sleep", "1"}, State: cnm.StateRunning, Pid: 42},
		Ports:   []cnm.PortMapping{{HostPort: 8080, Proto: "tcp", Addr: netip.MustParseAddr("172.20.0.2"), Port: 80}},
		DNS:     []netip.Addr{netip.MustParseAddr("192.0.2.53")}}
}

// kind is one record type as the tests drive it.
type kind struct {
	name string
	a, b any      // two records, a's ID sorting first
	a2   any      // a, changed
	ids  []string // a's and b's IDs
	put  func(*Tx, any) error
	del  func(*Tx, string) error
	list func(*Tx) (any, error)
}

func kinds() []kind {
	a2n := network("n1", "front")
	a2n.Internal = true
	a2e := endpoint("e1", "n1")
	a2e.Aliases = []string{"web", "www"}
	a2s := sandbox("s1", "one")
	a2s.Process.State = cnm.StateExited
	return []kind{
		{
			name: "networks", a: network("n1", "front"), b: network("n2", "back"), a2: a2n, ids: []string{"n1", "n2"},
			put:  func(t *Tx, v any) error { return t.PutNetwork(v.(*cnm.Network)) },
			del:  (*Tx).DeleteNetwork,
			list: func(t *Tx) (any, error) { return t.Networks() },
		},
		{
			name: "endpoints", a: endpoint("e1", "n1"), b: endpoint("e2", "n2"), a2: a2e, ids: []string{"e1", "e2"},
			put:  func(t *Tx, v any) error { return t.PutEndpoint(v.(*cnm.Endpoint)) },
			del:  (*Tx).DeleteEndpoint,
			list: func(t *Tx) (any, error) { return t.Endpoints() },
		},
		{
			name: "sandboxes", a: sandbox("s1", "one"), b: sandbox("s2", "two"), a2: a2s, ids: []string{"s1", "s2"},
			put:  func(t *Tx, v any) error { return t.PutSandbox(v.(*cnm.Sandbox)) },
			del:  (*Tx).DeleteSandbox,
			list: func(t *Tx) (any, error) { return t.Sandboxes() },
		},
	}
}

// records lists a kind's records in a read transaction.
func records(t *testing.T, s *Store, k kind) any {
	t.Helper()
	var got any
	if err := s.View(func(tx *Tx) error {
		var err error
		got, err = k.list(tx)
		return err
	}); err != nil {
		t.Fatalf("list %s: %v", k.name, err)
	}
	return got
}

// slice makes a typed slice of records of the same type as v.
func slice(v any, items ...any) any {
	out := reflect.MakeSlice(reflect.SliceOf(reflect.TypeOf(v)), 0, len(items))
	for _, it := range items {
		out = reflect.Append(out, reflect.ValueOf(it))
	}
	return out.Interface()
}

// Each record type round-trips through put, list (in ID order), put over
// an existing ID, and delete; deleting a missing record is no error.
func TestRecords(t *testing.T) {
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			s, _ := newStore(t)
			if got := records(t, s, k); reflect.ValueOf(got).Len() != 0 {
				t.Fatalf("a new store holds %s: %v", k.name, got)
			}
			steps := []struct {
				name string
				fn   func(*Tx) error
				want []any
			}{
				{"put both", func(tx *Tx) error {
					if err := k.put(tx, k.b); err != nil {
						return err
					}
					return k.put(tx, k.a)
				}, []any{k.a, k.b}},
				{"replace", func(tx *Tx) error { return k.put(tx, k.a2) }, []any{k.a2, k.b}},
				{"delete", func(tx *Tx) error { return k.del(tx, k.ids[1]) }, []any{k.a2}},
				{"delete missing", func(tx *Tx) error { return k.del(tx, "missing") }, []any{k.a2}},
				{"delete last", func(tx *Tx) error { return k.del(tx, k.ids[0]) }, nil},
			}
			for _, st := range steps {
				if err := s.Update(st.fn); err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				got, want := records(t, s, k), slice(k.a, st.want...)
				if reflect.ValueOf(got).Len() == 0 && len(st.want) == 0 {
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: got %+v, want %+v", st.name, got, want)
				}
			}
		})
	}
}

// Metadata values are "" until set, and can be overwritten.
func TestMeta(t *testing.T) {
	s, _ := newStore(t)
	for _, tc := range []struct{ set, want string }{{"", ""}, {"v1", "v1"}, {"v2", "v2"}} {
		if tc.set != "" {
			if err := s.Update(func(tx *Tx) error { return tx.SetMeta("instance", tc.set) }); err != nil {
				t.Fatal(err)
			}
		}
		var got string
		s.View(func(tx *Tx) error { got = tx.Meta("instance"); return nil })
		if got != tc.want {
			t.Errorf("after setting %q: Meta = %q, want %q", tc.set, got, tc.want)
		}
	}
}

// Everything committed is there after the file is closed and opened again.
func TestReopen(t *testing.T) {
	s, path := newStore(t)
	ks := kinds()
	if err := s.Update(func(tx *Tx) error {
		for _, k := range ks {
			if err := k.put(tx, k.a); err != nil {
				return err
			}
			if err := k.put(tx, k.b); err != nil {
				return err
			}
		}
		return tx.SetMeta("instance", "abc")
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	for _, k := range ks {
		if got, want := records(t, s, k), slice(k.a, k.a, k.b); !reflect.DeepEqual(got, want) {
			t.Errorf("%s after reopen: got %+v, want %+v", k.name, got, want)
		}
	}
	var meta string
	s.View(func(tx *Tx) error { meta = tx.Meta("instance"); return nil })
	if meta != "abc" {
		t.Errorf("meta after reopen = %q", meta)
	}
}

// An Update whose function fails commits none of its writes, whichever
// kind they touched, and returns the function's error.
func TestUpdateRollsBack(t *testing.T) {
	s, path := newStore(t)
	ks := kinds()
	if err := s.Update(func(tx *Tx) error {
		for _, k := range ks {
			if err := k.put(tx, k.a); err != nil {
				return err
			}
		}
		return tx.SetMeta("instance", "before")
	}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := s.Update(func(tx *Tx) error {
		for _, k := range ks {
			if err := k.put(tx, k.b); err != nil {
				return err
			}
			if err := k.put(tx, k.a2); err != nil {
				return err
			}
			if err := k.del(tx, k.ids[0]); err != nil {
				return err
			}
		}
		if err := tx.SetMeta("instance", "after"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want the function's error", err)
	}
	// Nothing of it, in this process or after a reopen.
	check := func(when string, s *Store) {
		for _, k := range ks {
			if got, want := records(t, s, k), slice(k.a, k.a); !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s: got %+v, want %+v", k.name, when, got, want)
			}
		}
		var meta string
		s.View(func(tx *Tx) error { meta = tx.Meta("instance"); return nil })
		if meta != "before" {
			t.Errorf("meta %s = %q, want %q", when, meta, "before")
		}
	}
	check("after the failed update", s)
	s.Close()
	check("after reopen", open(t, path))
}

// View is read-only: a write in it fails and changes nothing.
func TestViewIsReadOnly(t *testing.T) {
	s, _ := newStore(t)
	k := kinds()[0]
	err := s.View(func(tx *Tx) error { return k.put(tx, k.a) })
	if !errors.Is(err, bolt.ErrTxNotWritable) {
		t.Errorf("put in View = %v, want %v", err, bolt.ErrTxNotWritable)
	}
	if got := records(t, s, k); reflect.ValueOf(got).Len() != 0 {
		t.Errorf("View wrote %v", got)
	}
}

// A second Open of a file in use fails at once with a conflict.
func TestOpenInUse(t *testing.T) {
	_, path := newStore(t)
	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatal("a second Open of the same file succeeded")
	}
	if !errors.Is(err, cnm.ErrConflict) {
		t.Errorf("second Open = %v, want a conflict", err)
	}
}

// A record that does not decode is an error naming it, not a skipped or
// zero record.
func TestCorruptRecord(t *testing.T) {
	s, _ := newStore(t)
	if err := s.Update(func(tx *Tx) error {
		return tx.tx.Bucket(bucketNetworks).Put([]byte("bad"), []byte("{not json"))
	}); err != nil {
		t.Fatal(err)
	}
	err := s.View(func(tx *Tx) error { _, err := tx.Networks(); return err })
	if err == nil {
		t.Fatal("a corrupt network record listed without error")
	}
	if want := "decode networks/bad"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the record (%q)", err, want)
	}
}
