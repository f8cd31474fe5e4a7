package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
)

// Module is patchbay's module path.
const Module = "github.com/patchbay/patchbay"

// Package is what `go list -json` reports of one package that the
// boundary checks read. Imports and Deps cover the non-test files only.
type Package struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// Rel is the package's path inside the module ("engine",
// "drivers/bridge"; "." for the root).
func (p Package) Rel() string { return Rel(p.ImportPath) }

// Rel returns an import path relative to the module, or the path itself
// for packages outside it.
func Rel(importPath string) string {
	if importPath == Module {
		return "."
	}
	if r, ok := strings.CutPrefix(importPath, Module+"/"); ok {
		return r
	}
	return importPath
}

// GoList runs `go list -json` on patterns from the module root (found
// from dir) and returns the packages by import path.
func GoList(dir string, patterns ...string) (map[string]Package, error) {
	root, err := moduleRoot(dir)
	if err != nil {
		return nil, err
	}
	out, err := goCmd(root, append([]string{"list", "-json"}, patterns...)...)
	if err != nil {
		return nil, err
	}
	pkgs := map[string]Package{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p Package
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			return pkgs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode go list output: %w", err)
		}
		pkgs[p.ImportPath] = p
	}
}

func moduleRoot(dir string) (string, error) {
	out, err := goCmd(dir, "env", "GOMOD")
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == "/dev/null" {
		return "", fmt.Errorf("find module root from %s: not in a module", dir)
	}
	return filepath.Dir(gomod), nil
}

// goCmd runs the go tool; `go test` puts its own GOROOT/bin first on
// PATH, so this is the go that runs the test.
func goCmd(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}
