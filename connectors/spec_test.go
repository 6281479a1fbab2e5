package connectors_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
)

// calendarSpec has the shape of the Google connectors: a hyphenated name
// and a shared fallback prefix.
var calendarSpec = &connectors.Spec{
	Name: "google-calendar", EnvFallback: "GOOGLE",
	Defaults: connectors.Endpoints{
		AuthURL: "https://accounts.example.com/o/oauth2/auth", TokenURL: "https://oauth2.example.com/token",
		APIURL: "https://www.example.com/calendar/v3", RevokeURL: "https://oauth2.example.com/revoke",
	},
}

func TestEnvName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{"google-calendar": "GOOGLE_CALENDAR", "github": "GITHUB", "zoho-cliq": "ZOHO_CLIQ"} {
		require.Equal(t, want, (&connectors.Spec{Name: name}).EnvName())
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	load := func(env map[string]string) (connectors.Config, error) {
		return connectors.LoadConfig(calendarSpec, func(k string) string { return env[k] }, "https://connectors.example.com/", true)
	}

	t.Run("defaults", func(t *testing.T) {
		c, err := load(nil)
		require.NoError(t, err)
		require.False(t, c.Configured())
		require.Equal(t, calendarSpec.Defaults.AuthURL, c.Endpoints.AuthURL)
		require.Equal(t, calendarSpec.Defaults.TokenURL, c.Endpoints.TokenURL)
		require.Equal(t, "https://www.example.com/calendar/v3/", c.Endpoints.APIURL, "the API root always ends with a slash")
		require.Equal(t, calendarSpec.Defaults.RevokeURL, c.Endpoints.RevokeURL)
		require.Equal(t, "https://connectors.example.com", c.PublicURL)
		require.True(t, c.PublicURLSet)
		require.Equal(t, "https://connectors.example.com/api/v1/connect/google-calendar/callback", c.CallbackURL("google-calendar"))
		require.Equal(t, "https://connectors.example.com/api/v1/webhooks/google-calendar", c.WebhookURL("google-calendar"))
		require.Empty(t, c.Setting("ANYTHING"))
	})

	t.Run("fallback prefix", func(t *testing.T) {
		c, err := load(map[string]string{
			"POBLYSH_GOOGLE_CLIENT_ID": "shared-id", "POBLYSH_GOOGLE_CLIENT_SECRET": "shared-secret",
			"POBLYSH_GOOGLE_TOKEN_URL": "http://127.0.0.1:9999/token", "POBLYSH_GOOGLE_PAGE_SIZE": "50",
		})
		require.NoError(t, err)
		require.True(t, c.Configured())
		require.Equal(t, "shared-id", c.ClientID)
		require.Equal(t, "shared-secret", c.ClientSecret)
		require.Equal(t, "http://127.0.0.1:9999/token", c.Endpoints.TokenURL)
		require.Equal(t, calendarSpec.Defaults.AuthURL, c.Endpoints.AuthURL)
		require.Equal(t, "50", c.Setting("PAGE_SIZE"))
	})

	t.Run("the provider's own variables win", func(t *testing.T) {
		c, err := load(map[string]string{
			"POBLYSH_GOOGLE_CLIENT_ID": "shared-id", "POBLYSH_GOOGLE_CALENDAR_CLIENT_ID": "calendar-id",
			"POBLYSH_GOOGLE_CLIENT_SECRET": "shared-secret", "POBLYSH_GOOGLE_CALENDAR_WEBHOOK_SECRET": "hook",
			"POBLYSH_GOOGLE_API_URL": "http://shared.example.com/", "POBLYSH_GOOGLE_CALENDAR_API_URL": "http://127.0.0.1:8080/calendar",
			"POBLYSH_GOOGLE_PAGE_SIZE": "50", "POBLYSH_GOOGLE_CALENDAR_PAGE_SIZE": "7",
		})
		require.NoError(t, err)
		require.Equal(t, "calendar-id", c.ClientID)
		require.Equal(t, "shared-secret", c.ClientSecret, "each variable falls back on its own")
		require.Equal(t, "hook", c.WebhookSecret)
		require.Equal(t, "http://127.0.0.1:8080/calendar/", c.Endpoints.APIURL)
		require.Equal(t, "7", c.Setting("PAGE_SIZE"))
	})

	t.Run("only one credential is not configured", func(t *testing.T) {
		c, err := load(map[string]string{"POBLYSH_GOOGLE_CALENDAR_CLIENT_ID": "id"})
		require.NoError(t, err)
		require.False(t, c.Configured())
	})

	t.Run("URLs must be absolute http(s)", func(t *testing.T) {
		for _, tc := range []struct{ name, value string }{
			{"POBLYSH_GOOGLE_CALENDAR_API_URL", "not-a-url"},
			{"POBLYSH_GOOGLE_CALENDAR_AUTH_URL", "ftp://accounts.example.com/auth"},
			{"POBLYSH_GOOGLE_CALENDAR_REVOKE_URL", "/relative/revoke"},
			{"POBLYSH_GOOGLE_CALENDAR_TOKEN_URL", "https://"},
			{"POBLYSH_GOOGLE_TOKEN_URL", "localhost:8080/token"}, // named as read: the fallback
		} {
			_, err := load(map[string]string{tc.name: tc.value})
			require.EqualError(t, err, tc.name+": must be an absolute http(s) URL", tc.value)
		}
	})

	t.Run("WithSettings", func(t *testing.T) {
		c, err := load(nil)
		require.NoError(t, err)
		c2 := c.WithSettings(map[string]string{"PAGE_SIZE": "3"})
		require.Equal(t, "3", c2.Setting("PAGE_SIZE"))
		require.Empty(t, c.Setting("PAGE_SIZE"), "the original is unchanged")
	})
}

// SettingVars names every variable a setting may be read from, the one
// Setting reads first: an error that asks for the setting names each
// (SettingVar names only the one that was read, or the provider's own).
func TestSettingVars(t *testing.T) {
	t.Parallel()
	spec := &connectors.Spec{Name: "zoho-cliq", EnvFallback: "ZOHO", Settings: []connectors.Setting{{Suffix: "PACE", Own: true}}}
	c, err := connectors.LoadConfig(spec, func(string) string { return "" }, "https://connectors.example.com", true)
	require.NoError(t, err)
	require.Equal(t, []string{"POBLYSH_ZOHO_CLIQ_PUBLIC_KEY", "POBLYSH_ZOHO_PUBLIC_KEY"}, c.SettingVars("PUBLIC_KEY"))
	require.Equal(t, []string{"POBLYSH_ZOHO_CLIQ_PACE"}, c.SettingVars("PACE"), "read from the provider's own variable only")
	c, err = connectors.LoadConfig(&connectors.Spec{Name: "github"}, func(string) string { return "" }, "https://connectors.example.com", true)
	require.NoError(t, err)
	require.Equal(t, []string{"POBLYSH_GITHUB_SCOPES"}, c.SettingVars("SCOPES"), "no fallback prefix")
	require.Equal(t, []string{"PAGE_SIZE"}, connectors.Config{}.SettingVars("PAGE_SIZE"), "a Config not loaded: the suffix alone")
}

// TestLoadConfigNoFallback: a setting marked NoFallback reads the
// provider's own variable only. The shared one, which the other providers
// of the prefix read as theirs, neither fills it nor stops the start (as
// Own would): the start is told, once, that this provider ignores it, by
// name and never by value.
func TestLoadConfigNoFallback(t *testing.T) {
	t.Parallel()
	spec := &connectors.Spec{Name: "gmail", EnvFallback: "GOOGLE", Defaults: calendarSpec.Defaults,
		Settings: []connectors.Setting{{Suffix: "WEBHOOK_SECRET", NoFallback: true}, {Suffix: "PUSH_AUDIENCE"}}}
	load := func(env map[string]string) connectors.Config {
		c, err := connectors.LoadConfig(spec, func(k string) string { return env[k] }, "https://connectors.example.com", true)
		require.NoError(t, err, "the shared variable is not refused")
		return c
	}
	reg := func(c connectors.Config) *connectors.Registry {
		return connectors.NewRegistry(&connectors.Provider{Spec: spec, Config: c})
	}

	c := load(map[string]string{"POBLYSH_GOOGLE_WEBHOOK_SECRET": "shared-hunter2", "POBLYSH_GOOGLE_PUSH_AUDIENCE": "aud", "POBLYSH_GOOGLE_CLIENT_ID": "id"})
	require.Empty(t, c.WebhookSecret, "the shared secret is the other providers'")
	require.Empty(t, c.Setting("WEBHOOK_SECRET"))
	require.Equal(t, "POBLYSH_GMAIL_WEBHOOK_SECRET", c.SettingVar("WEBHOOK_SECRET"))
	require.Equal(t, "aud", c.Setting("PUSH_AUDIENCE"), "other settings still fall back")
	require.Equal(t, "id", c.ClientID)
	require.Equal(t, []string{"POBLYSH_GOOGLE_WEBHOOK_SECRET is not read by gmail: it reads WEBHOOK_SECRET from POBLYSH_GMAIL_WEBHOOK_SECRET only"},
		reg(c).Notices())

	c = load(map[string]string{"POBLYSH_GOOGLE_WEBHOOK_SECRET": "shared-hunter2", "POBLYSH_GMAIL_WEBHOOK_SECRET": "mine"})
	require.Equal(t, "mine", c.WebhookSecret)
	require.Len(t, reg(c).Notices(), 1, "said also when the provider's own is set")

	c = load(map[string]string{"POBLYSH_GMAIL_WEBHOOK_SECRET": "mine"})
	require.Equal(t, "mine", c.WebhookSecret)
	require.Empty(t, reg(c).Notices(), "nothing to say without the shared variable")
	require.Equal(t, []string{"POBLYSH_GMAIL_WEBHOOK_SECRET"}, c.SettingVars("WEBHOOK_SECRET"), "the shared one is not among them")
}
