package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/vault"
)

// failingWatch is a hookConnector whose Watch fails for the connections in
// fail, as a provider answering 503 does.
type failingWatch struct {
	*hookConnector
	fail map[string]bool
}

func (c *failingWatch) Watch(ctx context.Context, req connectors.WatchRequest) ([]connectors.Channel, error) {
	if c.fail[req.Connection.ID] {
		return nil, errors.New("provider answered 503")
	}
	return c.hookConnector.Watch(ctx, req)
}

// dueWatchSetup is a tenant whose connections of one provider ("hooked")
// each have a week-long channel due for renewal.
type dueWatchSetup struct {
	schema *dbtest.Schema
	kr     *vault.KeyRing
	acts   *Activities
	conn   *failingWatch
	tenant string
	ids    []string // the connections, their channels expiring in this order
}

func newDueWatchSetup(t *testing.T, connections int) *dueWatchSetup {
	t.Helper()
	ctx := context.Background()
	s := &dueWatchSetup{schema: dbtest.NewSchema(t), kr: dbtest.KeyRing(t)}
	kr := s.kr
	spec := &connectors.Spec{Name: "hooked"}
	s.conn = &failingWatch{hookConnector: &hookConnector{spec: spec, schema: s.schema}, fail: map[string]bool{}}
	s.acts = watchActivities(s.schema, kr, spec, s.conn)
	require.NoError(t, s.schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		tn, _, _, err := tx.CreateTenant(ctx, "renew")
		s.tenant = tn.ID
		return err
	}))
	for i := range connections {
		require.NoError(t, s.schema.DB.WithTenant(ctx, s.tenant, func(tx *db.Tx) error {
			c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "hooked", ExternalAccountID: fmt.Sprintf("acct-%d", i)})
			require.NoError(t, err)
			require.NoError(t, tx.SaveTokens(ctx, kr, c.ID, db.Tokens{AccessToken: "a", TokenType: "Bearer"}))
			// A week-long channel within a day of expiry: due.
			exp := time.Now().Add(12*time.Hour + time.Duration(i)*time.Minute)
			require.NoError(t, tx.InsertWatchChannel(ctx, kr, db.WatchChannel{ConnectionID: c.ID, Provider: "hooked",
				ChannelID: fmt.Sprintf("old-%d", i), Target: "board", RouteKey: fmt.Sprintf("old-rk-%d", i), ExpiresAt: &exp}))
			_, err = tx.ExecContext(ctx, `UPDATE watch_channels SET created_at = now() - interval '7 days' WHERE connection_id = $1`, c.ID)
			s.ids = append(s.ids, c.ID)
			return err
		}))
	}
	return s
}

func dueIDs(res ListDueResult) []string {
	var out []string
	for _, c := range res.Connections {
		out = append(out, c.ConnectionID)
	}
	return out
}

// A watch pass that fails leaves the connection's channel due: a transient
// provider error keeps the connection healthy, a refused OAuth client makes
// it degraded, and the sweep lists both. The sweep's next page still
// reaches the connections behind them: a full page of such connections was
// listed again in every round and every sweep, and the channels behind it
// were never renewed (a Google channel expired with push still on; a
// GitHub hook marked due after its deletion was never registered again).
func TestRenewalSweepReachesConnectionsBehindFailingPasses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		health string
	}{{"provider error", "healthy"}, {"refused OAuth client", "degraded"}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			const page = 3
			s := newDueWatchSetup(t, page+1)
			pass := func(c poblysh.ConnectionRef) error {
				_, err := s.acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: c})
				return err
			}
			first, err := s.acts.ListDueWatches(ctx, ListDueInput{Limit: page})
			require.NoError(t, err)
			require.Len(t, first.Connections, page)
			failing := dueIDs(first)
			for _, c := range first.Connections {
				if tc.health == "degraded" {
					// An expired access token whose refresh is refused the
					// OAuth client (the stub has none): the grant is kept,
					// the pass fails.
					lapsed := time.Now().Add(-time.Hour)
					require.NoError(t, s.schema.DB.WithTenant(ctx, s.tenant, func(tx *db.Tx) error {
						return tx.SaveTokens(ctx, s.kr, c.ConnectionID, db.Tokens{AccessToken: "a", RefreshToken: "r", TokenType: "Bearer", Expiry: &lapsed})
					}))
				} else {
					s.conn.fail[c.ConnectionID] = true
				}
				require.Error(t, pass(c))
				require.Equal(t, tc.health, healthOf(t, s.schema, s.tenant, c.ConnectionID), "listed by the next sweeps")
			}
			var behind string
			for _, id := range s.ids {
				if !slices.Contains(failing, id) {
					behind = id
				}
			}
			sweep := func() []string {
				res, err := s.acts.ListDueWatches(ctx, ListDueInput{Limit: page})
				require.NoError(t, err)
				for _, c := range res.Connections {
					if c.ConnectionID == behind {
						require.NoError(t, pass(c), "the connection behind renews its channel")
					} else {
						require.Error(t, pass(c))
					}
				}
				return dueIDs(res)
			}
			require.Contains(t, sweep(), behind, "the connection behind failing passes is listed next")
			require.ElementsMatch(t, failing, sweep(), "the failing passes are tried again; the channel behind them was renewed")
		})
	}
}

// A renewal sweep's rounds each list connections the rounds before them
// did not (the watch passes a round starts may not have run when the next
// one lists), a connection with several due channels once, and the next
// sweep starts with those listed longest ago.
func TestListDueWatchesRoundsListEachConnectionOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newDueWatchSetup(t, 5)
	require.NoError(t, s.schema.DB.WithTenant(ctx, s.tenant, func(tx *db.Tx) error {
		exp := time.Now().Add(10 * time.Minute) // an hour-long channel in its last third
		if err := tx.InsertWatchChannel(ctx, s.kr, db.WatchChannel{ConnectionID: s.ids[4], Provider: "hooked",
			ChannelID: "second", Target: "wall", RouteKey: "second-rk", ExpiresAt: &exp}); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE watch_channels SET created_at = now() - interval '50 minutes' WHERE channel_id = 'second'`)
		return err
	}))
	first, err := s.acts.ListDueWatches(ctx, ListDueInput{Limit: 2})
	require.NoError(t, err)
	require.Equal(t, []string{s.ids[4], s.ids[0]}, dueIDs(first), "never listed first, then the earliest expiry of a due channel")
	require.NotNil(t, first.ListedAt)
	seen := dueIDs(first)
	for _, want := range []int{2, 1, 0} {
		res, err := s.acts.ListDueWatches(ctx, ListDueInput{Limit: 2, Since: first.ListedAt})
		require.NoError(t, err)
		require.Len(t, res.Connections, want)
		for _, id := range dueIDs(res) {
			require.NotContains(t, seen, id, "listed once per sweep")
			seen = append(seen, id)
		}
	}
	require.ElementsMatch(t, s.ids, seen)
	next, err := s.acts.ListDueWatches(ctx, ListDueInput{Limit: 2})
	require.NoError(t, err)
	require.Equal(t, seen[:2], dueIDs(next), "the next sweep starts with those listed longest ago")
}

// Nothing listed, nothing marked: an empty list has no ListedAt, so a
// sweep's rounds never carry a time no listing made.
func TestListDueWatchesNothingDue(t *testing.T) {
	t.Parallel()
	s := newDueWatchSetup(t, 0)
	res, err := s.acts.ListDueWatches(context.Background(), ListDueInput{Limit: 2})
	require.NoError(t, err)
	require.Empty(t, res.Connections)
	require.Nil(t, res.ListedAt)
}
