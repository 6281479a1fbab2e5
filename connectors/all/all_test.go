package all_test

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	_ "github.com/poblysh/poblysh/connectors/all"
)

var update = flag.Bool("update", false, "rewrite the generated parts of docs/providers/*.md and README.md (make generate)")

var root = filepath.Join("..", "..")

// TestProviderDocs checks that every registered provider has
// docs/providers/<name>.md holding the table its Spec generates, and that
// README.md's provider index lists them all; -update (make generate)
// rewrites both, and creates a skeleton doc for a provider without one.
func TestProviderDocs(t *testing.T) {
	specs := connectors.Registered()
	require.NotEmpty(t, specs)
	for _, s := range specs {
		path := filepath.Join(root, "docs", "providers", s.Name+".md")
		doc, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) && *update {
			require.NoError(t, os.WriteFile(path, []byte(connectors.ProviderDocSkeleton(s)), 0o644))
			continue
		}
		require.NoError(t, err, "docs/providers/%s.md is missing: make generate writes a skeleton to fill in", s.Name)
		want, err := connectors.Splice(string(doc), connectors.ProviderDocBegin, connectors.ProviderDocEnd, connectors.ProviderTable(s))
		require.NoError(t, err, "docs/providers/%s.md", s.Name)
		writeOrCompare(t, path, string(doc), want)
	}

	path := filepath.Join(root, "README.md")
	doc, err := os.ReadFile(path)
	require.NoError(t, err)
	want, err := connectors.Splice(string(doc), connectors.ProviderIndexBegin, connectors.ProviderIndexEnd, connectors.ProviderIndex(specs))
	require.NoError(t, err, "README.md")
	writeOrCompare(t, path, string(doc), want)
}

func writeOrCompare(t *testing.T, path, got, want string) {
	t.Helper()
	if *update {
		if got != want {
			require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
		}
		return
	}
	require.Equal(t, want, got, "%s is stale: run make generate", path)
}

// TestProviderSettingsDocumented builds every registered provider with a
// recording environment and checks that each POBLYSH_<NAME>_* variable it
// reads is in its generated table (the common ones, or Spec.Settings), so
// that a new setting cannot go undocumented.
func TestProviderSettingsDocumented(t *testing.T) {
	for _, s := range connectors.Registered() {
		t.Run(s.Name, func(t *testing.T) {
			var mu sync.Mutex
			read := map[string]bool{}
			getenv := func(k string) string {
				mu.Lock()
				read[k] = true
				mu.Unlock()
				return ""
			}
			_, err := connectors.Build([]*connectors.Spec{s}, getenv, "https://connectors.example.com", true)
			require.NoError(t, err)
			var documented []string
			for _, st := range connectors.EnvSettings(s) {
				require.NotEmpty(t, st.Description, "POBLYSH_%s_%s has no description", s.EnvName(), st.Suffix)
				documented = append(documented, st.Suffix)
			}
			require.Len(t, slices.Compact(slices.Sorted(slices.Values(documented))), len(documented), "each setting once")
			prefixes := []string{"POBLYSH_" + s.EnvName() + "_"}
			if s.EnvFallback != "" {
				prefixes = append(prefixes, "POBLYSH_"+s.EnvFallback+"_")
			}
			var undocumented []string
			for k := range read {
				// The own prefix first: POBLYSH_GOOGLE_ is a prefix of
				// POBLYSH_GOOGLE_CALENDAR_ too.
				for _, p := range prefixes {
					if suffix, ok := strings.CutPrefix(k, p); ok {
						if !slices.Contains(documented, suffix) {
							undocumented = append(undocumented, k)
						}
						break
					}
				}
			}
			slices.Sort(undocumented)
			require.Empty(t, undocumented, "read but not documented: add them to the Spec's Settings")
			require.Contains(t, read, "POBLYSH_"+s.EnvName()+"_CLIENT_ID", "the recording environment sees what Build reads")
		})
	}
}

// TestExpiringTokensRefreshOnDemand: every registered provider whose access
// tokens expire has them refreshed when a call needs one, not ahead by the
// hourly sweep, which cost an idle connection with hour-long tokens 24
// refresh workflows a day (docs/decisions.md); the sweep keeps only idle
// refresh tokens alive.
func TestExpiringTokensRefreshOnDemand(t *testing.T) {
	var expiring []string
	for _, s := range connectors.Registered() {
		tok := s.Policy.Token
		if !tok.Expires {
			continue
		}
		expiring = append(expiring, s.Name)
		require.True(t, tok.OnDemand, "%s: access tokens expire and are refreshed ahead by the sweep", s.Name)
	}
	require.Subset(t, expiring, []string{"github", "gmail", "google-calendar", "google-drive", "jira", "slack", "zoho-cliq", "zoho-mail"})
}
