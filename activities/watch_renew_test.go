package activities

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// Every channel the renewal sweep can keep alive is seen due by a sweep
// before it expires, whatever the sweep's phase: twice (one pass to try,
// one to retry) when it lives at least three sweep intervals, once when
// it lives at least one. The window used to be a third of the
// channel's life, at most a day, whatever the interval: an hour-long
// channel (POBLYSH_GOOGLE_CALENDAR_CHANNEL_TTL=1h) under the default 30 m
// sweep was first seen up to 9 minutes after it expired, a day-long one
// under a 12 h sweep up to 4 hours after, with push on meanwhile. A
// channel is not due before it has lived one interval (it would be
// replaced at every pass from its birth), unless it lives less than two,
// and one that lives less than one is due from its birth: every sweep
// replaces it, as no sweep can keep it alive.
func TestRenewalSweepSeesEveryChannelBeforeExpiry(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		life, interval time.Duration
	}{
		{7 * 24 * time.Hour, 30 * time.Minute}, // the defaults
		{7 * 24 * time.Hour, 12 * time.Hour},
		{30 * 24 * time.Hour, 30 * time.Minute}, // Jira's webhooks
		{72 * time.Hour, 12 * time.Hour},
		{36 * time.Hour, 12 * time.Hour}, // three intervals
		{24 * time.Hour, 12 * time.Hour},
		{3 * time.Hour, 30 * time.Minute},
		{90 * time.Minute, 30 * time.Minute}, // three intervals
		{time.Hour, 30 * time.Minute},
		{45 * time.Minute, 30 * time.Minute}, // shorter lives (Google may grant less than asked)
		{30 * time.Minute, 30 * time.Minute},
		{20 * time.Minute, 30 * time.Minute},
		{time.Minute, time.Second},
		{3 * time.Second, time.Second},
	} {
		t.Run(fmt.Sprintf("life %s, sweep every %s", c.life, c.interval), func(t *testing.T) {
			a := &Activities{RenewalInterval: c.interval}
			born := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			exp := born.Add(c.life)
			ch := db.WatchChannel{CreatedAt: born, ExpiresAt: &exp}
			due := func(at time.Time) bool { a.Now = func() time.Time { return at }; return a.due(ch) }
			want := 0 // sweeps that must see it due while it lives
			switch {
			case c.life >= 3*c.interval:
				want = 2
			case c.life >= c.interval:
				want = 1
			}
			fewest, least := -1, time.Duration(0) // over the sweeps' phases
			for phase := time.Duration(0); phase < c.interval; phase += c.interval / 60 {
				seen, first := 0, time.Time{}
				for s := born.Add(phase); first.IsZero() || s.Before(exp); s = s.Add(c.interval) {
					if due(s) {
						if first.IsZero() {
							first = s
						}
						if s.Before(exp) {
							seen++
						}
					}
				}
				if fewest < 0 || seen < fewest {
					fewest = seen
				}
				if left := exp.Sub(first); phase == 0 || left < least {
					least = left
				}
			}
			if fewest < want {
				t.Fatalf("as few as %d sweep(s) see the channel due before it expires, want %d (window %s); the first sweep that does has as little as %s left (negative: past its expiry)",
					fewest, want, db.RenewWithin(c.life, c.interval), least)
			}
			switch {
			case c.life >= 2*c.interval:
				require.False(t, due(born.Add(c.interval-time.Nanosecond)), "not due before it has lived one interval")
				require.True(t, due(exp.Add(-c.interval)), "due an interval before it expires")
			case c.life < c.interval:
				require.True(t, due(born), "due from its birth")
			}
			require.True(t, due(exp), "due when it expires")
		})
	}
	// Without a sweep interval (0) the window is a third of the life, at
	// most a day, as before.
	for life, want := range map[time.Duration]time.Duration{time.Hour: 20 * time.Minute, 7 * 24 * time.Hour: 24 * time.Hour} {
		require.Equal(t, want, db.RenewWithin(life, 0), life)
	}
}

// The sweep lists, and the pass it starts replaces, a channel that lives
// an hour once its window (two 30 m sweeps) is reached, and the pass
// leaves the new channel alone: it is not renewed at its birth.
func TestShortChannelsAreRenewedBySweepAndPassAlike(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "hooked"}
	conn := &hookConnector{spec: spec, schema: schema} // its channels live an hour
	acts := watchActivities(schema, kr, spec, conn)
	acts.RenewalInterval = 30 * time.Minute
	tenant, connID := seedWithToken(t, schema, kr, "short", "hooked")
	exp := time.Now().Add(50 * time.Minute) // an hour-long channel 10 minutes old: not due
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		if err := tx.InsertWatchChannel(ctx, kr, db.WatchChannel{ConnectionID: connID, Provider: "hooked", ChannelID: "hook-0",
			Target: "board", RouteKey: "rk-0", ExpiresAt: &exp}); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE watch_channels SET created_at = $1 WHERE channel_id = 'hook-0'`, exp.Add(-time.Hour))
		return err
	}))
	ref := poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "hooked"}
	listed := func() []string {
		res, err := acts.ListDueWatches(ctx, ListDueInput{Limit: 10})
		require.NoError(t, err)
		return dueIDs(res)
	}
	pass := func() ReconcileWatchesResult {
		res, err := acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: ref})
		require.NoError(t, err)
		return res
	}
	require.Empty(t, listed(), "10 minutes old, 50 left")
	require.Zero(t, pass().Created)

	// 29 minutes left: the first of the two sweeps in its window.
	acts.Now = func() time.Time { return exp.Add(-29 * time.Minute) }
	require.Equal(t, []string{connID}, listed(), "due within two sweep intervals of its expiry")
	res := pass()
	require.Equal(t, 1, res.Created)
	require.Equal(t, []string{"hook-0"}, conn.stopped, "the pass replaces what the sweep found due")

	// The new channel (an hour from now) is not due at its birth.
	require.Empty(t, listed())
	require.Zero(t, pass().Created)
}
