package sandbox

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseURLs(t *testing.T) {
	got, err := ParseURLs(" github=http://127.0.0.1:9101/ , slack=http://127.0.0.1:9106,,")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"github": "http://127.0.0.1:9101", "slack": "http://127.0.0.1:9106"}, got)
	got, err = ParseURLs("")
	require.NoError(t, err)
	require.Empty(t, got)
	for _, bad := range []string{"github", "=http://x", "github=ftp://x"} {
		_, err := ParseURLs(bad)
		require.ErrorContains(t, err, "want name=http://host:port pairs", bad)
	}
}
