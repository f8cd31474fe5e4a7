package sandbox

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/patchbay/patchbay/cnm"
)

func TestCreateNetns(t *testing.T) {
	requireRoot(t)
	hostNs := nsLink(t, "/proc/self/ns/net")
	path := newNetns(t)
	if !IsNetns(path) {
		t.Fatalf("IsNetns(%s) = false", path)
	}
	ns, err := OpenNetns(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("netlink handle: %v", err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != 1 || links[0].Attrs().Name != "lo" {
		t.Fatalf("links = %v, want only lo", links)
	}
	if links[0].Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("lo is down")
	}
	if got := nsLink(t, "/proc/self/ns/net"); got != hostNs {
		t.Errorf("own namespace changed: %s, was %s", got, hostNs)
	}
	if nsLink(t, path) == hostNs {
		t.Errorf("new namespace is the host's")
	}
}

func TestCreateNetnsSysctls(t *testing.T) {
	requireRoot(t)
	path := newNetns(t)
	out, read := outputFile(t)
	p, err := Start(ProcSpec{
		Args:      []string{"/bin/sh", "-c", "cat /proc/sys/net/ipv4/conf/all/arp_notify /proc/sys/net/ipv4/conf/default/arp_notify"},
		NetnsPath: path,
		Stdout:    out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(); err != nil || code != 0 {
		t.Fatalf("Wait = %d, %v", code, err)
	}
	if got := read(); got != "1\n1\n" {
		t.Errorf("arp_notify = %q, want 1 and 1", got)
	}
}

func TestCreateNetnsConcurrent(t *testing.T) {
	requireRoot(t)
	const n = 50
	dir := t.TempDir()
	t.Cleanup(func() { assertNoMounts(t, dir) })
	paths := make([]string, n)
	for i := range paths {
		paths[i] = filepath.Join(dir, "run", fmt.Sprintf("ns%d", i))
		t.Cleanup(func() { _ = RemoveNetns(paths[i]) })
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range paths {
		wg.Go(func() { errs[i] = CreateNetns(paths[i]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range paths {
		l := nsLink(t, p)
		if seen[l] {
			t.Errorf("namespace %s created twice", l)
		}
		seen[l] = true
	}
	assertThreadsInNs(t, nsLink(t, "/proc/self/ns/net"))
	for _, p := range paths {
		if err := RemoveNetns(p); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists: %v", p, err)
		}
	}
	assertNoMounts(t, dir)
}

// assertThreadsInNs checks that no thread of this process stays in
// another network namespace. Threads of finished CreateNetns calls may
// take a moment to exit.
func assertThreadsInNs(t *testing.T, want string) {
	t.Helper()
	var stray []string
	for range 100 {
		stray = stray[:0]
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			p := "/proc/self/task/" + task.Name() + "/ns/net"
			fi, err := os.Stat(p)
			if err != nil {
				continue // the thread exited
			}
			if fmt.Sprintf("net:[%d]", fi.Sys().(*syscall.Stat_t).Ino) != want {
				stray = append(stray, task.Name())
			}
		}
		if len(stray) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("threads %v stay outside namespace %s", stray, want)
}

func TestCreateNetnsExisting(t *testing.T) {
	requireRoot(t)
	path := newNetns(t)
	before := nsLink(t, path)
	err := CreateNetns(path)
	if !errors.Is(err, cnm.ErrConflict) {
		t.Fatalf("CreateNetns on a namespace = %v, want conflict", err)
	}
	if !IsNetns(path) || nsLink(t, path) != before {
		t.Errorf("existing namespace was disturbed")
	}
}

func TestBindNetns(t *testing.T) {
	requireRoot(t)
	path := newNetns(t)
	p, err := Start(ProcSpec{Args: []string{"sleep", "30"}, NetnsPath: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Signal(syscall.SIGKILL); _, _ = p.Wait() })

	dir := t.TempDir()
	t.Cleanup(func() { assertNoMounts(t, dir) })
	bound := filepath.Join(dir, "sub", "adopted")
	src := fmt.Sprintf("/proc/%d/ns/net", p.Pid)
	if err := BindNetns(src, bound); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = RemoveNetns(bound) })
	if !IsNetns(bound) {
		t.Fatalf("IsNetns(%s) = false", bound)
	}
	if got, want := nsLink(t, bound), nsLink(t, path); got != want {
		t.Errorf("bound namespace %s, want %s", got, want)
	}
	if err := RemoveNetns(bound); err != nil {
		t.Fatal(err)
	}
	if IsNetns(bound) {
		t.Errorf("still a namespace after RemoveNetns")
	}
}

func TestBindNetnsInvalid(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	t.Cleanup(func() { assertNoMounts(t, dir) })
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{plain, "/proc/self/ns/uts", filepath.Join(dir, "missing")} {
		target := filepath.Join(dir, "target")
		err := BindNetns(src, target)
		if err == nil {
			_ = RemoveNetns(target)
			t.Errorf("BindNetns(%s) succeeded", src)
			continue
		}
		if !strings.Contains(err.Error(), src) {
			t.Errorf("error %q does not name %s", err, src)
		}
		if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("BindNetns(%s) left %s behind", src, target)
		}
	}
	if _, err := OpenNetns(plain); !errors.Is(err, cnm.ErrInvalid) {
		t.Errorf("OpenNetns(plain file) = %v, want invalid", err)
	}
	if IsNetns(plain) || IsNetns(filepath.Join(dir, "missing")) {
		t.Errorf("IsNetns true for a non-namespace")
	}
}

func TestRemoveNetnsMissing(t *testing.T) {
	requireRoot(t)
	if err := RemoveNetns(filepath.Join(t.TempDir(), "missing")); err != nil {
		t.Errorf("RemoveNetns(missing) = %v", err)
	}
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := RemoveNetns(plain); err != nil {
		t.Errorf("RemoveNetns(plain) = %v", err)
	}
	var st unix.Stat_t
	if err := unix.Stat(plain, &st); !errors.Is(err, unix.ENOENT) {
		t.Errorf("plain file not removed: %v", err)
	}
}
