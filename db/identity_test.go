package db_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// The database identity names the database itself, not the way it is
// reached: it hashed the server's address and port with the database's
// name and schema, so two Postgres servers reached alike (a Unix socket,
// 127.0.0.1:5432 on two hosts, one container address in two compose
// projects) with the same database name shared it, and the worker's task
// queue check let two stacks run each other's work. It now hashes the
// database's own id (database_identity, a random UUID set once by
// migration 0037) with its name and schema: another database reached the
// same way, under the same name and schema (here the same schema given
// another id), has another identity, and every connection of one database
// reports the same. The address form earlier versions reported is kept
// beside it (Address), for the workers of a rolling upgrade.
func TestIdentityNamesTheDatabaseNotItsAddress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	first, err := s.DB.Identity(ctx)
	require.NoError(t, err)
	require.Regexp(t, `^[0-9a-f]{12}$`, first.Database)
	require.Regexp(t, `^[0-9a-f]{12}$`, first.Address)
	require.NotEqual(t, first.Database, first.Address)

	// Stable across connections and processes: another pool on the schema.
	other, err := db.Open(ctx, dbtest.URL(t), db.Options{Role: "poblysh_app", Schema: s.Name, MaxConns: 2})
	require.NoError(t, err)
	defer other.Close()
	again, err := other.Identity(ctx)
	require.NoError(t, err)
	require.Equal(t, first, again)

	// The application role reads the id and cannot change it.
	err = s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE database_identity SET id = gen_random_uuid()`)
		return err
	})
	require.ErrorContains(t, err, "permission denied")

	// Another database with the same address, name and schema.
	owner, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(t, err)
	defer owner.Close(ctx)
	_, err = owner.Exec(ctx, `UPDATE database_identity SET id = gen_random_uuid()`)
	require.NoError(t, err)
	second, err := s.DB.Identity(ctx)
	require.NoError(t, err)
	require.NotEqual(t, first.Database, second.Database, "another database, another identity")
	require.Equal(t, first.Address, second.Address, "the address form cannot tell them apart")

	// One row, always.
	_, err = owner.Exec(ctx, `INSERT INTO database_identity (id) VALUES (gen_random_uuid())`)
	require.Error(t, err, "a second id")

	// Another schema of the same database is another database.
	s2 := dbtest.NewSchema(t)
	third, err := s2.DB.Identity(ctx)
	require.NoError(t, err)
	require.NotEqual(t, second.Database, third.Database)
	require.NotEqual(t, second.Address, third.Address)
}
