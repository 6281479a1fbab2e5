package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadDotEnvSyntax pins what godotenv reads differently from the
// earlier hand-written parser (docs/decisions.md, "Configuration"), and
// that a broken file is reported by line without echoing its values.
func TestReadDotEnvSyntax(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
		return p
	}

	got, err := ReadDotEnv(write("syntax.env", `POBLYSH_HTTP_ADDR=127.0.0.1:8081  # a comment after a space
HOST=db.internal
DATABASE_URL=postgres://app@${HOST}/poblysh
LITERAL='pa$$word # kept'
ESCAPED="line one\nline two"
YAML_STYLE: value
`))
	require.NoError(t, err)
	require.Equal(t, map[string]string{
		"POBLYSH_HTTP_ADDR": "127.0.0.1:8081",
		"HOST":              "db.internal",
		"DATABASE_URL":      "postgres://app@db.internal/poblysh",
		"LITERAL":           "pa$$word # kept",
		"ESCAPED":           "line one\nline two",
		"YAML_STYLE":        "value",
	}, got)

	got, err = ReadDotEnv(write("crlf.env", "A=1\r\nB='two'\r\n"))
	require.NoError(t, err)
	require.Equal(t, map[string]string{"A": "1", "B": "two"}, got)

	for _, tc := range []struct{ name, text, want string }{
		{"unterminated quote", "A=1\nSECRET=\"hunter2\nB=2\n", ":2: expected KEY=VALUE"},
		{"after a value spanning lines", "A=\"one\ntwo\"\nhunter2 is not a line\n", ":3: expected KEY=VALUE"},
		{"first line", "hunter2\n", ":1: expected KEY=VALUE"},
	} {
		p := write(tc.name+".env", tc.text)
		_, err := ReadDotEnv(p)
		require.EqualError(t, err, p+tc.want, tc.name)
		require.NotContains(t, err.Error(), "hunter2", "values are never echoed")
	}
}
