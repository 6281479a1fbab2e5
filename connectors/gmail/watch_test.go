package gmail_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
	gmailsandbox "github.com/poblysh/poblysh/sandbox/gmail"
)

func TestWatchIsRenewedDailyAndStoppedOnRevoke(t *testing.T) {
	h := newHarness(t, gmailsandbox.Options{Seed: true}, `{"labels":["INBOX"]}`, nil)
	w := h.prov.Connector.(connectors.Watcher)
	targets, err := w.WatchTargets(h.conn)
	require.NoError(t, err)
	require.Equal(t, []string{"mailbox"}, targets)
	now := time.Now()
	chans, err := w.Watch(context.Background(), connectors.WatchRequest{Connection: h.conn, HTTP: h.client(), CallbackURL: pushURL, Now: now})
	require.NoError(t, err)
	require.Len(t, chans, 1)
	ch := chans[0]
	require.Equal(t, "mailbox", ch.Target)
	require.Equal(t, "mailbox:ada@example.com", ch.RouteKey, "pushes are routed by the mailbox")
	require.Empty(t, ch.Stream, "a push nudges every label's stream")
	require.WithinDuration(t, now.Add(36*time.Hour), ch.Expires, time.Second,
		"recorded a day and a half out, so the sweep renews it daily (Google's watch lasts 7 days)")
	info := h.sb.Watch("")
	require.True(t, info.Active)
	require.Equal(t, gmailsandbox.DefaultTopic, info.Topic)
	require.Empty(t, info.Labels, "no label filter: the mailbox's one watch serves every connection of it")
	require.Equal(t, 1, info.Calls)

	// Renewal: watch again, then stop the superseded channel; the mailbox
	// stays watched (users.stop would end the new watch too).
	renewed, err := w.Watch(context.Background(), connectors.WatchRequest{Connection: h.conn, HTTP: h.client(), CallbackURL: pushURL, Now: now.Add(24 * time.Hour)})
	require.NoError(t, err)
	require.NotEqual(t, ch.ID, renewed[0].ID)
	require.NoError(t, w.StopWatch(context.Background(), connectors.StopWatchRequest{Connection: h.conn, HTTP: h.client(), Channel: ch}))
	require.True(t, h.sb.Watch("").Active)
	require.Equal(t, 2, h.sb.Watch("").Calls)

	// Disconnect revokes: users.stop first (with a fresh token from the
	// refresh token when the one given has expired), then the grant.
	cfg := h.prov.Connector.(connectors.Authorizer).OAuth2Config("https://poblysh.example/api/v1/connect/gmail/callback")
	tok := connectFlow(t, h, cfg)
	issued := len(h.sb.IssuedTokens())
	require.NoError(t, h.prov.Connector.(connectors.Revoker).Revoke(context.Background(), h.conn.Account,
		&oauth2.Token{AccessToken: "expired-long-ago", RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}))
	require.False(t, h.sb.Watch("").Active, "users.stop ended the watch")
	require.Len(t, h.sb.IssuedTokens(), issued+1, "one refresh for users.stop")
	h.tok = tok.AccessToken
	_, err = h.fetch(t, "label:INBOX", nil)
	require.ErrorIs(t, err, connectors.ErrUnauthorized, "the grant is revoked")

	// A token that is still good (disconnect has just refreshed it) is used
	// as it is: no second refresh.
	tok = connectFlow(t, h, cfg)
	h.tok = tok.AccessToken
	_, err = w.Watch(context.Background(), connectors.WatchRequest{Connection: h.conn, HTTP: h.client(), CallbackURL: pushURL, Now: now})
	require.NoError(t, err)
	require.True(t, h.sb.Watch("").Active)
	issued = len(h.sb.IssuedTokens())
	require.NoError(t, h.prov.Connector.(connectors.Revoker).Revoke(context.Background(), h.conn.Account, tok))
	require.False(t, h.sb.Watch("").Active, "users.stop ended the watch with the token given")
	require.Len(t, h.sb.IssuedTokens(), issued, "no token was refreshed")
}

// TestOneWatchServesEveryConnectionOfTheMailbox: a mailbox has one
// users.watch per Cloud project, shared by every connection of it (two
// tenants', each following its own labels). Whichever connection watched
// last, a change under any connection's labels is pushed: B's watch (or
// renewal) does not silence A's INBOX, and a label a connection starts to
// follow pushes at once, with no new watch.
func TestOneWatchServesEveryConnectionOfTheMailbox(t *testing.T) {
	ctx := context.Background()
	a := newHarness(t, gmailsandbox.Options{Seed: true}, `{"labels":["INBOX","SENT"]}`, nil)
	pushes := countPushes(t, a.sb)
	press := a.sb.AddLabel("", "Press")
	cfg, err := a.prov.Connector.(connectors.ConfigValidator).ValidateConfig([]byte(`{"labels":["` + press + `"]}`))
	require.NoError(t, err)
	b := *a
	b.conn.ID, b.conn.TenantID, b.conn.Config = "conn-2", "tenant-2", cfg

	w := a.prov.Connector.(connectors.Watcher)
	arrives := func(subject string) {
		t.Helper()
		_, _, err := a.sb.AddMessage(ctx, gmailsandbox.MessageInput{From: "Sam <sam@news.example>", To: a.sb.User(), Subject: subject}, now0)
		require.NoError(t, err)
	}
	now := time.Now()
	_, err = w.Watch(ctx, connectors.WatchRequest{Connection: a.conn, HTTP: a.client(), CallbackURL: pushURL, Now: now})
	require.NoError(t, err)
	arrives("one")
	require.EqualValues(t, 1, pushes.Load(), "A's watch pushes INBOX mail")

	for _, at := range []time.Duration{0, 24 * time.Hour} { // B's watch, then its renewal
		_, err = w.Watch(ctx, connectors.WatchRequest{Connection: b.conn, HTTP: b.client(), CallbackURL: pushURL, Now: now.Add(at)})
		require.NoError(t, err)
		before := pushes.Load()
		arrives("after B's watch")
		require.Equal(t, before+1, pushes.Load(), "A's INBOX mail still pushes after B's watch at +%s", at)
	}
	m, _, err := a.sb.AddMessage(ctx, gmailsandbox.MessageInput{From: "Kim <kim@nytimes.com>", To: a.sb.User(), Subject: "press", Labels: []string{press}}, now0)
	require.NoError(t, err)
	require.EqualValues(t, 4, pushes.Load(), "B's label pushes")

	// A starts following STARRED (a config change): it pushes now.
	calls := a.sb.Watch("").Calls
	_, err = a.sb.LabelMessage(ctx, "", m.ID, []string{"STARRED"}, now0)
	require.NoError(t, err)
	require.EqualValues(t, 5, pushes.Load(), "a label no connection followed at the last watch pushes")
	require.Equal(t, calls, a.sb.Watch("").Calls, "with no new users.watch")
	require.Empty(t, a.sb.Watch("").Labels, "the watch filters no label")
}

// countPushes points the sandbox's pushes at a sink and counts them.
func countPushes(t *testing.T, sb *gmailsandbox.Server) *atomic.Int32 {
	t.Helper()
	var n atomic.Int32
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(sink.Close)
	sb.Base.Deliverer.SetTarget(sink.URL)
	return &n
}

func TestWatchNeedsATopicAndPushVerification(t *testing.T) {
	h := newHarness(t, gmailsandbox.Options{}, `{}`, nil)
	for name, settings := range map[string]map[string]string{
		"no topic":           {"PUBSUB_TOPIC": ""},
		"no service account": {"PUSH_SERVICE_ACCOUNT": ""},
	} {
		p := provider(t, h.sb, h.url, settings)
		_, err := p.Connector.(connectors.Watcher).Watch(context.Background(), connectors.WatchRequest{Connection: h.conn, HTTP: h.client(), CallbackURL: pushURL})
		require.ErrorIs(t, err, connectors.ErrInvalidConfig, name)
	}
	require.False(t, h.sb.Watch("").Active)
	require.Zero(t, h.sb.Watch("").Calls, "nothing was asked of Gmail")
}

// connectFlow runs the OAuth flow against the sandbox and returns the token.
func connectFlow(t *testing.T, h *harness, cfg *oauth2.Config) *oauth2.Token {
	t.Helper()
	auth := h.prov.Connector.(connectors.Authorizer)
	verifier := oauth2.GenerateVerifier()
	u := cfg.AuthCodeURL("st", append(auth.AuthCodeOptions(), oauth2.S256ChallengeOption(verifier))...)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(u)
	require.NoError(t, err)
	resp.Body.Close()
	loc, err := resp.Location()
	require.NoError(t, err)
	tok, err := cfg.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	return tok
}

// TestRenamedMailboxKeepsItsPushes: a Workspace admin renames the user
// (ada@ -> ada.lovelace@); Google keeps the account, its OpenID subject and
// its grant, and makes the old address an alias. The connection still has
// the address stored at connect, but Gmail's pushes and users.getProfile
// name the new one: the watch's renewal must route by the address the
// mailbox's pushes carry, and the mailbox, read with the connection's own
// token, is still the connection's (the address it reports is the new
// one, so its route follows). Dedupe keys stay on the stored address: a
// resync after the rename stores nothing twice.
func TestRenamedMailboxKeepsItsPushes(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, gmailsandbox.Options{Seed: true}, `{"labels":["INBOX"]}`, nil)
	const renamed = "ada.lovelace@example.com"
	var pushes []*connectors.WebhookRequest
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		pushes = append(pushes, &connectors.WebhookRequest{Header: r.Header.Clone(), Body: body, Now: time.Now()})
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(sink.Close)
	h.sb.Base.Deliverer.SetTarget(sink.URL)
	w := h.prov.Connector.(connectors.Watcher)
	first, err := w.Watch(ctx, connectors.WatchRequest{Connection: h.conn, HTTP: h.client(), CallbackURL: pushURL, Now: time.Now()})
	require.NoError(t, err)
	require.Equal(t, "mailbox:"+me, first[0].RouteKey)
	before, _ := h.drain(t, "label:INBOX", nil)

	require.NoError(t, h.sb.RenameUser("", renamed))
	require.Equal(t, me, h.conn.Account.Metadata["email"], "the connection still has the address stored at connect")

	// The daily renewal.
	renewed, err := w.Watch(ctx, connectors.WatchRequest{Connection: h.conn, HTTP: h.client(), CallbackURL: pushURL, Now: time.Now().Add(24 * time.Hour)})
	require.NoError(t, err)
	_, _, err = h.sb.AddMessage(ctx, gmailsandbox.MessageInput{From: "Pat <pat@partner.example>", To: renamed, Subject: "After the rename"}, now0)
	require.NoError(t, err)
	require.Len(t, pushes, 1)
	d, err := h.prov.Connector.(connectors.WebhookReceiver).ParseWebhook(pushes[0])
	require.NoError(t, err)
	require.Equal(t, []string{"mailbox:" + renamed}, d.RouteKeys, "Gmail's pushes name the new address")
	require.Equal(t, "mailbox:"+renamed, renewed[0].RouteKey, "the renewed channel routes the mailbox's pushes")
	require.Equal(t, renamed, renewed[0].ResourceID)

	report, err := h.prov.Connector.(connectors.AccessProver).ProveAccess(ctx, connectors.AccessRequest{Connection: h.conn, HTTP: h.client()})
	require.NoError(t, err)
	require.Empty(t, report.DeniedRefs(), "the renamed mailbox is still the connection's")
	require.Equal(t, connectors.Resource{Ref: "mailbox", ID: renamed, Name: renamed, RouteKeys: []string{"mailbox:" + renamed}}, report.Granted[0],
		"the mailbox as Gmail names it now: its route follows the rename")

	after, _ := h.drain(t, "label:INBOX", nil)
	keys := func(sigs []connectors.Signal) map[string]bool {
		out := map[string]bool{}
		for _, s := range sigs {
			out[s.DedupeKey] = true
		}
		return out
	}
	for k := range keys(before) {
		require.True(t, keys(after)[k], "a resync after the rename derives the same key: %s", k)
	}
}
