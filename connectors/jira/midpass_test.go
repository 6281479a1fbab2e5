package jira_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/sandbox"
	jirasandbox "github.com/poblysh/poblysh/sandbox/jira"
)

// fetch reads one page of issues:LPR from cur at now.
func (h *harness) fetch(cur json.RawMessage, now time.Time) (*connectors.Page, error) {
	return h.prov.Connector.(connectors.Syncer).FetchPage(context.Background(), connectors.PageRequest{
		Connection: h.conn, Stream: "issues:LPR", Cursor: cur, HTTP: h.client(), Now: now})
}

// The project is deleted (or the token user loses its Browse permission)
// while a backfill pages on: Jira answers its read 404 and a search naming
// it 400 "The value 'LPR' does not exist for the field 'project'.". The
// pass under way reports the loss as a pass that starts does, not found
// (the engine drops the project's routes and names it in the connection's
// health), at every attempt: the stored cursor holds the running query,
// and its 400 read as an invalid configuration degraded the connection for
// good without dropping anything.
func TestProjectLostMidPassIsAccessLost(t *testing.T) {
	h := newHarness(t, jirasandbox.Options{PageSize: 3}, `["LPR"]`)
	now := time.Now()
	p, err := h.fetch(nil, now)
	require.NoError(t, err)
	require.False(t, p.Done, "the backfill has more pages")
	mid := p.Next

	require.NoError(t, h.sb.DeleteProject(jirasandbox.SiteID, "LPR"))
	_, err = h.fetch(nil, now)
	require.Equal(t, connectors.ErrNotFound, connectors.Kind(err), "a pass that starts now: %v", err)
	for range 3 {
		_, err = h.fetch(mid, now)
		require.Equal(t, connectors.ErrNotFound, connectors.Kind(err), "the pass under way: %v", err)
		require.ErrorContains(t, err, "read project LPR")
	}
}

// Jira refuses the running query of a pass (400) while the project still
// reads: the pass starts again from its lower bound, which proves the
// project and reads the user's zone anew, and every Signal of the window is
// returned; nothing the pass had read is skipped.
func TestQueryRefusedMidPassStartsThePassAgain(t *testing.T) {
	ref := newHarness(t, jirasandbox.Options{PageSize: 3}, `["LPR"]`)
	want, _ := ref.pass(t, "issues:LPR", nil, time.Now(), nil)
	require.Len(t, want, seedLPR)

	h := newHarness(t, jirasandbox.Options{PageSize: 3}, `["LPR"]`)
	refused := false
	got, cur := h.pass(t, "issues:LPR", nil, time.Now(), func(page int, _ []connectors.Signal) {
		if page == 1 {
			h.sb.Faults.Add(sandbox.Fault{Status: http.StatusBadRequest, PathPrefix: "/ex/jira/" + jirasandbox.SiteID + "/rest/api/3/search/jql"})
			refused = true
		}
	})
	require.True(t, refused)
	for k := range want {
		require.Positive(t, got[k], "%s never returned", k)
	}
	require.Len(t, got, seedLPR, "nothing else")
	more, _ := h.pass(t, "issues:LPR", cur, time.Now().Add(20*time.Minute), nil)
	require.Empty(t, more, "the next pass has nothing new")
}

// Jira refuses the running query of a pass (400), and refuses again the
// query the pass, started again from its lower bound, writes anew: a query
// Jira will not run is the connection's configuration, reported as invalid
// configuration after one start, not started again and again (project,
// /myself, search) while Jira keeps refusing.
func TestQueryRefusedAgainAfterTheRestartIsInvalidConfig(t *testing.T) {
	h := newHarness(t, jirasandbox.Options{PageSize: 3}, `["LPR"]`)
	now := time.Now()
	p, err := h.fetch(nil, now)
	require.NoError(t, err)
	require.False(t, p.Done, "the backfill has more pages")

	// More refusals than the pass needs: a pass that kept starting again
	// would use them all and then read on (err nil), not loop forever.
	h.sb.Faults.Add(sandbox.Fault{Status: http.StatusBadRequest, Count: 5,
		PathPrefix: "/ex/jira/" + jirasandbox.SiteID + "/rest/api/3/search/jql"})
	_, err = h.fetch(p.Next, now)
	require.Equal(t, connectors.ErrInvalidConfig, connectors.Kind(err), "%v", err)
	require.ErrorContains(t, err, "search LPR")
	require.Equal(t, 2, h.sb.Faults.HitCount(),
		"the running query, and the query of the one pass started again")
}

// The token user changes the time zone of their Atlassian profile while a
// pass pages on (3 issues a page). Jira reads a JQL date in the user's zone
// at the time of the search, so a query the pass writes from a minute in
// the zone read at its start means another instant: moving west (Berlin to
// New York) 6 hours later, and the issues in between were never listed, by
// that pass or a later one (it rested past them); moving east (Berlin to
// Tokyo) 7 hours earlier, and each page listed them again. A page that
// starts again from a minute must list again what the pass read at that
// minute, and nothing before it: when it does not, the pass reads the
// user's zone again and writes the query in the zone read.
func TestZoneChangedMidPassLosesNothing(t *testing.T) {
	for name, tz := range map[string]string{"control": "", "west": "America/New_York", "east": "Asia/Tokyo"} {
		t.Run(name, func(t *testing.T) {
			clock := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
			h, lag := lagHarness(t, 3, &clock)
			ctx := context.Background()

			// Six issues a minute apart at 12:30Z, two more at 18:40Z.
			want := map[string]int{}
			create := func(at time.Time) {
				clock = at
				ch, err := h.sb.CreateIssue(ctx, jirasandbox.SiteID, jirasandbox.IssueInput{Project: "LPR", Summary: "at " + at.Format(time.TimeOnly)}, noDelivery)
				require.NoError(t, err)
				want[lprKey(ch.ID, "created")] = 1
			}
			for i := range 6 {
				create(time.Date(2026, 6, 10, 12, 30+i, 0, 0, time.UTC))
			}
			create(time.Date(2026, 6, 10, 18, 40, 0, 0, time.UTC))
			create(time.Date(2026, 6, 10, 18, 41, 0, 0, time.UTC))

			got := map[string]int{}
			cur := json.RawMessage(`{"v":1,"floor":"2026-03-12T12:00:00Z","since":"2026-06-10T12:00:00Z"}`)
			pass := func(now time.Time, between func(int, []connectors.Signal)) {
				clock = now
				var sigs map[string]int
				sigs, cur = h.pass(t, "issues:LPR", cur, now, between)
				for k, n := range sigs {
					got[k] += n
				}
			}
			lag.searches, lag.myself = 0, 0
			pass(time.Date(2026, 6, 10, 19, 30, 0, 0, time.UTC), func(page int, _ []connectors.Signal) {
				if page == 0 && tz != "" {
					require.NoError(t, h.sb.SetTimeZone(jirasandbox.DefaultUser, tz))
				}
			})
			searched, zoned := lag.searches, lag.myself
			t.Logf("%d searches, %d reads of the zone", searched, zoned)
			pass(time.Date(2026, 6, 10, 20, 30, 0, 0, time.UTC), nil)
			pass(time.Date(2026, 6, 11, 9, 0, 0, 0, time.UTC), nil)
			require.Equal(t, want, got, "each issue's creation returned once")

			searches, zones := 4, 1 // 8 issues, 3 a page, each page listing the last one read again; the zone read as the pass starts
			if tz != "" {
				searches, zones = 5, 2 // the page that shows the zone moved, read again in the zone read again
			}
			require.LessOrEqual(t, searched, searches)
			require.Equal(t, zones, zoned)
		})
	}
}
