package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/sandbox"
)

// engineTestProvider is the engine's test provider: registered in test
// binaries only (connectors/all leaves it out), not a product provider, so
// it needs no doc, demo or row of the provider table.
const engineTestProvider = "fake"

// TestEveryProviderIsComplete walks the registries: every registered
// connector has a registered fake that builds from the uniform options,
// points the service at itself and takes part in the demo, a provider doc
// with its generated table, and a row in the end-to-end table. It names
// everything that is missing, for every provider at once.
func TestEveryProviderIsComplete(t *testing.T) {
	t.Parallel()
	var gaps []string
	names := map[string]bool{}
	for _, s := range connectors.Registered() {
		names[s.Name] = true
		if s.Name == engineTestProvider {
			continue
		}
		for _, g := range providerGaps(s) {
			gaps = append(gaps, s.Name+": "+g)
		}
	}
	for _, f := range sandbox.Registered() {
		if !names[f] {
			gaps = append(gaps, fmt.Sprintf("%s: a fake is registered but no connector (a fake registers under its connector's Spec.Name; "+
				"is the connector in connectors/all/all.go?)", f))
		}
	}
	require.Empty(t, gaps, "incomplete providers:\n  %s", strings.Join(gaps, "\n  "))
	require.NotEmpty(t, names)
}

// TestProviderGapsNamesWhatIsMissing shows what the walker says about a
// provider that has only its connector, and about one that is in neither
// all.go, whose fake lacks the demo hook and that has no doc and no row
// (the engine's test provider).
func TestProviderGapsNamesWhatIsMissing(t *testing.T) {
	t.Parallel()
	bare := &connectors.Spec{Name: "acme-chat", DisplayName: "Acme Chat", Kinds: []string{"message.posted"}}
	gaps := providerGaps(bare)
	require.Len(t, gaps, 3, "%q", gaps)
	require.Contains(t, gaps[0], `no fake: call sandbox.Register("acme-chat", …) in the init of sandbox/acmechat and add it to sandbox/all/all.go`)
	require.Contains(t, gaps[1], "docs/providers/acme-chat.md is missing: make generate writes a skeleton")
	require.Contains(t, gaps[2], `no end-to-end row: addProviderCase(providerCase{provider: "acme-chat", …}) in cmd/poblysh/e2e_acmechat_test.go`)

	var fake *connectors.Spec
	for _, s := range connectors.Registered() {
		if s.Name == engineTestProvider {
			fake = s
		}
	}
	require.NotNil(t, fake)
	gaps = providerGaps(fake)
	require.Len(t, gaps, 5, "%q", gaps)
	require.Equal(t, "connectors/all/all.go does not import github.com/poblysh/poblysh/connectors/fake", gaps[0])
	require.Equal(t, "sandbox/all/all.go does not import github.com/poblysh/poblysh/sandbox/fake", gaps[1])
	require.Contains(t, gaps[2], "the fake has no demo hook: implement sandbox.Demoer in sandbox/fake")
	require.Contains(t, gaps[3], "docs/providers/fake.md is missing")
	require.Contains(t, gaps[4], "no end-to-end row")
}

// providerGaps lists what a provider lacks besides its connector.
func providerGaps(s *connectors.Spec) []string {
	var gaps []string
	dir := strings.ReplaceAll(s.Name, "-", "")
	if s.New != nil {
		if c, err := s.New(connectors.Config{}); err == nil && !allImports("connectors", pkgOf(c)) {
			gaps = append(gaps, fmt.Sprintf("connectors/all/all.go does not import %s", pkgOf(c)))
		}
	}
	if !slices.Contains(sandbox.Registered(), s.Name) {
		gaps = append(gaps, fmt.Sprintf("no fake: call sandbox.Register(%q, …) in the init of sandbox/%s and add it to sandbox/all/all.go", s.Name, dir))
	} else {
		gaps = append(gaps, fakeGaps(s, dir)...)
	}

	path := filepath.Join("..", "..", "docs", "providers", s.Name+".md")
	switch doc, err := os.ReadFile(path); {
	case errors.Is(err, fs.ErrNotExist):
		gaps = append(gaps, fmt.Sprintf("docs/providers/%s.md is missing: make generate writes a skeleton to fill in", s.Name))
	case err != nil:
		gaps = append(gaps, fmt.Sprintf("docs/providers/%s.md: %v", s.Name, err))
	default:
		want, err := connectors.Splice(string(doc), connectors.ProviderDocBegin, connectors.ProviderDocEnd, connectors.ProviderTable(s))
		if err != nil {
			gaps = append(gaps, fmt.Sprintf("docs/providers/%s.md: %v", s.Name, err))
		} else if want != string(doc) {
			gaps = append(gaps, fmt.Sprintf("docs/providers/%s.md: the generated table is stale: run make generate", s.Name))
		}
	}

	if _, ok := providerCases[s.Name]; !ok {
		gaps = append(gaps, fmt.Sprintf("no end-to-end row: addProviderCase(providerCase{provider: %q, …}) in cmd/poblysh/e2e_%s_test.go", s.Name, dir))
	}
	return gaps
}

// fakeGaps checks a registered fake through the uniform interface: it
// builds from zero options and from a full set, its Env points the service
// at it (with the given client and webhook secret), it lists the tokens it
// issued, and its demo hook connects with a config the connector accepts.
func fakeGaps(s *connectors.Spec, dir string) []string {
	var gaps []string
	if _, err := sandbox.New(s.Name, sandbox.Options{}); err != nil {
		gaps = append(gaps, fmt.Sprintf("the fake does not build from zero options: %v", err))
	}
	if _, err := sandbox.New(s.Name, sandbox.Options{Faults: []string{"no-such-fault"}}); err == nil {
		gaps = append(gaps, "the fake accepts an unknown fault name (check them with sandbox.CheckFaults)")
	}
	f, err := sandbox.New(s.Name, sandbox.Options{ClientID: "walker-client", ClientSecret: "walker-secret",
		WebhookSecret: "walker-hook-secret", DeliverTo: "http://127.0.0.1:1", Seed: true})
	if err != nil {
		return append(gaps, fmt.Sprintf("the fake does not build with every option set: %v", err))
	}
	// Tests import fakes directly: check that the binary gets it too.
	if !allImports("sandbox", pkgOf(f)) {
		gaps = append(gaps, fmt.Sprintf("sandbox/all/all.go does not import %s", pkgOf(f)))
	}
	const base = "http://127.0.0.1:9"
	env := f.Env(base)
	prefix := "POBLYSH_" + s.EnvName() + "_"
	want := map[string]string{prefix + "CLIENT_ID": "walker-client", prefix + "CLIENT_SECRET": "walker-secret"}
	if slices.Contains(s.Capabilities, connectors.CapWebhook) && !s.WebhooksSignedWithClientSecret {
		want[prefix+"WEBHOOK_SECRET"] = "walker-hook-secret"
	}
	for k, v := range want {
		if env[k] != v {
			gaps = append(gaps, fmt.Sprintf("the fake's Env sets %s to %q, want the option's %q", k, env[k], v))
		}
	}
	for _, suffix := range []string{"AUTH_URL", "TOKEN_URL", "API_URL"} {
		if !strings.HasPrefix(env[prefix+suffix], base+"/") {
			gaps = append(gaps, fmt.Sprintf("the fake's Env does not point %s%s at the fake (got %q)", prefix, suffix, env[prefix+suffix]))
		}
	}
	for k := range env {
		if !strings.HasPrefix(k, prefix) {
			gaps = append(gaps, fmt.Sprintf("the fake's Env sets %s, outside %s*", k, prefix))
		}
	}
	if _, ok := f.(sandbox.Issuer); !ok {
		gaps = append(gaps, "the fake does not list the tokens it issued (sandbox.Issuer; embedding *sandbox.Base gives it)")
	}
	d, ok := f.(sandbox.Demoer)
	if !ok {
		return append(gaps, fmt.Sprintf("the fake has no demo hook: implement sandbox.Demoer in sandbox/%s so make demo connects it", dir))
	}
	demo := d.Demo()
	if demo.Activity == nil {
		gaps = append(gaps, "the demo hook has no Activity")
	}
	raw, err := json.Marshal(demo.Config)
	if err != nil {
		return append(gaps, fmt.Sprintf("the demo hook's Config does not encode: %v", err))
	}
	c, err := s.New(connectors.Config{})
	if err != nil {
		return append(gaps, fmt.Sprintf("the connector does not build unconfigured: %v", err))
	}
	if v, ok := c.(connectors.ConfigValidator); ok {
		if _, err := v.ValidateConfig(raw); err != nil {
			gaps = append(gaps, fmt.Sprintf("the connector refuses the demo hook's Config %s: %v", raw, err))
		}
	}
	return gaps
}

// pkgOf is the import path of the package that defines v's type.
func pkgOf(v any) string {
	t := reflect.TypeOf(v)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath()
}

// allImports reports whether <tree>/all/all.go imports pkg: the file the
// binary registers every connector (or fake) through.
func allImports(tree, pkg string) bool {
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "..", tree, "all", "all.go"), nil, parser.ImportsOnly)
	if err != nil {
		return false
	}
	for _, imp := range f.Imports {
		if p, err := strconv.Unquote(imp.Path.Value); err == nil && p == pkg {
			return true
		}
	}
	return false
}
