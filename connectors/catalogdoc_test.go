package connectors

import (
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite docs/signal-kinds.md from the kind catalog")

var signalKindsDoc = filepath.Join("..", "docs", "signal-kinds.md")

// actorless are the kinds whose example's provider does not say who caused
// it: their examples have no actor, as their Signals (Google Drive names no
// one who shared a file, nor who trashed a My Drive file, the example's).
var actorless = map[string]bool{"document.shared": true, "document.trashed": true}

// TestCatalogExamples checks every kind's example: it is a valid Signal of
// the kind for a provider declaring it, and its attributes are documented
// ones of the documented type.
func TestCatalogExamples(t *testing.T) {
	for _, kind := range KindNames() {
		t.Run(kind, func(t *testing.T) {
			k := Catalog[kind]
			providers := kindProviders(kind)
			require.NotEmpty(t, providers, "kind is in the architecture's kind table")
			spec := &Spec{Name: providers[0], Kinds: []string{kind}}
			s := Signal{
				Kind:       kind,
				OccurredAt: time.Date(2025, 6, 5, 13, 58, 42, 0, time.UTC),
				DedupeKey:  "example:" + kind,
				Payload:    k.Example,
			}
			require.NoError(t, ValidateSignal(spec, s))
			require.NotEmpty(t, k.Example.URL, "url")
			if actorless[kind] {
				require.Empty(t, k.Example.Actor, "actor")
			} else {
				require.NotEmpty(t, k.Example.Actor.ID, "actor.id")
			}

			// Check the attributes as a consumer reads them: through JSON.
			b, err := json.Marshal(k.Example)
			require.NoError(t, err)
			var decoded Payload
			require.NoError(t, json.Unmarshal(b, &decoded))
			documented := map[string]Attribute{}
			for _, a := range k.Attributes {
				documented[a.Name] = a
			}
			for name, v := range decoded.Attributes {
				a, ok := documented[name]
				require.True(t, ok, "attribute %q is not documented for %s", name, kind)
				require.True(t, hasType(a.Type, v), "attribute %q is %T (%v), documented as %s", name, v, v, a.Type)
			}
		})
	}
}

// hasType reports whether the JSON-decoded value v is of the catalog type typ.
func hasType(typ string, v any) bool {
	switch typ {
	case "string":
		_, ok := v.(string)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f)
	case "number":
		_, ok := v.(float64)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "timestamp":
		s, ok := v.(string)
		_, err := time.Parse(time.RFC3339, s)
		return ok && err == nil
	case "array":
		_, ok := v.([]any)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	}
	return false
}

// TestKindSourcesMatchCatalog checks that the kind table and the catalog
// name the same kinds, and that no example is left without a kind.
func TestKindSourcesMatchCatalog(t *testing.T) {
	var tabled []string
	for _, s := range kindSources {
		require.Regexp(t, `^[a-z][a-z0-9-]{1,31}$`, s.Provider)
		require.NotEmpty(t, s.Event)
		for _, k := range s.Kinds {
			require.Contains(t, Catalog, k, "provider %s", s.Provider)
			tabled = append(tabled, k)
		}
	}
	for _, k := range KindNames() {
		require.Contains(t, tabled, k, "kind %s is in no row of the kind table", k)
	}
	for k := range kindExamples {
		require.Contains(t, Catalog, k, "example of an unknown kind")
	}
	require.Equal(t, KindNames(), slices.Sorted(slices.Values(docKinds())), "the doc lists every kind once")
}

// TestSignalKindsDoc checks that docs/signal-kinds.md is what the catalog
// generates; -update rewrites it.
func TestSignalKindsDoc(t *testing.T) {
	want := CatalogMarkdown()
	require.Equal(t, want, CatalogMarkdown(), "deterministic")
	if *update {
		require.NoError(t, os.WriteFile(signalKindsDoc, []byte(want), 0o644))
	}
	got, err := os.ReadFile(signalKindsDoc)
	require.NoError(t, err, "generate it with: go test ./connectors -run TestSignalKindsDoc -update")
	require.Equal(t, want, string(got),
		"docs/signal-kinds.md is stale; regenerate it with: go test ./connectors -run TestSignalKindsDoc -update")
}
