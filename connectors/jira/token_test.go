package jira_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	jirasandbox "github.com/poblysh/poblysh/sandbox/jira"
)

// passEditing runs a pass of issues:LPR to Done at *clock, like pass, calling
// between(page) after each page but the last with whether the next page is
// read with a page token.
func (h *harness) passEditing(t *testing.T, cur json.RawMessage, clock *time.Time, between func(page int, token bool)) (map[string]int, json.RawMessage) {
	t.Helper()
	got := map[string]int{}
	for i := range 2000 {
		p, err := h.prov.Connector.(connectors.Syncer).FetchPage(context.Background(), connectors.PageRequest{
			Connection: h.conn, Stream: "issues:LPR", Cursor: cur, HTTP: h.client(), Now: *clock})
		require.NoError(t, err)
		for _, s := range p.Signals {
			got[s.DedupeKey]++
		}
		if cur = p.Next; p.Done {
			return got, cur
		}
		var c struct {
			Token string `json:"token"`
		}
		require.NoError(t, json.Unmarshal(cur, &c))
		between(i, c.Token != "")
	}
	t.Fatal("the pass did not end")
	return nil, nil
}

// Jira may answer fewer issues than asked ("API may return fewer items per
// page where a large number of fields are requested"): the sandbox answers
// 3 a page where the connector asks for 50. Minute m holds 3 re-ranks (no
// Signal), as many as a page, so the page that starts again from m lists
// only them and the pass follows its token. LPR-1, read already, is edited
// before the token's page is read: it moves to the end of the order, and the
// token, a position, steps over the next issue, created at m+2min. Followed
// alone, the token pages lost that creation for good: the pass rested past
// it (no later than 15 minutes before it began). m is now listed once more
// from its start, which lists the creation; that listing misses LPR-1 as
// read, so the pass rests at m and the next pass lists m again.
func TestEditDuringTokenPagesSkipsNothing(t *testing.T) {
	for name, edit := range map[string]bool{"control": false, "edited before the token's page": true} {
		t.Run(name, func(t *testing.T) {
			clock := time.Date(2026, 6, 10, 8, 0, 0, 0, time.UTC)
			h, lag := lagHarness(t, 3, &clock)
			ctx := context.Background()
			_, cur := h.pass(t, "issues:LPR", nil, clock, nil)

			m := clock.Add(30 * time.Minute)
			for i, key := range []string{"LPR-1", "LPR-2", "LPR-3"} {
				clock = m.Add(time.Duration(5+5*i) * time.Second)
				_, err := h.sb.Edit(ctx, jirasandbox.SiteID, key, jirasandbox.EditInput{Rank: true}, noDelivery)
				require.NoError(t, err)
			}
			clock = m.Add(2 * time.Minute)
			x, err := h.sb.CreateIssue(ctx, jirasandbox.SiteID, jirasandbox.IssueInput{Project: "LPR", Summary: "Interview request"}, noDelivery)
			require.NoError(t, err)
			created := lprKey(x.ID, "created")

			clock = m.Add(20 * time.Minute)
			lag.searches = 0
			tokens, edited := 0, ""
			got, cur := h.passEditing(t, cur, &clock, func(_ int, token bool) {
				if !token {
					return
				}
				tokens++
				if edit && edited == "" {
					clock = clock.Add(time.Second)
					ch, err := h.sb.Edit(ctx, jirasandbox.SiteID, "LPR-1", jirasandbox.EditInput{Summary: "Edited while the pass pages"}, noDelivery)
					require.NoError(t, err)
					edited = lprKey(ch.ID, "changelog:"+strconv.Itoa(ch.HistoryID)+":updated")
				}
			})
			require.Positive(t, tokens, "the pass follows a token in minute m")
			require.Equal(t, 1, got[created], "the creation of %s at m+2min, listed when m is listed once more", x.Key)
			require.LessOrEqual(t, lag.searches, 5, "the pass's first page, then m and its token's page, twice")
			var rest struct {
				Since time.Time `json:"since"`
			}
			require.NoError(t, json.Unmarshal(cur, &rest))
			if edit {
				require.Equal(t, m, rest.Since, "LPR-1's edit was seen: the pass rests at m, and the next lists m again")
			} else {
				require.Equal(t, m.Add(2*time.Minute), rest.Since, "the newest update")
			}
			for _, later := range []time.Duration{40 * time.Minute, time.Hour, 6 * time.Hour} {
				clock = m.Add(later)
				more, next := h.pass(t, "issues:LPR", cur, clock, nil)
				for k, n := range more {
					got[k] += n
				}
				cur = next
			}
			require.Equal(t, 1, got[created], "returned once")
			if edit {
				require.Equal(t, 1, got[edited], "the edit during the pass")
			}
		})
	}
}

// Seeded random histories read by passes that others edit between pages,
// with Jira answering 1 to 3 issues a page: a few seconds of creations,
// edits and re-ranks (several in a minute) 20 minutes before a pass, which
// sees up to 6 of the issues they touched edited again while it pages.
// Every Signal a quiet pass over the end state returns is returned. With
// the page token followed alone through a minute holding a page, 9 of
// these 60 seeds lost a Signal; with the second listing and its hold, none
// of 3000 did.
func TestEditsDuringPassesLoseNothing(t *testing.T) {
	for seed := range 60 {
		size := 1 + seed%3
		t.Run(fmt.Sprintf("seed %d, %d a page", seed, size), func(t *testing.T) { editsDuringPasses(t, uint64(seed), size) })
	}
}

func editsDuringPasses(t *testing.T, seed uint64, size int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	clock := time.Date(2026, 6, 10, 8, 0, 0, 0, time.UTC)
	h, _ := lagHarness(t, size, &clock)
	ctx := context.Background()
	// At rest since the clock's start: the backfill is not what is checked
	// (and costs many pages at 1 a page).
	rest := json.RawMessage(`{"v":1,"floor":"2026-03-12T08:00:00Z","since":"2026-06-10T08:00:00Z"}`)
	got := map[string]int{}
	change := func(keys []string) string {
		var err error
		key := keys[rng.IntN(len(keys))]
		switch rng.IntN(3) {
		case 0:
			var c *jirasandbox.Change
			c, err = h.sb.CreateIssue(ctx, jirasandbox.SiteID, jirasandbox.IssueInput{Project: "LPR", Summary: "Created " + clock.Format(time.TimeOnly)}, noDelivery)
			if err == nil {
				key = c.Key
			}
		case 1:
			_, err = h.sb.Edit(ctx, jirasandbox.SiteID, key, jirasandbox.EditInput{Rank: true}, noDelivery)
		default:
			_, err = h.sb.Edit(ctx, jirasandbox.SiteID, key, jirasandbox.EditInput{Summary: "Edited " + clock.Format(time.StampMilli)}, noDelivery)
		}
		require.NoError(t, err)
		return key
	}
	seeded := []string{"LPR-1", "LPR-2", "LPR-3", "LPR-4", "LPR-5", "LPR-6", "LPR-7", "LPR-8"}
	clock = clock.Add(30 * time.Minute)
	var touched []string
	for range 4 + rng.IntN(6) {
		clock = clock.Add(time.Duration(rng.IntN(20_000)) * time.Millisecond)
		touched = append(touched, change(seeded))
	}
	clock = clock.Add(20 * time.Minute)
	edits := 0
	more, cur := h.passEditing(t, rest, &clock, func(int, bool) {
		if edits < 6 && rng.IntN(2) == 0 {
			edits++
			clock = clock.Add(time.Second)
			change(touched)
		}
	})
	maps.Copy(got, more)
	for _, later := range []time.Duration{30 * time.Minute, 6 * time.Hour} {
		more, cur = h.pass(t, "issues:LPR", cur, clock.Add(later), nil)
		for k, n := range more {
			got[k] += n
		}
	}
	want, _ := h.pass(t, "issues:LPR", rest, clock.Add(7*time.Hour), nil)
	for k := range want {
		require.Positive(t, got[k], "%s never returned", k)
	}
}
