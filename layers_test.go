package poblysh_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/poblysh/poblysh"

// layers is what each package of the service may import from this module
// (docs/architecture.md explains it): imports point inward, adapters reach
// Temporal through small interfaces, and only cmd wires everything.
// Packages not listed here fail TestImportsPointInward until they are.
var layers = map[string][]string{
	".":                       {},
	"connectors":              {"metrics"},
	"db":                      {".", "vault"},
	"db/dbtest":               {"db", "vault"},
	"ingest":                  {"connectors", "db", "metrics"},
	"lifecycle":               {".", "connectors", "db", "vault"},
	"lifecycle/lifecycletest": {".", "db"},
	"webhook":                 {".", "connectors", "db", "ingest", "metrics", "vault"},
	"activities":              {".", "connectors", "db", "ingest", "lifecycle", "metrics", "vault"},
	"workflows":               {".", "activities"},
	"engine":                  {".", "activities", "connectors", "db", "lifecycle", "logging", "workflows"},
	"api":                     {".", "api/docui", "connectors", "db", "engine", "lifecycle", "metrics", "webhook"},
	"api/docui":               {},
	"config":                  {"vault"},
	"logging":                 {},
	"metrics":                 {},
	"vault":                   {},
	"testenv":                 {},
	"sandbox":                 {},
	"gen":                     {},
	"connectors/*":            {"connectors", "connectors/*"}, // a provider: the framework (and its helpers) only
	"sandbox/*":               {"sandbox", "sandbox/*"},       // fakes of providers: each other at most
	"gen/*":                   {"gen/*"},
	"cmd/*":                   {"*"},
}

// exceptions are the packages with rules of their own.
var exceptions = map[string][]string{
	"connectors/all":           {"connectors/*"},
	"connectors/fake":          {"connectors", "sandbox/fake"}, // the engine's test provider ships its sandbox
	"connectors/connectortest": {"connectors", "sandbox"},
}

func allowed(pkg string) ([]string, bool) {
	if a, ok := exceptions[pkg]; ok {
		return a, true
	}
	if a, ok := layers[pkg]; ok {
		return a, true
	}
	for _, prefix := range []string{"connectors", "sandbox", "gen", "cmd"} {
		if strings.HasPrefix(pkg, prefix+"/") {
			return layers[prefix+"/*"], true
		}
	}
	return nil, false
}

func permits(rules []string, imp string) bool {
	for _, r := range rules {
		if r == "*" || r == imp || strings.HasSuffix(r, "/*") && strings.HasPrefix(imp, strings.TrimSuffix(r, "*")) {
			return true
		}
	}
	return false
}

// TestImportsPointInward walks every package of the module and checks its
// production files import only what its layer may.
func TestImportsPointInward(t *testing.T) {
	imports := map[string][]string{} // package dir → module imports
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		if _, ok := imports[dir]; !ok {
			imports[dir] = nil
		}
		for _, s := range f.Imports {
			p := strings.Trim(s.Path.Value, `"`)
			switch {
			case p == module:
				imports[dir] = append(imports[dir], ".")
			case strings.HasPrefix(p, module+"/"):
				imports[dir] = append(imports[dir], strings.TrimPrefix(p, module+"/"))
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.Contains(t, imports, "lifecycle", "the walk must see the module")
	for dir, imps := range imports {
		rules, ok := allowed(dir)
		if !assertf(t, ok, "package %s has no layer: add it to layers in layers_test.go and to docs/architecture.md", dir) {
			continue
		}
		slices.Sort(imps)
		for _, imp := range slices.Compact(imps) {
			assertf(t, permits(rules, imp), "package %s imports %s, which its layer may not (layers_test.go, docs/architecture.md)", dir, imp)
		}
	}
}

func assertf(t *testing.T, ok bool, format string, args ...any) bool {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
	return ok
}
