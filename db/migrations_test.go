package db_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
)

// dollarBody starts a statement whose body is dollar-quoted and may hold
// semicolons: goose must be told where it ends.
var dollarBody = regexp.MustCompile(`(?i)^\s*(DO\b|CREATE\s+(OR\s+REPLACE\s+)?(FUNCTION|PROCEDURE|TRIGGER)\b)`)

// checkAnnotations enforces db/migrations/README.md: a migration opens with
// "-- +goose Up", has no Down section (forward-only), and wraps every DO
// block, function, procedure and trigger in StatementBegin/StatementEnd.
func checkAnnotations(text string) error {
	lines := strings.Split(text, "\n")
	if strings.TrimSpace(lines[0]) != "-- +goose Up" {
		return fmt.Errorf(`line 1: must be "-- +goose Up" (see db/migrations/README.md)`)
	}
	inBlock := false
	for i, l := range lines {
		switch t := strings.TrimSpace(l); {
		case strings.HasPrefix(t, "--") && strings.Contains(t, "+goose Down"):
			return fmt.Errorf("line %d: migrations are forward-only: no Down section", i+1)
		case t == "-- +goose StatementBegin":
			if inBlock {
				return fmt.Errorf("line %d: StatementBegin inside a statement block", i+1)
			}
			inBlock = true
		case t == "-- +goose StatementEnd":
			if !inBlock {
				return fmt.Errorf("line %d: StatementEnd without StatementBegin", i+1)
			}
			inBlock = false
		case !inBlock && dollarBody.MatchString(l):
			return fmt.Errorf("line %d: wrap %q in -- +goose StatementBegin / StatementEnd", i+1, t)
		}
	}
	if inBlock {
		return fmt.Errorf("StatementBegin without StatementEnd")
	}
	return nil
}

// TestMigrationFilesAreAnnotated: every embedded migration carries the goose
// annotations it needs, and the check catches a file that does not.
func TestMigrationFilesAreAnnotated(t *testing.T) {
	t.Parallel()
	ms, err := db.Migrations()
	require.NoError(t, err)
	require.NotEmpty(t, ms)
	for _, m := range ms {
		require.NoError(t, checkAnnotations(m.SQL), "db/migrations/%s", m.Name)
	}

	for _, tc := range []struct{ name, text, want string }{
		{"no Up", "-- a comment\nCREATE TABLE t (id int);\n", `line 1: must be "-- +goose Up"`},
		{"Up after SQL", "CREATE TABLE t (id int);\n-- +goose Up\n", `line 1: must be "-- +goose Up"`},
		{"Down", "-- +goose Up\nCREATE TABLE t (id int);\n-- +goose Down\nDROP TABLE t;\n", "line 3: migrations are forward-only"},
		{"bare DO", "-- +goose Up\nDO $$\nBEGIN\n  NULL;\nEND\n$$;\n", "line 2: wrap"},
		{"bare function", "-- +goose Up\nCREATE OR REPLACE FUNCTION f() RETURNS int\n  LANGUAGE sql AS $$ SELECT 1; $$;\n", "line 2: wrap"},
		{"unclosed block", "-- +goose Up\n-- +goose StatementBegin\nDO $$ BEGIN NULL; END $$;\n", "StatementBegin without StatementEnd"},
	} {
		err := checkAnnotations(tc.text)
		require.Error(t, err, tc.name)
		require.Contains(t, err.Error(), tc.want, tc.name)
	}
	require.NoError(t, checkAnnotations("-- +goose Up\n-- +goose StatementBegin\nDO $$ BEGIN NULL; END $$;\n-- +goose StatementEnd\n"))
}

// dataStatement starts a statement that reads or writes rows: in a
// migration, tenant rows, all of which row-level security hides from an
// owner that is no superuser unless the transaction is in the system scope.
var dataStatement = regexp.MustCompile(`(?i)^\s*(INSERT\s+INTO|UPDATE\s+\w+\s+(\w+\s+)?SET|DELETE\s+FROM|MERGE\s+INTO|TRUNCATE|WITH\s+\w+\s+AS\s*\()`)

// systemScope is the statement that enters the system scope.
var systemScope = regexp.MustCompile(`^SELECT set_config\('poblysh\.system', 'on', true\);`)

// checkSystemScope enforces db/migrations/README.md: a migration that
// writes rows enters the system scope first.
func checkSystemScope(text string) error {
	scoped := false
	for i, l := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(strings.TrimSpace(l), "--"):
		case systemScope.MatchString(l):
			scoped = true
		case dataStatement.MatchString(l) && !scoped:
			return fmt.Errorf("line %d: %q before SELECT set_config('poblysh.system', 'on', true): "+
				"row-level security hides every row from an owner that is no superuser", i+1, strings.TrimSpace(l))
		}
	}
	return nil
}

// TestDataMigrationsEnterSystemScope: every migration that writes rows
// enters the system scope before it does, for an owner that is neither
// superuser nor BYPASSRLS would otherwise change nothing, without an
// error (TestNonSuperuserOwnerUpgradeRewritesStoredRows). 0024 and 0029
// did not; 0032 does their work again.
func TestDataMigrationsEnterSystemScope(t *testing.T) {
	t.Parallel()
	ms, err := db.Migrations()
	require.NoError(t, err)
	redone := map[int]bool{24: true, 29: true} // by 0032
	var flagged []int
	for _, m := range ms {
		if err := checkSystemScope(m.SQL); err != nil {
			require.True(t, redone[m.Version], "db/migrations/%s: %v", m.Name, err)
			flagged = append(flagged, m.Version)
		}
	}
	require.Equal(t, []int{24, 29}, flagged)

	for _, text := range []string{
		"-- +goose Up\nUPDATE signals SET kind = 'x';\n",
		"-- +goose Up\nUPDATE signals s SET kind = 'x';\nSELECT set_config('poblysh.system', 'on', true);\n",
		"-- +goose Up\nINSERT INTO webhook_routes SELECT * FROM connections;\n",
		"-- +goose Up\nWITH moved AS (SELECT 1)\nUPDATE signals SET kind = 'x';\n",
		"-- +goose Up\nDELETE FROM webhook_routes r USING connections c;\n",
	} {
		require.Error(t, checkSystemScope(text), text)
	}
	require.NoError(t, checkSystemScope("-- +goose Up\nSELECT set_config('poblysh.system', 'on', true); -- why\n"+
		"-- UPDATE signals SET kind = 'x'\nUPDATE signals SET kind = 'x';\n"))
	require.NoError(t, checkSystemScope("-- +goose Up\nCREATE POLICY p ON t USING (true)\n    WITH CHECK (true);\n"))
}
