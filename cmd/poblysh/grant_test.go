package main

import (
	"net/http"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/client/connections"
	"github.com/poblysh/poblysh/gen/models"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
	zohosandbox "github.com/poblysh/poblysh/sandbox/zoho"
)

// TestGoogleGrantRevokedByTheLastConnection: Google revokes a user's whole
// grant to the client whichever token is revoked, so deleting one of two
// connections of the same Google account (here two organisations') keeps
// the grant: the other still refreshes and syncs. Deleting the last one
// revokes it.
func TestGoogleGrantRevokedByTheLastConnection(t *testing.T) {
	t.Parallel()
	gc := gcalsandbox.New(gcalsandbox.Options{Seed: true})
	base := newHTTPServer(t, gc)
	s := newStack(t, withEnv(gc.Env(base)), withEnv(map[string]string{"POBLYSH_GOOGLE_CALENDAR_WEBHOOK_SECRET": "calendar-channel-secret"}))
	_, keyA := s.tenant("Acme")
	_, keyB := s.tenant("Acme Europe")
	conns := map[string]string{}
	for _, key := range []string{keyA, keyB} {
		code, body := s.connectAs(key, "google-calendar", gcalsandbox.DefaultUser, map[string]any{"calendars": []string{"primary"}})
		require.Equal(t, http.StatusOK, code, body)
		conns[key] = string(*connectionOf(t, body).ID)
		s.waitJobs(key, conns[key], "backfill", 1, 2*time.Minute)
	}
	liveRefreshTokens := func() int {
		n := 0
		for _, tok := range gc.Base.OAuth.Issued() {
			if _, err := gc.Base.OAuth.RefreshToken(gc.ClientID(), tok); err == nil {
				n++
			}
		}
		return n
	}
	require.Positive(t, liveRefreshTokens())

	del := func(key string) {
		_, err := s.client.Connections.DeleteConnection(connections.NewDeleteConnectionParams().WithID(strfmt.UUID(conns[key])),
			httptransport.BearerToken(key))
		require.NoError(t, err)
	}
	del(keyA)
	require.Positive(t, liveRefreshTokens(), "A's delete kept the grant B lives on")
	gc.Base.OAuth.ExpireAccessTokens()
	for _, j := range s.sync(keyB, "google-calendar", conns[keyB], "incremental") {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, deref(j.Error))
	}
	require.Equal(t, models.ConnectionHealthHealthy, *s.connection(keyB, conns[keyB]).Health)

	del(keyB)
	require.Zero(t, liveRefreshTokens(), "the last connection's delete revoked the grant")
}

// TestFailedZohoConnectsRevokeTheirGrant: Zoho keeps 20 refresh tokens per
// user and client and removes the oldest for the 21st (here 3 and the 4th,
// for time: each code exchange is paced). A connect that fails after the
// code exchange (here: a channel Ada is not in, 422) revokes the token it
// got, so as many failed attempts as the cap leave Ada's working
// connection its grant: it still refreshes and syncs. They evicted it.
func TestFailedZohoConnectsRevokeTheirGrant(t *testing.T) {
	t.Parallel()
	const kept = 3
	zc := zohosandbox.ForProduct(zohosandbox.ProductCliq, zohosandbox.Options{Seed: true, RefreshTokensKept: kept})
	base := newHTTPServer(t, zc)
	s := newStack(t, withEnv(zc.Env(base)), withEnv(map[string]string{
		"POBLYSH_ZOHO_CLIQ_PACE": "messages=6000,mentions=6000,channels=6000,users=6000"}))
	_, key := s.tenant("Acme")
	code, body := s.connectAs(key, "zoho-cliq", zohosandbox.UserAda, map[string]any{"channels": []string{zohosandbox.UniqueLaunch}})
	require.Equal(t, http.StatusOK, code, body)
	id := string(*connectionOf(t, body).ID)
	s.waitJobs(key, id, "backfill", 2, 2*time.Minute)

	for range kept {
		code, body = s.connectAs(key, "zoho-cliq", zohosandbox.UserAda, map[string]any{"channels": []string{"leadership"}})
		require.Equal(t, http.StatusUnprocessableEntity, code, body)
	}
	_, _, revoked := zc.Accounts("eu").Stats()
	require.Equal(t, kept, revoked, "each failed connect revoked its refresh token")

	zc.Accounts("eu").OAuth().ExpireAccessTokens()
	for _, j := range s.sync(key, "zoho-cliq", id, "incremental") {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, deref(j.Error))
	}
	require.Equal(t, models.ConnectionHealthHealthy, *s.connection(key, id).Health)
}

// TestZohoReconnectRevokesTheTokenItReplaces: Zoho issues a new refresh
// token at every consent and keeps 20 per user and client (here 3),
// deleting the oldest for the next. Ada is connected by two
// organisations; A re-authorizes its connection as many times as the cap.
// Each reconnect revokes the refresh token it replaced, so B's stays one
// of Ada's live tokens: B still refreshes and syncs, and so does A, on the
// token it holds now. The replaced tokens used to stay live until Zoho
// evicted the oldest of Ada's: B's.
func TestZohoReconnectRevokesTheTokenItReplaces(t *testing.T) {
	t.Parallel()
	const kept = 3
	zc := zohosandbox.ForProduct(zohosandbox.ProductCliq, zohosandbox.Options{Seed: true, RefreshTokensKept: kept})
	base := newHTTPServer(t, zc)
	s := newStack(t, withEnv(zc.Env(base)), withEnv(map[string]string{
		"POBLYSH_ZOHO_CLIQ_PACE": "messages=6000,mentions=6000,channels=6000,users=6000"}))
	_, keyA := s.tenant("Acme")
	_, keyB := s.tenant("Acme Europe")
	cfg := map[string]any{"channels": []string{zohosandbox.UniqueLaunch}}
	code, body := s.connectAs(keyB, "zoho-cliq", zohosandbox.UserAda, cfg)
	require.Equal(t, http.StatusOK, code, body)
	idB := string(*connectionOf(t, body).ID)
	s.waitJobs(keyB, idB, "backfill", 2, 2*time.Minute)

	idA := s.connectRepeatedly(t, keyA, "zoho-cliq", zohosandbox.UserAda, cfg, kept+1)
	_, _, revoked := zc.Accounts("eu").Stats()
	require.Equal(t, kept, revoked, "each reconnect revoked the refresh token it replaced, and nothing else")

	zc.Accounts("eu").OAuth().ExpireAccessTokens()
	s.syncsHealthy(t, "zoho-cliq", map[string]string{keyB: idB, keyA: idA})
}

// TestGitHubReconnectRevokesTheTokenItReplaces: GitHub keeps 10 OAuth App
// tokens per user, app and scopes (here 3) and revokes the oldest for the
// next. Alice is connected by two organisations; A re-authorizes its
// connection as many times as the cap. Each reconnect revokes the token it
// replaced (that one token), so B's stays live and B still syncs, as A
// does on its new token.
func TestGitHubReconnectRevokesTheTokenItReplaces(t *testing.T) {
	t.Parallel()
	const kept = 3
	gh := githubsandbox.New(githubsandbox.Options{Seed: true, TokensKept: kept})
	base := newHTTPServer(t, gh)
	s := newStack(t, withEnv(gh.Env(base)))
	gh.AddUser("alice")
	_, keyA := s.tenant("Acme")
	_, keyB := s.tenant("Bolt")
	cfg := map[string]any{"repos": []string{githubsandbox.SeedRepo}}
	code, body := s.connectAs(keyB, "github", "alice", cfg)
	require.Equal(t, http.StatusOK, code, body)
	idB := string(*connectionOf(t, body).ID)

	idA := s.connectRepeatedly(t, keyA, "github", "alice", cfg, kept+1)
	live := liveTokens(gh)
	require.Equal(t, 2, live, "A's and B's tokens, the replaced ones revoked")
	s.syncsHealthy(t, "github", map[string]string{keyB: idB, keyA: idA})
}

// TestFailedGitHubConnectsRevokeTheirToken: GitHub keeps 10 OAuth App
// tokens per user, app and scopes and revokes the oldest past that (here
// 3). A connect that fails after the code exchange (a repository alice
// cannot read, 422) revokes the token it got, so as many failed attempts as
// the cap leave alice's working connection its token: it still syncs.
// They evicted it.
func TestFailedGitHubConnectsRevokeTheirToken(t *testing.T) {
	t.Parallel()
	const kept = 3
	gh := githubsandbox.New(githubsandbox.Options{Seed: true, TokensKept: kept})
	base := newHTTPServer(t, gh)
	s := newStack(t, withEnv(gh.Env(base)))
	gh.AddUser("alice")
	_, err := gh.CreateRepo("octocat/diary", "", true)
	require.NoError(t, err)
	_, key := s.tenant("Acme")
	code, body := s.connectAs(key, "github", "alice", map[string]any{"repos": []string{githubsandbox.SeedRepo}})
	require.Equal(t, http.StatusOK, code, body)
	id := string(*connectionOf(t, body).ID)

	for range kept {
		code, body = s.connectAs(key, "github", "alice", map[string]any{"repos": []string{"octocat/diary"}})
		require.Equal(t, http.StatusUnprocessableEntity, code, body)
	}
	live := liveTokens(gh)
	require.Equal(t, 1, live, "only the working connection's token is live")
	s.syncsHealthy(t, "github", map[string]string{key: id})
}

// liveTokens counts the tokens the GitHub sandbox issued that it still
// accepts.
func liveTokens(gh *githubsandbox.Server) int {
	live := 0
	for _, tok := range gh.OAuth.Issued() {
		if _, err := gh.OAuth.Check(tok); err == nil {
			live++
		}
	}
	return live
}

// syncsHealthy runs an incremental sync of each connection (API key →
// connection id) and requires every job to succeed and the connection to
// stay healthy.
func (s *stack) syncsHealthy(t *testing.T, provider string, conns map[string]string) {
	t.Helper()
	for key, id := range conns {
		for _, j := range s.sync(key, provider, id, "incremental") {
			require.Equal(t, models.JobStatusSucceeded, *j.Status, deref(j.Error))
		}
		require.Equal(t, models.ConnectionHealthHealthy, *s.connection(key, id).Health)
	}
}

// connectRepeatedly connects login's account to provider for the tenant of
// key n times and returns the connection: the first connect makes it, and
// each reconnect of the same account must update it in place.
func (s *stack) connectRepeatedly(t *testing.T, key, provider, login string, cfg map[string]any, n int) string {
	t.Helper()
	var conn string
	for i := range n {
		code, body := s.connectAs(key, provider, login, cfg)
		require.Equal(t, http.StatusOK, code, body)
		id := string(*connectionOf(t, body).ID)
		if i > 0 {
			require.Equal(t, conn, id, "a reconnect of the same account updates its connection")
		}
		conn = id
	}
	return conn
}
