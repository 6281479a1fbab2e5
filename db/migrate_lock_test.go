package db_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
)

// TestMigrateConcurrentlyOneSchema: migrators started together on one new
// schema queue on its lock: each migration is applied exactly once, and
// none of them fails (not even creating the schema).
func TestMigrateConcurrentlyOneSchema(t *testing.T) {
	t.Parallel()
	base, name := bareSchema(t, "conc")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var (
		mu  sync.Mutex
		got []int
		wg  sync.WaitGroup
	)
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			applied, err := db.Migrate(ctx, base, name)
			errs <- err
			mu.Lock()
			got = append(got, applied...)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	sort.Ints(got)
	require.Equal(t, allVersions(t), got, "every migration applied once in all")
}

// TestMigrateLockIsPerSchema: while something holds one schema's migration
// lock, that schema's migrator waits, and another schema's does not.
func TestMigrateLockIsPerSchema(t *testing.T) {
	t.Parallel()
	base, held := bareSchema(t, "held")
	_, free := bareSchema(t, "free")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "SELECT pg_advisory_lock(hashtext($1))", "poblysh-migrate:"+held)
	require.NoError(t, err)

	start := time.Now()
	applied, err := db.Migrate(ctx, base, free)
	require.NoError(t, err)
	require.Equal(t, allVersions(t), applied)
	require.Less(t, time.Since(start), 10*time.Second, "another schema's lock does not hold this one up")

	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = db.Migrate(short, base, held)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the held schema waits for its lock")

	_, err = conn.Exec(ctx, "SELECT pg_advisory_unlock(hashtext($1))", "poblysh-migrate:"+held)
	require.NoError(t, err)
	applied, err = db.Migrate(ctx, base, held)
	require.NoError(t, err)
	require.Equal(t, allVersions(t), applied)
}
