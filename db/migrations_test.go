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
