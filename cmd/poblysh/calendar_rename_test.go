package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/client/connections"
	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/sandbox"
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
)

// TestGoogleCalendarRenamedAccountKeepsItsKeys: a Workspace admin renames
// the connected user (ada@ -> ada.byron@; the OpenID subject, the grant and
// the calendar stay). Re-authorizing (POST /connections/{id}/reconnect)
// heals the same connection with the new address, and the backfill it
// starts stores nothing again: the primary calendar's keys still name the
// address first connected (account.metadata.calendar_key), so the stored
// Signals and fingerprints are found. It stored the whole window again,
// keyed by the new address. An edit of a known event is then an update; a
// plain connect of the same account keeps the key too.
func TestGoogleCalendarRenamedAccountKeepsItsKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	gc := gcalsandbox.New(gcalsandbox.Options{Seed: true})
	base := newHTTPServer(t, gc)
	s := newStack(t, withEnv(gc.Env(base)), withEnv(map[string]string{"POBLYSH_GOOGLE_CALENDAR_WEBHOOK_SECRET": "calendar-channel-secret"}))
	tenant, key := s.tenant("Acme")
	me, renamed := gcalsandbox.DefaultUser, "ada.byron@example.com"

	// The seed is of January 2025: a window long enough to backfill it.
	code, body := s.connectAs(key, "google-calendar", me, map[string]any{"calendars": []string{"primary"}, "backfill_days": 3650})
	require.Equal(t, http.StatusOK, code, body)
	id := string(*connectionOf(t, body).ID)
	succeeded := func(js []*models.Job) {
		t.Helper()
		for _, j := range js {
			require.Equal(t, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
		}
	}
	succeeded(s.waitJobs(key, id, "backfill", 1, 2*time.Minute))
	signals := func() int { return s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1`, tenant) }
	require.Equal(t, gcalsandbox.PrimarySignals, signals())
	metadata := func() map[string]string {
		t.Helper()
		var raw []byte
		require.NoError(t, s.owner().QueryRow(ctx, `SELECT account->'metadata' FROM connections WHERE id = $1`, id).Scan(&raw))
		var md map[string]string
		require.NoError(t, json.Unmarshal(raw, &md))
		return md
	}
	require.Equal(t, map[string]string{"email": me}, metadata())

	require.NoError(t, gc.OAuth.Rename(me, renamed))
	re, err := s.client.Connections.ReconnectConnection(connections.NewReconnectConnectionParams().WithID(strfmt.UUID(id)),
		httptransport.BearerToken(key))
	require.NoError(t, err)
	again := s.complete(s.authorize(re.Payload.AuthorizationURL.String()))
	require.Equal(t, id, string(*again.ID), "the same account: healed in place")
	require.Equal(t, renamed, *again.DisplayName, "the address Google names now is shown")
	require.Equal(t, map[string]string{"email": renamed, "calendar_key": me}, metadata())
	js := s.waitJobs(key, id, "backfill", 2, 2*time.Minute)
	succeeded(js)
	require.Equal(t, gcalsandbox.PrimarySignals, signals(), "the re-authorization's backfill stores nothing again")
	for address, n := range map[string]int{me: gcalsandbox.PrimarySignals, renamed: 0} {
		require.Equal(t, n, s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1 AND dedupe_key LIKE $2`, tenant, "google-calendar:event:"+address+":%"), address)
		require.Equal(t, n > 0, s.count(`SELECT count(*) FROM fingerprints WHERE connection_id = $1 AND key LIKE $2`, id, "event:"+address+":%") > 0, address)
	}

	// An edit of an event stored before the rename is an update, dated at
	// the edit, under the keys stored before.
	_, _, err = gc.UpdateEvent(ctx, "primary", "q3roadmapreview0a1b2c3d4e", gcalsandbox.EventInput{Location: "Room 101"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	succeeded(s.sync(key, "google-calendar", id, "incremental"))
	var kind, dedupe, calendar string
	require.NoError(t, s.owner().QueryRow(ctx, `SELECT kind, dedupe_key, payload->'context'->>'id' FROM signals
		WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1`, tenant).Scan(&kind, &dedupe, &calendar))
	require.Equal(t, "calendar_event.updated", kind, dedupe)
	require.True(t, strings.HasPrefix(dedupe, "google-calendar:event:"+me+":q3roadmapreview0a1b2c3d4e:updated:"), dedupe)
	require.Equal(t, renamed, calendar, "Signals name the calendar as Google does now")
	require.Equal(t, gcalsandbox.PrimarySignals+1, signals())

	// A plain connect of the same account (no reconnect URL) keeps it too.
	code, body = s.connectAs(key, "google-calendar", me, nil)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, id, string(*connectionOf(t, body).ID))
	require.Equal(t, map[string]string{"email": renamed, "calendar_key": me}, metadata())
	succeeded(s.waitJobs(key, id, "backfill", 3, 2*time.Minute))
	require.Equal(t, gcalsandbox.PrimarySignals+1, signals(), "its backfill stores nothing again either")
}
