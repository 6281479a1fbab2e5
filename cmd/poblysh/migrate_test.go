package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/testenv"
	"github.com/poblysh/poblysh/vault"
)

// TestMigrateCommand: "poblysh migrate status" lists every migration as
// pending on an empty schema and applies nothing; "poblysh migrate"
// applies them; status then lists them applied, with a time.
func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base := dbtest.URL(t)
	schema := fmt.Sprintf("t_cmd_migrate_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	conn, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	ident := pgx.Identifier{schema}.Sanitize()
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+ident)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), "DROP SCHEMA "+ident+" CASCADE") })
	// As in production: the URL names the database and its search_path.
	env := map[string]string{"DATABASE_URL": dbtest.WithSearchPath(base, schema), "POBLYSH_ENV_FILE": "none"}
	getenv := envOf(env)
	ms, err := db.Migrations()
	require.NoError(t, err)

	migrate := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		require.NoError(t, run(ctx, append([]string{"migrate"}, args...), getenv, &out, &errOut))
		require.Empty(t, errOut.String())
		return out.String()
	}
	statusLines := func(state string) {
		t.Helper()
		out := migrate("status")
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		require.Len(t, lines, len(ms)+1, out)
		for i, m := range ms {
			pattern := `^` + regexp.QuoteMeta(m.Name) + ` +pending$`
			if state == "applied" {
				pattern = `^` + regexp.QuoteMeta(m.Name) + ` +applied +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`
			}
			require.Regexp(t, pattern, lines[i])
		}
		if state == "applied" {
			require.Equal(t, fmt.Sprintf("migrate: %d applied, 0 pending", len(ms)), lines[len(ms)])
		} else {
			require.Equal(t, fmt.Sprintf("migrate: 0 applied, %d pending", len(ms)), lines[len(ms)])
		}
	}

	statusLines("pending")
	statusLines("pending") // status applied nothing
	var versions []string
	for _, m := range ms {
		versions = append(versions, fmt.Sprint(m.Version))
	}
	require.Equal(t, "migrate: applied ["+strings.Join(versions, " ")+"]\n", migrate())
	statusLines("applied")
	require.Equal(t, "migrate: schema is up to date\n", migrate())

	var out, errOut bytes.Buffer
	require.ErrorIs(t, run(ctx, []string{"migrate", "statsu"}, getenv, &out, &errOut), errUsage)
	require.Contains(t, errOut.String(), `poblysh migrate: unexpected argument "statsu"`)
	require.Contains(t, errOut.String(), "Usage: poblysh migrate [status]")
}

// TestMigrateStatusThenAPI: `poblysh migrate status` on a database never
// migrated applies nothing and creates nothing, so `poblysh api` started
// after it still refuses naming every migration and the command to run,
// not with a permission error on a version table status had created.
func TestMigrateStatusThenAPI(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base := dbtest.URL(t)
	schema := fmt.Sprintf("t_cmd_status_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	conn, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	ident := pgx.Identifier{schema}.Sanitize()
	// As the public schema of a fresh database: the app role may use it.
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+ident+"; GRANT USAGE ON SCHEMA "+ident+" TO poblysh_app")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), "DROP SCHEMA "+ident+" CASCADE") })
	env := configEnv(t, dbtest.WithSearchPath(base, schema))
	getenv := envOf(env)
	ms, err := db.Migrations()
	require.NoError(t, err)
	want := fmt.Sprintf("database: %d migration(s) not applied: %s, ", len(ms), ms[0].Name)

	var out, errOut bytes.Buffer
	require.ErrorContains(t, run(ctx, []string{"api"}, getenv, &out, &errOut), want)
	require.NoError(t, run(ctx, []string{"migrate", "status"}, getenv, &out, &errOut))
	require.Contains(t, out.String(), fmt.Sprintf("migrate: 0 applied, %d pending\n", len(ms)))
	err = run(ctx, []string{"api"}, getenv, &out, &errOut)
	require.ErrorContains(t, err, want)
	require.ErrorContains(t, err, "run `poblysh migrate` first")
}

// TestRefusesPendingMigrations: api and worker refuse to start on a schema
// that misses a migration of this binary (they would report ready, then
// fail on what it makes), naming the file and the command that applies it.
func TestRefusesPendingMigrations(t *testing.T) {
	t.Parallel()
	s := dbtest.NewSchema(t)
	ms, err := db.Migrations()
	require.NoError(t, err)
	last := ms[len(ms)-1]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, `DELETE FROM schema_migrations WHERE version_id = $1`, last.Version)
	require.NoError(t, err)
	refusesToStart(t, s.OwnerURL, []string{"api", "worker"}, func(t *testing.T, err error) {
		require.Contains(t, err.Error(), last.Name)
		require.Contains(t, err.Error(), "poblysh migrate")
	})
}

// TestRefusesTxCounterBehindSignals: on a database restored by a logical
// copy into another cluster, whose transaction counter is behind the ids
// its Signals carry (simulated by a Signal stored with an id past the
// counter), api, worker and migrate refuse to start, naming the remedy:
// started, every consumer's feed would silently miss the Signals stored
// from then on.
func TestRefusesTxCounterBehindSignals(t *testing.T) {
	t.Parallel()
	s := dbtest.NewSchema(t)
	tenant, connID := dbtest.Seed(t, s.DB, "restored", "github", "r")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, `SELECT set_config('poblysh.system', 'on', false)`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `INSERT INTO signals (tenant_id, connection_id, source, kind, occurred_at, dedupe_key, payload, txid)
		VALUES ($1, $2, 'github', 'code.pushed', now(), 'github:restored', '{}',
			(pg_current_xact_id()::text::numeric + 4294967296)::text::xid8)`, tenant, connID)
	require.NoError(t, err)
	refusesToStart(t, s.OwnerURL, []string{"api", "worker", "migrate"}, func(t *testing.T, err error) {
		require.Contains(t, err.Error(), "pg_resetwal -e ")
		require.Contains(t, err.Error(), "docs/reliability.md")
	})
}

// refusesToStart runs each command against the database at ownerURL and
// requires it to end within 30 s with an error that check accepts (a
// command still running then started on the database it should refuse).
func refusesToStart(t *testing.T, ownerURL string, cmds []string, check func(*testing.T, error)) {
	t.Helper()
	env := map[string]string{
		"DATABASE_URL":         ownerURL,
		"TEMPORAL_ADDRESS":     testenv.Temporal(t).FrontendHostPort(),
		"TEMPORAL_NAMESPACE":   "default",
		"POBLYSH_TASK_QUEUE":   "test-" + rand.Text()[:10],
		"POBLYSH_HTTP_ADDR":    fmt.Sprintf("127.0.0.1:%d", testenv.FreePort()),
		"POBLYSH_METRICS_ADDR": "off",
		"POBLYSH_ADMIN_KEY":    "admin-" + strings.Repeat("k", 30),
		"POBLYSH_CRYPTO_KEY":   vault.GenerateKey(),
		"POBLYSH_ENV_FILE":     "none",
	}
	for _, cmd := range cmds {
		t.Run(cmd, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			buf := &syncBuffer{}
			done := make(chan error, 1)
			go func() { done <- run(ctx, []string{cmd}, envOf(env), buf, buf) }()
			select {
			case err := <-done:
				require.Error(t, err, "%s", tail(buf.String(), 10))
				check(t, err)
			case <-time.After(30 * time.Second):
				cancel()
				<-done
				t.Fatalf("%s started on a database it should refuse; logs:\n%s", cmd, tail(buf.String(), 10))
			}
		})
	}
}
