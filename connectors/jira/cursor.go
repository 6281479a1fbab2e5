package jira

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/poblysh/poblysh/connectors"
)

// overlap widens every incremental window: JQL dates have minute
// precision and search is eventually consistent, so a pass starts two
// minutes before the newest update the last one saw.
const overlap = 2 * time.Minute

// cursorVersion is bumped when the format changes; another version
// restarts the stream.
const cursorVersion = 1

// cursor is a stream's stored position, JSON:
//
//	{"v":1,"floor":"2025-12-03T10:00:00Z","since":"2026-03-02T09:41:12.345Z",
//	 "seen":{"issue:10042:changelog:10311:status":1772444472345}}
//
// and mid-pass additionally
//
//	{"jql":"project = \"LPR\" AND updated >= \"2026/03/02 10:39\" ORDER BY updated ASC, key ASC",
//	 "token":"CAEaAggD","lower":"2026-03-02T09:39:12.345Z","pass_max":"2026-03-02T09:50:00Z"}
type cursor struct {
	V int `json:"v"`
	// Floor is the start of the backfill window: nothing older is kept.
	Floor time.Time `json:"floor"`
	// Since is the newest issue update seen by a completed pass (zero
	// before the first one completes).
	Since time.Time `json:"since,omitzero"`
	// Seen holds the dedupe keys (with their time, epoch ms) of Signals
	// already returned in the overlap band, so a pass re-reading the band
	// returns nothing twice.
	Seen map[string]int64 `json:"seen,omitempty"`
	// JQL is the running pass's query: Jira's page tokens embed it and
	// must be sent with the same JQL.
	JQL string `json:"jql,omitempty"`
	// Token is the next page's nextPageToken.
	Token string `json:"token,omitempty"`
	// Lower is the running pass's lower bound: happenings before it were
	// returned by earlier passes.
	Lower time.Time `json:"lower,omitzero"`
	// PassMax is the newest issue update seen so far in the running pass.
	PassMax time.Time `json:"pass_max,omitzero"`
}

// decodeCursor reads a stored cursor; nil starts a backfill over the last
// backfillDays days.
func decodeCursor(raw json.RawMessage, now time.Time, backfillDays int) (*cursor, error) {
	fresh := &cursor{V: cursorVersion, Floor: now.Add(-time.Duration(backfillDays) * 24 * time.Hour).UTC()}
	if len(raw) == 0 || string(raw) == "null" {
		return fresh, nil
	}
	var c cursor
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("jira: cursor: %w: %v", connectors.ErrCursorExpired, err)
	}
	if c.V != cursorVersion {
		return fresh, nil
	}
	if c.Seen == nil {
		c.Seen = map[string]int64{}
	}
	return &c, nil
}

// encode marshals the cursor.
func (c *cursor) encode() json.RawMessage {
	b, _ := json.Marshal(c)
	return b
}

// remember records returned Signals and forgets what fell out of the
// overlap band below mark.
func (c *cursor) remember(sigs []connectors.Signal, mark time.Time) {
	if c.Seen == nil {
		c.Seen = map[string]int64{}
	}
	for _, s := range sigs {
		c.Seen[s.DedupeKey] = s.OccurredAt.UnixMilli()
	}
	band := mark.Add(-overlap).UnixMilli()
	for k, t := range c.Seen {
		if t < band {
			delete(c.Seen, k)
		}
	}
}

// fresh drops Signals already returned (in Seen).
func (c *cursor) fresh(sigs []connectors.Signal) []connectors.Signal {
	out := sigs[:0:0]
	for _, s := range sigs {
		if _, dup := c.Seen[s.DedupeKey]; !dup {
			out = append(out, s)
		}
	}
	return out
}
