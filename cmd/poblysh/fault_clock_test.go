package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	slacksandbox "github.com/poblysh/poblysh/sandbox/slack"
)

// clockSkew is how far the providers' clocks run ahead of the service's.
const clockSkew = 10 * time.Minute

// skewRows are the end-to-end rows whose provider's clock matters: a
// signature window (Slack), cursors and windows built from provider
// timestamps (GitHub, Zoho Cliq), expiring watch channels with absolute
// expirations (Google Calendar). (Zoho Mail passes too, except its
// poll-lag gauge, which reads 0 when the provider runs ahead; it is left
// out to keep make test short.)
var skewRows = []string{"github", "google-calendar", "slack", "zoho-cliq"}

// TestClockSkew runs the end-to-end story (connect, exact backfill, live
// activity, incremental, backfill again; not the row's own extra cases)
// against fakes whose clock is 10 minutes ahead of the service's: the
// tokens they issue, the timestamps of their data and of their signed
// deliveries, the expirations of their channels. Everything keeps working
// except what must not: Slack's signed deliveries fall outside its
// five-minute replay window and are refused 401 with a reason that says
// so (logged), and an incremental sync picks their events up instead.
func TestClockSkew(t *testing.T) {
	t.Parallel()
	for _, n := range skewRows {
		tc, ok := providerCases[n]
		require.True(t, ok, "no end-to-end row for %s", n)
		tc.fake.Now = func() time.Time { return time.Now().Add(clockSkew) }
		tc.after = nil
		if n == "slack" {
			tc.live = slackSkewedLive
		}
		t.Run(n, func(t *testing.T) {
			t.Parallel()
			runProviderCase(t, tc)
		})
	}
}

// slackSkewedLive: a message's event delivery, signed 10 minutes in the
// future, is refused with a clear reason; the message reaches the feed by
// an incremental sync.
func slackSkewedLive(r *providerRun) {
	control(r.t, "POST", r.url+"/_sandbox/slack/messages", map[string]any{"channel": slacksandbox.ChannelGeneral, "user": "U05BOB0001",
		"text": "Skewed but not lost"})
	eventually(r.t, 30*time.Second, "the delivery to be refused", func() bool {
		for _, line := range strings.Split(r.s.logs.String(), "\n") {
			if strings.Contains(line, `"webhook rejected"`) && strings.Contains(line, "away from now (replay window 5m)") {
				return true
			}
		}
		return false
	})
	require.Zero(r.t, r.s.count(`SELECT count(*) FROM webhook_events`), "nothing of a refused delivery is recorded")
	js := r.s.sync(r.key, "slack", r.id, "incremental")
	r.jobs(js, 2)
	require.EqualValues(r.t, 1, stored(js))
	added := r.arrive(1)
	require.Equal(r.t, "message.posted", *added[0].Kind)
}
