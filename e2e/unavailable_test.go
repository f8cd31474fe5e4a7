package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/store"
)

// The daemon starts over state that names a network driver it does not
// have (a plugin that is not there): the network is listed and inspect
// says why it is unavailable, operations on it fail with a message naming
// the driver, every other network works, and it can be removed.
func TestUnknownDriverAtStart(t *testing.T) {
	d := startDaemon(t)
	d.ok("network", "create", "--subnet", "10.0.41.0/24", "gone")
	d.ok("run", "-d", "--name", "onit", "--network", "gone", "--", "busybox", "sleep", "600")
	d.ok("rm", "-f", "onit")
	d.stop()

	st, err := store.Open(filepath.Join(d.dir, "root", "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	err = st.Update(func(tx *store.Tx) error {
		nets, err := tx.Networks()
		if err != nil {
			return err
		}
		for _, n := range nets {
			if n.Name == "gone" {
				n.Driver = "nosuchplugin"
				return tx.PutNetwork(n)
			}
		}
		t.Fatal("network gone is not in the state file")
		return nil
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}

	d.start()
	if out := d.ok("network", "ls"); !strings.Contains(out, "gone") || !strings.Contains(out, "nosuchplugin") {
		t.Fatalf("network ls does not list the unavailable network:\n%s", out)
	}
	var nets []map[string]any
	if err := json.Unmarshal([]byte(d.ok("network", "inspect", "gone")), &nets); err != nil {
		t.Fatal(err)
	}
	if why, _ := nets[0]["Unavailable"].(string); !strings.Contains(why, "nosuchplugin") {
		t.Fatalf("inspect does not say why the network is unavailable: %v", nets[0])
	}
	r := d.pb("run", "--rm", "--network", "gone", "--", "busybox", "true")
	if r.code == 0 || !strings.Contains(r.stderr, "nosuchplugin") {
		t.Fatalf("run on the unavailable network: %s", r)
	}
	d.ok("network", "create", "--subnet", "10.0.42.0/24", "fine")
	if out := d.ok("run", "--rm", "--network", "fine", "--", "busybox", "ping", "-c1", "-W2", "10.0.42.1"); !strings.Contains(out, "1 packets received") {
		t.Fatalf("another network does not work:\n%s", out)
	}
	d.ok("network", "rm", "gone")
}
