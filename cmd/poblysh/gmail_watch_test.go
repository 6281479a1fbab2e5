package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/sandbox"
	gmailsandbox "github.com/poblysh/poblysh/sandbox/gmail"
	"github.com/poblysh/poblysh/testenv"
	"github.com/poblysh/poblysh/workflows"
)

// gmailStack starts a stack with a seeded Gmail sandbox that pushes to it.
func gmailStack(t *testing.T) (*stack, *gmailsandbox.Server) {
	t.Helper()
	port := testenv.FreePort()
	fake, err := sandbox.New("gmail", sandbox.Options{Seed: true, DeliverTo: fmt.Sprintf("http://127.0.0.1:%d", port), WebhookSecret: sandbox.RandomString(32)})
	require.NoError(t, err)
	gm := fake.(*gmailsandbox.Server)
	srv := httptest.NewServer(gm)
	t.Cleanup(srv.Close)
	return newStack(t, withPort(port), withEnv(gm.Env(srv.URL))), gm
}

// TestGmailOneWatchServesTwoTenants: two tenants connect the same mailbox,
// A following INBOX and SENT, B one user label. Gmail keeps one
// users.watch per mailbox, so B's watch, and its daily renewal, must not
// silence A's INBOX: A's channel stays recorded live (push on, a reconcile
// sync six hours apart), and its mail would wait for that sync. A label B
// starts to follow by PATCH pushes at once, without a new watch.
func TestGmailOneWatchServesTwoTenants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, gm := gmailStack(t)
	tenantA, keyA := s.tenant("Acme")
	tenantB, keyB := s.tenant("Receipts Inc")
	me := gm.User()

	connect := func(key string, cfg any, streams int) string {
		t.Helper()
		code, body := s.connectAs(key, "gmail", me, cfg)
		require.Equal(t, http.StatusOK, code, body)
		id := string(*connectionOf(t, body).ID)
		for _, j := range s.waitJobs(key, id, "backfill", streams, 2*time.Minute) {
			require.Equal(t, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
		}
		eventually(t, 30*time.Second, "the mailbox watched", func() bool {
			c := s.connection(key, id)
			return *c.PushEnabled && len(c.Watches) == 1
		})
		return id
	}
	connA := connect(keyA, nil, 2)
	connB := connect(keyB, map[string]any{"labels": []string{gmailsandbox.ReceiptsLabelID}}, 1)

	received := func(tenant, subject string) int {
		return s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1 AND kind = 'email.received' AND payload->'attributes'->>'subject' = $2`, tenant, subject)
	}
	// arrives delivers INBOX mail and waits for A's Signal: by push, since
	// A's schedule syncs six hours apart.
	arrives := func(subject string) {
		t.Helper()
		_, res, err := gm.AddMessage(ctx, gmailsandbox.MessageInput{From: "Pat Partner <pat@partner.example>", To: me, Subject: subject}, sandbox.DeliveryOptions{})
		require.NoError(t, err)
		require.Len(t, res, 1, "%s: INBOX mail is pushed (watch: %+v)", subject, gm.Watch(""))
		require.Equal(t, http.StatusOK, res[0].Status, res[0].Body)
		eventually(t, 30*time.Second, "A's Signal of "+subject, func() bool { return received(tenantA, subject) == 1 })
		require.Zero(t, received(tenantB, subject), "not B's label")
	}
	arrives("After B connected")

	// B's watch is renewed (a day later); A's mail still pushes.
	first := *s.connection(keyB, connB).Watches[0].ChannelID
	calls := gm.Watch("").Calls
	s.exec(`UPDATE watch_channels SET created_at = created_at - interval '25 hours', expires_at = expires_at - interval '25 hours'
		WHERE connection_id = $1 AND stopped_at IS NULL`, connB)
	s.trigger(workflows.RenewalScheduleID(s.taskQueue))
	eventually(t, 60*time.Second, "B's watch renewed", func() bool {
		w := s.connection(keyB, connB).Watches
		return len(w) == 1 && *w[0].ChannelID != first
	})
	require.Equal(t, calls+1, gm.Watch("").Calls)
	arrives("After B's renewal")
	require.True(t, *s.connection(keyA, connA).PushEnabled)

	// B follows STARRED too: starring a message pushes, with no new watch.
	code, body := s.patch(keyB, connB, `{"config":{"labels":["`+gmailsandbox.ReceiptsLabelID+`","STARRED"]}}`)
	require.Equal(t, http.StatusOK, code, body)
	calls = gm.Watch("").Calls
	res, err := gm.LabelMessage(ctx, "", gmailsandbox.ConferenceID, []string{"STARRED"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	require.Len(t, res, 1, "a label B follows since its PATCH pushes")
	require.Equal(t, http.StatusOK, res[0].Status, res[0].Body)
	require.Equal(t, calls, gm.Watch("").Calls, "no users.watch was needed")
}

// TestGmailRenamedMailboxKeepsPushing: a Workspace admin renames the
// connected user (ada@ -> ada.lovelace@). Google keeps the account, its
// subject and the grant; the old address becomes an alias, and Gmail's
// pushes name the new one. The connection's account still has the address
// stored at connect. The daily renewal watches again and routes by the
// address users.getProfile answers, so the mailbox's pushes reach the
// connection again; a PATCH proves the mailbox (it is still the
// connection's) and its route moves to the new address.
func TestGmailRenamedMailboxKeepsPushing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, gm := gmailStack(t)
	tenant, key := s.tenant("Acme")
	me, renamed := gm.User(), "ada.lovelace@example.com"

	code, body := s.connectAs(key, "gmail", me, nil)
	require.Equal(t, http.StatusOK, code, body)
	id := string(*connectionOf(t, body).ID)
	for _, j := range s.waitJobs(key, id, "backfill", 2, 2*time.Minute) {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
	}
	eventually(t, 30*time.Second, "the mailbox watched", func() bool {
		c := s.connection(key, id)
		return *c.PushEnabled && len(c.Watches) == 1
	})
	routes := func() []string {
		var keys []string
		rows, err := s.owner().Query(ctx, `SELECT DISTINCT route_key FROM webhook_routes WHERE connection_id = $1 ORDER BY 1`, id)
		require.NoError(t, err)
		for rows.Next() {
			var k string
			require.NoError(t, rows.Scan(&k))
			keys = append(keys, k)
		}
		require.NoError(t, rows.Err())
		return keys
	}
	require.Equal(t, []string{"mailbox:" + me}, routes())
	received := func(subject string) int {
		return s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1 AND kind = 'email.received' AND payload->'attributes'->>'subject' = $2`, tenant, subject)
	}

	require.NoError(t, gm.RenameUser("", renamed))
	// Until the watch is renewed, Gmail's pushes name an address no route
	// has (the reconcile sync still reads the mailbox).
	_, res, err := gm.AddMessage(ctx, gmailsandbox.MessageInput{From: "Pat Partner <pat@partner.example>", To: renamed, Subject: "Before the renewal"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.Contains(t, res[0].Body, `"unroutable"`)

	// The daily renewal watches again, routed by the mailbox's address now.
	first := *s.connection(key, id).Watches[0].ChannelID
	s.exec(`UPDATE watch_channels SET created_at = created_at - interval '25 hours', expires_at = expires_at - interval '25 hours'
		WHERE connection_id = $1 AND stopped_at IS NULL`, id)
	s.trigger(workflows.RenewalScheduleID(s.taskQueue))
	eventually(t, 60*time.Second, "the watch renewed", func() bool {
		w := s.connection(key, id).Watches
		return len(w) == 1 && *w[0].ChannelID != first
	})
	require.Contains(t, routes(), "mailbox:"+renamed, "the renewed channel routes the renamed mailbox's pushes")
	_, res, err = gm.AddMessage(ctx, gmailsandbox.MessageInput{From: "Pat Partner <pat@partner.example>", To: renamed, Subject: "After the renewal"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.Equal(t, http.StatusOK, res[0].Status, res[0].Body)
	require.NotContains(t, res[0].Body, `"unroutable"`)
	eventually(t, 30*time.Second, "the pushed mail stored", func() bool { return received("After the renewal") == 1 })
	require.Equal(t, 1, received("Before the renewal"), "read by the same pass: the cursor covers it")

	// A PATCH proves the mailbox with the connection's own token: still
	// its mailbox, now routed by its new address only.
	code, body = s.patch(key, id, `{"config":{"labels":["INBOX","SENT","STARRED"]}}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, []string{"mailbox:" + renamed}, routes())
	require.True(t, *s.connection(key, id).PushEnabled)
}
