package google_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/google"
)

// TestChannelExpires: a channel ends at the expiry asked for unless Google
// answers an earlier expiration; no expiration in the answer (0) is not
// "never".
func TestChannelExpires(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	asked := time.Date(2025, 3, 10, 12, 0, 0, 0, paris)
	earlier := time.Date(2025, 3, 10, 10, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		ms   int64
		want time.Time
	}{
		{"no expiration answered", 0, asked.UTC()},
		{"a negative expiration", -1, asked.UTC()},
		{"a later expiration", asked.Add(7 * 24 * time.Hour).UnixMilli(), asked.UTC()},
		{"the same expiration", asked.UnixMilli(), asked.UTC()},
		{"an earlier expiration", earlier.UnixMilli(), earlier},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := google.ChannelExpires(asked, tc.ms)
			require.Truef(t, tc.want.Equal(got), "got %v, want %v", got, tc.want)
			require.Equal(t, time.UTC, got.Location())
		})
	}
}

// TestChannelWithoutSecretRefusesTheEmptyKey: a notification whose token
// is derived from the empty secret is refused when the channel has no
// secret here.
func TestChannelWithoutSecretRefusesTheEmptyKey(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Set(google.HeaderChannelID, "poblysh-anything")
	h.Set(google.HeaderChannelToken, google.ChannelToken("", "poblysh-anything"))
	require.ErrorIs(t, google.VerifyChannel("google-drive", "", "", h), connectors.ErrUnauthorized)
}

// SecretID tells secrets apart without revealing them: stable for a
// secret, another for another, "" for none, and no channel's token.
func TestSecretID(t *testing.T) {
	t.Parallel()
	a := google.SecretID("s3cret")
	require.Equal(t, a, google.SecretID("s3cret"))
	require.NotEqual(t, a, google.SecretID("s3cret2"))
	require.Regexp(t, `^[A-Za-z0-9_-]{16}$`, a)
	require.Empty(t, google.SecretID(""))
	require.NotContains(t, google.ChannelToken("s3cret", "poblysh-x"), a)
}

// VerifyChannel accepts a token derived from the retired secret, and
// never one derived from the empty secret, retired or not.
func TestVerifyChannelUnderARetiredSecret(t *testing.T) {
	t.Parallel()
	h := func(secret string) http.Header {
		h := http.Header{}
		h.Set(google.HeaderChannelID, "poblysh-1")
		h.Set(google.HeaderChannelToken, google.ChannelToken(secret, "poblysh-1"))
		return h
	}
	require.NoError(t, google.VerifyChannel("google-drive", "new", "old", h("old")))
	require.NoError(t, google.VerifyChannel("google-drive", "new", "old", h("new")))
	require.ErrorIs(t, google.VerifyChannel("google-drive", "new", "", h("old")), connectors.ErrUnauthorized)
	require.ErrorIs(t, google.VerifyChannel("google-drive", "", "old", h("old")), connectors.ErrUnauthorized)
	require.ErrorIs(t, google.VerifyChannel("google-drive", "new", "old", h("")), connectors.ErrUnauthorized)
}
