package devstack

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// modulePath is the module whose go.mod marks the repository root.
const modulePath = "github.com/leadluence/backend"

// Root returns the repository root: the nearest directory, walking up from
// the working directory, whose go.mod declares module
// github.com/leadluence/backend. If the working directory is outside the
// repository it falls back to the directory this package was compiled from.
func Root() (string, error) {
	if wd, err := os.Getwd(); err == nil {
		if root, ok := findRoot(wd); ok {
			return root, nil
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		if root, ok := findRoot(filepath.Dir(file)); ok {
			return root, nil
		}
	}
	return "", errors.New("find repository root: no go.mod for module " + modulePath + " above the working directory")
}

func findRoot(dir string) (string, bool) {
	for {
		if moduleOf(filepath.Join(dir, "go.mod")) == modulePath {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// moduleOf returns the module path declared in a go.mod file, or "".
func moduleOf(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			if i := strings.Index(rest, "//"); i >= 0 {
				rest = rest[:i]
			}
			return strings.Trim(strings.TrimSpace(rest), `"`+"`")
		}
	}
	return ""
}
