package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/client/connections"
	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/sandbox"
	gmailsandbox "github.com/poblysh/poblysh/sandbox/gmail"
)

// TestGmailRenamedAccountReconnectedKeepsItsKeys: a Workspace admin
// renames the connected user (ada@ -> ada.lovelace@; the subject, the
// grant and the mailbox stay). Re-authorizing (POST
// /connections/{id}/reconnect) heals the same connection with the new
// address, and the backfill it starts stores nothing again: dedupe keys
// still name the address first connected (account.metadata.mailbox_key),
// so the stored Signals are found. It stored the whole window again,
// keyed by the new address. The reconnect's proof routes the mailbox by
// its new address at once, so the next push is routed (not only after the
// watch pass the reconnect starts); its mail is keyed as before and shown
// under the address now. A plain connect of the same account keeps the
// key too.
func TestGmailRenamedAccountReconnectedKeepsItsKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, gm := gmailStack(t)
	tenant, key := s.tenant("Acme")
	me, renamed := gm.User(), "ada.lovelace@example.com"

	code, body := s.connectAs(key, "gmail", me, nil)
	require.Equal(t, http.StatusOK, code, body)
	id := string(*connectionOf(t, body).ID)
	succeeded := func(js []*models.Job) {
		t.Helper()
		for _, j := range js {
			require.Equal(t, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
		}
	}
	succeeded(s.waitJobs(key, id, "backfill", 2, 2*time.Minute))
	signals := func() int { return s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1`, tenant) }
	stored := gmailsandbox.InboxSignals + gmailsandbox.SentSignals - 1 // the inquiry's press Signal is found by both streams
	require.Equal(t, stored, signals())
	metadata := func() map[string]string {
		t.Helper()
		var raw []byte
		require.NoError(t, s.owner().QueryRow(ctx, `SELECT account->'metadata' FROM connections WHERE id = $1`, id).Scan(&raw))
		var md map[string]string
		require.NoError(t, json.Unmarshal(raw, &md))
		return md
	}
	require.Equal(t, map[string]string{"email": me}, metadata())
	routed := func() map[string]bool {
		out := map[string]bool{}
		rows, err := s.owner().Query(ctx, `SELECT DISTINCT route_key FROM webhook_routes WHERE connection_id = $1`, id)
		require.NoError(t, err)
		for rows.Next() {
			var k string
			require.NoError(t, rows.Scan(&k))
			out[k] = true
		}
		require.NoError(t, rows.Err())
		return out
	}

	require.NoError(t, gm.RenameUser("", renamed))
	re, err := s.client.Connections.ReconnectConnection(connections.NewReconnectConnectionParams().WithID(strfmt.UUID(id)),
		httptransport.BearerToken(key))
	require.NoError(t, err)
	again := s.complete(s.authorize(re.Payload.AuthorizationURL.String()))
	require.Equal(t, id, string(*again.ID), "the same account: healed in place")
	require.Equal(t, map[string]string{"email": renamed, "mailbox_key": me}, metadata())
	require.True(t, routed()["mailbox:"+renamed], "the reconnect's proof routes the mailbox by its address now: %v", routed())
	succeeded(s.waitJobs(key, id, "backfill", 4, 2*time.Minute))
	require.Equal(t, stored, signals(), "the re-authorization's backfill stores nothing again")
	require.Zero(t, s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1 AND dedupe_key LIKE $2`, tenant, "gmail:%:"+renamed+":%"))

	// Mail after the reconnect is pushed, routed, keyed as before and
	// shown under the address now.
	m, res, err := gm.AddMessage(ctx, gmailsandbox.MessageInput{From: "Pat Partner <pat@partner.example>", To: renamed, Subject: "After the reconnect"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.Equal(t, http.StatusOK, res[0].Status, res[0].Body)
	require.NotContains(t, res[0].Body, `"unroutable"`)
	eventually(t, 30*time.Second, "the pushed mail stored", func() bool { return signals() == stored+2 })
	var shown string
	require.NoError(t, s.owner().QueryRow(ctx, `SELECT payload->'context'->>'id' FROM signals WHERE tenant_id = $1 AND dedupe_key = $2`,
		tenant, "gmail:msg:"+me+":"+m.ID+":received").Scan(&shown))
	require.Equal(t, renamed, shown, "Signals name the mailbox as Gmail does now")

	// A plain connect of the same account (no reconnect URL) keeps it too.
	code, body = s.connectAs(key, "gmail", me, nil)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, id, string(*connectionOf(t, body).ID))
	require.Equal(t, map[string]string{"email": renamed, "mailbox_key": me}, metadata())
	succeeded(s.waitJobs(key, id, "backfill", 6, 2*time.Minute))
	require.Equal(t, stored+2, signals(), "its backfill stores nothing again either")
}
