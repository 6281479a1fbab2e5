package metrics

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A prune forgets only the connections it asked the database about: one
// whose first series came after the question stays, though the answer
// does not name it live.
func TestForgetConnectionsOnlyTheOnesAsked(t *testing.T) {
	SetConnection(Freshness, "fake", "conn-gone", 1)
	asked := ConnectionSeries()
	SetConnection(Freshness, "fake", "conn-new", 1) // its first pass ends meanwhile
	n := ForgetConnections(asked, map[string]bool{})
	require.GreaterOrEqual(t, n, 1)
	tracked := map[string]bool{}
	for _, id := range ConnectionSeries() {
		tracked[id] = true
	}
	require.False(t, tracked["conn-gone"])
	require.True(t, tracked["conn-new"], "a connection not asked about stays")
}
