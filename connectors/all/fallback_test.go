package all_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	_ "github.com/poblysh/poblysh/connectors/all"
)

// Values that some setting or other refuses: numbers out of range, words
// where numbers or durations go, a duration under a minute, a URL that is
// not http(s), a list entry without its "=".
var badSettingValues = []string{"0", "-1", "999999", "x", "1s", "ftp://x", "a=b"}

// TestFallbackSettingErrorsNameTheVariableSet: a provider with a shared
// prefix (POBLYSH_ZOHO_, POBLYSH_GOOGLE_) reads each setting from that
// prefix when its own variable is unset, and a bad value there must be
// refused naming the variable the operator set, not the provider's own,
// which is unset (Zoho's errors named POBLYSH_ZOHO_CLIQ_… and
// POBLYSH_ZOHO_MAIL_…, Google's only the suffix). A setting whose form
// differs between the products (Zoho's PACE) or that must differ (Zoho's
// API_URLS) is read per product only: its shared variable is refused,
// naming the variables to set instead. Any value of the shared PACE
// stopped the service before (each product read it in its own form).
func TestFallbackSettingErrorsNameTheVariableSet(t *testing.T) {
	t.Parallel()
	refused := map[string][]string{} // provider → suffixes refused under the shared prefix
	for _, s := range connectors.Registered() {
		if s.EnvFallback == "" {
			continue
		}
		for _, st := range connectors.EnvSettings(s) {
			if strings.Contains(st.Suffix, "<") { // CLIENT_SECRET_<DC>: a family, not one variable
				continue
			}
			own := "POBLYSH_" + s.EnvName() + "_" + st.Suffix
			shared := "POBLYSH_" + s.EnvFallback + "_" + st.Suffix
			for _, v := range badSettingValues {
				build := func(name string) error {
					_, err := connectors.Build([]*connectors.Spec{s}, func(k string) string {
						if k == name {
							return v
						}
						return ""
					}, "https://connectors.example.com", true)
					return err
				}
				ownErr, sharedErr := build(own), build(shared)
				if ownErr == nil {
					continue
				}
				require.ErrorContains(t, ownErr, own, "%s=%q", own, v)
				require.Error(t, sharedErr, "%s=%q is refused as %s=%q is", shared, v, own, v)
				require.ErrorContains(t, sharedErr, shared, "%s=%q: the error names the variable set", shared, v)
				if !st.Own { // an Own setting's refusal names the variable to set instead (below)
					require.NotContains(t, sharedErr.Error(), own, "%s=%q: not the provider's own, which is unset", shared, v)
				}
				if !slices.Contains(refused[s.Name], st.Suffix) {
					refused[s.Name] = append(refused[s.Name], st.Suffix)
				}
			}
		}
	}
	for provider, want := range map[string][]string{
		"zoho-cliq":       {"PAGE_SIZE", "BACKFILL_DAYS", "LOCK_PERIOD", "REACTION_WINDOW", "PACE", "ACCOUNTS_SERVERS", "API_URLS", "TOKEN_URL"},
		"zoho-mail":       {"PAGE_SIZE", "BACKFILL_DAYS", "OVERLAP", "PACE", "ACCOUNTS_SERVERS", "API_URLS", "TOKEN_URL"},
		"gmail":           {"PAGE_SIZE", "BACKFILL_DAYS", "TOKEN_URL"},
		"google-calendar": {"PAGE_SIZE", "CHANNEL_TTL", "TOKEN_URL"},
		"google-drive":    {"PAGE_SIZE", "BACKFILL_DAYS", "CHANNEL_TTL", "TOKEN_URL"},
	} {
		require.Subset(t, refused[provider], want, "%s: settings refused (and named) under the shared prefix", provider)
	}

	// Any shared PACE or API_URLS, even one form fits one product, is
	// refused by both, naming what to set.
	for _, c := range []struct{ name, value string }{
		{"POBLYSH_ZOHO_PACE", "messages=14"},
		{"POBLYSH_ZOHO_PACE", "25"},
		{"POBLYSH_ZOHO_API_URLS", "us=https://cliq.zoho.com"},
	} {
		suffix := strings.TrimPrefix(c.name, "POBLYSH_ZOHO_")
		for _, provider := range []string{"zoho-cliq", "zoho-mail"} {
			s := spec(t, provider)
			_, err := connectors.Build([]*connectors.Spec{s}, func(k string) string {
				if k == c.name {
					return c.value
				}
				return ""
			}, "https://connectors.example.com", true)
			require.ErrorContains(t, err, c.name, "%s: %s=%q", provider, c.name, c.value)
			require.ErrorContains(t, err, "POBLYSH_"+s.EnvName()+"_"+suffix, "%s: names the variable to set instead", provider)
		}
	}
	// Set per product, each reads its own form.
	_, err := connectors.Build([]*connectors.Spec{spec(t, "zoho-cliq"), spec(t, "zoho-mail")}, func(k string) string {
		return map[string]string{"POBLYSH_ZOHO_CLIQ_PACE": "messages=14", "POBLYSH_ZOHO_MAIL_PACE": "25"}[k]
	}, "https://connectors.example.com", true)
	require.NoError(t, err)
}

func spec(t *testing.T, name string) *connectors.Spec {
	t.Helper()
	for _, s := range connectors.Registered() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("%s is not registered", name)
	return nil
}
