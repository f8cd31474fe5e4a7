package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/patchbay/patchbay/engine"
)

// Removals are batched: the host ends of many departed endpoints are
// deleted together by link group. A second engine in the same namespace
// has its own group, so its endpoints survive and keep working.
func TestBatchedRemovalSparesOtherEngine(t *testing.T) {
	a := newFixture(t)
	dir := t.TempDir()
	b := &fixture{host: a.host, cfg: engineConfig(t, engine.Config{
		Root: filepath.Join(dir, "root"), ExecRoot: filepath.Join(dir, "exec"),
		HostNetns: a.host.Path, ResolvConf: a.cfg.ResolvConf,
	}, "pbother0")}
	b.open(t)
	t.Cleanup(func() { b.teardown(t) })
	if a.eng.Tag() == b.eng.Tag() {
		t.Fatal("two engines share a tag")
	}

	a.network(t, "anet", "10.0.1.0/24")
	b.network(t, "bnet", "10.0.2.0/24")
	var gone []string
	for i := 0; i < 6; i++ {
		sb := a.sandbox(t, fmt.Sprintf("a%d", i), "anet")
		gone = append(gone, sb.Endpoints[0].HostIfName)
	}
	kept := b.sandbox(t, "b0", "bnet")
	ctx := context.Background()
	for i := 0; i < 6; i++ {
		if err := a.eng.RemoveSandbox(ctx, fmt.Sprintf("a%d", i), false); err != nil {
			t.Fatal(err)
		}
	}
	// Close finishes the queued deletions.
	a.eng.Close()
	a.eng = nil
	for _, name := range gone {
		if _, err := a.host.Handle.LinkByName(name); err == nil {
			t.Errorf("host end %s of a removed sandbox is still there", name)
		}
	}
	if _, err := a.host.Handle.LinkByName(kept.Endpoints[0].HostIfName); err != nil {
		t.Fatalf("the other engine's host end %s was deleted: %v", kept.Endpoints[0].HostIfName, err)
	}
	if code, out := b.run(t, "b0", "busybox", "ping", "-c", "1", "-W", "2", "10.0.2.1"); code != 0 {
		t.Errorf("the other engine's sandbox lost its network: %s", out)
	}
}
