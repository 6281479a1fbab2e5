package connectors

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

// docSpec is a provider as a new one would be declared: a fallback prefix,
// a common variable re-described, a setting of its own, no webhooks.
func docSpec() *Spec {
	return &Spec{
		Name: "zoho-mail", DisplayName: "Zoho Mail", Description: "Mail | messages.",
		Kinds: []string{"email.received"}, Capabilities: []Capability{CapPoll, CapBackfill},
		EnvFallback: "ZOHO",
		Defaults:    Endpoints{AuthURL: "https://accounts.zoho.com/oauth/v2/auth", TokenURL: "https://accounts.zoho.com/oauth/v2/token", APIURL: "https://mail.zoho.com/api/"},
		Scopes:      []string{"ZohoMail.messages.READ"},
		Policy: Policy{Rate: rate.Limit(30.0 / 60.0), Burst: 3, PollInterval: 10 * time.Minute, MinPollInterval: time.Minute,
			Token: TokenPolicy{Expires: true, RefreshBefore: 5 * time.Minute, KeepAliveAfter: 30 * 24 * time.Hour}},
		ConfigHelp:   `{"folders": ["Inbox"]}: the folders to read.`,
		ConfigFields: []ConfigField{{Name: "folders", Type: "array of strings", Required: true, Description: "Folder names."}},
		Settings: []Setting{
			{Suffix: "API_URL", Description: "the data centre's API root (`https://mail.zoho.eu/api/` in the EU)"},
			{Suffix: "PAGE_SIZE", Default: "200", Description: "messages per page"},
		},
	}
}

func TestProviderTable(t *testing.T) {
	t.Parallel()
	got := ProviderTable(docSpec())
	for _, want := range []string{
		"| Provider name | `zoho-mail` (path segment and Signal `source`) |",
		"| Description | Mail \\| messages. |",
		"[`email.received`](../signal-kinds.md#emailreceived)",
		"| Capabilities | `poll`, `backfill` |",
		"| OAuth callback URL | `<POBLYSH_PUBLIC_URL>/api/v1/connect/zoho-mail/callback` |",
		"refreshed 5m before expiry; an idle refresh token (a paused connection's too) is refreshed after 30d",
		"| Pacing | 30 requests/min per account, bursts of 3 |",
		"polls every 10m; a connection may not poll more often than every 1m |",
		"falls back to `POBLYSH_ZOHO_<SETTING>` (shared by the Zoho providers)",
		"| `POBLYSH_ZOHO_MAIL_AUTH_URL` | `https://accounts.zoho.com/oauth/v2/auth` | authorization endpoint",
		"| `POBLYSH_ZOHO_MAIL_API_URL` | `https://mail.zoho.com/api/` | the data centre's API root (`https://mail.zoho.eu/api/` in the EU) |",
		"| `POBLYSH_ZOHO_MAIL_REVOKE_URL` | — (none) |",
		"| `POBLYSH_ZOHO_MAIL_WEBHOOK_SECRET` | — | not used: the provider pushes nothing |",
		"| `POBLYSH_ZOHO_MAIL_PAGE_SIZE` | 200 | messages per page |",
		"**Connection config.** `{\"folders\": [\"Inbox\"]}`: the folders to read.",
		"| `folders` | array of strings | yes | Folder names. |",
	} {
		require.Contains(t, got, want)
	}
	require.NotContains(t, got, "Webhook URL", "no webhook capability, no webhook URL")
	require.NotContains(t, got, "API root the provider's paths hang from", "a Setting replaces the generic description")
	require.NotContains(t, got, "One tenant per account")
	require.Equal(t, 1, strings.Count(got, "POBLYSH_ZOHO_MAIL_API_URL"), "a re-described variable is listed once")
	require.Equal(t, got, ProviderTable(docSpec()), "deterministic")

	env := EnvSettings(docSpec())
	var order []string
	for _, s := range env {
		order = append(order, s.Suffix)
	}
	require.Equal(t, []string{"CLIENT_ID", "CLIENT_SECRET", "WEBHOOK_SECRET", "AUTH_URL", "TOKEN_URL", "API_URL", "REVOKE_URL", "PAGE_SIZE"}, order)
}

func TestProviderIndex(t *testing.T) {
	t.Parallel()
	got := ProviderIndex([]*Spec{docSpec()})
	require.Equal(t, "| Provider | Name | Kinds | Scopes | Config fields | Guide |\n|---|---|---|---|---|---|\n"+
		"| Zoho Mail | `zoho-mail` | [`email.received`](docs/signal-kinds.md#emailreceived) | `ZohoMail.messages.READ` | `folders` | "+
		"[docs/providers/zoho-mail.md](docs/providers/zoho-mail.md) |\n", got)
}

func TestSplice(t *testing.T) {
	t.Parallel()
	const b, e = "<!-- B -->", "<!-- E -->"
	doc := "# Title\n\nbefore\n\n" + b + "\nold\ntable\n" + e + "\n\nafter\n"
	got, err := Splice(doc, b, e, "new\n")
	require.NoError(t, err)
	require.Equal(t, "# Title\n\nbefore\n\n"+b+"\n\nnew\n\n"+e+"\n\nafter\n", got)
	again, err := Splice(got, b, e, "new")
	require.NoError(t, err)
	require.Equal(t, got, again, "splicing the same body changes nothing")

	for name, bad := range map[string]string{
		"no markers":    "# Title\n",
		"no end":        b + "\n",
		"reversed":      e + "\n" + b + "\n",
		"begin twice":   b + "\n" + b + "\n" + e + "\n",
		"end twice":     b + "\n" + e + "\n" + e + "\n",
		"only the end":  e + "\n",
		"only a prefix": "<!-- B\n",
	} {
		_, err := Splice(bad, b, e, "x")
		require.Error(t, err, name)
		require.Contains(t, err.Error(), b, name)
	}
}

func TestProviderDocSkeleton(t *testing.T) {
	t.Parallel()
	doc := ProviderDocSkeleton(docSpec())
	require.True(t, strings.HasPrefix(doc, "# Zoho Mail\n\nPackage `connectors/zohomail`; local fake `sandbox/zohomail`.\n"))
	require.Contains(t, doc, ProviderDocBegin+"\n\n"+strings.TrimSuffix(ProviderTable(docSpec()), "\n")+"\n\n"+ProviderDocEnd)
	spliced, err := Splice(doc, ProviderDocBegin, ProviderDocEnd, ProviderTable(docSpec()))
	require.NoError(t, err)
	require.Equal(t, doc, spliced, "a new doc is already up to date")
	for _, section := range []string{"## Configuration", "## Connecting Zoho Mail for real", "## Streams and cursors", "## Sandbox"} {
		require.Contains(t, doc, section)
	}
}

func TestDocUnits(t *testing.T) {
	t.Parallel()
	for r, want := range map[rate.Limit]string{
		rate.Limit(8):              "8 requests/s",
		rate.Limit(50.0 / 60.0):    "50 requests/min",
		rate.Limit(5000.0 / 3600.): "5000 requests/h",
		rate.Limit(0.123456):       "0.123 requests/s",
	} {
		require.Equal(t, want, rateText(r))
	}
	for d, want := range map[time.Duration]string{
		15 * time.Minute: "15m", 6 * time.Hour: "6h", 90 * time.Minute: "1h30m", 30 * 24 * time.Hour: "30d", 45 * time.Second: "45s",
	} {
		require.Equal(t, want, durText(d))
	}
	require.Equal(t, "access tokens do not expire and are never refreshed", tokenText(TokenPolicy{}))
	require.Equal(t, "no json first", helpText("no json first"))
}
