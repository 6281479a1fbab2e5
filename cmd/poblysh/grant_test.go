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
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
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
