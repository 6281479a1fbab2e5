package db

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// versionTable is goose's record of applied migrations. It keeps the name
// the earlier home-made migrator gave its own table, so the grants 0001
// makes on it (the app role may read it, never write it) still apply; a
// table of the earlier shape is converted by adopt.
const versionTable = "schema_migrations"

// Migration is one embedded SQL file, named NNNN_description.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the embedded migrations in order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("db: migration %s: name must start with a number", e.Name())
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// MigrationState is one embedded migration and whether the database has it.
type MigrationState struct {
	Version int
	Name    string
	Applied bool
	// AppliedAt is when it was applied, as the database's local time
	// (goose's column has no time zone); zero while pending.
	AppliedAt time.Time
}

// Migrate applies pending migrations with goose as the login role of url
// (the schema owner), each in its own transaction, under a session advisory
// lock per schema so concurrent migrators of one schema queue while other
// schemas proceed. schema, when set, is created if missing and used as the
// search_path. A database migrated by the earlier migrator is adopted first
// (see adopt). A database whose Signals are past the cluster's
// transaction counter is refused (TxCounterBehindError). It returns the
// versions applied.
func Migrate(ctx context.Context, url, schema string) ([]int, error) {
	m, err := openMigrator(ctx, url, schema)
	if err != nil {
		return nil, err
	}
	defer m.close()
	// A logical copy into a new cluster is refused before anything runs
	// on it (see TxCounterBehindError).
	if err := checkTxCounter(ctx, m.db); err != nil {
		return nil, err
	}
	res, err := m.provider.Up(ctx)
	var partial *goose.PartialError
	if errors.As(err, &partial) {
		return appliedVersions(partial.Applied),
			fmt.Errorf("db: migration %s: %w", path.Base(partial.Failed.Source.Path), partial.Err)
	}
	if err != nil {
		return nil, fmt.Errorf("db: migrate: %w", err)
	}
	if err := joinAppRole(ctx, m.db); err != nil {
		return appliedVersions(res), err
	}
	if err := grantVersionTable(ctx, m.db, m.lockID); err != nil {
		return appliedVersions(res), err
	}
	return appliedVersions(res), nil
}

// grantVersionTable gives the app role the read-only grant on the version
// table that 0001 gives it, and the USAGE on its schema that 0001 gives
// first (PendingMigrations, the start-up check, reads the table as the
// app role). Runs at every migrate, with nothing pending too: a migrated
// schema whose grants were lost (restored without privileges, or
// revoked) is then fixed, for the start-up check, by the `poblysh
// migrate` it names. It grants only what is missing, under the
// migrators' advisory lock: goose has released its own by now, and two
// GRANTs on one object at once fail "tuple concurrently updated", which
// failed one-shot migrators started together (pods of a rollout).
func grantVersionTable(ctx context.Context, db *sql.DB, lockID int64) error {
	fail := func(err error) error {
		return fmt.Errorf("db: migrate: grant poblysh_app SELECT on %s: %w", versionTable, wrapConnErr(err))
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", lockID); err != nil {
		return fail(err)
	}
	var schema string
	var usage, sel bool
	if err := tx.QueryRowContext(ctx, `SELECT n.nspname,
			has_schema_privilege('poblysh_app', n.oid, 'USAGE'),
			has_table_privilege('poblysh_app', c.oid, 'SELECT')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = to_regclass($1)`, versionTable).Scan(&schema, &usage, &sel); err != nil {
		return fail(err)
	}
	if !usage {
		if _, err := tx.ExecContext(ctx, "GRANT USAGE ON SCHEMA "+pgx.Identifier{schema}.Sanitize()+" TO poblysh_app"); err != nil {
			return fail(err)
		}
	}
	if !sel {
		if _, err := tx.ExecContext(ctx, `GRANT SELECT ON TABLE `+versionTable+` TO poblysh_app`); err != nil {
			return fail(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return nil
}

// joinAppRole makes the login role (the schema owner) a member of
// poblysh_app, the role the service SET ROLEs to, unless it may already
// SET ROLE to it: a superuser may (and is granted nothing), and so may an
// owner granted it before. A CREATEROLE owner that created poblysh_app is
// not a member of it (PostgreSQL 15 gives the creator no membership; 16 only
// ADMIN OPTION), so every command failed "permission denied to set role"
// until an operator granted it. Runs at every migrate, so an owner
// replaced later is granted too; granting twice is harmless.
func joinAppRole(ctx context.Context, db *sql.DB) error {
	const can = `SELECT pg_has_role(current_user, 'poblysh_app',
		CASE WHEN current_setting('server_version_num')::int >= 160000 THEN 'SET' ELSE 'MEMBER' END)`
	var ok bool
	if err := db.QueryRowContext(ctx, can).Scan(&ok); err != nil {
		return fmt.Errorf("db: migrate: %w", wrapConnErr(err))
	}
	if ok {
		return nil
	}
	_, err := db.ExecContext(ctx, `GRANT poblysh_app TO CURRENT_USER`)
	if err != nil && db.QueryRowContext(ctx, can).Scan(&ok) == nil && ok {
		err = nil // another migrator granted it meanwhile
	}
	if err != nil {
		return fmt.Errorf("db: migrate: the login role may not SET ROLE poblysh_app and could not grant it to itself "+
			"(have a superuser run GRANT poblysh_app TO <this user>): %w", err)
	}
	return nil
}

// MigrationStatus lists every embedded migration and whether it is applied.
// Like Migrate it first adopts a database of the earlier migrator, but it
// applies nothing, and on a database never migrated it creates nothing:
// goose would create its version table, the schema owner's with no grant
// to the app role until 0001 runs, and PendingMigrations (the service's
// start-up check) could not read it.
func MigrationStatus(ctx context.Context, url, schema string) ([]MigrationState, error) {
	m, err := openMigrator(ctx, url, schema)
	if err != nil {
		return nil, err
	}
	defer m.close()
	// Resolved through the search_path, as goose resolves the name.
	var exists bool
	if err := m.db.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, versionTable).Scan(&exists); err != nil {
		return nil, fmt.Errorf("db: migrate status: %w", wrapConnErr(err))
	}
	if !exists {
		ms, err := Migrations()
		if err != nil {
			return nil, err
		}
		out := make([]MigrationState, 0, len(ms))
		for _, mig := range ms {
			out = append(out, MigrationState{Version: mig.Version, Name: mig.Name})
		}
		return out, nil
	}
	st, err := m.provider.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("db: migrate status: %w", err)
	}
	out := make([]MigrationState, 0, len(st))
	for _, s := range st {
		ms := MigrationState{Version: int(s.Source.Version), Name: path.Base(s.Source.Path), Applied: s.State == goose.StateApplied}
		if ms.Applied {
			ms.AppliedAt = s.AppliedAt
		}
		out = append(out, ms)
	}
	return out, nil
}

func appliedVersions(rs []*goose.MigrationResult) []int {
	var out []int
	for _, r := range rs {
		out = append(out, int(r.Source.Version))
	}
	return out
}

// migrator is goose set up on one schema, with the version table adopted.
type migrator struct {
	db       *sql.DB
	provider *goose.Provider
	lockID   int64 // the migrators' advisory lock of the schema
}

func (m *migrator) close() { _ = m.db.Close() }

func openMigrator(ctx context.Context, url, schema string) (*migrator, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("db: migrate: %w", redact(err))
	}
	if schema != "" {
		// Every connection goose opens works in the schema.
		cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	}
	if cfg.ConnectTimeout == 0 && !setsConnectTimeout(url) {
		cfg.ConnectTimeout = connectTimeout // as Open: a silent server is an error, not a hang
	}
	sqlDB := stdlib.OpenDB(*cfg)
	m := &migrator{db: sqlDB}
	if err := m.open(ctx, schema); err != nil {
		m.close()
		return nil, err
	}
	return m, nil
}

func (m *migrator) open(ctx context.Context, schema string) error {
	if err := m.db.PingContext(ctx); err != nil {
		return fmt.Errorf("db: migrate: %w", redact(err))
	}
	// The same key the earlier migrator locked, so an older and a newer
	// migrator of one schema also queue behind each other during a rollout.
	var lockID int64
	if err := m.db.QueryRowContext(ctx, "SELECT hashtext($1)", "poblysh-migrate:"+schema).Scan(&lockID); err != nil {
		return fmt.Errorf("db: migrate: lock id: %w", err)
	}
	m.lockID = lockID
	if err := prepare(ctx, m.db, schema, lockID); err != nil {
		return err
	}
	// goose polls pg_try_advisory_lock; poll each second, for 10 minutes.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID), lock.WithLockTimeout(1, 600))
	if err != nil {
		return fmt.Errorf("db: migrate: %w", err)
	}
	files, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		return err
	}
	m.provider, err = goose.NewProvider(goose.DialectPostgres, m.db, files,
		goose.WithTableName(versionTable),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
		// As before goose: a migration merged with a lower number than one
		// already applied (branches numbered in parallel) still runs.
		goose.WithAllowOutofOrder(true),
	)
	if err != nil {
		return fmt.Errorf("db: migrate: %w", err)
	}
	return nil
}

// prepare creates the schema if missing and adopts a version table of the
// earlier migrator, in one transaction under the migrators' advisory lock:
// concurrent first runs on one schema queue here (CREATE SCHEMA IF NOT
// EXISTS alone races), and goose's own session lock, taken next, waits for
// this transaction.
func prepare(ctx context.Context, sqlDB *sql.DB, schema string, lockID int64) error {
	tx, err := sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: migrate: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", lockID); err != nil {
		return fmt.Errorf("db: migrate: lock: %w", err)
	}
	if schema != "" {
		if _, err := tx.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fmt.Errorf("db: migrate: create schema: %w", err)
		}
	}
	if err := adopt(ctx, tx); err != nil {
		return fmt.Errorf("db: migrate: adopt: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: migrate: %w", err)
	}
	return nil
}

// adopt converts the earlier migrator's schema_migrations (version, name,
// applied_at) into goose's version table, so that nothing it recorded is
// applied again: it reads the recorded versions, drops the table, lets
// goose create its own under the same name, records each version with its
// original time, and gives the app role the read-only grant 0001 gives a
// fresh table. It runs in prepare's transaction, so either the old table or
// the adopted one exists, never both or neither. It does nothing on a fresh
// or an already adopted schema.
func adopt(ctx context.Context, tx *sql.Tx) error {
	var legacy bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 AND column_name = 'applied_at')`, versionTable).Scan(&legacy); err != nil {
		return err
	}
	if !legacy {
		return nil
	}
	type record struct {
		version   int64
		appliedAt time.Time
	}
	var recs []record
	rows, err := tx.QueryContext(ctx, `SELECT version, applied_at::timestamp FROM `+versionTable+` ORDER BY version`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r record
		if err := rows.Scan(&r.version, &r.appliedAt); err != nil {
			return err
		}
		recs = append(recs, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	store, err := database.NewStore(database.DialectPostgres, versionTable)
	if err != nil {
		return err
	}
	// goose's table reuses the name (and so its primary key index name):
	// the old one goes first.
	if _, err := tx.ExecContext(ctx, `DROP TABLE `+versionTable); err != nil {
		return err
	}
	if err := store.CreateVersionTable(ctx, tx); err != nil {
		return err
	}
	// Version 0 marks goose's table as initialized, as goose's own setup does.
	if err := store.Insert(ctx, tx, database.InsertRequest{Version: 0}); err != nil {
		return err
	}
	for _, r := range recs {
		// goose's Insert takes no time; keep when each was really applied.
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+versionTable+` (version_id, is_applied, tstamp) VALUES ($1, true, $2)`,
			r.version, r.appliedAt); err != nil {
			return fmt.Errorf("version %d: %w", r.version, err)
		}
	}
	// 0001 created poblysh_app and granted it read access to the old table.
	for _, q := range []string{`REVOKE ALL ON TABLE ` + versionTable + ` FROM poblysh_app`, `GRANT SELECT ON TABLE ` + versionTable + ` TO poblysh_app`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// initTables are tables 0001 makes (and no migration drops), under names
// another application's tables are unlikely to have.
var initTables = []string{"sync_cursors", "webhook_routes", "watch_channels", "signal_aliases"}

// ErrVersionTableUnreadable is PendingMigrations' error on a migrated
// schema whose version table the app role may not read.
var ErrVersionTableUnreadable = errors.New("database: the app role poblysh_app may not SELECT from " + versionTable +
	" (its grant, or USAGE on its schema, was lost: a restore without privileges, or a REVOKE), so which migrations are applied is unknown; " +
	"run `poblysh migrate`, which grants it again")

// versionTableHidden reports whether a schema on the search_path holds a
// migrated schema's version table (0001's tables beside it) that the app
// role may not use (no USAGE on the schema). The catalog is readable
// without it.
func (d *DB) versionTableHidden(ctx context.Context) (bool, error) {
	var hidden bool
	err := d.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relname = $1 AND NOT has_schema_privilege(n.oid, 'USAGE')
		  AND n.nspname = ANY (SELECT CASE WHEN p = '"$user"' OR p = '$user' THEN current_user::text ELSE trim(both '"' from p) END
		                       FROM unnest(string_to_array(replace(current_setting('search_path'), ' ', ''), ',')) AS p)
		  AND EXISTS (SELECT 1 FROM pg_class t WHERE t.relnamespace = n.oid AND t.relname = ANY ($2::text[])))`,
		versionTable, initTables).Scan(&hidden)
	if err != nil {
		return false, fmt.Errorf("db: applied migrations: %w", redact(err))
	}
	return hidden, nil
}

// PendingMigrations lists the files of the embedded migrations that the
// database has not applied, read from the version table, which the app
// role may read. A process started on such a schema would report ready and
// then fail wherever the code needs what a pending migration makes (a
// column that does not exist), so the service refuses to start instead.
// Migrations the database has and this binary does not (a newer release
// migrated first, as a rolling deploy does) are not pending. A version
// table the app role may not read is an error naming the grant and
// `poblysh migrate` (ErrVersionTableUnreadable), unless nothing else is
// in its schema (nothing applied: every migration is pending).
func (d *DB) PendingMigrations(ctx context.Context) ([]string, error) {
	applied := map[int]bool{}
	// The latest row of each version says whether it is applied.
	rows, err := d.Pool.Query(ctx, `SELECT DISTINCT ON (version_id) version_id, is_applied FROM `+versionTable+`
		ORDER BY version_id, id DESC`)
	if err == nil {
		for rows.Next() {
			var v int64
			var ok bool
			if err := rows.Scan(&v, &ok); err != nil {
				rows.Close()
				return nil, fmt.Errorf("db: applied migrations: %w", err)
			}
			applied[int(v)] = ok
		}
		rows.Close()
		err = rows.Err()
	}
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && pe.Code == "42P01":
		// No version table the app role can see: nothing was ever applied,
		// unless a migrated schema on the search_path lost the app role's
		// USAGE (a restore without privileges of a schema other than
		// public), which hides its tables as missing.
		hidden, err := d.versionTableHidden(ctx)
		if err != nil {
			return nil, err
		}
		if hidden {
			return nil, ErrVersionTableUnreadable
		}
	case errors.As(err, &pe) && pe.Code == "42501":
		// A version table the app role may not read. Without the tables
		// 0001 makes beside it, it is goose's, made by a `poblysh migrate
		// status` of an earlier release on a database never migrated
		// (0001 grants it SELECT): nothing was applied. With them, the
		// schema is migrated and the grant was lost (a restore without
		// privileges, a REVOKE): which migrations are applied is unknown,
		// and naming them all pending was false. The catalog is readable
		// without the grant.
		var migrated bool
		if err := d.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_class c
			WHERE c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = to_regclass($1))
			  AND c.relname = ANY ($2::text[]))`, versionTable, initTables).Scan(&migrated); err != nil {
			return nil, fmt.Errorf("db: applied migrations: %w", redact(err))
		}
		if migrated {
			return nil, ErrVersionTableUnreadable
		}
	case errors.As(err, &pe) && pe.Code == "42703":
		// The earlier migrator's table (version, name, applied_at), not yet
		// adopted by a migrate of this release.
		var vs []int64
		if err := d.Pool.QueryRow(ctx, `SELECT coalesce(array_agg(version::bigint), '{}') FROM `+versionTable).Scan(&vs); err != nil {
			return nil, fmt.Errorf("db: applied migrations: %w", redact(err))
		}
		for _, v := range vs {
			applied[int(v)] = true
		}
	case err != nil:
		return nil, fmt.Errorf("db: applied migrations: %w", redact(err))
	}
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	var pending []string
	for _, m := range ms {
		if !applied[m.Version] {
			pending = append(pending, m.Name)
		}
	}
	return pending, nil
}
