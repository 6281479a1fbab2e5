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
	require.ErrorIs(t, google.VerifyChannel("google-drive", "", h), connectors.ErrUnauthorized)
}
