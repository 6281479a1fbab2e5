package gmail_test

import (
	"context"
	"net/http"
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
	require.Equal(t, []string{"INBOX"}, info.Labels)
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
