package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// A Slack Enterprise Grid org (E1) and one of its workspaces (T1).
var (
	orgClaim = db.Claim{Keys: []string{"E1"}}
	t1Claim  = db.Claim{Keys: []string{"T1"}, Within: []string{"E1"}}
)

func claim(ctx context.Context, d *db.DB, tenant, conn string, c db.Claim) error {
	return d.WithTenant(ctx, tenant, func(tx *db.Tx) error { return tx.ClaimAccount(ctx, "slack", c, conn) })
}

func claimedByOther(t *testing.T, d *db.DB, tenant string, c db.Claim) string {
	t.Helper()
	var holder string
	require.NoError(t, d.WithSystem(context.Background(), func(tx *db.Tx) (err error) {
		holder, err = tx.AccountClaimedByOther(context.Background(), "slack", c, tenant)
		return err
	}))
	return holder
}

// TestNestedClaimsOneTenant: a claim within an account (a workspace of a
// Grid org) and a claim of that account (the org-wide install) are one
// tenant's only, in either order, at the store's claim and at the
// callback's early check; two workspaces of one org are two accounts; the
// holder claims again, and one tenant may hold both.
func TestNestedClaimsOneTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)

	// The org first, then a workspace of it.
	tenantA, orgA := dbtest.Seed(t, s.DB, "A", "slack", "E1")
	tenantB, wsB := dbtest.Seed(t, s.DB, "B", "slack", "T1")
	require.NoError(t, claim(ctx, s.DB, tenantA, orgA, orgClaim))
	require.Equal(t, tenantA, claimedByOther(t, s.DB, tenantB, t1Claim))
	require.ErrorIs(t, claim(ctx, s.DB, tenantB, wsB, t1Claim), db.ErrAccountClaimed)
	require.NoError(t, claim(ctx, s.DB, tenantA, orgA, orgClaim), "the holder claims again")
	require.NoError(t, s.DB.WithTenant(ctx, tenantA, func(tx *db.Tx) error {
		c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "slack", ExternalAccountID: "T1", DisplayName: "T1"})
		if err != nil {
			return err
		}
		return tx.ClaimAccount(ctx, "slack", t1Claim, c.ID)
	}), "the org's tenant may hold its workspace too")

	// A workspace first, then its org; another workspace of the org is
	// another tenant's if it likes.
	tenantC, wsC := dbtest.Seed(t, s.DB, "C", "slack", "T5")
	tenantD, orgD := dbtest.Seed(t, s.DB, "D", "slack", "E5")
	tenantF, wsF := dbtest.Seed(t, s.DB, "F", "slack", "T6")
	t5 := db.Claim{Keys: []string{"T5"}, Within: []string{"E5"}}
	require.NoError(t, claim(ctx, s.DB, tenantC, wsC, t5))
	require.NoError(t, claim(ctx, s.DB, tenantF, wsF, db.Claim{Keys: []string{"T6"}, Within: []string{"E5"}}),
		"two workspaces of one org, two tenants")
	require.Equal(t, tenantC, claimedByOther(t, s.DB, tenantD, db.Claim{Keys: []string{"E5"}}))
	require.ErrorIs(t, claim(ctx, s.DB, tenantD, orgD, db.Claim{Keys: []string{"E5"}}), db.ErrAccountClaimed)
	require.NoError(t, claim(ctx, s.DB, tenantC, wsC, t5), "the holder claims again")
	require.Empty(t, claimedByOther(t, s.DB, tenantC, t5))

	var rows []string
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.SelectContext(ctx, &rows, `SELECT tenant_id || ' ' || external_account_id || ' ' || array_to_string(within_account_ids, ',')
			FROM account_claims ORDER BY 1`)
	}))
	require.ElementsMatch(t, []string{tenantA + " E1 ", tenantA + " T1 E1", tenantC + " T5 E5", tenantF + " T6 E5"}, rows,
		"the refused claims stored nothing")
}

// TestNestedClaimsRace: an org's claim and its workspace's claim by two
// tenants at once: the later one waits for the earlier one's transaction
// and is refused. Without the lock both checks read no conflict (neither
// had committed) and both claims were stored.
func TestNestedClaimsRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	// An org of this test's own: advisory locks are the database's, and
	// other tests' schemas lock E1.
	org, ws1, ws2 := db.Claim{Keys: []string{"E9"}}, db.Claim{Keys: []string{"T91"}, Within: []string{"E9"}}, db.Claim{Keys: []string{"T92"}, Within: []string{"E9"}}
	for i, order := range [][2]db.Claim{{org, ws1}, {ws1, org}, {ws1, ws2}} {
		first, firstConn := dbtest.Seed(t, s.DB, "first", "slack", order[0].Keys[0])
		second, secondConn := dbtest.Seed(t, s.DB, "second", "slack", order[1].Keys[0])
		claimed, commit := make(chan error, 1), make(chan struct{})
		go func() {
			claimed <- s.DB.WithTenant(ctx, first, func(tx *db.Tx) error {
				err := tx.ClaimAccount(ctx, "slack", order[0], firstConn)
				claimed <- err
				<-commit
				return err
			})
		}()
		require.NoError(t, <-claimed)
		done := make(chan error, 1)
		go func() { done <- claim(ctx, s.DB, second, secondConn, order[1]) }()
		// The second claim either ran to its end while the first is open
		// (no lock: both stored) or waits for the first's lock.
		var secondErr error
		ended := false
		require.Eventually(t, func() bool {
			select {
			case secondErr = <-done:
				ended = true
				return true
			default:
			}
			var waiting int
			require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
				return tx.GetContext(ctx, &waiting, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
					AND objsubid = 1 AND ((classid::int8 << 32) | objid::int8) = hashtextextended('poblysh-claim:slack:E9', 0)`)
			}))
			return waiting > 0
		}, 30*time.Second, 10*time.Millisecond)
		close(commit)
		require.NoError(t, <-claimed)
		if !ended {
			secondErr = <-done
		}
		if i == 2 {
			require.NoError(t, secondErr, "two workspaces of one org do not conflict")
		} else {
			require.ErrorIs(t, secondErr, db.ErrAccountClaimed, "round %d", i)
		}
		// Start the next round from no claims.
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM account_claims`)
			return err
		}))
	}
}

// TestNestedClaimsFromBeforeNesting: two tenants whose claims nested
// before nesting was checked (migration 0043 notes the org of each stored
// workspace claim, and leaves both) are not broken: the older claim is
// claimed again by its holder, the newer one is refused at its holder's
// next claim, as the oldest connection won in migration 0006.
func TestNestedClaimsFromBeforeNesting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	for _, orgFirst := range []bool{true, false} {
		tenantA, orgA := dbtest.Seed(t, s.DB, "A", "slack", "E1")
		tenantB, wsB := dbtest.Seed(t, s.DB, "B", "slack", "T1")
		older, newer := "E1", "T1"
		if !orgFirst {
			older, newer = newer, older
		}
		owner, err := pgx.Connect(ctx, s.OwnerURL)
		require.NoError(t, err)
		require.NoError(t, pgx.BeginFunc(ctx, owner, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT set_config('poblysh.system', 'on', true)`); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO account_claims (provider, external_account_id, tenant_id, connection_id, within_account_ids, created_at) VALUES
					('slack', 'E1', $1, $2, '{}', CASE WHEN $5 THEN now() - interval '2 days' ELSE now() - interval '1 day' END),
					('slack', 'T1', $3, $4, '{E1}', CASE WHEN $5 THEN now() - interval '1 day' ELSE now() - interval '2 days' END)`,
				tenantA, orgA, tenantB, wsB, orgFirst)
			return err
		}))
		owner.Close(ctx)
		holders := map[string]func() error{
			"E1": func() error { return claim(ctx, s.DB, tenantA, orgA, orgClaim) },
			"T1": func() error { return claim(ctx, s.DB, tenantB, wsB, t1Claim) },
		}
		require.NoError(t, holders[older](), "the older claim, org first %v", orgFirst)
		require.ErrorIs(t, holders[newer](), db.ErrAccountClaimed, "the newer claim, org first %v", orgFirst)
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM account_claims`)
			return err
		}))
	}
}
