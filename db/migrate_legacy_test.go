package db_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

var schemaSeq atomic.Int64

// bareSchema names a schema of its own for a migration test (nothing is
// created yet) and drops it after the test.
func bareSchema(t *testing.T, prefix string) (base, name string) {
	t.Helper()
	base = dbtest.URL(t)
	name = fmt.Sprintf("t_%s_%d_%d_%d", prefix, os.Getpid(), time.Now().UnixNano()%1e9, schemaSeq.Add(1))
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", name, err)
		}
	})
	return base, name
}

// legacyMigrate is the migrator poblysh used before goose (db/migrate.go up
// to 92de2e8), verbatim but for stopping after version upTo: each file's
// whole text in one Exec, recorded in schema_migrations (version, name,
// applied_at). It makes the databases that goose must adopt.
func legacyMigrate(ctx context.Context, url, schema string, upTo int) ([]int, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if schema != "" {
		ident := pgx.Identifier{schema}.Sanitize()
		if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+ident); err != nil {
			return nil, fmt.Errorf("db: migrate: create schema: %w", err)
		}
		if _, err := conn.Exec(ctx, "SET search_path TO "+ident); err != nil {
			return nil, fmt.Errorf("db: migrate: %w", err)
		}
	}
	lockKey := "poblysh-migrate:" + schema
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtext($1))", lockKey); err != nil {
		return nil, fmt.Errorf("db: migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext($1))", lockKey) //nolint:errcheck
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("db: migrate: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("db: migrate: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	ms, err := db.Migrations()
	if err != nil {
		return nil, err
	}
	var done []int
	for _, m := range ms {
		if applied[m.Version] || m.Version > upTo {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name)
			return err
		})
		if err != nil {
			return done, fmt.Errorf("db: migration %s: %w", m.Name, err)
		}
		done = append(done, m.Version)
	}
	return done, nil
}

func allVersions(t *testing.T) []int {
	t.Helper()
	ms, err := db.Migrations()
	require.NoError(t, err)
	var vs []int
	for _, m := range ms {
		vs = append(vs, m.Version)
	}
	return vs
}

// versionRow is a row of goose's version table.
type versionRow struct {
	Version int64     `db:"version_id"`
	Applied bool      `db:"is_applied"`
	At      time.Time `db:"tstamp"`
}

func versionRows(t *testing.T, ownerURL string) []versionRow {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ownerURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT version_id, is_applied, tstamp FROM schema_migrations ORDER BY id`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[versionRow])
	require.NoError(t, err)
	return out
}

// appPrivileges lists what poblysh_app may do with the version table.
func appPrivileges(t *testing.T, ownerURL string) map[string]bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ownerURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	out := map[string]bool{}
	for _, p := range []string{"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"} {
		var ok bool
		require.NoError(t, conn.QueryRow(ctx, `SELECT has_table_privilege('poblysh_app', 'schema_migrations', $1)`, p).Scan(&ok))
		out[p] = ok
	}
	return out
}

// TestMigrateAdoptsEarlierMigrator: a schema migrated by the earlier
// migrator is adopted by goose on the first run: nothing it recorded is
// applied again (0001 would fail: its tables exist), what it had not
// applied yet is, each version keeps the time it was applied, the rows
// survive, and the app role gets exactly the grants of a fresh schema.
func TestMigrateAdoptsEarlierMigrator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base, name := bareSchema(t, "adopt")
	owner := dbtest.WithSearchPath(base, name)
	all := allVersions(t)
	require.GreaterOrEqual(t, len(all), 2)
	// The earlier migrator runs every file but the last, and no further
	// than 0031: 0032 reads goose's version table (its tstamp column),
	// which only a schema goose has adopted has. The earlier migrator
	// never met it (goose replaced it at five files).
	upTo := min(all[len(all)-2], 31)
	pending := slices.IndexFunc(all, func(v int) bool { return v > upTo })

	done, err := legacyMigrate(ctx, base, name, upTo)
	require.NoError(t, err)
	require.Equal(t, all[:pending], done)
	conn, err := pgx.Connect(ctx, owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `UPDATE schema_migrations SET applied_at = '2025-03-04 05:06:07+00' WHERE version = 1`)
	require.NoError(t, err)
	var wantAt time.Time // as goose's timestamp column holds it: the database's local time
	require.NoError(t, conn.QueryRow(ctx, `SELECT '2025-03-04 05:06:07+00'::timestamptz::timestamp`).Scan(&wantAt))

	// Data written under the earlier migrator.
	app, err := db.Open(ctx, base, db.Options{Role: "poblysh_app", Schema: name})
	require.NoError(t, err)
	defer app.Close()
	var tenantID string
	require.NoError(t, app.WithSystem(ctx, func(tx *db.Tx) error {
		tn, _, _, err := tx.CreateTenant(ctx, "before goose")
		tenantID = tn.ID
		return err
	}))

	applied, err := db.Migrate(ctx, base, name)
	require.NoError(t, err)
	require.Equal(t, all[pending:], applied, "only the migrations the earlier migrator had not applied")

	rows := versionRows(t, owner)
	require.Len(t, rows, len(all)+1, "version 0 plus one row per migration")
	require.Equal(t, int64(0), rows[0].Version)
	for i, v := range all {
		require.Equal(t, int64(v), rows[i+1].Version)
		require.True(t, rows[i+1].Applied)
	}
	require.True(t, wantAt.Equal(rows[1].At), "version 1 keeps its time: want %v, got %v", wantAt, rows[1].At)

	states, err := db.MigrationStatus(ctx, base, name)
	require.NoError(t, err)
	require.Len(t, states, len(all))
	for i, s := range states {
		require.Equal(t, all[i], s.Version)
		require.True(t, s.Applied, "%s", s.Name)
	}
	require.Equal(t, "0001_init.sql", states[0].Name)

	require.NoError(t, app.WithSystem(ctx, func(tx *db.Tx) error {
		var n int
		err := tx.GetContext(ctx, &n, `SELECT count(*) FROM tenants WHERE id = $1`, tenantID)
		require.Equal(t, 1, n, "rows survive adoption")
		return err
	}))
	fresh := dbtest.NewSchema(t)
	require.Equal(t, appPrivileges(t, fresh.OwnerURL), appPrivileges(t, owner), "the same grants as a fresh schema")
	require.Equal(t, map[string]bool{"SELECT": true, "INSERT": false, "UPDATE": false, "DELETE": false, "TRUNCATE": false}, appPrivileges(t, owner))

	// Adopted once: further runs change nothing.
	applied, err = db.Migrate(ctx, base, name)
	require.NoError(t, err)
	require.Empty(t, applied)
	require.Equal(t, rows, versionRows(t, owner))
}

// TestMigrationStatusAdoptsAndAppliesNothing: status on a schema of the
// earlier migrator reports what it applied and what is pending, applies
// nothing, and a later migrate applies exactly the pending ones.
func TestMigrationStatusAdoptsAndAppliesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base, name := bareSchema(t, "status")
	all := allVersions(t)
	require.GreaterOrEqual(t, len(all), 3)
	_, err := legacyMigrate(ctx, base, name, 2)
	require.NoError(t, err)

	for range 2 { // the second time from goose's own table
		states, err := db.MigrationStatus(ctx, base, name)
		require.NoError(t, err)
		require.Len(t, states, len(all))
		for _, s := range states {
			require.Equal(t, s.Version <= 2, s.Applied, "%s", s.Name)
			require.Equal(t, s.Applied, !s.AppliedAt.IsZero(), "%s", s.Name)
		}
	}
	applied, err := db.Migrate(ctx, base, name)
	require.NoError(t, err)
	require.Equal(t, all[2:], applied)
}

// TestMigrateFreshSchema: a fresh schema gets every migration once, and
// goose's table under the name 0001 grants on.
func TestMigrateFreshSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base, name := bareSchema(t, "fresh")
	applied, err := db.Migrate(ctx, base, name)
	require.NoError(t, err)
	require.Equal(t, allVersions(t), applied)
	applied, err = db.Migrate(ctx, base, name)
	require.NoError(t, err)
	require.Empty(t, applied)
	require.Len(t, versionRows(t, dbtest.WithSearchPath(base, name)), len(allVersions(t))+1)
}

// unmigratedSchema creates an empty schema the app role may use, as the
// public schema of a fresh database is, and opens it as the app role.
func unmigratedSchema(t *testing.T, prefix string) (base, name string, app *db.DB) {
	t.Helper()
	ctx := context.Background()
	base, name = bareSchema(t, prefix)
	conn, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	defer conn.Close(ctx)
	ident := pgx.Identifier{name}.Sanitize()
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+ident)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "GRANT USAGE ON SCHEMA "+ident+" TO poblysh_app")
	require.NoError(t, err)
	app, err = db.Open(ctx, base, db.Options{Role: "poblysh_app", Schema: name})
	require.NoError(t, err)
	t.Cleanup(app.Close)
	return base, name, app
}

func migrationNames(t *testing.T) []string {
	t.Helper()
	ms, err := db.Migrations()
	require.NoError(t, err)
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	return names
}

// TestMigrationStatusCreatesNothing: status on a schema never migrated
// lists every migration pending and creates nothing, not even the version
// table (goose creates it on any call): one created then belonged to the
// schema owner with no grant to the app role, and the service's start-up
// check failed "permission denied" instead of naming the pending
// migrations.
func TestMigrationStatusCreatesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base, name, app := unmigratedSchema(t, "status_fresh")
	all := allVersions(t)
	for range 2 {
		states, err := db.MigrationStatus(ctx, base, name)
		require.NoError(t, err)
		require.Len(t, states, len(all))
		for i, s := range states {
			require.Equal(t, all[i], s.Version)
			require.False(t, s.Applied, "%s", s.Name)
			require.True(t, s.AppliedAt.IsZero(), "%s", s.Name)
		}
	}
	conn, err := pgx.Connect(ctx, dbtest.WithSearchPath(base, name))
	require.NoError(t, err)
	defer conn.Close(ctx)
	var tables int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relnamespace = $1::regnamespace`, name).Scan(&tables))
	require.Zero(t, tables, "status created nothing")

	pending, err := app.PendingMigrations(ctx)
	require.NoError(t, err)
	require.Equal(t, migrationNames(t), pending)

	applied, err := db.Migrate(ctx, base, name)
	require.NoError(t, err)
	require.Equal(t, all, applied)
	pending, err = app.PendingMigrations(ctx)
	require.NoError(t, err)
	require.Empty(t, pending)
}

// TestPendingMigrationsMigratedWithoutGrant: a migrated schema whose
// version table the app role may no longer read (a restore without
// privileges, `pg_restore --no-privileges`, or a REVOKE) was taken for a
// schema never migrated: the service refused to start naming every
// migration pending, while `migrate status` listed each applied, and the
// `poblysh migrate` it advised applied nothing and granted nothing, so the
// service never started. The start now names the missing grant and
// `poblysh migrate`, which grants the app role SELECT on the version table
// at every run, pending or not.
func TestPendingMigrationsMigratedWithoutGrant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	conn, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `REVOKE SELECT ON schema_migrations FROM poblysh_app`)
	require.NoError(t, err)

	pending, err := s.DB.PendingMigrations(ctx)
	require.Error(t, err, "which migrations are applied is unknown: none is named pending")
	require.Empty(t, pending)
	for _, part := range []string{"poblysh_app", "SELECT", "schema_migrations", "`poblysh migrate`"} {
		require.Contains(t, err.Error(), part)
	}
	states, err := db.MigrationStatus(ctx, dbtest.URL(t), s.Name)
	require.NoError(t, err)
	for _, st := range states {
		require.True(t, st.Applied, "migrate status: %s applied", st.Name)
	}

	applied, err := db.Migrate(ctx, dbtest.URL(t), s.Name)
	require.NoError(t, err)
	require.Empty(t, applied, "nothing to apply")
	var granted bool
	require.NoError(t, conn.QueryRow(ctx, `SELECT has_table_privilege('poblysh_app', 'schema_migrations', 'SELECT')`).Scan(&granted))
	require.True(t, granted, "but the read grant is given again")
	pending, err = s.DB.PendingMigrations(ctx)
	require.NoError(t, err)
	require.Empty(t, pending)
}

// TestPendingMigrationsUnreadableVersionTable: a version table the app
// role may not read, as `poblysh migrate status` of an earlier release
// left on a database never migrated (goose's table, the owner's, no grant
// yet: 0001 grants it), means nothing applied, so the service names the
// pending migrations and the command to run. That migrate then applies
// them all and grants the table.
func TestPendingMigrationsUnreadableVersionTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base, name, app := unmigratedSchema(t, "status_earlier")
	conn, err := pgx.Connect(ctx, dbtest.WithSearchPath(base, name))
	require.NoError(t, err)
	defer conn.Close(ctx)
	// What goose's first call makes: its table and the version 0 row.
	_, err = conn.Exec(ctx, `CREATE TABLE schema_migrations (id integer PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
		version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp NOT NULL DEFAULT now());
		INSERT INTO schema_migrations (version_id, is_applied) VALUES (0, true)`)
	require.NoError(t, err)

	pending, err := app.PendingMigrations(ctx)
	require.NoError(t, err)
	require.Equal(t, migrationNames(t), pending)

	applied, err := db.Migrate(ctx, base, name)
	require.NoError(t, err)
	require.Equal(t, allVersions(t), applied)
	pending, err = app.PendingMigrations(ctx)
	require.NoError(t, err)
	require.Empty(t, pending)
}
