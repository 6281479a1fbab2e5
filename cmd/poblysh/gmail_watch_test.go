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

// TestGmailOneWatchServesTwoTenants: two tenants connect the same mailbox,
// A following INBOX and SENT, B one user label. Gmail keeps one
// users.watch per mailbox, so B's watch, and its daily renewal, must not
// silence A's INBOX: A's channel stays recorded live (push on, a reconcile
// sync six hours apart), and its mail would wait for that sync. A label B
// starts to follow by PATCH pushes at once, without a new watch.
func TestGmailOneWatchServesTwoTenants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	port := testenv.FreePort()
	fake, err := sandbox.New("gmail", sandbox.Options{Seed: true, DeliverTo: fmt.Sprintf("http://127.0.0.1:%d", port), WebhookSecret: sandbox.RandomString(32)})
	require.NoError(t, err)
	gm := fake.(*gmailsandbox.Server)
	srv := httptest.NewServer(gm)
	t.Cleanup(srv.Close)
	s := newStack(t, withPort(port), withEnv(gm.Env(srv.URL)))
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
