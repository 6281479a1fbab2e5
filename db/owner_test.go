package db_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

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

// A schema owner that is no superuser, only CREATEROLE (a managed
// Postgres's admin user; the README's and .env.example's setup), migrates
// and then runs the service, which SET ROLEs to poblysh_app: migrate makes
// it a member. Every command failed "permission denied to set role" until
// an operator ran GRANT poblysh_app TO <owner>. Migrating again changes
// nothing.
func TestNonSuperuserOwnerMigratesAndRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base, err := url.Parse(dbtest.URL(t))
	require.NoError(t, err)
	admin, err := pgx.Connect(ctx, base.String())
	require.NoError(t, err)
	defer admin.Close(ctx)
	name := fmt.Sprintf("poblysh_owner_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
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
