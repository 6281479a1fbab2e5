package main

import (
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/models"
	zohosandbox "github.com/poblysh/poblysh/sandbox/zoho"
)

// Zoho Mail's row: a mailbox of the EU data centre is backfilled exactly
// (Zoho's string-typed fields, ids beyond 2^53, the Reuters thread press
// once across Inbox and Sent; both press inquiries of the Inbox archived
// before the backfill and read all the same: archived mail stays in the
// Inbox, listed with includearchive=true); the mailbox's outgoing webhook nudges a
// poll that stores an inbound press inquiry as email.press_thread once;
// the reply, polled from Sent, is email.sent and does not make the thread
// press twice; the freshness SLA is reported per connection.
func init() {
	addProviderCase(providerCase{
		provider: "zoho-mail",
		env:      map[string]string{"POBLYSH_ZOHO_MAIL_PAGE_SIZE": "4", "POBLYSH_ZOHO_MAIL_PACE": "6000"},
		config:   map[string]any{"press": map[string]any{"addresses": []string{zohosandbox.SeedPressAddress}}},
		streams:  2,                                                              // Inbox and Sent
		backfill: zohosandbox.SeedInboxSignals + zohosandbox.SeedSentSignals - 1, // the Reuters thread is press once
		beforeConnect: func(r *providerRun) {
			// The user keeps an empty Inbox: both press inquiries were
			// archived before the connection's first backfill.
			sb := r.fake.(*zohosandbox.Server)
			var archived []string
			for _, subject := range []string{zohosandbox.SeedInquirySubject, zohosandbox.SeedFreelanceSubject} {
				id, ok := sb.MailID(zohosandbox.UserAda, subject)
				require.True(r.t, ok, subject)
				require.NoError(r.t, sb.ArchiveMail(zohosandbox.UserAda, id))
				archived = append(archived, id)
			}
			r.vals["archived"] = archived
		},
		afterConnect: func(r *providerRun) {
			require.Equal(r.t, "7325431000000008002", *r.conn.ExternalAccountID, "the account id, 19 digits, exact")
			require.EqualValues(r.t, 300, *r.conn.PollIntervalSeconds, "polled every 5 minutes by default")
			require.Nil(r.t, r.conn.WebhookURL, "the callback's answer goes to a browser: no webhook URL")
			r.conn = r.s.connection(r.key, r.id) // the tenant's own view has it
			require.NotNil(r.t, r.conn.WebhookURL)
			// The mailbox owner sets up the outgoing webhook with the connection's URL.
			control(r.t, "POST", r.url+"/_sandbox/zoho/mail/hook", map[string]any{"user": zohosandbox.UserAda, "url": *r.conn.WebhookURL})
		},
		afterBackfill: func(r *providerRun, sigs []*models.Signal) {
			require.Equal(r.t, map[string]int{"email.received": 7, "email.sent": 3, "email.thread_started": 9, "email.press_thread": 2}, kinds(sigs))
			archived := r.vals["archived"].([]string)
			var press, received []string
			for _, sg := range sigs {
				a := sg.Payload.Attributes.(map[string]any)
				switch *sg.Kind {
				case "email.press_thread":
					press = append(press, a["thread_id"].(string))
				case "email.received":
					received = append(received, a["message_id"].(string))
				}
			}
			require.ElementsMatch(r.t, archived, press, "each archived inquiry is a press thread")
			require.Subset(r.t, received, archived, "archived mail is read")
		},
		live: func(r *providerRun) {
			ans := control(r.t, "POST", r.url+"/_sandbox/zoho/mail/messages", map[string]any{
				"user": zohosandbox.UserAda, "from": map[string]any{"name": "Kim Lee", "email": "kim.lee@bloomberg.net"},
				"to": []any{map[string]any{"email": "ada@zylker.eu"}}, "subject": "Press inquiry: Zylker's European expansion",
			})
			requireDelivered(r.t, ans, 1)
			inquiry := ans["message"].(map[string]any)["id"].(string)
			r.vals["inquiry"] = inquiry
			got := r.arrive(3)
			require.Equal(r.t, map[string]int{"email.received": 1, "email.thread_started": 1, "email.press_thread": 1}, kinds(got),
				"the nudge polled the Inbox at once")
			for _, sg := range got {
				if *sg.Kind == "email.press_thread" {
					require.Equal(r.t, "kim.lee@bloomberg.net", sg.Payload.Actor.Email)
					require.Equal(r.t, inquiry, sg.Payload.Attributes.(map[string]any)["thread_id"], "ids beyond 2^53 arrive exact")
				}
			}
			var nudged bool
			for _, j := range r.s.waitJobs(r.key, r.id, "incremental", 1, 30*time.Second) {
				nudged = nudged || (*j.Trigger == models.JobTriggerWebhook && *j.Stream == "inbox" && *j.SignalsStored == 3)
			}
			require.True(r.t, nudged, "the webhook triggered the poll that stored the inquiry")
		},
		missed: func(r *providerRun) int {
			// The reply goes out: no webhook for sent mail, a poll finds it.
			control(r.t, "POST", r.url+"/_sandbox/zoho/mail/messages", map[string]any{
				"user": zohosandbox.UserAda, "folder": "Sent", "to": []any{map[string]any{"email": "kim.lee@bloomberg.net"}},
				"subject": "Re: Press inquiry: Zylker's European expansion", "reply_to": r.vals["inquiry"],
			})
			return 1 // email.sent; the thread is press already
		},
		after: func(r *providerRun) {
			inquiry := r.vals["inquiry"].(string)
			require.Equal(r.t, 1, r.s.count(`SELECT count(*) FROM signals WHERE kind = 'email.press_thread'
				AND payload->'attributes'->>'thread_id' = $1`, inquiry), "one press Signal for the thread")
			require.Equal(r.t, 1, r.s.count(`SELECT count(*) FROM signals WHERE kind = 'email.sent'
				AND payload->'attributes'->>'thread_id' = $1`, inquiry))
			// Freshness is reported per connection against its SLA.
			require.Equal(r.t, 300.0, metricValue(r.t, r.s, `poblysh_connection_poll_interval_seconds{connection_id="`+r.id+`",provider="zoho-mail"}`))
			lag := metricValue(r.t, r.s, `poblysh_connection_poll_lag_seconds{connection_id="`+r.id+`",provider="zoho-mail"}`)
			require.Greater(r.t, lag, 0.0)
			require.Less(r.t, lag, 300.0, "within the SLA")
		},
	})
}
