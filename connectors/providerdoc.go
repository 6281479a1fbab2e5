package connectors

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// ConfigField documents one field of a provider's connection config (the
// JSON object of a connect or PATCH request).
type ConfigField struct {
	// Name is the JSON field name.
	Name string
	// Type is the JSON type as a reader would say it ("array of strings").
	Type string
	// Required is true when a config without the field is refused.
	Required bool
	// Description says what the field selects, its limits and its default.
	Description string
}

// Setting documents one POBLYSH_<NAME>_<Suffix> variable of a provider.
type Setting struct {
	// Suffix follows the provider's prefix ("PAGE_SIZE").
	Suffix string
	// Default is the value used when the variable is unset ("" renders as
	// "—": none).
	Default string
	// Description says what it changes and which values it takes.
	Description string
	// Own is a setting read from the provider's own variable only, never
	// from the shared prefix (Spec.EnvFallback): one whose form or value
	// differs between the providers sharing the prefix. The shared variable
	// is refused at start, naming the providers' own.
	Own bool
	// NoFallback is a setting read from the provider's own variable only
	// while the shared variable serves the other providers of the prefix
	// as it is: the shared one is ignored here, not refused, and the
	// start logs once that this provider does not read it (Registry.
	// Notices). Gmail's WEBHOOK_SECRET: a token its push URL must carry,
	// which the shared POBLYSH_GOOGLE_WEBHOOK_SECRET, Calendar's and
	// Drive's channel secret, is not.
	NoFallback bool
}

// Markers around the generated parts of the docs: the configuration table
// of docs/providers/<name>.md, and the provider index of README.md.
const (
	ProviderDocBegin   = "<!-- BEGIN GENERATED: provider table (from the connector's Spec by `make generate`; do not edit) -->"
	ProviderDocEnd     = "<!-- END GENERATED: provider table -->"
	ProviderIndexBegin = "<!-- BEGIN GENERATED: provider index (from the registered Specs by `make generate`; do not edit) -->"
	ProviderIndexEnd   = "<!-- END GENERATED: provider index -->"
)

// commonSettings are the variables every provider reads (LoadConfig), with
// the spec's defaults.
func commonSettings(s *Spec) []Setting {
	none := func(v string) string {
		if v == "" {
			return "— (none)"
		}
		return "`" + v + "`"
	}
	hook := "verifies the provider's deliveries (webhooks, push notifications); unset, every delivery is rejected"
	switch {
	case !slices.Contains(s.Capabilities, CapWebhook):
		hook = "not used: the provider pushes nothing"
	case s.WebhooksSignedWithClientSecret:
		hook = "not used: the provider signs its deliveries with the OAuth client secret, which verifies them"
	}
	return []Setting{
		{Suffix: "CLIENT_ID", Default: "", Description: "OAuth client id; without it and the secret the provider is listed as not configured and cannot be connected"},
		{Suffix: "CLIENT_SECRET", Default: "", Description: "OAuth client secret"},
		{Suffix: "WEBHOOK_SECRET", Default: "", Description: hook},
		{Suffix: "AUTH_URL", Default: none(s.Defaults.AuthURL), Description: "authorization endpoint the user's browser is sent to"},
		{Suffix: "TOKEN_URL", Default: none(s.Defaults.TokenURL), Description: "code exchange and token refresh"},
		{Suffix: "API_URL", Default: none(s.Defaults.APIURL), Description: "API root the provider's paths hang from"},
		{Suffix: "REVOKE_URL", Default: none(s.Defaults.RevokeURL), Description: "token revocation when a connection is deleted"},
	}
}

// EnvSettings are every variable a provider reads, documented: the common
// ones (with a Setting of the same suffix replacing the generic
// description and default), then the provider's own Settings in order.
func EnvSettings(s *Spec) []Setting {
	own := map[string]Setting{}
	for _, st := range s.Settings {
		own[st.Suffix] = st
	}
	var out []Setting
	for _, c := range commonSettings(s) {
		if st, ok := own[c.Suffix]; ok {
			if st.Default == "" {
				st.Default = c.Default
			}
			c = st
			delete(own, c.Suffix)
		}
		out = append(out, c)
	}
	for _, st := range s.Settings {
		if _, ok := own[st.Suffix]; ok {
			out = append(out, st)
		}
	}
	return out
}

// ProviderTable renders the generated part of docs/providers/<name>.md:
// the provider's facts, its environment variables (defaults and fallbacks)
// and its connection config fields, all from the Spec.
func ProviderTable(s *Spec) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	yes := func(v bool) string {
		if v {
			return "yes"
		}
		return "no"
	}
	w("| %s | |\n|---|---|\n", cell(s.DisplayName))
	w("| Provider name | `%s` (path segment and Signal `source`) |\n", s.Name)
	w("| Description | %s |\n", cell(s.Description))
	w("| Signal kinds | %s |\n", kindLinks(s.Kinds, "../signal-kinds.md"))
	w("| Capabilities | %s |\n", codeList(capNames(s.Capabilities)))
	w("| Scopes requested | %s |\n", codeList(s.Scopes))
	w("| PKCE (S256) | %s |\n", yes(s.PKCE))
	w("| OAuth callback URL | `<POBLYSH_PUBLIC_URL>/api/v1/connect/%s/callback` |\n", s.Name)
	if slices.Contains(s.Capabilities, CapWebhook) {
		w("| Webhook URL | `<POBLYSH_PUBLIC_URL>/api/v1/webhooks/%s` |\n", s.Name)
	}
	if s.ExclusiveAccount {
		w("| One tenant per account | yes: another tenant's connect to an account already connected is refused (409) |\n")
	}
	w("| Tokens | %s |\n", tokenText(s.Policy.Token))
	budget := ""
	if s.Policy.Budget {
		budget = "; spaced by the budget each answer grants (`x-ratelimit-remaining` until `x-ratelimit-reset`)"
	}
	w("| Pacing | %s per account, bursts of %d%s |\n", rateText(s.Policy.Rate), s.Policy.Burst, budget)
	w("| Sync interval | %s |\n", intervalText(s.Policy))

	w("\n**Environment.** ")
	if s.EnvFallback != "" {
		w("Each variable falls back to `POBLYSH_%s_<SETTING>` (shared by the %s providers) when unset, then to the default",
			s.EnvFallback, titleWord(s.EnvFallback))
		var own, alone []string
		for _, st := range s.Settings {
			switch {
			case st.Own:
				own = append(own, "`"+st.Suffix+"`")
			case st.NoFallback:
				alone = append(alone, "`"+st.Suffix+"`")
			}
		}
		if len(own) > 0 {
			w("; those marked *per provider* (%s) do not, and the service refuses to start with their `POBLYSH_%s_` variable set",
				strings.Join(own, ", "), s.EnvFallback)
		}
		if len(alone) > 0 {
			either := ""
			if len(own) > 0 {
				either = " either"
			}
			w("; those marked *this provider's only* (%s) do not%s: their `POBLYSH_%s_` variable serves the other %s providers and is ignored here (the start logs that it is)",
				strings.Join(alone, ", "), either, s.EnvFallback, titleWord(s.EnvFallback))
		}
		w(". A shared value must suit every provider that reads it.\n\n")
	} else {
		w("Unset variables take the default.\n\n")
	}
	w("| Variable | Default | Meaning |\n|---|---|---|\n")
	for _, st := range EnvSettings(s) {
		def := st.Default
		if def == "" {
			def = "—"
		}
		desc := st.Description
		switch {
		case st.Own && s.EnvFallback != "":
			desc = "*per provider*: " + desc
		case st.NoFallback && s.EnvFallback != "":
			desc = "*this provider's only*: " + desc
		}
		w("| `POBLYSH_%s_%s` | %s | %s |\n", s.EnvName(), st.Suffix, cell(def), cell(desc))
	}

	w("\n**Connection config.** %s\n", cell(helpText(s.ConfigHelp)))
	if len(s.ConfigFields) > 0 {
		w("\n| Field | Type | Required | Meaning |\n|---|---|---|---|\n")
		for _, f := range s.ConfigFields {
			w("| `%s` | %s | %s | %s |\n", f.Name, cell(f.Type), yes(f.Required), cell(f.Description))
		}
	}
	return b.String()
}

// ProviderIndex renders the provider table of README.md from the
// registered specs: one row per provider, linking its doc.
func ProviderIndex(specs []*Spec) string {
	var b strings.Builder
	b.WriteString("| Provider | Name | Kinds | Scopes | Config fields | Guide |\n|---|---|---|---|---|---|\n")
	for _, s := range specs {
		var fields []string
		for _, f := range s.ConfigFields {
			fields = append(fields, f.Name)
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s | [docs/providers/%s.md](docs/providers/%s.md) |\n",
			cell(s.DisplayName), s.Name, kindLinks(s.Kinds, "docs/signal-kinds.md"), codeList(s.Scopes), codeList(fields), s.Name, s.Name)
	}
	return b.String()
}

// ProviderDocSkeleton is the docs/providers/<name>.md `make generate`
// creates for a provider that has none: a title, the generated table, and
// the sections to write by hand.
func ProviderDocSkeleton(s *Spec) string {
	doc := fmt.Sprintf(`# %s

Package `+"`connectors/%s`"+`; local fake `+"`sandbox/%s`"+`.

## Configuration

Generated from the connector's `+"`Spec`"+`: the facts the engine works with, every
environment variable with its default, and the connection config.

%s
%s

## Connecting %s for real

TODO: the app to register at the provider, its settings, and anything the table above does not say.

## Streams and cursors

TODO: what a sync reads, and the cursor's JSON with an example.

## Normalization

TODO: each kind's dedupe key, occurred-at, actor, subject and context.

## Errors and rate limits

TODO: how the provider's answers map to the neutral errors.

## Sandbox

TODO: what the fake serves, its seed (exact Signal counts), its control API and named faults.
`, s.DisplayName, pkgDir(s.Name), pkgDir(s.Name), ProviderDocBegin, ProviderDocEnd, s.DisplayName)
	out, _ := Splice(doc, ProviderDocBegin, ProviderDocEnd, ProviderTable(s)) // the markers are right above
	return out
}

// Splice replaces what lies between the markers begin and end in doc with
// body, set off by blank lines. Both markers must be present, once each,
// begin first.
func Splice(doc, begin, end, body string) (string, error) {
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	switch {
	case i < 0 || j < 0:
		return "", fmt.Errorf("the markers %q and %q are missing: put them, each on its own line, where the generated part goes", begin, end)
	case strings.Count(doc, begin) != 1 || strings.Count(doc, end) != 1 || j < i:
		return "", fmt.Errorf("the markers %q and %q must appear once each, in this order", begin, end)
	}
	return doc[:i] + begin + "\n\n" + strings.Trim(body, "\n") + "\n\n" + doc[j:], nil
}

// helpText sets the JSON example a ConfigHelp starts with in code:
// `{"repos": [...]}`: the rest.
func helpText(help string) string {
	if i := strings.Index(help, "}: "); strings.HasPrefix(help, "{") && i > 0 && !strings.Contains(help[:i], "`") {
		return "`" + help[:i+1] + "`" + help[i+1:]
	}
	return help
}

// pkgDir is the conventional package folder of a provider: its name
// without dashes ("google-calendar" → googlecalendar).
func pkgDir(name string) string { return strings.ReplaceAll(name, "-", "") }

func kindLinks(kinds []string, doc string) string {
	links := make([]string, len(kinds))
	for i, k := range kinds {
		links[i] = fmt.Sprintf("[`%s`](%s#%s)", k, doc, anchor(k))
	}
	return strings.Join(links, ", ")
}

func codeList(vs []string) string {
	if len(vs) == 0 {
		return "—"
	}
	return "`" + strings.Join(vs, "`, `") + "`"
}

func capNames(cs []Capability) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

// titleWord is "GOOGLE" → "Google".
func titleWord(s string) string {
	if s == "" {
		return s
	}
	return s[:1] + strings.ToLower(s[1:])
}

func tokenText(t TokenPolicy) string {
	if !t.Expires {
		return "access tokens do not expire and are never refreshed"
	}
	out := "access tokens expire and are refreshed " + durText(t.RefreshBefore) + " before expiry"
	if t.OnDemand {
		out = "access tokens expire and are refreshed only when a call needs one (within a minute of expiry, or after a 401), never ahead of expiry by the sweeper"
	}
	if t.RotatesRefreshToken {
		out += "; every refresh returns a new refresh token"
	}
	if t.KeepAliveAfter > 0 {
		out += "; an idle refresh token (a paused connection's too) is refreshed after " + durText(t.KeepAliveAfter) + " so it does not lapse"
	}
	return out
}

func intervalText(p Policy) string {
	out := "polls every " + durText(p.PollInterval)
	if p.ReconcileInterval > 0 {
		out += "; with pushes on, a reconcile sync every " + durText(p.ReconcileInterval)
	}
	if p.MinPollInterval > 0 {
		out += "; a connection may not poll more often than every " + durText(p.MinPollInterval)
	}
	return out
}

// rateText says a rate in the unit it was most likely written in.
func rateText(r rate.Limit) string {
	whole := func(v float64) bool { return math.Abs(v-math.Round(v)) < 1e-6 }
	switch f := float64(r); {
	case whole(f):
		return fmt.Sprintf("%g requests/s", math.Round(f))
	case whole(f * 60):
		return fmt.Sprintf("%g requests/min", math.Round(f*60))
	case whole(f * 3600):
		return fmt.Sprintf("%g requests/h", math.Round(f*3600))
	default:
		return fmt.Sprintf("%.3g requests/s", f)
	}
}

// durText prints whole days as "30d" and drops zero units ("15m", "1h30m").
func durText(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return goDurText(d)
}
