package gmail

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	gmailsandbox "github.com/poblysh/poblysh/sandbox/gmail"
)

// TestPushKeysAreDownloadedAtMostOncePerInterval: a key Google starts
// signing with is picked up by the first download after the interval,
// tokens signed by a cached key verify without a download, and a flood of
// forged tokens costs one download per interval.
func TestPushKeysAreDownloadedAtMostOncePerInterval(t *testing.T) {
	sb := gmailsandbox.New(gmailsandbox.Options{Seed: true})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)

	// certs serves the keys Google publishes: an old key, then the
	// sandbox's signing key beside it once rotated.
	old, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	enc := base64.RawURLEncoding.EncodeToString
	oldJWK := map[string]any{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "old",
		"n": enc(old.N.Bytes()), "e": enc(big.NewInt(int64(old.E)).Bytes())}
	var rotated atomic.Bool
	var fetches atomic.Int64
	certs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		set := struct {
			Keys []any `json:"keys"`
		}{Keys: []any{oldJWK}}
		if rotated.Load() {
			resp, err := http.Get(srv.URL + "/oauth2/v3/certs")
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			var current struct {
				Keys []any `json:"keys"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&current); err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			set.Keys = append(set.Keys, current.Keys...)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(certs.Close)

	env := sb.Env(srv.URL)
	cfg, err := connectors.LoadConfig(Spec, func(k string) string { return env[k] }, "https://poblysh.example", true)
	require.NoError(t, err)
	conn, err := New(cfg)
	require.NoError(t, err)
	c := conn.(*Connector)
	start := time.Now()
	var elapsed atomic.Int64 // the key set's clock, read by go-oidc's download goroutine too
	c.keys = newPushKeys(certs.URL, func() time.Time { return start.Add(time.Duration(elapsed.Load())) })
	at := func(d time.Duration) { elapsed.Store(int64(d)) }
	push := func(o gmailsandbox.PushOptions) error {
		d := sb.Envelope(sb.User(), 1, c.audience, o)
		return c.VerifyWebhook(&connectors.WebhookRequest{Header: d.Header, Body: d.Body, Now: time.Now()})
	}
	genuine, forged := gmailsandbox.PushOptions{}, gmailsandbox.PushOptions{ForeignSigner: true}

	err = push(genuine)
	require.ErrorIs(t, err, connectors.ErrUnauthorized, "signed with a key Google does not publish yet")
	require.EqualValues(t, 1, fetches.Load())

	rotated.Store(true)
	at(30 * time.Second)
	err = push(genuine)
	require.ErrorIs(t, err, connectors.ErrUnauthorized, "within the interval the cached keys answer (Pub/Sub retries the push)")
	require.Contains(t, err.Error(), "the signature does not verify")
	require.EqualValues(t, 1, fetches.Load(), "no download within the interval")

	at(keyRefetchInterval + time.Second)
	require.NoError(t, push(genuine), "the rotated key is picked up after the interval")
	require.EqualValues(t, 2, fetches.Load())

	at(keyRefetchInterval + 30*time.Second)
	for range 10 {
		require.ErrorIs(t, push(forged), connectors.ErrUnauthorized)
	}
	require.NoError(t, push(genuine))
	require.EqualValues(t, 2, fetches.Load(), "forged tokens fail at once, genuine ones verify from the cache")

	at(3 * keyRefetchInterval)
	for range 10 {
		require.ErrorIs(t, push(forged), connectors.ErrUnauthorized)
	}
	require.EqualValues(t, 3, fetches.Load(), "one download per interval, however many forgeries")
	require.NoError(t, push(genuine))
}
