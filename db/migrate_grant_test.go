package db_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// One-shot migrators started together on a migrated schema, as pods of a
// rollout each running `poblysh migrate` once. Each migrate grants the app
// role its read of the version table after goose released its lock; two
// GRANTs on one object at once failed "tuple concurrently updated".
func TestOneShotMigratorsTogetherOnAMigratedSchema(t *testing.T) {
	ctx := context.Background()
	base, name := bareSchema(t, "grantrace")
	_, err := db.Migrate(ctx, base, name)
	require.NoError(t, err)
	failed := 0
	for round := range 30 {
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				_, err := db.Migrate(ctx, base, name)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				failed++
				t.Logf("round %d: %v", round, err)
			}
		}
	}
	require.Zero(t, failed)
}

// A `pg_restore --no-privileges` of a schema other than public drops the
// app role's USAGE on the schema too, which hides the version table as
// missing (42P01, not 42501): the start named every migration pending, and
// the `poblysh migrate` it advised granted the table but not the schema.
// The start now names the lost grant, and migrate restores both.
func TestRestoreWithoutPrivilegesOfANonPublicSchema(t *testing.T) {
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	conn, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	schema := pgx.Identifier{s.Name}.Sanitize()
	for _, q := range []string{
		`REVOKE ALL ON ALL TABLES IN SCHEMA ` + schema + ` FROM poblysh_app`,
		`REVOKE ALL ON ALL SEQUENCES IN SCHEMA ` + schema + ` FROM poblysh_app`,
		`REVOKE ALL ON SCHEMA ` + schema + ` FROM poblysh_app`,
	} {
		_, err = conn.Exec(ctx, q)
		require.NoError(t, err, q)
	}
	pending, err := s.DB.PendingMigrations(ctx)
	require.ErrorIs(t, err, db.ErrVersionTableUnreadable, "the start names the lost grant, not %d pending", len(pending))
	require.Empty(t, pending)
	_, err = db.Migrate(ctx, dbtest.URL(t), s.Name)
	require.NoError(t, err)
	pending, err = s.DB.PendingMigrations(ctx)
	require.NoError(t, err, "migrate granted the schema's USAGE and the table's SELECT again")
	require.Empty(t, pending)
}
