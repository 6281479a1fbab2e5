package db_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// migrationSQL returns the SQL of one migration by version.
func migrationSQL(t *testing.T, version int) string {
	t.Helper()
	ms, err := db.Migrations()
	require.NoError(t, err)
	for _, m := range ms {
		if m.Version == version {
			return m.SQL
		}
	}
	t.Fatalf("no migration %d", version)
	return ""
}

// TestSlackClaimsMigration: Slack connections made before claims existed
// claim their workspace (the oldest connection wins), and connections with
// configured channels lose the workspace-wide route that used to deliver
// every channel to them. Running it again changes nothing more.
func TestSlackClaimsMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	slackConn := func(account, cfg string) fixture {
		f := newFixture(t, s.DB, "github", "placeholder-"+account+cfg) // a tenant
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
			c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "slack", ExternalAccountID: account,
				DisplayName: account, Config: json.RawMessage(cfg)})
			if err != nil {
				return err
			}
			f.conn = c.ID
			return tx.ReplaceRoutes(ctx, c.ID, "slack", []db.Route{{RouteKey: "team:" + account}})
		}))
		return f
	}
	first := slackConn("T1", `{"channels":["C05GENERAL"]}`)
	second := slackConn("T1", `{"channels":[]}`)
	other := slackConn("T2", `{}`)

	owner, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(t, err)
	t.Cleanup(func() { owner.Close(context.Background()) })
	for range 2 {
		require.NoError(t, pgx.BeginFunc(ctx, owner, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, migrationSQL(t, 6))
			return err
		}))
	}

	var claims []struct {
		Account string `db:"external_account_id"`
		Conn    string `db:"connection_id"`
	}
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.SelectContext(ctx, &claims, `SELECT external_account_id, connection_id FROM account_claims ORDER BY 1`)
	}))
	require.Len(t, claims, 2)
	require.Equal(t, "T1", claims[0].Account)
	require.Equal(t, first.conn, claims[0].Conn, "the oldest connection holds the workspace")
	require.Equal(t, other.conn, claims[1].Conn)

	routes := func(f fixture) (keys []string) {
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
			return tx.SelectContext(ctx, &keys, `SELECT route_key FROM webhook_routes WHERE connection_id = $1`, f.conn)
		}))
		return keys
	}
	require.Empty(t, routes(first), "configured channels are routed by proof, not by workspace")
	require.Equal(t, []string{"team:T1"}, routes(second), "every member channel: the workspace route stays")
	require.Equal(t, []string{"team:T2"}, routes(other))
}

// TestNestedClaimsMigration: each stored claim of a Slack workspace inside
// an Enterprise Grid org notes its org (the account's enterprise_id); an
// org-wide install's, a workspace outside any org's and another
// provider's note nothing. Running it again changes nothing more.
func TestNestedClaimsMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	claimed := func(provider, account, meta string) fixture {
		f := newFixture(t, s.DB, "github", "placeholder-"+provider+account) // a tenant
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
			c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: provider, ExternalAccountID: account, DisplayName: account,
				Account: json.RawMessage(`{"id":"` + account + `","name":"x","metadata":` + meta + `}`)})
			if err != nil {
				return err
			}
			f.conn = c.ID
			return tx.ClaimAccount(ctx, provider, db.Claim{Keys: []string{account}}, c.ID) // as stored before 0043
		}))
		return f
	}
	claimed("slack", "T1", `{"enterprise_id":"E1","bot_user_id":"U1"}`)
	claimed("slack", "E1", `{"enterprise_id":"E1","enterprise_install":"true"}`)
	claimed("slack", "T3", `{"bot_user_id":"U3"}`)
	claimed("fake", "T4", `{"enterprise_id":"E1"}`)

	owner, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(t, err)
	t.Cleanup(func() { owner.Close(context.Background()) })
	for range 2 {
		require.NoError(t, pgx.BeginFunc(ctx, owner, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, migrationSQL(t, 43))
			return err
		}))
	}
	var claims []string
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.SelectContext(ctx, &claims, `SELECT provider || ' ' || external_account_id || ' ' || array_to_string(within_account_ids, ',')
			FROM account_claims ORDER BY 1`)
	}))
	require.Equal(t, []string{"fake T4 ", "slack E1 ", "slack T1 E1", "slack T3 "}, claims)
}
