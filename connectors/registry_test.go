package connectors_test

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	_ "github.com/poblysh/poblysh/connectors/all" // every real provider
	"github.com/poblysh/poblysh/connectors/fake"
)

func newConnector(connectors.Config) (connectors.Connector, error) { return nil, nil }

func TestMustRegisterPanicsOnProgrammerErrors(t *testing.T) {
	t.Parallel()
	ok := func() *connectors.Spec {
		return &connectors.Spec{Name: "never-registered", DisplayName: "X", Kinds: []string{"message.posted"}, New: newConnector}
	}
	cases := []struct {
		name   string
		spec   *connectors.Spec
		panics string
	}{
		{"nil", nil, "connectors: spec is nil"},
		{"no name", func() *connectors.Spec { s := ok(); s.Name = ""; return s }(), "connectors: spec name is empty"},
		{"no constructor", func() *connectors.Spec { s := ok(); s.New = nil; return s }(), "connectors: provider never-registered has no constructor"},
		{"no display name", func() *connectors.Spec { s := ok(); s.DisplayName = ""; return s }(), "connectors: provider never-registered has no display name"},
		{"no kinds", func() *connectors.Spec { s := ok(); s.Kinds = nil; return s }(), "connectors: provider never-registered declares no signal kinds"},
		{"unknown kind", func() *connectors.Spec { s := ok(); s.Kinds = []string{"message.posted", "tweet.sent"}; return s }(),
			`connectors: provider never-registered declares kind "tweet.sent" missing from the catalog`},
		{"revokes the replaced token of a grant per client", func() *connectors.Spec {
			s := ok()
			s.GrantPerClient, s.RevokeReplacedToken = true, true
			return s
		}(), "connectors: provider never-registered revokes replaced tokens, but a revocation ends its whole grant (GrantPerClient)"},
		{"duplicate", fake.Spec, "connectors: MustRegister called twice for provider fake"},
	}
	before := connectors.Registered()
	for _, tc := range cases {
		require.PanicsWithValue(t, tc.panics, func() { connectors.MustRegister(tc.spec) }, tc.name)
	}
	require.Equal(t, before, connectors.Registered(), "a rejected spec is not registered")
	_, err := connectors.Build([]*connectors.Spec{ok(), func() *connectors.Spec { s := ok(); s.Kinds = []string{"nope"}; return s }()},
		func(string) string { return "" }, "http://127.0.0.1", false)
	require.ErrorContains(t, err, `declares kind "nope" missing from the catalog`, "Build checks specs it was handed directly")
}

// TestCatalogExamplesHaveAProvider: every kind's catalog example is written
// for a registered provider, whose conformance suite compares it with its
// normalizer's output (connectortest, Env.Examples).
func TestCatalogExamplesHaveAProvider(t *testing.T) {
	t.Parallel()
	var covered []string
	for _, s := range connectors.Registered() {
		covered = append(covered, connectors.ExampleKinds(s.Name)...)
	}
	require.ElementsMatch(t, connectors.KindNames(), covered)
}

var providerName = regexp.MustCompile(`^[a-z][a-z0-9-]{1,31}$`)

// TestRegisteredProvidersAreComplete walks the registry (every real
// provider plus the engine's fake) and checks each spec is complete, each
// declared kind is in the catalog, and each builds with an empty
// environment and again with full credentials.
func TestRegisteredProvidersAreComplete(t *testing.T) {
	t.Parallel()
	specs := connectors.Registered()
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	require.True(t, slices.IsSorted(names))
	require.Subset(t, names, []string{"fake", "github", "google-calendar", "slack"})

	for _, s := range specs {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			require.Regexp(t, providerName, s.Name, "the name is the path segment and Signal source")
			require.NotEmpty(t, s.DisplayName)
			require.NotEmpty(t, s.Description)
			require.NotEmpty(t, s.ConfigHelp, "the docs show how to configure a connection")
			require.NotNil(t, s.New)
			require.NotEmpty(t, s.Kinds)
			for _, k := range s.Kinds {
				info, ok := connectors.Catalog[k]
				require.True(t, ok, "kind %q is not in the catalog", k)
				require.NotEmpty(t, info.Description)
			}
			require.Len(t, slices.Compact(slices.Sorted(slices.Values(s.Kinds))), len(s.Kinds), "kinds are unique")
			require.NotEmpty(t, s.Capabilities)
			for _, c := range s.Capabilities {
				require.Contains(t, []connectors.Capability{connectors.CapWebhook, connectors.CapPoll, connectors.CapBackfill}, c)
			}
			for what, u := range map[string]string{"auth": s.Defaults.AuthURL, "token": s.Defaults.TokenURL, "api": s.Defaults.APIURL} {
				p, err := url.Parse(u)
				require.NoError(t, err)
				require.Equal(t, "https", p.Scheme, "%s URL %q must point at the real provider", what, u)
				require.NotEmpty(t, p.Host)
			}
			require.Greater(t, float64(s.Policy.Rate), 0.0)
			require.Greater(t, s.Policy.Burst, 0)
			require.Greater(t, s.Policy.PollInterval.Seconds(), 0.0)
			require.GreaterOrEqual(t, s.Policy.PollInterval, s.Policy.MinPollInterval)
			if s.Policy.Token.Expires {
				require.Greater(t, s.Policy.Token.RefreshBefore.Seconds(), 0.0)
			}

			// Builds unconfigured (the service starts with any subset of
			// providers configured) and configured.
			for _, env := range []map[string]string{{}, {
				"POBLYSH_" + s.EnvName() + "_CLIENT_ID": "id", "POBLYSH_" + s.EnvName() + "_CLIENT_SECRET": "secret",
				"POBLYSH_" + s.EnvName() + "_WEBHOOK_SECRET": "hook",
			}} {
				reg, err := connectors.Build([]*connectors.Spec{s}, func(k string) string { return env[k] }, "https://connectors.example.com", true)
				require.NoError(t, err)
				p, ok := reg.Get(s.Name)
				require.True(t, ok)
				require.Same(t, s, p.Connector.Spec(), "the connector returns its registered spec")
				require.Equal(t, len(env) > 0, p.Configured())
				_, isAuth := p.Connector.(connectors.Authorizer)
				require.True(t, isAuth, "every provider connects with OAuth")
				_, isSync := p.Connector.(connectors.Syncer)
				_, isHook := p.Connector.(connectors.WebhookReceiver)
				require.Equal(t, slices.Contains(s.Capabilities, connectors.CapBackfill) || slices.Contains(s.Capabilities, connectors.CapPoll), isSync,
					"backfill/poll capability iff Syncer")
				if slices.Contains(s.Capabilities, connectors.CapWebhook) {
					require.True(t, isHook, "webhook capability needs a WebhookReceiver")
				}
			}
		})
	}
}

func TestRegistryLookups(t *testing.T) {
	t.Parallel()
	reg, err := connectors.Build(connectors.Registered(), func(string) string { return "" }, "http://127.0.0.1:8080", false)
	require.NoError(t, err)
	require.Len(t, reg.Providers(), len(connectors.Registered()))
	require.Equal(t, reg.Names(), func() []string {
		var out []string
		for _, p := range reg.Providers() {
			out = append(out, p.Spec.Name)
		}
		return out
	}())
	_, ok := reg.Get("gitlab")
	require.False(t, ok)
	names := reg.Names()
	names[0] = "mutated"
	require.NotEqual(t, "mutated", reg.Names()[0], "Names returns a copy")

	// A bad provider setting fails Build with the variable's name.
	_, err = connectors.Build(connectors.Registered(), func(k string) string {
		if k == "POBLYSH_FAKE_PAGE_SIZE" {
			return "0"
		}
		return ""
	}, "http://127.0.0.1:8080", false)
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "POBLYSH_FAKE_PAGE_SIZE"), fmt.Sprint(err))
}

// TestGrantSharers: Google's three connectors share one grant per account
// when they use the same OAuth client (POBLYSH_GOOGLE_CLIENT_ID); one with
// a client of its own, and providers whose tokens are their own, share
// nothing.
func TestGrantSharers(t *testing.T) {
	env := map[string]string{"POBLYSH_GOOGLE_CLIENT_ID": "shared.apps.googleusercontent.com", "POBLYSH_GOOGLE_CLIENT_SECRET": "s",
		"POBLYSH_GITHUB_CLIENT_ID": "gh", "POBLYSH_GITHUB_CLIENT_SECRET": "s"}
	load := func(env map[string]string) *connectors.Registry {
		r, err := connectors.Build(connectors.Registered(), func(k string) string { return env[k] }, "https://poblysh.example", true)
		require.NoError(t, err)
		return r
	}
	r := load(env)
	get := func(r *connectors.Registry, name string) *connectors.Provider {
		p, ok := r.Get(name)
		require.True(t, ok, name)
		return p
	}
	require.Equal(t, []string{"gmail", "google-calendar", "google-drive"}, r.GrantSharers(get(r, "google-drive")))
	require.Nil(t, r.GrantSharers(get(r, "github")))

	env["POBLYSH_GMAIL_CLIENT_ID"] = "mail-only.apps.googleusercontent.com"
	r = load(env)
	require.Equal(t, []string{"google-calendar", "google-drive"}, r.GrantSharers(get(r, "google-calendar")))
	require.Equal(t, []string{"gmail"}, r.GrantSharers(get(r, "gmail")))
}

// A channel life a provider is configured to ask for (Google's
// CHANNEL_TTL, which accepts a minute) shorter than three renewal sweep
// intervals is refused, naming the setting (the fallback prefix's when
// that is what is set) and POBLYSH_RENEWAL_INTERVAL: the sweep could not
// see such a channel twice before it expires (an hour-long channel under
// the default 30 m sweep was first seen after it had expired).
func TestCheckChannelLives(t *testing.T) {
	t.Parallel()
	check := func(env map[string]string, interval time.Duration) error {
		reg, err := connectors.Build(connectors.Registered(), func(k string) string { return env[k] }, "https://connectors.example.com", true)
		require.NoError(t, err)
		return reg.CheckChannelLives(interval, "POBLYSH_RENEWAL_INTERVAL")
	}
	require.NoError(t, check(nil, 12*time.Hour), "the defaults (a week) under the longest sweep interval")
	require.NoError(t, check(map[string]string{"POBLYSH_GOOGLE_CALENDAR_CHANNEL_TTL": "90m", "POBLYSH_GOOGLE_DRIVE_CHANNEL_TTL": "5400"}, 30*time.Minute))
	for _, tc := range []struct {
		env      map[string]string
		interval time.Duration
		want     string
	}{
		{map[string]string{"POBLYSH_GOOGLE_CALENDAR_CHANNEL_TTL": "1h"}, 30 * time.Minute,
			"POBLYSH_GOOGLE_CALENDAR_CHANNEL_TTL (1h) must be at least 3 × POBLYSH_RENEWAL_INTERVAL (30m), 1h30m, for two renewal sweeps to see each channel before it expires; "},
		{map[string]string{"POBLYSH_GOOGLE_DRIVE_CHANNEL_TTL": "86400"}, 12 * time.Hour,
			"POBLYSH_GOOGLE_DRIVE_CHANNEL_TTL (24h) must be at least 3 × POBLYSH_RENEWAL_INTERVAL (12h), 36h, "},
		{map[string]string{"POBLYSH_GOOGLE_CHANNEL_TTL": "1m"}, time.Minute,
			"POBLYSH_GOOGLE_CHANNEL_TTL (1m) must be at least 3 × POBLYSH_RENEWAL_INTERVAL (1m), 3m, "},
	} {
		err := check(tc.env, tc.interval)
		require.ErrorContains(t, err, tc.want)
		require.ErrorContains(t, err, "or shorten POBLYSH_RENEWAL_INTERVAL")
	}
}
