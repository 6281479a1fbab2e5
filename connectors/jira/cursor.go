package jira

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/poblysh/poblysh/connectors"
)

// overlap widens every incremental window: JQL dates have minute
// precision (and Jira's clock is not ours), so a pass starts two minutes
// before the last one's Since.
const overlap = 2 * time.Minute

// settle is how long a change may take to reach the search index. "The API
// doesn't provide read-after-write consistency by default … The delay
// might vary from a few seconds to minutes … Operations that impact
// numerous issues, such as issue reordering or bulk editing, may require
// more time to appear in search"
// (developer.atlassian.com/cloud/jira/platform/search-and-reconcile). So a
// completed pass's Since stays settle before the pass began: a change
// indexed late, behind a later one already searchable, is still inside
// the next pass's window. reconcileIssues (read-after-write for at most 50
// issue ids the caller names) does not help a poll, which does not know
// which issues changed.
const settle = 15 * time.Minute

// maxSeen bounds Seen (about 60 bytes a key in the stored cursor): past it
// the oldest keys are forgotten, and a pass re-reading them returns them
// again (the store keeps a Signal once, by its dedupe key).
const maxSeen = 4000

// cursorVersion is bumped when the format changes; another version
// restarts the stream.
const cursorVersion = 1

// cursor is a stream's stored position, JSON:
//
//	{"v":1,"floor":"2025-12-03T10:00:00Z","since":"2026-03-02T09:41:12.345Z",
//	 "seen":{"acme.atlassian.net/issue:10042:changelog:10311:status":1772444472345}}
//
// and mid-pass additionally
//
//	{"jql":"project = \"LPR\" AND updated >= \"2026/03/02 10:47\" ORDER BY updated ASC, key ASC",
//	 "tz":"Europe/Berlin","from":"2026-03-02T09:47:00Z","read":{"10042":1772444862345},
//	 "lower":"2026-03-02T09:39:12.345Z","pass_max":"2026-03-02T09:47:42.345Z","start":"2026-03-02T09:56:30Z"}
//
// with "token":"CAEaAggD" while it pages through a minute holding more
// issues than a page.
type cursor struct {
	V int `json:"v"`
	// Floor is the start of the backfill window: nothing older is kept.
	Floor time.Time `json:"floor"`
	// Since is where the next pass's window starts (less overlap): the
	// newest issue update a completed pass saw, but no later than settle
	// before that pass began (zero before the first one completes).
	Since time.Time `json:"since,omitzero"`
	// Seen holds the dedupe keys (with their time, epoch ms) of Signals
	// already returned from overlap before Since on (at most maxSeen), so
	// a pass re-reading that band returns nothing twice.
	Seen map[string]int64 `json:"seen,omitempty"`
	// JQL is the running query: from the pass's lower bound, then from
	// the minute of the newest update read. Jira's page tokens embed it
	// and must be sent with the same JQL.
	JQL string `json:"jql,omitempty"`
	// Token is the next page's nextPageToken, when the next page is read
	// with one (see follow).
	Token string `json:"token,omitempty"`
	// TZ is the token user's time zone, which JQL dates are read in.
	TZ string `json:"tz,omitempty"`
	// From is the minute the running query starts at.
	From time.Time `json:"from,omitzero"`
	// Read holds the issues of that minute already read (id: updated,
	// epoch ms): the query lists them again, and they are skipped unless
	// updated since.
	Read map[string]int64 `json:"read,omitempty"`
	// Lower is the running pass's lower bound: happenings before it were
	// returned by earlier passes.
	Lower time.Time `json:"lower,omitzero"`
	// PassMax is the newest issue update seen so far in the running pass.
	PassMax time.Time `json:"pass_max,omitzero"`
	// Start is when the running pass began (our clock; absent in a pass
	// begun by an older version).
	Start time.Time `json:"start,omitzero"`
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

// mark is the Since the running pass may rest at, given what it has read
// so far: the newest update it saw, but no later than settle before it
// began (search may not list later changes yet), and never before the
// current Since. It only grows as the pass reads on. A pass begun by an
// older version (no Start) rests where that version would have.
func (c *cursor) mark() time.Time {
	m := c.PassMax
	if limit := c.Start.Add(-settle); !c.Start.IsZero() && m.After(limit) {
		m = limit
	}
	if c.Since.After(m) {
		return c.Since
	}
	return m
}

// remember records returned Signals and forgets what fell out of the
// overlap band below mark, then the oldest past maxSeen.
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
	if over := len(c.Seen) - maxSeen; over > 0 {
		keys := make([]string, 0, len(c.Seen))
		for k := range c.Seen {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(c.Seen[a], c.Seen[b]), cmp.Compare(a, b)) })
		for _, k := range keys[:over] {
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

// unread drops the issues listed again that were read unchanged (Read),
// and returns the others with their JSON.
func (c *cursor) unread(issues []issue, raws []json.RawMessage) ([]issue, []json.RawMessage) {
	var outIs []issue
	var outRaw []json.RawMessage
	for i := range issues {
		if at, ok := c.Read[issues[i].ID]; ok && at == issues[i].Fields.Updated.UnixMilli() {
			continue
		}
		outIs, outRaw = append(outIs, issues[i]), append(outRaw, raws[i])
	}
	return outIs, outRaw
}

// follow sets the query of the page after issues, the page just read
// (ordered by updated). Each page starts again from the minute of the
// newest update read, not from the page token: an issue edited during the
// pass moves to the end of the order, and a token that stands for a
// position (Atlassian documents that shift for offset paging; the token's
// encoding is not documented) would then step over the issue after it, for
// good, as its update is older than the pass's newest. The issues of that
// minute just read are listed again and skipped (Read). The token is
// followed only within one minute holding more issues than a page, when
// the user's zone is unknown (no minute can be written in it), and while
// the minute is one the clocks pass twice when they go back: a query from
// it would start before it, up to a repeat earlier (jqlMinute), and list
// again what the pass read since, at every page.
func (c *cursor) follow(key string, issues []issue, token string) {
	var newest time.Time
	for i := range issues {
		if u := issues[i].Fields.Updated.Time; u.After(newest) {
			newest = u
		}
	}
	minute := newest.Truncate(time.Minute)
	if loc, ok := zone(c.TZ); !ok || !minute.After(c.From) || repeated(minute.In(loc)) {
		c.Token = token
		return
	}
	c.JQL, c.Token, c.From, c.Read = passJQL(key, minute, c.TZ), "", minute, map[string]int64{}
	for i := range issues {
		if u := issues[i].Fields.Updated.Time; !u.Before(minute) {
			c.Read[issues[i].ID] = u.UnixMilli()
		}
	}
}
