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
		hold                time.Time
		want                time.Time
	}{
		{"the newest update, when older than the settle margin", at(-time.Hour), at(-20 * time.Minute), start, time.Time{}, at(-20 * time.Minute)},
		{"no later than settle before the pass began", at(-time.Hour), at(-time.Minute), start, time.Time{}, at(-settle)},
		{"never back", at(-10 * time.Minute), at(-time.Minute), start, time.Time{}, at(-10 * time.Minute)},
		{"nothing read: Since stays", at(-time.Hour), time.Time{}, start, time.Time{}, at(-time.Hour)},
		{"a backfill that read nothing stays a backfill", time.Time{}, time.Time{}, start, time.Time{}, time.Time{}},
		{"a pass begun by an older version rests at its newest update", at(-time.Hour), at(-time.Minute), time.Time{}, time.Time{}, at(-time.Minute)},
		{"no later than a query not proved whole", at(-time.Hour), at(-20 * time.Minute), start, at(-30 * time.Minute), at(-30 * time.Minute)},
		{"a hold before Since keeps Since", at(-10 * time.Minute), at(-time.Minute), start, at(-30 * time.Minute), at(-10 * time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &cursor{Since: tc.since, PassMax: tc.passMax, Start: tc.beg, Hold: tc.hold}
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

// A pass that rests on a Hold leaves its floor (hold_floor) to the next,
// which returns from there while its query starts at its own lower bound;
// a pass ending without a Hold clears it. Cursors without it decode as
// before, and the decoding ignores fields it does not know, as an older
// version's does hold_floor.
func TestCursorHoldFloor(t *testing.T) {
	now := time.Date(2026, 6, 10, 8, 50, 0, 0, time.UTC)
	lower := time.Date(2026, 6, 10, 7, 58, 0, 0, time.UTC)
	m := time.Date(2026, 6, 10, 8, 30, 0, 0, time.UTC)
	c, err := decodeCursor(json.RawMessage(`{"v":1,"floor":"2026-03-12T08:00:00Z","since":"2026-06-10T08:00:00Z",
		"jql":"project = \"LPR\" AND updated >= \"2026/06/10 09:58\" ORDER BY updated ASC, key ASC",
		"lower":"2026-06-10T07:58:00Z","pass_max":"2026-06-10T08:30:20Z","start":"2026-06-10T08:50:00Z",
		"a_later_field":{"x":1}}`), now, 90)
	require.NoError(t, err)
	require.Equal(t, lower, c.floor(), "no hold_floor: the lower bound")

	c.Hold = m
	c.rest(c.mark())
	require.Equal(t, m, c.Since)
	require.Equal(t, lower, c.HoldFloor, "rested on a hold: its floor")
	raw := c.encode()
	require.Contains(t, string(raw), `"hold_floor":"2026-06-10T07:58:00Z"`)
	require.NotContains(t, string(raw), `"lower"`)

	c, err = decodeCursor(raw, now.Add(time.Hour), 90)
	require.NoError(t, err)
	c.Lower = c.Since.Add(-overlap) // as startPass sets it
	require.Equal(t, lower, c.floor(), "the next pass returns from the held pass's floor")
	c.PassMax = now
	c.rest(c.mark())
	require.True(t, c.HoldFloor.IsZero(), "a pass without a hold clears it")
	require.NotContains(t, string(c.encode()), "hold_floor")

	c = &cursor{Lower: lower, HoldFloor: m}
	require.Equal(t, lower, c.floor(), "a hold_floor after the lower bound changes nothing")
}

// The second listing of a query read with page tokens: it proves the
// first one whole when every issue read is listed again as read, and
// holds the pass at the query's minute otherwise. A cursor stored mid-token
// by the version before the second listing goes on from its token.
func TestCursorFollow(t *testing.T) {
	m := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	is := func(id string, d time.Duration) issue {
		var i issue
		i.ID, i.Fields.Updated = id, jiraTime{m.Add(d)}
		return i
	}
	a, b, c, d := is("1", 5*time.Second), is("2", 10*time.Second), is("3", 15*time.Second), is("4", 2*time.Minute)
	edited := is("1", 90*time.Second)
	older := `{"v":1,"floor":"2025-12-03T10:00:00Z","since":"2026-03-02T09:00:00Z",
		"jql":"project = \"LPR\" AND updated >= \"2026/03/02 10:30\" ORDER BY updated ASC, key ASC","token":"T1",
		"tz":"Europe/Berlin","from":"2026-03-02T09:30:00Z","read":{"1":1772443805000,"2":1772443810000},
		"lower":"2026-03-02T08:58:00Z","pass_max":"2026-03-02T09:30:10Z","start":"2026-03-02T09:50:00Z"}`
	for _, tc := range []struct {
		name    string
		leaving []issue   // the first listing's page that leaves m
		second  [][]issue // the pages of the second listing, the last one leaving m
		hold    bool
	}{
		{"listed again as read", []issue{d}, [][]issue{{a, b}, {c, d}}, false},
		{"an issue read is missing", []issue{d}, [][]issue{{b, c}, {d}}, true},
		{"an issue read is listed with a later update", []issue{edited, d}, [][]issue{{b, c}, {edited, d}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur, err := decodeCursor(json.RawMessage(older), m, 90)
			require.NoError(t, err)
			require.True(t, cur.follow("LPR", []issue{c}, "T2"), "a page within m: its token is followed")
			require.Equal(t, "T2", cur.Token)
			require.True(t, cur.follow("LPR", tc.leaving, "T3"), "the token's page leaves m")
			require.True(t, cur.Again, "m is listed once more")
			require.Empty(t, cur.Token)
			require.Equal(t, m, cur.From)
			first := a
			if tc.leaving[0].ID == a.ID {
				first = tc.leaving[0]
			}
			require.Equal(t, map[string]int64{"1": first.Fields.Updated.UnixMilli(), "2": b.Fields.Updated.UnixMilli(),
				"3": c.Fields.Updated.UnixMilli(), "4": d.Fields.Updated.UnixMilli()}, cur.Due, "what was read, as last listed")
			for i, page := range tc.second {
				last := i == len(tc.second)-1
				require.True(t, cur.follow("LPR", page, fmt.Sprintf("U%d", i)))
				if !last {
					require.Equal(t, fmt.Sprintf("U%d", i), cur.Token, "within m")
				}
			}
			require.False(t, cur.Again)
			require.Equal(t, m.Add(2*time.Minute), cur.From, "the pass moves on")
			require.Empty(t, cur.Token)
			if tc.hold {
				require.Equal(t, m, cur.Hold, "the pass rests no later than m")
			} else {
				require.True(t, cur.Hold.IsZero())
			}
		})
	}
}

// A page read from the start of a query in the middle of a pass shows the
// query's minute was read in another zone when it lists none of the
// issues read at their update (read later), or an issue before the minute
// (read earlier).
func TestCursorZoneMoved(t *testing.T) {
	m := time.Date(2026, 6, 10, 12, 32, 0, 0, time.UTC)
	is := func(id string, at time.Time) issue {
		var i issue
		i.ID, i.Fields.Updated = id, jiraTime{at}
		return i
	}
	read, next := is("3", m.Add(10*time.Second)), is("4", m.Add(time.Minute))
	cur := &cursor{TZ: "Europe/Berlin", From: m, Read: map[string]int64{"3": read.Fields.Updated.UnixMilli()}}
	for _, tc := range []struct {
		name  string
		page  []issue
		moved bool
	}{
		{"lists what it read again", []issue{read, next}, false},
		{"lists nothing it read", []issue{next}, true},
		{"lists nothing", nil, true},
		{"lists what it read with a later update", []issue{next, is("3", m.Add(2*time.Minute))}, true},
		{"lists an issue before its minute", []issue{is("2", m.Add(-time.Minute)), read, next}, true},
	} {
		require.Equal(t, tc.moved, cur.zoneMoved(tc.page), tc.name)
	}
	for name, c := range map[string]*cursor{
		"a token's page":     {TZ: "Europe/Berlin", From: m, Read: cur.Read, Token: "T1"},
		"nothing read":       {TZ: "Europe/Berlin", From: m},
		"an unknown zone":    {TZ: "Mars/Olympus", From: m, Read: cur.Read},
		"no zone (the user)": {From: m, Read: cur.Read},
	} {
		require.False(t, c.zoneMoved([]issue{next}), name)
	}
}
