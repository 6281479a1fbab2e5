package db_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// The renewal sweep's listing (WatchesDue, in SQL) and the watch pass's
// rule (WatchChannel.RenewalDue, in Go) are one rule, RenewWithin: the
// sweep lists a connection exactly when its channel is due in Go, to the
// second at the window's edge, for lives from a month to a minute and for
// each sweep interval; and one that lives longer than the interval is due
// in its last interval, so that a sweep sees it before it expires. (The
// listing used to compute the window in SQL on
// its own, a third of the life at most a day, whatever the interval.)
func TestWatchesDueListsWhatRenewalDueSays(t *testing.T) {
	t.Parallel()
	lives := []time.Duration{30 * 24 * time.Hour, 7 * 24 * time.Hour, 72 * time.Hour, 36 * time.Hour, 24 * time.Hour,
		3 * time.Hour, 90 * time.Minute, time.Hour, 45 * time.Minute, 30 * time.Minute, 21 * time.Minute, time.Minute}
	for _, interval := range []time.Duration{0, time.Second, 30 * time.Minute, 12 * time.Hour} {
		t.Run(fmt.Sprintf("sweep every %s", interval), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := dbtest.NewSchema(t)
			kr := dbtest.KeyRing(t)
			tenant, _ := dbtest.Seed(t, s.DB, "renew", "p", "seed")
			now := time.Now().UTC().Truncate(time.Second)
			want, all := map[string]string{}, map[string]string{} // connection id: what its channel is
			for _, life := range lives {
				within := db.RenewWithin(life, interval)
				lefts := []time.Duration{within, within + time.Second, -time.Minute, life}
				if interval > 0 && life > interval {
					lefts = append(lefts, interval-time.Second) // the last sweep before it expires sees it due
				}
				for _, left := range lefts {
					what := fmt.Sprintf("%s channel with %s left (window %s)", life, left, within)
					created, exp := now.Add(left-life), now.Add(left)
					ch := db.WatchChannel{CreatedAt: created, ExpiresAt: &exp}
					require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
						c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "p", ExternalAccountID: what})
						require.NoError(t, err)
						require.NoError(t, tx.InsertWatchChannel(ctx, kr, db.WatchChannel{ConnectionID: c.ID, Provider: "p",
							ChannelID: what, Target: "t", ExpiresAt: &exp}))
						_, err = tx.ExecContext(ctx, `UPDATE watch_channels SET created_at = $1 WHERE connection_id = $2`, created, c.ID)
						all[c.ID] = what
						if ch.RenewalDue(now, interval) {
							want[c.ID] = what
						}
						return err
					}))
					switch {
					case left == within || left < 0 || left == interval-time.Second:
						require.True(t, ch.RenewalDue(now, interval), what)
					case left == within+time.Second:
						require.False(t, ch.RenewalDue(now, interval), what)
					}
				}
			}
			got := map[string]string{}
			require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
				refs, _, err := tx.WatchesDue(ctx, now, interval, nil, nil, len(all)+1)
				for _, r := range refs {
					got[r.ConnectionID] = all[r.ConnectionID]
				}
				return err
			}))
			require.Equal(t, want, got)
		})
	}
}
