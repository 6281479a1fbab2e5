package db_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// appMembers counts the roles granted poblysh_app.
func appMembers(t *testing.T, conn *pgx.Conn, member string) int {
	t.Helper()
	var n int
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_auth_members
		WHERE roleid = 'poblysh_app'::regrole AND member = (SELECT oid FROM pg_roles WHERE rolname = $1)`, member).Scan(&n))
	return n
}

// nonSuperuserOwner creates a login role that is neither superuser nor
// BYPASSRLS, only CREATEROLE (a managed Postgres's admin user; the README's
// and .env.example's setup), and a database it owns, both dropped after the
// test. It returns the role's name and its URL to that database.
func nonSuperuserOwner(t *testing.T) (string, *url.URL) {
	t.Helper()
	ctx := context.Background()
	base, err := url.Parse(dbtest.URL(t))
	require.NoError(t, err)
	admin, err := pgx.Connect(ctx, base.String())
	require.NoError(t, err)
	defer admin.Close(ctx)
	name := fmt.Sprintf("poblysh_owner_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, schemaSeq.Add(1))
	ident := pgx.Identifier{name}.Sanitize()
	_, err = admin.Exec(ctx, `CREATE ROLE `+ident+` LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS`)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base.String())
		if err != nil {
			t.Logf("drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		for _, q := range []string{`DROP DATABASE IF EXISTS ` + ident + ` WITH (FORCE)`, `DROP ROLE IF EXISTS ` + ident} {
			if _, err := c.Exec(ctx, q); err != nil {
				t.Logf("%s: %v", q, err)
			}
		}
	})
	_, err = admin.Exec(ctx, `CREATE DATABASE `+ident+` OWNER `+ident)
	require.NoError(t, err)
	owner := *base
	owner.User = url.User(name)
	owner.Path = "/" + name
	return name, &owner
}

// A schema owner that is no superuser, only CREATEROLE (a managed
// Postgres's admin user; the README's and .env.example's setup), migrates
// and then runs the service, which SET ROLEs to poblysh_app: migrate makes
// it a member. Every command failed "permission denied to set role" until
// an operator ran GRANT poblysh_app TO <owner>. Migrating again changes
// nothing.
func TestNonSuperuserOwnerMigratesAndRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dbtest.URL(t))
	require.NoError(t, err)
	defer admin.Close(ctx)
	name, owner := nonSuperuserOwner(t)

	applied, err := db.Migrate(ctx, owner.String(), "")
	require.NoError(t, err)
	require.NotEmpty(t, applied)
	require.Equal(t, 1, appMembers(t, admin, name), "the owner is a member of poblysh_app")

	d, err := db.Open(ctx, owner.String(), db.Options{Role: "poblysh_app"})
	require.NoError(t, err, "the service's SET ROLE")
	defer d.Close()
	var tenant string
	require.NoError(t, d.WithSystem(ctx, func(tx *db.Tx) error {
		tn, _, _, err := tx.CreateTenant(ctx, "owned")
		tenant = tn.ID
		return err
	}))
	var role string
	require.NoError(t, d.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &role, `SELECT current_user`)
	}))
	require.Equal(t, "poblysh_app", role, "row-level security applies")

	applied, err = db.Migrate(ctx, owner.String(), "")
	require.NoError(t, err, "again")
	require.Empty(t, applied)
	require.Equal(t, 1, appMembers(t, admin, name))
}

// A superuser owner (development, the tests) may SET ROLE to any role:
// migrate grants it nothing.
func TestSuperuserOwnerIsGrantedNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dbtest.URL(t))
	require.NoError(t, err)
	defer admin.Close(ctx)
	var user string
	var super bool
	require.NoError(t, admin.QueryRow(ctx, `SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&user, &super))
	if !super {
		t.Skip("the test database's user is no superuser")
	}
	before := appMembers(t, admin, user)
	dbtest.NewSchema(t) // migrates as that user
	require.Equal(t, before, appMembers(t, admin, user))
}

// The data migrations run as the schema owner, and every tenant table
// forces row-level security, for its owner too: an owner that is neither
// superuser nor BYPASSRLS (the CREATEROLE owner above) reads and writes no
// tenant's row unless the migration enters the system scope
// (poblysh.system). Migrations 0024 and 0029 did not, so on such an owner
// they changed nothing: GitHub connections got no user route and their
// old hooks were not re-watched (0024), and Jira Signals kept the
// jira:issue:… keys (0029), so a re-backfill or a redelivered webhook
// stored each again under jira:<host>/issue:…. Migration 0032 does their
// work again in the system scope, for the rows still in the old form. The
// chain runs here as production runs it: stopped after 0023, rows stored
// as that release stored them, on to 0028, Jira Signals stored as 0028's
// release stored them, then the rest.
func TestNonSuperuserOwnerUpgradeRewritesStoredRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, owner := nonSuperuserOwner(t)
	conn, err := pgx.Connect(ctx, owner.String())
	require.NoError(t, err)
	defer conn.Close(ctx)
	var bypass bool
	require.NoError(t, conn.QueryRow(ctx, `SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user`).Scan(&bypass))
	require.False(t, bypass, "row-level security binds the owner")
	// system runs f as the code of the time wrote: in the system scope.
	system := func(f func(tx pgx.Tx) error) {
		t.Helper()
		require.NoError(t, pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT set_config('poblysh.system', 'on', true)`); err != nil {
				return err
			}
			return f(tx)
		}))
	}
	insertID := func(tx pgx.Tx, q string, args ...any) string {
		t.Helper()
		var id string
		require.NoError(t, tx.QueryRow(ctx, q, args...).Scan(&id))
		return id
	}

	// Before 0024: a GitHub connection with two hooks (one stopped), made
	// with the events of the time, and a deleted GitHub connection.
	require.NoError(t, db.MigrateUpToForTest(ctx, owner.String(), 23))
	var tenant, gh string
	system(func(tx pgx.Tx) error {
		tenant = insertID(tx, `INSERT INTO tenants (name) VALUES ('upgraded') RETURNING id`)
		gh = insertID(tx, `INSERT INTO connections (tenant_id, provider, external_account_id, display_name, account)
			VALUES ($1, 'github', '583231', 'octocat', '{"id":"583231","name":"octocat"}') RETURNING id`, tenant)
		insertID(tx, `INSERT INTO connections (tenant_id, provider, external_account_id, deleted_at)
			VALUES ($1, 'github', '999', now()) RETURNING id`, tenant)
		_, err := tx.Exec(ctx, `INSERT INTO watch_channels (tenant_id, connection_id, provider, channel_id, target, route_key, created_at, stopped_at)
			VALUES ($1, $2, 'github', '101', 'octo-org/hello-world', 'hook:101', now() - interval '4 days', NULL),
			       ($1, $2, 'github', '102', 'octo-org/old', 'hook:102', now() - interval '4 days', now())`, tenant, gh)
		return err
	})

	// 0024 was applied three days ago; a hook made since has the new
	// events. Jira Signals are stored in the old form, but for one whose
	// new key a later read stored already.
	require.NoError(t, db.MigrateUpToForTest(ctx, owner.String(), 28))
	_, err = conn.Exec(ctx, `UPDATE schema_migrations SET tstamp = tstamp - interval '3 days' WHERE version_id = 24`)
	require.NoError(t, err)
	var siteA, noURL string
	system(func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT poblysh_lock_signals()`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO watch_channels (tenant_id, connection_id, provider, channel_id, target, route_key)
			VALUES ($1, $2, 'github', '103', 'octo-org/new', 'hook:103')`, tenant, gh)
		if err != nil {
			return err
		}
		siteA = insertID(tx, `INSERT INTO connections (tenant_id, provider, external_account_id, account)
			VALUES ($1, 'jira', 'a7f3c1d2-0001', '{"id":"a7f3c1d2-0001","metadata":{"url":"https://Acme-PR.atlassian.net"}}') RETURNING id`, tenant)
		noURL = insertID(tx, `INSERT INTO connections (tenant_id, provider, external_account_id, account)
			VALUES ($1, 'jira', 'a7f3c1d2-0003', '{"id":"a7f3c1d2-0003"}') RETURNING id`, tenant)
		for _, s := range []struct{ conn, source, key, url string }{
			{siteA, "jira", "jira:issue:10001:created", "https://acme-pr.atlassian.net/browse/LPR-1"},
			{siteA, "jira", "jira:issue:10001:changelog:10100:status", "https://acme-pr.atlassian.net/browse/LPR-1"},
			{noURL, "jira", "jira:issue:10004:created", "https://old-name.atlassian.net/browse/OLD-4"},
			{noURL, "jira", "jira:issue:10005:created", ""},
			{siteA, "jira", "jira:issue:10009:created", "https://acme-pr.atlassian.net/browse/LPR-9"},
			{siteA, "jira", "jira:acme-pr.atlassian.net/issue:10009:created", "https://acme-pr.atlassian.net/browse/LPR-9"},
			{gh, "github", "github:issue:10001:created", "https://github.com/octo-org/hello-world/issues/1"},
		} {
			if _, err := tx.Exec(ctx, `INSERT INTO signals (tenant_id, connection_id, source, kind, occurred_at, dedupe_key, payload)
				VALUES ($1, $2, $3, 'issue.created', now(), $4, jsonb_build_object('title', 'Issue', 'url', $5::text))`,
				tenant, s.conn, s.source, s.key, s.url); err != nil {
				return err
			}
		}
		return nil
	})

	require.NoError(t, db.MigrateUpToForTest(ctx, owner.String(), 32))

	var keys, routes, due []string
	system(func(tx pgx.Tx) error {
		for q, out := range map[string]*[]string{
			`SELECT dedupe_key FROM signals ORDER BY dedupe_key`:                                     &keys,
			`SELECT route_key FROM webhook_routes WHERE connection_id = $1 ORDER BY route_key`:       &routes,
			`SELECT channel_id FROM watch_channels WHERE expires_at IS NOT NULL ORDER BY channel_id`: &due,
		} {
			var args []any
			if strings.Contains(q, "$1") {
				args = []any{gh}
			}
			rows, err := tx.Query(ctx, q, args...)
			if err != nil {
				return err
			}
			if *out, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				return err
			}
		}
		return nil
	})
	require.Equal(t, []string{
		"github:issue:10001:created",
		"jira:acme-pr.atlassian.net/issue:10001:changelog:10100:status",
		"jira:acme-pr.atlassian.net/issue:10001:created",
		"jira:acme-pr.atlassian.net/issue:10009:created",
		"jira:issue:10005:created", // no site to name
		"jira:issue:10009:created", // its new key is taken
		"jira:old-name.atlassian.net/issue:10004:created",
	}, keys, "the Jira keys name the site")
	require.Equal(t, []string{"user:583231"}, routes, "the GitHub connection routes its user")
	require.Equal(t, []string{"101"}, due, "the live hook made before 0024 is due for a watch pass, the newer one is not")

	// 0033: every live hook is due, the newer one too, for a pass that
	// subscribes it to meta.
	applied, err := db.Migrate(ctx, owner.String(), "")
	require.NoError(t, err)
	require.Contains(t, applied, 33)
	system(func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT channel_id FROM watch_channels WHERE expires_at IS NOT NULL ORDER BY channel_id`)
		if err != nil {
			return err
		}
		due, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	require.Equal(t, []string{"101", "103"}, due, "0033 changes rows under an owner bound by row-level security")

	// The service, as poblysh_app: a re-read of a stored happening under
	// its new key is a duplicate, and the GitHub connection is due.
	d, err := db.Open(ctx, owner.String(), db.Options{Role: "poblysh_app"})
	require.NoError(t, err)
	defer d.Close()
	var st db.Stored
	require.NoError(t, d.WithTenantSignals(ctx, tenant, func(tx *db.Tx) error {
		st, err = tx.InsertSignals(ctx, siteA, "jira", []db.NewSignal{{Kind: "issue.created", OccurredAt: time.Now(),
			DedupeKey: "acme-pr.atlassian.net/issue:10001:created", Payload: []byte(`{"title":"Issue"}`)}})
		return err
	}))
	require.Equal(t, 1, st.Duplicates, "stored before the upgrade, not again")
	var dueConns []poblysh.ConnectionRef
	require.NoError(t, d.WithSystem(ctx, func(tx *db.Tx) error {
		dueConns, _, err = tx.WatchesDue(ctx, time.Now(), 0, nil, nil, 10)
		return err
	}))
	// 0041 marks the Jira connections, which have no channel, for a watch
	// retry under that owner too.
	require.ElementsMatch(t, []poblysh.ConnectionRef{{TenantID: tenant, ConnectionID: gh, Provider: "github"},
		{TenantID: tenant, ConnectionID: siteA, Provider: "jira"}, {TenantID: tenant, ConnectionID: noURL, Provider: "jira"}}, dueConns)
}
