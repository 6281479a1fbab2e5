package main

import (
	"context"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/client/connections"
	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/sandbox"
	gmailsandbox "github.com/poblysh/poblysh/sandbox/gmail"
	"github.com/poblysh/poblysh/workflows"
)

// Gmail's row: connect (gmail.metadata only), backfill INBOX and SENT
// exactly in short pages, watch the mailbox through Pub/Sub (pushes carry
// an OIDC token and the URL token), receive a new thread by push within a
// second, turn a journalist's inquiry into one email.press_thread (our
// reply adds none), and catch a message whose push is held. Then: forged
// pushes are refused with 401 and leave nothing; a redelivered push is a
// duplicate; a history id too old (404) is survived by a resync that stores
// only the new mail; the watch is renewed daily; disconnecting stops it.
func init() {
	gm := func(r *providerRun) *gmailsandbox.Server { return r.fake.(*gmailsandbox.Server) }
	streams := []string{"label:INBOX", "label:SENT"}
	none := sandbox.DeliveryOptions{}
	addProviderCase(providerCase{
		provider: "gmail",
		fake:     sandbox.Options{Faults: []string{gmailsandbox.FaultShortPages}},
		config:   nil, // INBOX and SENT
		streams:  2,
		// The inquiry's press Signal is found by both streams; it is stored once.
		backfill: gmailsandbox.InboxSignals + gmailsandbox.SentSignals - 1,
		watches:  1, // the mailbox
		afterBackfill: func(r *providerRun, sigs []*models.Signal) {
			require.Equal(r.t, map[string]int{"email.received": 3, "email.sent": 2, "email.thread_started": 4, "email.press_thread": 1}, kinds(sigs))
		},
		live: func(r *providerRun) {
			ctx, t, me := context.Background(), r.t, gm(r).User()
			w := gm(r).Watch("")
			require.True(t, w.Active)
			require.Empty(t, w.Labels, "no label filter: the mailbox's one watch serves every connection of it")
			require.Equal(t, gmailsandbox.DefaultTopic, w.Topic)

			// A new thread, by push, within seconds (not at the next poll,
			// minutes away). An idle connection starts a pass at once (a
			// push during a pass waits for a quiet period with it). The
			// bound is generous: this is the push path, not a latency
			// measurement (that is make bench), and CI's load once took
			// 1.18 s here.
			r.idle(streams...)
			start := time.Now()
			_, res, err := gm(r).AddMessage(ctx, gmailsandbox.MessageInput{From: "Pat Partner <pat@partner.example>", To: me, Subject: "Co-marketing in March?"}, none)
			require.NoError(t, err)
			require.Len(t, res, 1)
			require.Equal(t, 200, res[0].Status, "acknowledged once its sync is nudged: %s", res[0].Body)
			added := r.arrive(2)
			elapsed := time.Since(start)
			t.Logf("a new thread by push in %s", elapsed)
			require.Equal(t, map[string]int{"email.received": 1, "email.thread_started": 1}, kinds(added))
			require.Less(t, elapsed, 10*time.Second, "push → verified → nudged → history.list → stored, well before a poll")

			// A journalist's inquiry: one press thread; our reply adds the
			// sent message only.
			inq, _, err := gm(r).AddMessage(ctx, gmailsandbox.MessageInput{From: "Kim Lee <kim.lee@nytimes.com>", To: me,
				Subject: "Interview request: the Q3 launch", Snippet: "Would you have 15 minutes this week?"}, none)
			require.NoError(t, err)
			added = r.arrive(3)
			require.Equal(t, map[string]int{"email.received": 1, "email.thread_started": 1, "email.press_thread": 1}, kinds(added))
			for _, s := range added {
				if *s.Kind == "email.press_thread" {
					require.Equal(t, []any{"nytimes.com"}, attrs(s)["matched"])
					require.Equal(t, "kim.lee@nytimes.com", s.Payload.Actor.Email)
				}
			}
			_, _, err = gm(r).AddMessage(ctx, gmailsandbox.MessageInput{ThreadID: inq.ID, From: "Ada Lovelace <" + me + ">",
				To: "Kim Lee <kim.lee@nytimes.com>", Subject: "Re: Interview request: the Q3 launch"}, none)
			require.NoError(t, err)
			require.Equal(t, "email.sent", *r.arrive(1)[0].Kind)
		},
		missed: func(r *providerRun) int {
			r.idle(streams...)
			_, _, err := gm(r).AddMessage(context.Background(), gmailsandbox.MessageInput{From: "pat@partner.example", To: gm(r).User(),
				Subject: "While you were away"}, sandbox.DeliveryOptions{Hold: true})
			require.NoError(r.t, err)
			return 2 // received, thread started
		},
		after: func(r *providerRun) {
			ctx, t, s := context.Background(), r.t, r.s
			require.Equal(t, 2, s.count(`SELECT count(*) FROM signals WHERE kind = 'email.press_thread'`), "one per press thread")

			// Forged pushes: 401, and nothing recorded.
			deliveries := s.count(`SELECT count(*) FROM webhook_events`)
			for name, o := range map[string]gmailsandbox.PushOptions{
				"wrong audience":   {Audience: "https://attacker.example/push"},
				"wrong signer":     {ForeignSigner: true},
				"expired":          {Expired: true},
				"unverified email": {Unverified: true},
			} {
				res := gm(r).Push(ctx, "", o, sandbox.DeliveryOptions{})
				require.Len(t, res, 1, name)
				require.Equal(t, 401, res[0].Status, "%s: %s", name, res[0].Body)
			}
			require.Equal(t, deliveries, s.count(`SELECT count(*) FROM webhook_events`), "a refused push stores nothing")
			// A redelivered push (same Pub/Sub message id) is a duplicate.
			for range 2 {
				res := gm(r).Push(ctx, "", gmailsandbox.PushOptions{MessageID: "4242", HistoryIDAsString: true}, sandbox.DeliveryOptions{})
				require.Equal(t, 200, res[0].Status, res[0].Body)
			}
			require.Equal(t, deliveries+1, s.count(`SELECT count(*) FROM webhook_events`))

			// History too old: a message whose push never arrives, then the
			// 404; the resync stores the new message and nothing twice.
			r.idle(streams...)
			_, _, err := gm(r).AddMessage(ctx, gmailsandbox.MessageInput{From: "pat@partner.example", To: gm(r).User(), Subject: "Back from leave"},
				sandbox.DeliveryOptions{Hold: true})
			require.NoError(t, err)
			gm(r).ExpireHistory("")
			js := s.sync(r.key, "gmail", r.id, "incremental")
			r.jobs(js, 2)
			var dups int64
			for _, j := range js {
				dups += *j.Duplicates
			}
			require.EqualValues(t, 2, stored(js), "the missed message (received, thread started), nothing else")
			require.Positive(t, dups, "the resync re-read the window")
			r.total += 2
			require.Equal(t, r.total, s.count(`SELECT count(*) FROM signals`))

			// Daily renewal: users.watch again; the mailbox stays watched.
			first := *s.connection(r.key, r.id).Watches[0].ChannelID
			calls := gm(r).Watch("").Calls
			s.exec(`UPDATE watch_channels SET created_at = created_at - interval '25 hours', expires_at = expires_at - interval '25 hours' WHERE stopped_at IS NULL`)
			s.trigger(workflows.RenewalScheduleID(s.taskQueue))
			eventually(t, 60*time.Second, "the watch renewed", func() bool {
				w := s.connection(r.key, r.id).Watches
				return len(w) == 1 && *w[0].ChannelID != first
			})
			require.Equal(t, calls+1, gm(r).Watch("").Calls)
			require.True(t, gm(r).Watch("").Active, "renewing does not stop the new watch")

			// Disconnecting stops the watch (users.stop) and revokes the grant.
			_, err = s.client.Connections.DeleteConnection(connections.NewDeleteConnectionParams().WithID(strfmt.UUID(r.id)), httptransport.BearerToken(r.key))
			require.NoError(t, err)
			require.False(t, gm(r).Watch("").Active, "users.stop on disconnect")
			res := gm(r).Push(ctx, "", gmailsandbox.PushOptions{}, sandbox.DeliveryOptions{})
			require.Equal(t, 200, res[0].Status)
			require.Contains(t, res[0].Body, `"unroutable"`, "a late push reaches no connection")
		},
	})
}
