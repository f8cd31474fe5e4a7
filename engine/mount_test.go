package engine_test

import "golang.org/x/sys/unix"

func bindMount(src, dst string) error { return unix.Mount(src, dst, "", unix.MS_BIND, "") }
func unmount(path string) error       { return unix.Unmount(path, unix.MNT_DETACH) }
