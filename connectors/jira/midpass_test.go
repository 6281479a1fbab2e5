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
