package main

import (
	"bytes"
	"context"
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
	getenv := func(k string) string { return env[k] }
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
