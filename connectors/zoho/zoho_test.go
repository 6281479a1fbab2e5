package zoho

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/poblysh/poblysh/connectors"
)

func TestParseHosts(t *testing.T) {
	t.Parallel()
	h, err := ParseHosts("X", "", defaultAccounts)
	require.NoError(t, err)
	require.Equal(t, "https://accounts.zoho.eu", h["eu"])
	h, err = ParseHosts("X", "us=http://127.0.0.1:9/us/accounts/, EU=http://127.0.0.1:9/eu/accounts", nil)
	require.NoError(t, err)
	require.Equal(t, Hosts{"us": "http://127.0.0.1:9/us/accounts", "eu": "http://127.0.0.1:9/eu/accounts"}, h)
	for _, bad := range []string{"us", "us=ftp://x", "us=https://x?y=1", "=https://x", "us=/relative"} {
		_, err := ParseHosts("X", bad, nil)
		require.Error(t, err, bad)
	}
}

func TestHostsLookupIsExact(t *testing.T) {
	t.Parallel()
	h := Hosts{"eu": "https://accounts.zoho.eu", "sb": "http://127.0.0.1:9/eu/accounts"}
	for raw, want := range map[string]string{
		"https://accounts.zoho.eu":        "eu",
		"HTTPS://Accounts.Zoho.EU/":       "eu",
		"http://127.0.0.1:9/eu/accounts/": "sb",
		"https://accounts.zoho.eu.evil":   "",
		"https://evil@accounts.zoho.eu":   "",
		"http://accounts.zoho.eu":         "",
		"https://accounts.zoho.eu/x":      "",
		"https://accounts.zoho.eu?x=1":    "",
		"":                                "",
	} {
		dc, ok := h.Lookup(raw)
		require.Equal(t, want != "", ok, raw)
		require.Equal(t, want, dc.Location, raw)
	}
}

func TestClassifyTokenError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code, desc string
		want       error
	}{
		{"invalid_code", "", connectors.ErrUnauthorized},
		{"invalid_client", "", connectors.ErrInvalidConfig},
		{"invalid_client_secret", "", connectors.ErrInvalidConfig},
		{"invalid_redirect_uri", "", connectors.ErrInvalidConfig},
		{"Access Denied", "You have made too many requests continuously. Please try again after some time.", connectors.ErrRateLimited},
		{"access_denied", "", connectors.ErrUnauthorized},
		{"general_error", "", connectors.ErrTransient},
	} {
		err := classifyTokenError(tc.code, tc.desc)
		require.Equal(t, tc.want, connectors.Kind(err), tc.code)
	}
}

func TestTokenFromExpiry(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		ans  tokenAnswer
		want time.Duration
	}{
		{tokenAnswer{AccessToken: "a", ExpiresIn: "3600"}, time.Hour},
		{tokenAnswer{AccessToken: "a", ExpiresInSec: "3600"}, time.Hour},
		{tokenAnswer{AccessToken: "a", ExpiresIn: "3600000"}, time.Hour},
		{tokenAnswer{AccessToken: "a"}, time.Hour},
	} {
		tok, err := tokenFrom(&tc.ans, now, "keep")
		require.NoError(t, err)
		require.Equal(t, now.Add(tc.want), tok.Expiry)
		require.Equal(t, "keep", tok.RefreshToken)
	}
}

func TestHookToken(t *testing.T) {
	t.Parallel()
	const tenant = "4f3e2d1c-0b9a-4877-8665-5443322110aa"
	tok := HookToken("secret", "zoho-cliq", tenant, "60040386526", "20071845")
	require.NotEmpty(t, tok)
	tn, acct, ok := CheckHookToken("secret", "zoho-cliq", tok, "20071845")
	require.True(t, ok)
	require.Equal(t, tenant, tn)
	require.Equal(t, "60040386526", acct)
	for name, c := range map[string]struct{ secret, provider, tok, binding string }{
		"another organisation": {"secret", "zoho-cliq", tok, "99999999"},
		"another secret":       {"other", "zoho-cliq", tok, "20071845"},
		"another product":      {"secret", "zoho-mail", tok, "20071845"},
		"no secret":            {"", "zoho-cliq", tok, "20071845"},
		"another account":      {"secret", "zoho-cliq", tenant + ".60040396507." + tok[len(tok)-43:], "20071845"},
		"truncated":            {"secret", "zoho-cliq", tok[:len(tok)-1], "20071845"},
		"empty":                {"secret", "zoho-cliq", "", "20071845"},
		"garbage":              {"secret", "zoho-cliq", "a.b.c", "20071845"},
	} {
		_, _, ok := CheckHookToken(c.secret, c.provider, c.tok, c.binding)
		require.False(t, ok, name)
	}
	require.Empty(t, HookToken("", "zoho-cliq", tenant, "1", ""), "no secret, no token")
	require.Empty(t, HookToken("s", "zoho-cliq", "not a uuid!", "1", ""))
}

func TestLocks(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	l := NewLocks(func() time.Time { return now })
	require.NoError(t, l.Check("a|messages"))
	l.Lock("a|messages", 10*time.Minute)
	err := l.Check("a|messages")
	require.ErrorIs(t, err, connectors.ErrRateLimited)
	d, _ := connectors.RetryAfter(err)
	require.Equal(t, 10*time.Minute, d)
	require.NoError(t, l.Check("a|mentions"), "a lock is per API")
	l.Lock("a|messages", time.Minute) // a shorter lock does not shorten it
	now = now.Add(9 * time.Minute)
	d, _ = connectors.RetryAfter(l.Check("a|messages"))
	require.Equal(t, time.Minute, d)
	now = now.Add(time.Minute)
	require.NoError(t, l.Check("a|messages"))
}

// Zoho's string-typed values, and ids beyond 2^53 kept digit for digit.
func TestStr(t *testing.T) {
	t.Parallel()
	var v struct {
		ID     Str `json:"id"`
		IDStr  Str `json:"id_str"`
		Flag   Str `json:"flag"`
		Bool   Str `json:"bool"`
		Time   Str `json:"time"`
		ISO    Str `json:"iso"`
		Null   Str `json:"null"`
		Number Str `json:"n"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"id":1711540357880100001,"id_str":"1711540357880100001","flag":"false",
		"bool":true,"time":"1519802350000","iso":"2026-05-28T10:30:00+05:30","null":null,"n":42}`), &v))
	require.Equal(t, "1711540357880100001", v.ID.String())
	require.Equal(t, v.ID, v.IDStr)
	require.False(t, v.Flag.Bool())
	require.True(t, v.Bool.Bool())
	tm, ok := v.Time.Millis()
	require.True(t, ok)
	require.Equal(t, int64(1519802350000), tm.UnixMilli())
	tm, ok = v.ISO.Millis()
	require.True(t, ok)
	require.Equal(t, "2026-05-28T05:00:00Z", tm.Format(time.RFC3339))
	require.Empty(t, v.Null.String())
	n, ok := v.Number.Int()
	require.True(t, ok)
	require.Equal(t, int64(42), n)
}

// sharedPacer is a connectors.Pacer every "process" of a test shares (the
// service's is db.Pacer, over Postgres).
type sharedPacer struct {
	mu    sync.Mutex
	m     map[string]*rate.Limiter
	books []string
}

func (s *sharedPacer) Reserve(_ context.Context, key string, every time.Duration, burst int, within time.Duration) (time.Duration, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*rate.Limiter{}
	}
	l, ok := s.m[key]
	if !ok {
		l = rate.NewLimiter(rate.Every(every), burst)
		s.m[key] = l
	}
	now := time.Now()
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); within >= 0 && d > within {
		r.CancelAt(now)
		return d, false, nil
	}
	s.books = append(s.books, key)
	return r.DelayFrom(now), true, nil
}

// Two processes pacing one user's calls to one API share one budget once
// the service hands them the shared pacer: the second process's call waits
// for the turns the first spent (Zoho counts per user, whichever worker
// calls). Another product's budget of the same user is its own.
func TestPacerSharesTheUsersBudgetAcrossProcesses(t *testing.T) {
	t.Parallel()
	short := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), 50*time.Millisecond)
	}
	wait := func(p *Pacer) error {
		ctx, cancel := short()
		defer cancel()
		return p.Wait(ctx, "60040386526|messages", 1, "the messages API")
	}

	// Each process alone: a burst of two each, four calls in the minute.
	a, b := NewPacer("zoho-cliq:"), NewPacer("zoho-cliq:")
	for _, p := range []*Pacer{a, a, b, b} {
		require.NoError(t, wait(p))
	}

	s := &sharedPacer{}
	a, b, mail := NewPacer("zoho-cliq:"), NewPacer("zoho-cliq:"), NewPacer("zoho-mail:")
	for _, p := range []*Pacer{a, b, mail} {
		p.Use(s)
	}
	require.NoError(t, wait(a))
	require.NoError(t, wait(a))
	err := wait(b)
	var rl *connectors.RateLimited
	require.ErrorAs(t, err, &rl, "the other process waits for the user's budget")
	require.Greater(t, rl.RetryAfter, 30*time.Second)
	require.NoError(t, wait(mail), "Mail's budget of the same user is its own")
	require.Equal(t, []string{"zoho-cliq:60040386526|messages", "zoho-cliq:60040386526|messages",
		"zoho-mail:60040386526|messages"}, s.books, "a turn the caller cannot wait for is not booked")
}
