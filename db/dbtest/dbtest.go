// Package dbtest gives tests a real Postgres: a dedicated test database
// (created on first use) and a freshly migrated schema per test, dropped on
// cleanup. Tests open the schema through the restricted application role,
// so row-level security applies exactly as in production.
package dbtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/vault"
)

// DefaultURL is the test database when TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/poblysh_test?sslmode=disable"

var (
	ensureOnce sync.Once
	ensureErr  error
	counter    atomic.Int64
)

// URL returns the test database URL, creating the database if missing.
func URL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("TEST_DATABASE_URL")
	if u == "" {
		u = DefaultURL
	}
	ensureOnce.Do(func() { ensureErr = ensureDatabase(u) })
	if ensureErr != nil {
		tb.Fatalf("dbtest: %v (is Postgres running? `make test` starts it)", ensureErr)
	}
	return u
}

func ensureDatabase(dbURL string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	u, err := url.Parse(dbURL)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(u.Path, "/")
	admin := *u
	admin.Path = "/postgres"
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil && !strings.Contains(err.Error(), "already exists") {
			return err
		}
	}
	return nil
}

// Schema is one migrated, isolated schema.
type Schema struct {
	Name string
	// OwnerURL connects as the schema owner (bypasses nothing: RLS is forced,
	// but the owner may be a superuser in development).
	OwnerURL string
	// DB is the application handle, as poblysh_app, search_path = Name.
	DB *db.DB
}

// NewSchema creates and migrates a schema for one test and drops it after.
func NewSchema(tb testing.TB) *Schema {
	tb.Helper()
	base := URL(tb)
	name := fmt.Sprintf("t_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, counter.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := db.Migrate(ctx, base, name); err != nil {
		tb.Fatalf("dbtest: migrate %s: %v", name, err)
	}
	d, err := db.Open(ctx, base, db.Options{Role: "poblysh_app", Schema: name, MaxConns: 20})
	if err != nil {
		tb.Fatalf("dbtest: open: %v", err)
	}
	s := &Schema{Name: name, OwnerURL: WithSearchPath(base, name), DB: d}
	tb.Cleanup(func() {
		d.Close()
		if os.Getenv("DBTEST_KEEP") != "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Logf("dbtest: drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			tb.Logf("dbtest: drop schema %s: %v", name, err)
		}
	})
	return s
}

// WithSearchPath returns dbURL with search_path set to schema.
func WithSearchPath(dbURL, schema string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return dbURL
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Seed creates a tenant named name and, in it, a connection of provider
// for the external account, and returns their ids.
func Seed(tb testing.TB, d *db.DB, name, provider, account string) (tenantID, connID string) {
	tb.Helper()
	ctx := context.Background()
	if err := d.WithSystem(ctx, func(tx *db.Tx) error {
		tn, _, _, err := tx.CreateTenant(ctx, name)
		if err == nil {
			tenantID = tn.ID
		}
		return err
	}); err != nil {
		tb.Fatalf("dbtest: create tenant %q: %v", name, err)
	}
	if err := d.WithTenant(ctx, tenantID, func(tx *db.Tx) error {
		c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: provider, ExternalAccountID: account, DisplayName: account})
		if err == nil {
			connID = c.ID
		}
		return err
	}); err != nil {
		tb.Fatalf("dbtest: create %s connection: %v", provider, err)
	}
	return tenantID, connID
}

// KeyRing returns a key ring with one fresh key, for sealing test tokens.
func KeyRing(tb testing.TB) *vault.KeyRing {
	tb.Helper()
	k, err := vault.ParseKey(vault.GenerateKey())
	if err != nil {
		tb.Fatalf("dbtest: key: %v", err)
	}
	return vault.NewKeyRing(k)
}

// Replay runs one migration's SQL again on the schema, so a test can apply
// it over rows shaped by the code that preceded it (the migrations are
// written to be re-runnable). As its owner when role is empty; else under
// SET LOCAL ROLE role: poblysh_app is neither superuser nor BYPASSRLS, so
// row-level security binds the migration as it binds a schema owner that
// is no superuser (the test database's owner is one, and would see every
// row whatever the migration does).
func (s *Schema) Replay(tb testing.TB, version int, role string) {
	tb.Helper()
	ms, err := db.Migrations()
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	for _, m := range ms {
		if m.Version != version {
			continue
		}
		conn, err := pgx.Connect(ctx, s.OwnerURL)
		if err != nil {
			tb.Fatal(err)
		}
		defer conn.Close(ctx)
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if role != "" {
				if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+pgx.Identifier{role}.Sanitize()); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, m.SQL)
			return err
		})
		if err != nil {
			tb.Fatalf("replay migration %d: %v", version, err)
		}
		return
	}
	tb.Fatalf("no migration %d", version)
}
