package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestPollPhaseSpreadsConnections: polling phases are stable per
// connection, inside the interval, in whole seconds, and spread: 10,000
// connections polling every 15 minutes fill every 90-second slice of the
// interval, with no slice holding more than twice its share.
func TestPollPhaseSpreadsConnections(t *testing.T) {
	const every, slice, n = 15 * time.Minute, 90 * time.Second, 10_000
	counts := map[time.Duration]int{}
	for i := range n {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		p := pollPhase(id, every)
		require.Equal(t, p, pollPhase(id, every), "stable")
		require.GreaterOrEqual(t, p, time.Duration(0))
		require.Less(t, p, every)
		require.Zero(t, p%time.Second)
		counts[p/slice]++
	}
	slices := int(every / slice)
	require.Len(t, counts, slices)
	for s, c := range counts {
		require.LessOrEqual(t, c, 2*n/slices, "slice %d", s)
	}
	require.Zero(t, pollPhase("x", 0))
}
