package main

import (
	"encoding/json"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/client/signals"
	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/sandbox"
	slacksandbox "github.com/poblysh/poblysh/sandbox/slack"
)

// Slack's row: connect a workspace, backfill the two seeded channels
// exactly through a 429 with Retry-After 2 s (counted in the metrics),
// with channel and user names; receive signed events live (three copies
// of a message stored once, bot messages skipped, names from the cache the
// backfill filled), and catch a held event with an incremental sync. Then
// a deleted message, and a deleted thread parent that Slack replaces with a
// tombstone, leave the feed (unless include_retracted=true),
// app_rate_limited starts an incremental sync at once, and removing the
// app from the workspace moves the connection to needs_reauth at once.
func init() {
	const rateLimited = `poblysh_provider_rate_limited_total{provider="slack"}`
	sl := func(r *providerRun) *slacksandbox.Server { return r.fake.(*slacksandbox.Server) }
	addProviderCase(providerCase{
		provider: "slack",
		config:   map[string]any{"channels": []string{slacksandbox.ChannelGeneral, slacksandbox.ChannelPress}},
		streams:  2, // one per channel
		backfill: slacksandbox.GeneralSignals + slacksandbox.PressSignals,
		beforeConnect: func(r *providerRun) {
			r.vals["rate limited before"] = metricValue(r.t, r.s, rateLimited)
			sl(r).Faults.Add(sandbox.Fault{Status: 429, RetryAfter: 2, PathPrefix: "/api/conversations.history", After: 1})
		},
		afterBackfill: func(r *providerRun, sigs []*models.Signal) {
			require.Greater(r.t, metricValue(r.t, r.s, rateLimited), r.vals["rate limited before"], "the 429 was counted")
			require.Equal(r.t, 1, sl(r).Faults.Hits, "the 429 was served")
			// Names, not ids: "#general: Bob Okafor".
			people := map[string]string{slacksandbox.UserAlice: "Alice Martin", slacksandbox.UserBob: "Bob Okafor", slacksandbox.UserCarol: "Carol Chen"}
			for _, s := range sigs {
				p := s.Payload
				require.Contains(r.t, []string{"general", "press-room"}, deref(p.Context.Name), "%s", *s.ID)
				require.Equal(r.t, people[*p.Actor.ID], *p.Actor.Name, "%s %s", *s.Kind, *s.ID)
			}
		},
		live: func(r *providerRun) {
			sb := r.url + "/_sandbox/slack"
			msg := control(r.t, "POST", sb+"/messages", map[string]any{"channel": slacksandbox.ChannelGeneral, "user": "U05BOB0001",
				"text": "The Verge piece is live, thanks <@U05CAROL01>", "copies": 3})
			ts := findString(msg, "ts")
			require.NotEmpty(r.t, ts, "sandbox answer: %v", msg)
			r.vals["live ts"] = ts
			control(r.t, "POST", sb+"/reactions", map[string]any{"channel": slacksandbox.ChannelGeneral, "ts": ts, "user": "U05ALICE01", "reaction": "tada"})
			control(r.t, "POST", sb+"/messages", map[string]any{"channel": slacksandbox.ChannelGeneral, "bot": true, "text": "Deploy finished"})
			// Three copies store one message; the bot message is skipped
			// (the runner then checks that nothing more lands).
			added := r.arrive(2)
			require.Equal(r.t, map[string]int{"message.posted": 1, "reaction.added": 1}, kinds(added))
			for _, s := range added {
				require.Equal(r.t, "general", deref(s.Payload.Context.Name), "pushed Signals are named from the cache")
				if *s.Kind == "message.posted" {
					require.Equal(r.t, "Bob Okafor", *s.Payload.Actor.Name)
					require.Equal(r.t, "The Verge piece is live, thanks @Carol Chen", *s.Payload.Title)
					r.vals["live id"] = string(*s.ID)
				} else {
					require.Equal(r.t, "Alice Martin", *s.Payload.Actor.Name)
				}
			}
		},
		missed: func(r *providerRun) int {
			control(r.t, "POST", r.url+"/_sandbox/slack/messages", map[string]any{"channel": slacksandbox.ChannelPress, "user": "U05BOB0001",
				"text": "Embargo lifts at 9", "hold": true})
			return 1
		},
		after: func(r *providerRun) {
			sb := r.url + "/_sandbox/slack"
			retracted := func(id string) bool {
				got, err := r.s.client.Signals.GetSignal(signals.NewGetSignalParams().WithID(strfmt.UUID(id)), httptransport.BearerToken(r.key))
				require.NoError(r.t, err)
				return got.Payload.Payload.Attributes.(map[string]any)["retracted"] == true
			}
			// A deleted thread parent with a reply becomes a tombstone
			// (message_changed): its Signal is retracted, the reply's stays.
			parent := control(r.t, "POST", sb+"/messages", map[string]any{"channel": slacksandbox.ChannelGeneral, "user": "U05BOB0001",
				"text": "Coverage so far, in this thread"})
			pts := findString(parent, "ts")
			control(r.t, "POST", sb+"/messages", map[string]any{"channel": slacksandbox.ChannelGeneral, "user": "U05ALICE01",
				"text": "Wired picked it up", "thread_ts": pts})
			ids := map[string]string{}
			for _, s := range r.arrive(2) {
				ids[*s.Payload.Subject.ID] = string(*s.ID)
			}
			require.Len(r.t, ids, 2)
			tomb := control(r.t, "POST", sb+"/messages/delete", map[string]any{"channel": slacksandbox.ChannelGeneral, "ts": pts})
			require.Equal(r.t, []string{"accepted"}, deliveryStatuses(r, tomb), "%v", tomb)
			require.Len(r.t, r.s.feed(r.key, r.total-1, 10*time.Second), r.total-1, "the feed hides the tombstoned parent")
			for ts, id := range ids {
				require.Equal(r.t, ts == pts, retracted(id), "only the parent is retracted")
			}

			// A deleted message is retracted: out of the feed, still readable.
			del := control(r.t, "POST", sb+"/messages/delete", map[string]any{"channel": slacksandbox.ChannelGeneral, "ts": r.vals["live ts"]})
			require.Equal(r.t, []string{"accepted"}, deliveryStatuses(r, del), "%v", del)
			require.Len(r.t, r.s.feed(r.key, r.total-2, 10*time.Second), r.total-2, "the feed hides the deleted message")
			all := listAll(r, true)
			require.Len(r.t, all, r.total, "include_retracted=true lists both")
			require.True(r.t, retracted(r.vals["live id"].(string)))

			// app_rate_limited: Slack dropped events; sync at once.
			before := len(r.s.waitJobs(r.key, r.id, "incremental", 2, time.Minute))
			rl := control(r.t, "POST", sb+"/app-rate-limited", map[string]any{})
			require.Equal(r.t, []string{"accepted"}, deliveryStatuses(r, rl), "%v", rl)
			js := r.s.waitJobs(r.key, r.id, "incremental", before+2, time.Minute)
			webhook := 0
			for _, j := range js {
				if *j.Trigger == models.JobTriggerWebhook {
					webhook++
					require.Equal(r.t, models.JobStatusSucceeded, *j.Status, deref(j.Error))
				}
			}
			require.Equal(r.t, 2, webhook, "one incremental job per stream, triggered by the event")

			// The workspace removes the app: tokens_revoked and
			// app_uninstalled start a sync at once, which finds the token
			// revoked; the connection needs re-authorization now, not at
			// its next scheduled poll.
			un := control(r.t, "POST", sb+"/uninstall", map[string]any{})
			require.Equal(r.t, []string{"accepted", "accepted"}, deliveryStatuses(r, un), "%v", un)
			eventually(r.t, time.Minute, "the connection needs re-authorization", func() bool {
				return *r.s.connection(r.key, r.id).Health == models.ConnectionHealthNeedsReauth
			})
			var reason string
			for _, j := range r.s.waitJobs(r.key, r.id, "incremental", len(js)+1, time.Minute) {
				if *j.Status == models.JobStatusFailed {
					reason = deref(j.Error)
				}
			}
			require.Contains(r.t, reason, "token_revoked", "a job failed with Slack's reason")
		},
	})
}

// listAll reads the whole feed once (with or without retracted Signals).
func listAll(r *providerRun, includeRetracted bool) []*models.Signal {
	r.t.Helper()
	var all []*models.Signal
	var cursor *string
	limit := int64(1000)
	for {
		res, err := r.s.client.Signals.ListSignals(signals.NewListSignalsParams().WithCursor(cursor).WithLimit(&limit).WithIncludeRetracted(&includeRetracted),
			httptransport.BearerToken(r.key))
		require.NoError(r.t, err)
		all = append(all, res.Payload.Signals...)
		cursor = res.Payload.NextCursor
		if len(res.Payload.Signals) < int(limit) {
			return all
		}
	}
}

// deliveryStatuses are the service's answers ("accepted"...) to the Events
// API deliveries a sandbox control call made.
func deliveryStatuses(r *providerRun, answer map[string]any) []string {
	r.t.Helper()
	var out []string
	dels, _ := answer["deliveries"].([]any)
	for _, d := range dels {
		var ans struct {
			Status string `json:"status"`
		}
		body, _ := d.(map[string]any)["body"].(string)
		require.NoError(r.t, json.Unmarshal([]byte(body), &ans), "%v", d)
		out = append(out, ans.Status)
	}
	return out
}
