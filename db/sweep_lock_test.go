package db_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// TestTokenAndRenewalSweepsListTogether: the token sweep and the renewal
// sweep both mark the connections they list (refresh_swept_at,
// renewal_swept_at), and their schedules fire together on the hour. Over
// connections due for both (a refresh and a watch pass that keep failing)
// their orders differ (token expiry; channel expiry): locking the rows in
// those orders, the two deadlocked and Postgres aborted one (40P01), a
// failed round retried. They lock in id order now. A third transaction
// holds the middle row so that both listings stop there holding their
// first rows.
func TestTokenAndRenewalSweepsListTogether(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	tenant, _ := dbtest.Seed(t, s.DB, "both-due", "p", "seed")
	ids := map[string]string{}
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		for i, name := range []string{"a", "x", "b"} {
			c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "p", ExternalAccountID: name})
			require.NoError(t, err)
			exp := time.Now().Add(time.Duration(i+1) * time.Minute) // tokens: a, x, b
			require.NoError(t, tx.SaveTokens(ctx, kr, c.ID, db.Tokens{AccessToken: "a", RefreshToken: "r", TokenType: "Bearer", Expiry: &exp}))
			wexp := time.Now().Add(time.Duration(23-i) * time.Hour) // channels: b, x, a
			require.NoError(t, tx.InsertWatchChannel(ctx, kr, db.WatchChannel{ConnectionID: c.ID, Provider: "p",
				ChannelID: "ch-" + name, ResourceID: "r", Target: "t", Stream: "s", ExpiresAt: &wexp}))
			ids[name] = c.ID
		}
		return nil
	}))
	owner, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(t, err)
	defer owner.Close(ctx)
	_, err = owner.Exec(ctx, `UPDATE watch_channels SET created_at = now() - interval '30 days'`)
	require.NoError(t, err)

	holder, err := owner.Begin(ctx)
	require.NoError(t, err)
	_, err = holder.Exec(ctx, `SELECT 1 FROM connections WHERE id = $1 FOR UPDATE`, ids["x"])
	require.NoError(t, err)
	type listed struct {
		what string
		n    int
		err  error
	}
	done := make(chan listed, 2)
	go func() {
		err := s.DB.WithSystem(ctx, func(tx *db.Tx) error {
			refs, _, err := tx.TokensDue(ctx, []db.TokenSweep{{Provider: "p", Window: time.Hour}}, nil, 10)
			done <- listed{"tokens", len(refs), err}
			return err
		})
		if err != nil {
			done <- listed{"tokens", 0, err}
		}
	}()
	go func() {
		err := s.DB.WithSystem(ctx, func(tx *db.Tx) error {
			refs, _, err := tx.WatchesDue(ctx, time.Now(), 0, nil, nil, 10)
			done <- listed{"watches", len(refs), err}
			return err
		})
		if err != nil {
			done <- listed{"watches", 0, err}
		}
	}()
	time.Sleep(1500 * time.Millisecond) // both wait for x, each holding what it locked before it
	require.NoError(t, holder.Rollback(ctx))
	got := map[string]int{}
	for range 2 {
		l := <-done
		require.NoError(t, l.err, "%s: %s", l.what, fmt.Sprint(l.err))
		got[l.what] = l.n
	}
	require.Equal(t, map[string]int{"tokens": 3, "watches": 3}, got, "each sweep lists the three")
}
