package connectors_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
)

func TestRedactText(t *testing.T) {
	t.Parallel()
	const secret = "1//0gAbCdEf-Secret"
	cases := []struct {
		name, in, want string
		secrets        []string
	}{
		{"as sent", "invalid_grant: bad token 1//0gAbCdEf-Secret", "invalid_grant: bad token [redacted]", []string{secret}},
		{"form-encoded", "refresh_token=1%2F%2F0gAbCdEf-Secret&grant_type=refresh_token", "refresh_token=[redacted]&grant_type=refresh_token", []string{secret}},
		{"every occurrence", "1//0gAbCdEf-Secret 1//0gAbCdEf-Secret", "[redacted] [redacted]", []string{secret}},
		{"cut short", "invalid_request: token=1//0gAbCd…", "invalid_request: token=[redacted]…", []string{secret}},
		{"cut too short to say", "token=1//0gAb…", "token=1//0gAb…", []string{secret}},
		{"the longer of two secrets whole", "x abcdefgh12345678 y", "x [redacted] y", []string{"abcdefgh", "abcdefgh12345678"}},
		{"short values are no secrets", "token expired", "token expired", []string{"token", ""}},
		{"nothing to cut", "invalid_grant", "invalid_grant", []string{secret}},
		{"Basic header", "Authorization: Basic " + connectors.BasicCredential("id", "client-secret-1")[0], "Authorization: Basic [redacted]",
			connectors.BasicCredential("id", "client-secret-1")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, connectors.RedactText(tc.in, tc.secrets...))
		})
	}
}

func TestRedactError(t *testing.T) {
	t.Parallel()
	const secret = "aCcEsS-tOkEn-123"
	limited := &connectors.RateLimited{RetryAfter: 7 * time.Second, Reason: "lock after " + secret}
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"unauthorized", fmt.Errorf("x: %w: invalid_grant: %s", connectors.ErrUnauthorized, secret), connectors.ErrUnauthorized},
		{"invalid config", fmt.Errorf("x: %w: %s", connectors.ErrInvalidConfig, secret), connectors.ErrInvalidConfig},
		{"not found", fmt.Errorf("x: %w: %s", connectors.ErrNotFound, secret), connectors.ErrNotFound},
		{"rate limited", fmt.Errorf("x: %w", limited), connectors.ErrRateLimited},
		{"unknown", errors.New("boom " + secret), connectors.ErrTransient},
		{"deadline", fmt.Errorf("%s: %w", secret, context.DeadlineExceeded), context.DeadlineExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := connectors.RedactError(tc.err, secret)
			require.ErrorIs(t, got, tc.want)
			require.Equal(t, connectors.Kind(tc.err), connectors.Kind(got))
			require.Equal(t, connectors.IsPermanent(tc.err), connectors.IsPermanent(got))
			for e := got; e != nil; e = errors.Unwrap(e) {
				require.NotContains(t, e.Error(), secret, "nothing in the chain keeps the secret")
			}
			require.Contains(t, got.Error(), "[redacted]")
		})
	}

	got := connectors.RedactError(fmt.Errorf("x: %w", limited), secret)
	d, ok := connectors.RetryAfter(got)
	require.True(t, ok)
	require.Equal(t, 7*time.Second, d)
	var rl *connectors.RateLimited
	require.ErrorAs(t, got, &rl)
	require.Equal(t, "lock after [redacted]", rl.Reason)
	require.False(t, rl.Floor)
	// A floor stays a floor (the engine backs off from it).
	floor := &connectors.RateLimited{RetryAfter: time.Minute, Reason: "secondary rate limit " + secret, Floor: true}
	got = connectors.RedactError(fmt.Errorf("x: %w", floor), secret)
	require.True(t, connectors.IsFloor(got))
	d, _ = connectors.RetryAfter(got)
	require.Equal(t, time.Minute, d)

	// An error without the secret is handed back as it is, its chain intact.
	plain := fmt.Errorf("x: %w", &connectors.RateLimited{RetryAfter: time.Second, Reason: "HTTP 429"})
	require.Same(t, plain, connectors.RedactError(plain, secret))
	require.NoError(t, connectors.RedactError(nil, secret))
}

// TestTransportRedactsTheToken: a provider answer that echoes the request
// (here an HTTP 400 whose text a classifier copies) reaches the caller
// without the access token, still classified.
func TestTransportRedactsTheToken(t *testing.T) {
	t.Parallel()
	const token = "aCcEsS-tOkEn-456"
	rt := &connectors.Transport{
		Auth: "Bearer " + token,
		Base: roundTripFunc(func(req *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 400, Header: http.Header{}, Body: http.NoBody, Request: req}, nil
		}),
		Classify: func(resp *http.Response) error {
			return fmt.Errorf("%w: provider said %q", connectors.ErrInvalidConfig, resp.Request.Header.Get("Authorization"))
		},
	}
	resp, err := (&http.Client{Transport: rt}).Get("https://api.example.com/v1/me")
	if resp != nil {
		_ = resp.Body.Close()
	}
	require.ErrorIs(t, err, connectors.ErrInvalidConfig)
	require.NotContains(t, err.Error(), token)
	require.Contains(t, err.Error(), `provider said "[redacted]"`)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
