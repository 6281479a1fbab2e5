package jira

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
)

// JWT verification fails closed: only HS256 with the client secret and an
// exp still ahead (30 s of skew) is accepted (for a token without exp:
// TestVerifyWebhookJWTWithoutExpiry).
func TestVerifyWebhookJWT(t *testing.T) {
	c := testConnector(t, nil)
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	hs := func(key string, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(key))
		require.NoError(t, err)
		return s
	}
	valid := jwt.MapClaims{"iss": "jira", "iat": now.Unix(), "exp": now.Add(3 * time.Minute).Unix()}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, valid).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	rs, err := jwt.NewWithClaims(jwt.SigningMethodRS256, valid).SignedString(rsaKey)
	require.NoError(t, err)
	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, valid).SignedString([]byte("s3cret"))
	require.NoError(t, err)
	for _, tc := range []struct {
		name, auth string
		ok         bool
	}{
		{"valid", "Bearer " + hs("s3cret", valid), true},
		{"clock skew inside the leeway", "Bearer " + hs("s3cret", jwt.MapClaims{"exp": now.Add(-20 * time.Second).Unix()}), true},
		{"wrong key", "Bearer " + hs("another secret", valid), false},
		{"alg none", "Bearer " + none, false},
		{"alg none, unsigned, header only", "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJleHAiOjQxMDI0NDQ4MDB9.", false},
		{"RS256 with another key", "Bearer " + rs, false},
		{"HS512 with the right secret", "Bearer " + hs512, false},
		{"expired", "Bearer " + hs("s3cret", jwt.MapClaims{"iat": now.Add(-10 * time.Minute).Unix(), "exp": now.Add(-time.Minute).Unix()}), false},
		{"issued in the future", "Bearer " + hs("s3cret", jwt.MapClaims{"iat": now.Add(time.Hour).Unix(), "exp": now.Add(2 * time.Hour).Unix()}), false},
		{"no header", "", false},
		{"basic auth", "Basic dXNlcjpwYXNz", false},
		{"garbage", "Bearer not.a.jwt", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &connectors.WebhookRequest{Header: http.Header{}, Body: []byte(`{}`), Now: now}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			err := c.VerifyWebhook(req)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, connectors.ErrUnauthorized)
		})
	}
	// Without a client secret nothing verifies, not even a token signed
	// with the empty key.
	bare := testConnector(t, nil)
	bare.cfg.ClientSecret = ""
	req := &connectors.WebhookRequest{Header: http.Header{"Authorization": {"Bearer " + hs("", valid)}}, Now: now}
	require.ErrorIs(t, bare.VerifyWebhook(req), connectors.ErrUnauthorized)
}

// Atlassian does not document the claims of its webhook JWTs, and the
// provider notes say to check exp only if present: a token without exp is
// accepted while its iat is at most jwtMaxAge old (30 s of skew), which
// bounds its replay as an exp would; a token with neither, or with a
// malformed exp or iat, is refused.
func TestVerifyWebhookJWTWithoutExpiry(t *testing.T) {
	c := testConnector(t, nil)
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	verify := func(claims jwt.MapClaims) error {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("s3cret"))
		require.NoError(t, err)
		return c.VerifyWebhook(&connectors.WebhookRequest{Header: http.Header{"Authorization": {"Bearer " + tok}}, Body: []byte(`{}`), Now: now})
	}
	require.NoError(t, verify(jwt.MapClaims{"iat": now.Unix()}), "issued now")
	require.NoError(t, verify(jwt.MapClaims{"iat": now.Add(-5 * time.Minute).Unix(), "jti": "x", "context": map[string]any{"k": 1}}),
		"issued 5 minutes ago; claims nothing relies on are ignored")
	require.NoError(t, verify(jwt.MapClaims{"iat": now.Add(-5*time.Minute - 20*time.Second).Unix()}), "inside the leeway")
	for name, claims := range map[string]jwt.MapClaims{
		"issued 6 minutes ago":   {"iat": now.Add(-6 * time.Minute).Unix()},
		"neither exp nor iat":    {"iss": "jira", "sub": "5b10a2844c20165700ede21g"},
		"issued in the future":   {"iat": now.Add(time.Hour).Unix()},
		"iat not a number":       {"iat": "yesterday"},
		"exp passed, iat recent": {"iat": now.Unix(), "exp": now.Add(-time.Minute).Unix()},
		"exp not a number":       {"iat": now.Unix(), "exp": "soon"},
	} {
		err := verify(claims)
		require.ErrorIs(t, err, connectors.ErrUnauthorized, name)
	}
	// With an exp, the exp alone bounds the token, as before.
	require.NoError(t, verify(jwt.MapClaims{"iat": now.Add(-20 * time.Minute).Unix(), "exp": now.Add(time.Minute).Unix()}))
}

func TestChooseSite(t *testing.T) {
	a := site{ID: "a7f3c1d2-5b64-4e0a-9c1e-2f8d4b6a0001", URL: "https://acme-pr.atlassian.net", Name: "acme-pr"}
	b := site{ID: "a7f3c1d2-5b64-4e0a-9c1e-2f8d4b6a0002", URL: "https://acme-labs.atlassian.net", Name: "acme-labs"}
	got, err := chooseSite([]site{a}, "", "", nil)
	require.NoError(t, err)
	require.Equal(t, a, got, "one site needs no config")
	got, err = chooseSite([]site{a, b}, "https://acme-labs.atlassian.net", "", nil)
	require.NoError(t, err)
	require.Equal(t, b, got, "by URL")
	got, err = chooseSite([]site{a, b}, b.ID, "", nil)
	require.NoError(t, err)
	require.Equal(t, b, got, "by cloud id")
	got, err = chooseSite([]site{a, b}, "", b.ID, nil)
	require.NoError(t, err)
	require.Equal(t, b, got, "a re-authorization keeps its site")
	_, err = chooseSite([]site{a, b}, "", "", nil)
	var ce *connectors.ConfigError
	require.ErrorAs(t, err, &ce)
	require.Contains(t, ce.Fields["site"], "https://acme-pr.atlassian.net (cloud id "+a.ID+")")
	require.Contains(t, ce.Fields["site"], "https://acme-labs.atlassian.net (cloud id "+b.ID+")")
	_, err = chooseSite([]site{a}, "https://other.atlassian.net", "", nil)
	require.ErrorAs(t, err, &ce)
	require.Contains(t, ce.Fields["site"], "is not among")

	// Renamed (acme-pr → acme-launch, same cloud id): a re-authorization
	// whose config names the URL the connection knew its site by keeps the
	// site; a URL it never knew, or a new connection, is still refused.
	renamed := site{ID: a.ID, URL: "https://acme-launch.atlassian.net", Name: "acme-launch"}
	known := []string{"https://acme-pr.atlassian.net"}
	got, err = chooseSite([]site{b, renamed}, "https://ACME-PR.atlassian.net", a.ID, known)
	require.NoError(t, err)
	require.Equal(t, renamed, got, "the cloud id decides")
	_, err = chooseSite([]site{b, renamed}, "https://acme-pr.atlassian.net", "", known)
	require.ErrorAs(t, err, &ce, "a new connection")
	_, err = chooseSite([]site{b, renamed}, "https://other.atlassian.net", a.ID, known)
	require.ErrorAs(t, err, &ce, "a URL the connection never knew")
	_, err = chooseSite([]site{b}, "https://acme-pr.atlassian.net", a.ID, known)
	require.ErrorAs(t, err, &ce, "the site is no longer reachable")
}

func TestFormerURLs(t *testing.T) {
	require.Empty(t, formerURLs([]string{"https://acme.atlassian.net"}, "https://acme.atlassian.net/"), "not renamed")
	require.Equal(t, "https://a.atlassian.net https://b.atlassian.net",
		formerURLs([]string{"https://a.atlassian.net", "https://b.atlassian.net"}, "https://c.atlassian.net"))
	require.Equal(t, "https://a.atlassian.net", formerURLs([]string{"https://a.atlassian.net", "https://b.atlassian.net"}, "https://B.atlassian.net"),
		"renamed back to a former URL")
	many := []string{"https://1.x", "https://2.x", "https://3.x", "https://4.x", "https://5.x", "https://6.x", "https://7.x"}
	require.Equal(t, "https://3.x https://4.x https://5.x https://6.x https://7.x", formerURLs(many, "https://8.x"), "the newest five")
	require.Equal(t, []string{"https://a.x", "https://b.x", "https://c.x"},
		siteURLs(map[string]string{"url": "https://c.x/", metaFormerURLs: "https://a.x https://b.x"}))
}

func TestClassifyRateLimits(t *testing.T) {
	c := testConnector(t, nil)
	resp := func(h map[string]string) *http.Response {
		r := &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{}}
		for k, v := range h {
			r.Header.Set(k, v)
		}
		return r
	}
	d, ok := connectors.RetryAfter(c.ClassifyResponse(resp(map[string]string{"Retry-After": "7", "RateLimit-Reason": "jira-burst-based"})))
	require.True(t, ok)
	require.Equal(t, 7*time.Second, d)
	err := c.ClassifyResponse(resp(map[string]string{"Beta-RateLimit": `"tenant-app-quota";r=0;t=1800`, "X-Beta-RateLimit-Reason": "jira-quota-tenant-based"}))
	d, _ = connectors.RetryAfter(err)
	require.Equal(t, 30*time.Minute, d, "the quota's reset when nothing else says")
	require.Contains(t, err.Error(), "jira-quota-tenant-based")
	err = c.ClassifyResponse(resp(map[string]string{"RateLimit-Reason": "jira-quota-tenant-based"}))
	d, _ = connectors.RetryAfter(err)
	require.Positive(t, d, "an hourly quota without reset waits for the next hour")
	require.LessOrEqual(t, d, time.Hour)
	require.ErrorIs(t, c.ClassifyResponse(&http.Response{StatusCode: 404, Header: http.Header{}}), connectors.ErrNotFound)

	// A quota 429 may carry another bucket's X-RateLimit-Remaining (the
	// burst bucket's, not 0) and its reset as "yyyy-MM-ddTHH:mmZ": the 429
	// itself says a limit is reached, and the reset is waited for, not the
	// top of the hour.
	reset := time.Now().Add(90 * time.Minute).UTC()
	quota := map[string]string{"X-RateLimit-Remaining": "9", "X-RateLimit-Reset": reset.Format("2006-01-02T15:04Z"),
		"RateLimit-Reason": "jira-quota-tenant-based"}
	d, _ = connectors.RetryAfter(c.ClassifyResponse(resp(quota)))
	require.Greater(t, d, 88*time.Minute, "until the reset the quota names")
	require.LessOrEqual(t, d, 90*time.Minute)
	// With both, the later: the minute named is no finer than that.
	quota["Beta-RateLimit"] = `"tenant-app-quota";r=0;t=5430`
	d, _ = connectors.RetryAfter(c.ClassifyResponse(resp(quota)))
	require.Equal(t, 5430*time.Second, d, "Beta-RateLimit's reset, later than the minute named")
	quota["Beta-RateLimit"] = `"tenant-app-quota";r=0;t=60`
	d, _ = connectors.RetryAfter(c.ClassifyResponse(resp(quota)))
	require.Greater(t, d, 88*time.Minute, "X-RateLimit-Reset, later than Beta-RateLimit's")
	quota["Retry-After"] = "7"
	d, _ = connectors.RetryAfter(c.ClassifyResponse(resp(quota)))
	require.Equal(t, 7*time.Second, d, "Retry-After, when Jira sends one")
}

// JQL dates are minutes in the token user's zone; an unknown zone starts
// fourteen hours earlier in UTC.
func TestPassJQL(t *testing.T) {
	lower := time.Date(2026, 3, 2, 9, 41, 59, 0, time.UTC)
	require.Equal(t, `project = "LPR" AND updated >= "2026/03/02 10:41" ORDER BY updated ASC, key ASC`, passJQL("LPR", lower, "Europe/Berlin"))
	require.Equal(t, `project = "LPR" AND updated >= "2026/03/02 04:41" ORDER BY updated ASC, key ASC`, passJQL("LPR", lower, "America/New_York"))
	require.Equal(t, `project = "LPR" AND updated >= "2026/03/01 19:41" ORDER BY updated ASC, key ASC`, passJQL("LPR", lower, "Mars/Olympus"))
}

// A wall time the clocks pass twice (going back) names two instants, and
// Jira may read either: the first pass through the repeated stretch is
// written as the last minute before it, so the bound is never after the
// instant meant, under either reading, and never more than a repeat
// before it.
func TestJQLMinuteWhenClocksGoBack(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	lordHowe, err := time.LoadLocation("Australia/Lord_Howe")
	require.NoError(t, err)
	for _, tc := range []struct {
		at   time.Time
		loc  *time.Location
		want string
	}{
		{time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC), berlin, "2026/10/25 01:59"}, // 02:30 CEST, then again at 02:30 CET
		{time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC), berlin, "2026/10/25 01:59"},  // 02:00 CEST
		{time.Date(2026, 10, 24, 23, 59, 0, 0, time.UTC), berlin, "2026/10/25 01:59"},
		{time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC), berlin, "2026/10/25 02:30"}, // 02:30 CET: the later already
		{time.Date(2026, 10, 25, 2, 30, 0, 0, time.UTC), berlin, "2026/10/25 03:30"},
		{time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC), berlin, "2026/03/29 03:30"},   // clocks go forward: nothing repeats
		{time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC), ny, "2026/11/01 00:59"},       // 01:30 EDT
		{time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC), ny, "2026/11/01 01:30"},       // 01:30 EST
		{time.Date(2026, 4, 4, 14, 45, 0, 0, time.UTC), lordHowe, "2026/04/05 01:29"}, // 01:45 +11, again at 01:45 +10:30
	} {
		require.Equal(t, tc.want, jqlMinute(tc.at, tc.loc), "%s in %s", tc.at, tc.loc)
	}
	// The minutes a page does not start again from (cursor.follow).
	for at, want := range map[time.Time]bool{
		time.Date(2026, 10, 24, 23, 59, 0, 0, time.UTC): false, // 01:59 CEST
		time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC):   true,  // 02:00 CEST
		time.Date(2026, 10, 25, 0, 59, 0, 0, time.UTC):  true,
		time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC):   true, // 02:00 CET
		time.Date(2026, 10, 25, 1, 59, 0, 0, time.UTC):  true,
		time.Date(2026, 10, 25, 2, 0, 0, 0, time.UTC):   false, // 03:00 CET
		time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC):    false, // 03:00 CEST, clocks gone forward
	} {
		require.Equal(t, want, repeated(at.In(berlin)), "%s", at.In(berlin))
	}
	// Every minute of the days around the change, read either way.
	for _, loc := range []*time.Location{berlin, ny, lordHowe} {
		from := time.Date(2026, 10, 24, 12, 0, 0, 0, time.UTC)
		if loc == lordHowe {
			from = time.Date(2026, 4, 4, 0, 0, 0, 0, time.UTC)
		} else if loc == ny {
			from = time.Date(2026, 10, 31, 12, 0, 0, 0, time.UTC)
		}
		for at := from; at.Before(from.Add(24 * time.Hour)); at = at.Add(time.Minute) {
			written := jqlMinute(at, loc)
			readings := 0
			for r := at.Add(-3 * time.Hour); r.Before(at.Add(3 * time.Hour)); r = r.Add(time.Minute) {
				if r.In(loc).Format(jqlDate) != written {
					continue
				}
				readings++
				require.False(t, r.After(at), "%s in %s written %q, read as %s", at, loc, written, r)
				require.LessOrEqual(t, at.Sub(r), time.Hour, "%s in %s written %q, read as %s", at, loc, written, r)
			}
			require.NotZero(t, readings, "%s in %s written %q", at, loc, written)
		}
	}
}
