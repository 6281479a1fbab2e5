package jira

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
)

func TestCursorMark(t *testing.T) {
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return start.Add(d) }
	for _, tc := range []struct {
		name                string
		since, passMax, beg time.Time
		want                time.Time
	}{
		{"the newest update, when older than the settle margin", at(-time.Hour), at(-20 * time.Minute), start, at(-20 * time.Minute)},
		{"no later than settle before the pass began", at(-time.Hour), at(-time.Minute), start, at(-settle)},
		{"never back", at(-10 * time.Minute), at(-time.Minute), start, at(-10 * time.Minute)},
		{"nothing read: Since stays", at(-time.Hour), time.Time{}, start, at(-time.Hour)},
		{"a backfill that read nothing stays a backfill", time.Time{}, time.Time{}, start, time.Time{}},
		{"a pass begun by an older version rests at its newest update", at(-time.Hour), at(-time.Minute), time.Time{}, at(-time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &cursor{Since: tc.since, PassMax: tc.passMax, Start: tc.beg}
			require.Equal(t, tc.want, c.mark())
		})
	}
}

// Seen keeps what the next pass may read again, and at most maxSeen keys:
// past it the oldest go.
func TestCursorSeenBounded(t *testing.T) {
	mark := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	c := &cursor{}
	var sigs []connectors.Signal
	old := connectors.Signal{DedupeKey: "issue:1:created", OccurredAt: mark.Add(-overlap - time.Millisecond)}
	for i := range maxSeen + 10 {
		sigs = append(sigs, connectors.Signal{DedupeKey: fmt.Sprintf("issue:%d:created", 100+i), OccurredAt: mark.Add(time.Duration(i) * time.Second)})
	}
	c.remember(append([]connectors.Signal{old}, sigs...), mark)
	require.Len(t, c.Seen, maxSeen)
	require.NotContains(t, c.Seen, old.DedupeKey, "below the band")
	for _, s := range sigs[:10] {
		require.NotContains(t, c.Seen, s.DedupeKey, "the oldest past maxSeen")
	}
	for _, s := range sigs[10:] {
		require.Contains(t, c.Seen, s.DedupeKey)
	}
	require.Empty(t, c.fresh(sigs[10:]))
}

// Cursors stored by the version before Start and the settle margin still
// decode, resting or mid-pass.
func TestCursorStoredBeforeStart(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	resting := `{"v":1,"floor":"2025-12-03T10:00:00Z","since":"2026-03-02T09:41:12.345Z",
		"seen":{"issue:10042:changelog:10311:status":1772444472345}}`
	c, err := decodeCursor(json.RawMessage(resting), now, 90)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 3, 2, 9, 41, 12, 345e6, time.UTC), c.Since)
	require.Equal(t, map[string]int64{"issue:10042:changelog:10311:status": 1772444472345}, c.Seen)
	require.Empty(t, c.JQL)

	mid := `{"v":1,"floor":"2025-12-03T10:00:00Z","since":"2026-03-02T09:41:12.345Z",
		"jql":"project = \"LPR\" AND updated >= \"2026/03/02 10:39\" ORDER BY updated ASC, key ASC",
		"token":"CAEaAggD","lower":"2026-03-02T09:39:12.345Z","pass_max":"2026-03-02T09:50:00Z"}`
	c, err = decodeCursor(json.RawMessage(mid), now, 90)
	require.NoError(t, err)
	require.Equal(t, "CAEaAggD", c.Token)
	require.True(t, c.Start.IsZero())
	require.Equal(t, time.Date(2026, 3, 2, 9, 50, 0, 0, time.UTC), c.mark(), "rests where the older version would")
}
