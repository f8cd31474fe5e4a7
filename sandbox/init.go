package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// defaultPath is the PATH a sandbox process gets unless Env sets one.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// InitMain must be called first thing in main. In the re-executed init
// child (os.Args[1] == InitArg) it sets the sandbox up and execs the user
// command, in a terminal holder (HoldArg) it holds the terminal, and in
// the log holder (LogHoldArg) it writes the logs, never returning; otherwise
// it returns at once.
func InitMain() {
	if len(os.Args) == 2 && os.Args[1] == HoldArg {
		holdMain() // a terminal holder (see ptyhold.go)
	}
	if len(os.Args) == 3 && os.Args[1] == LogHoldArg {
		logHoldMain() // the log holder (see loghold.go)
	}
	if len(os.Args) < 2 || os.Args[1] != InitArg {
		return
	}
	// Namespaces entered with setns belong to this thread only; it is the
	// one that execs, so it must never change.
	runtime.LockOSThread()
	se := runInit()
	fmt.Fprintf(os.Stderr, "patchbay-init: %s\n", se.Msg)
	if b, err := json.Marshal(se); err == nil {
		_, _ = unix.Write(statusFd, b)
	}
	os.Exit(se.Code)
}

// runInit only returns on failure.
func runInit() *StartError {
	unix.CloseOnExec(statusFd)
	var is initSpec
	specFile := os.NewFile(specFd, "spec")
	err := json.NewDecoder(specFile).Decode(&is)
	specFile.Close()
	if err != nil {
		return setupErr("read init spec: %w", err)
	}
	if err := enterNamespaces(is.Enter); err != nil {
		return setupErr("%w", err)
	}
	if is.NewMountNS {
		if err := setupMounts(is.Mounts); err != nil {
			return setupErr("%w", err)
		}
	}
	if is.Hostname != "" {
		if err := unix.Sethostname([]byte(is.Hostname)); err != nil {
			return setupErr("set hostname: %w", err)
		}
	}
	if err := unix.Chdir(is.Dir); err != nil {
		return setupErr("chdir %s: %w", is.Dir, err)
	}
	env := buildEnv(is.Env)
	path, se := lookPath(is.Args[0], envValue(env, "PATH"))
	if se != nil {
		return se
	}
	if is.Hold {
		if se := awaitGate(); se != nil {
			return se
		}
	}
	err = unix.Exec(path, is.Args, env)
	code := codeNotExec
	if errors.Is(err, unix.ENOENT) {
		code = codeNotFound
	}
	return &StartError{Code: code, Msg: fmt.Sprintf("exec %s: %v", path, err)}
}

// awaitGate tells the parent the sandbox is set up and waits for its go
// byte. EOF instead means the parent died (or aborted) before recording
// this process, which must then never run its command.
func awaitGate() *StartError {
	unix.CloseOnExec(gateFd)
	if _, err := unix.Write(statusFd, []byte{readyByte}); err != nil {
		return setupErr("report ready: %w", err)
	}
	var b [1]byte
	for {
		n, err := unix.Read(gateFd, b[:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if n == 1 && b[0] == goByte {
			unix.Close(gateFd)
			return nil
		}
		return setupErr("the daemon went away before the command was started")
	}
}

func setupErr(format string, a ...any) *StartError {
	return &StartError{Code: codeSetup, Msg: fmt.Errorf(format, a...).Error()}
}

// enterNamespaces setns's the calling (locked) thread into each namespace.
func enterNamespaces(list []nsEnter) error {
	for _, ns := range list {
		if ns.Type == unix.CLONE_NEWNS {
			// setns(mnt) needs a fs_struct not shared with other threads.
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("unshare fs: %w", err)
			}
		}
		if err := unix.Setns(ns.Fd, ns.Type); err != nil {
			return fmt.Errorf("enter namespace %#x: %w", ns.Type, err)
		}
		unix.Close(ns.Fd)
		if ns.Type == unix.CLONE_NEWNS {
			if err := unix.Chdir("/"); err != nil {
				return fmt.Errorf("chdir /: %w", err)
			}
		}
	}
	return nil
}

// buildEnv returns the defaults overridden by user, one entry per key.
func buildEnv(user []string) []string {
	env := []string{"PATH=" + defaultPath}
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		env = append(env, "HOSTNAME="+unix.ByteSliceToString(uts.Nodename[:]))
	}
	env = append(env, user...)
	seen := map[string]bool{}
	out := make([]string, 0, len(env))
	for i := len(env) - 1; i >= 0; i-- {
		k, _, _ := strings.Cut(env[i], "=")
		if !seen[k] {
			seen[k] = true
			out = append(out, env[i])
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// lookPath resolves name like a shell: through PATH unless it has a slash.
func lookPath(name, path string) (string, *StartError) {
	if strings.Contains(name, "/") {
		if err := checkExecutable(name); err != nil {
			return "", execErr(name, err)
		}
		return name, nil
	}
	var denied error
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + name
		err := checkExecutable(p)
		if err == nil {
			return p, nil
		}
		if denied == nil && errors.Is(err, unix.EACCES) {
			denied = err
		}
	}
	if denied != nil {
		return "", execErr(name, denied)
	}
	return "", &StartError{Code: codeNotFound, Msg: "executable file not found: " + name}
}

func execErr(name string, err error) *StartError {
	if errors.Is(err, unix.ENOENT) {
		return &StartError{Code: codeNotFound, Msg: "executable file not found: " + name}
	}
	return &StartError{Code: codeNotExec, Msg: fmt.Sprintf("exec %s: %v", name, err)}
}

// checkExecutable fails unless p is an executable regular file.
func checkExecutable(p string) error {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return unix.EACCES
	}
	return unix.Access(p, unix.X_OK)
}
