// Package sandbox owns the kernel side of a patchbay sandbox that is not
// an interface: network namespace files, sockets opened inside one, the
// processes run inside a sandbox, and the /etc files generated for it.
//
// Namespaces are created on a throwaway OS thread that unshares, sets the
// namespace up, bind-mounts it and then dies, so no goroutine ever runs on
// a thread left in the wrong namespace. Processes are started by
// re-executing /proc/self/exe with InitArg; the init child enters the
// namespaces on its locked main thread and then execs the user command.
// Programs that use Start or Exec must call InitMain first thing in main.
// ListenIn opens sockets inside a sandbox's namespace (the embedded
// resolver's) on a locked thread that enters it and comes back.
//
// Generated files are rewritten in place (never renamed over) so that the
// bind mounts a running process holds keep showing the current content.
package sandbox
