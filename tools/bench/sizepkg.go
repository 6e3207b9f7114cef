package main

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/leadluence/backend/infra/topology"
)

// The size breakdown: which packages the bytes of each bootstrap belong to.
// The deployed bootstraps are stripped, so each function is built again
// for linux/arm64 with the same flags but its symbol table kept (-ldflags
// "" instead of "-s -w"; the code is the same), and every symbol that
// occupies file bytes (not .bss/.noptrbss) is attributed to its package,
// as `go tool nm -size -sort size` lists them.

// pkgSizes is one bootstrap's bytes by package group.
type pkgSizes struct {
	Name string
	// Groups maps a package group (see sizeGroup) to its symbols' bytes.
	Groups map[string]int64
	// Symbols is the sum over every symbol.
	Symbols int64
	// Pclntab is the .gopclntab section (function and line tables, which
	// no sized symbol covers); Sections sums every section that takes file
	// bytes except the symbol table, its strings and debug info.
	Pclntab, Sections int64
}

// sizeBreakdown builds each function (and the hello-world) with symbols
// into tmp and attributes its bytes to packages.
func sizeBreakdown(ctx context.Context, root, tmp string, st topology.Stack) ([]pkgSizes, error) {
	var out []pkgSizes
	build := func(name, pkg string) error {
		bin := filepath.Join(tmp, "nm-"+name)
		cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", bin, pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s with symbols: %w\n%s", name, err, strings.TrimSpace(string(b)))
		}
		s, err := symbolSizes(bin)
		if err != nil {
			return err
		}
		s.Name = name
		out = append(out, s)
		return nil
	}
	for _, fn := range st.Functions {
		if err := build(fn.Name, "./functions/"+fn.Name); err != nil {
			return nil, err
		}
	}
	if err := build("hello-world", "./tools/bench/hello"); err != nil {
		return nil, err
	}
	return out, nil
}

// symbolSizes sums the sizes of the symbols of an ELF file that occupy
// bytes in it, by package group.
func symbolSizes(path string) (pkgSizes, error) {
	r := pkgSizes{Groups: map[string]int64{}}
	f, err := elf.Open(path)
	if err != nil {
		return r, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return r, fmt.Errorf("symbols of %s: %w", path, err)
	}
	for _, sec := range f.Sections {
		if sec.Type == elf.SHT_NOBITS || sec.Type == elf.SHT_SYMTAB || sec.Type == elf.SHT_STRTAB || strings.HasPrefix(sec.Name, ".debug") ||
			strings.HasPrefix(sec.Name, ".zdebug") {
			continue
		}
		r.Sections += int64(sec.Size) //nolint:gosec // section sizes fit
		if sec.Name == ".gopclntab" {
			r.Pclntab = int64(sec.Size) //nolint:gosec // section sizes fit
		}
	}
	for _, s := range syms {
		if s.Size == 0 || s.Section == elf.SHN_UNDEF || int(s.Section) >= len(f.Sections) {
			continue
		}
		if f.Sections[s.Section].Type == elf.SHT_NOBITS {
			continue
		}
		r.Groups[sizeGroup(symbolPackage(s.Name))] += int64(s.Size) //nolint:gosec // symbol sizes fit
		r.Symbols += int64(s.Size)                                  //nolint:gosec // symbol sizes fit
	}
	return r, nil
}

// symbolPackage returns the import path of the package a Go symbol
// belongs to ("" for the linker's own tables).
func symbolPackage(name string) string {
	name = strings.TrimPrefix(name, "type:")
	name = strings.TrimLeft(name, "*")
	if strings.HasPrefix(name, "go:") || strings.HasPrefix(name, "runtime.") && strings.Contains(name, "tab") {
		return ""
	}
	head := name
	if i := strings.IndexAny(head, "[("); i >= 0 {
		head = head[:i]
	}
	slash := strings.LastIndex(head, "/")
	dot := strings.Index(name[slash+1:], ".")
	if dot < 0 {
		return ""
	}
	return name[:slash+1+dot]
}

// sizeGroup rolls a package up to what the report lists: an AWS SDK
// service, another module, a project package, or a standard library tree.
func sizeGroup(pkg string) string {
	const sdk = "github.com/aws/aws-sdk-go-v2/service/"
	const project = "github.com/leadluence/backend/"
	switch {
	case pkg == "":
		return "(linker data: go:func.*, go:string.*, runtime tables)"
	case strings.HasPrefix(pkg, sdk):
		svc, _, _ := strings.Cut(strings.TrimPrefix(pkg, sdk), "/")
		return sdk + svc
	case strings.HasPrefix(pkg, project):
		return pkg
	case strings.HasPrefix(pkg, "vendor/") || !strings.Contains(strings.SplitN(pkg, "/", 2)[0], "."):
		first, _, _ := strings.Cut(pkg, "/")
		return "std: " + first
	}
	parts := strings.Split(pkg, "/")
	switch {
	case parts[0] == "golang.org" && len(parts) >= 3, parts[0] == "github.com" && len(parts) >= 3, parts[0] == "google.golang.org" && len(parts) >= 2:
		n := 3
		if parts[0] == "google.golang.org" {
			n = 2
		}
		return strings.Join(parts[:n], "/")
	}
	return pkg
}

// sizeMarkdown renders the breakdown: the largest groups across the
// functions, in MB.
func sizeMarkdown(rows []pkgSizes, files []sizeRow, top int) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	total := map[string]int64{}
	for _, r := range rows {
		for g, n := range r.Groups {
			if r.Name != "hello-world" {
				total[g] = max(total[g], n)
			}
		}
	}
	groups := make([]string, 0, len(total))
	for g := range total {
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool {
		return total[groups[i]] > total[groups[j]] || total[groups[i]] == total[groups[j]] && groups[i] < groups[j]
	})
	shown := groups[:min(top, len(groups))]
	w("\n### Size by package\n\n")
	w("Bytes of the symbols of each bootstrap (linux/arm64, built as `make build` builds it but with its symbol table kept), by package:\n")
	w("AWS SDK services and project packages one by one, other modules whole, the standard library by its top directory. The %d largest\n", len(shown))
	w("groups (by the largest function), in MB: code, read-only data and data (`.bss` takes no file bytes). The stripped file holds the\n")
	w("same loaded sections; `.gopclntab` has no sized symbols and is shown on its own.\n\n")
	w("| package |")
	for _, r := range rows {
		w(" %s |", r.Name)
	}
	w("\n|---|")
	for range rows {
		w("---:|")
	}
	w("\n")
	for _, g := range shown {
		w("| `%s` |", g)
		for _, r := range rows {
			if n := r.Groups[g]; n > 0 {
				w(" %.2f |", mb(n))
			} else {
				w(" — |")
			}
		}
		w("\n")
	}
	w("| other (%d groups) |", len(groups)-len(shown))
	for _, r := range rows {
		var n int64
		for _, g := range groups[len(shown):] {
			n += r.Groups[g]
		}
		w(" %.2f |", mb(n))
	}
	w("\n| **all symbols** |")
	for _, r := range rows {
		w(" **%.2f** |", mb(r.Symbols))
	}
	w("\n| `.gopclntab` (function and line tables; grows with the code above) |")
	for _, r := range rows {
		w(" %.2f |", mb(r.Pclntab))
	}
	w("\n| rest of the sections (no sized symbol: type links, itabs, padding) |")
	for _, r := range rows {
		w(" %.2f |", mb(r.Sections-r.Symbols-r.Pclntab))
	}
	w("\n| stripped bootstrap (deployed) |")
	for _, r := range rows {
		found := false
		for _, f := range files {
			if f.Name == r.Name {
				w(" %.2f |", mb(f.Bytes))
				found = true
			}
		}
		if !found {
			w(" |")
		}
	}
	w("\n")
	return b.String()
}
