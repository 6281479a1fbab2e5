package jira

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
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

// maxRead bounds Read (about 25 bytes an issue in the stored cursor):
// past it, issues listed again are not skipped, so their Signals are
// returned again (the store keeps a Signal once), and their edits go
// unseen (see follow).
const maxRead = 2000

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
// with "token":"CAEaAggD" while it pages through a minute holding a page
// of issues, and "again":true while it lists that query once more. A pass
// that rested on a Hold leaves "hold_floor" at rest, kept through the next
// pass.
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
	// TZ is the token user's time zone, which JQL dates are read in, as
	// read when the pass began or, when a page showed it changed, since
	// (zoneMoved).
	TZ string `json:"tz,omitempty"`
	// From is the minute the running query starts at.
	From time.Time `json:"from,omitzero"`
	// Read holds the issues from that minute on already read (id:
	// updated, epoch ms; at most maxRead): the query lists them again, and
	// they are skipped unless updated since.
	Read map[string]int64 `json:"read,omitempty"`
	// Again is set while the running query is listed once more from
	// From, after pages read with a token (see follow).
	Again bool `json:"again,omitempty"`
	// Due holds, while Again, the issues Read held when that listing
	// began that it has not listed again at the same update yet.
	Due map[string]int64 `json:"due,omitempty"`
	// Edited is set once the running query lists an issue in Read with
	// another update: it was edited after it was read.
	Edited bool `json:"edited,omitempty"`
	// Hold is the start of the earliest query whose token pages the pass
	// could not prove whole: the pass rests no later (see follow).
	Hold time.Time `json:"hold,omitzero"`
	// Lower is the running pass's lower bound: happenings before it were
	// returned by earlier passes, unless HoldFloor is earlier.
	Lower time.Time `json:"lower,omitzero"`
	// HoldFloor is the floor of the last pass, when it rested on a Hold
	// (kept at rest, and through the next pass): an issue that pass's
	// token pages stepped over was not listed by it, so its happenings
	// from that floor on were not returned, and the next pass, whose
	// query lists it again from overlap before Since, returns them (see
	// floor). Zero once a pass ends without a Hold. An older version
	// ignores it (decodeCursor does not refuse unknown fields) and returns
	// what it did before.
	HoldFloor time.Time `json:"hold_floor,omitzero"`
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
// began (search may not list later changes yet) nor than Hold, and never
// before the current Since. It only grows as the pass reads on, until a
// Hold is set. A pass begun by an older version (no Start) rests where
// that version would have.
func (c *cursor) mark() time.Time {
	m := c.PassMax
	if limit := c.Start.Add(-settle); !c.Start.IsZero() && m.After(limit) {
		m = limit
	}
	if !c.Hold.IsZero() && m.After(c.Hold) {
		m = c.Hold
	}
	if c.Since.After(m) {
		return c.Since
	}
	return m
}

// floor is where the running pass's Signals start: its lower bound, or
// the floor of the pass before it when that one rested on a Hold and
// returned nothing of the issues its token pages stepped over (HoldFloor).
// The query still starts at the lower bound: such an issue's update is
// from the Hold on, after it.
func (c *cursor) floor() time.Time {
	if !c.HoldFloor.IsZero() && c.HoldFloor.Before(c.Lower) {
		return c.HoldFloor
	}
	return c.Lower
}

// rest turns the cursor of a pass that read its last page into the resting
// cursor, at mark. A pass resting on a Hold may have stepped over an issue
// with happenings from its floor on, which the next pass returns
// (HoldFloor).
func (c *cursor) rest(mark time.Time) {
	c.HoldFloor = time.Time{}
	if !c.Hold.IsZero() {
		c.HoldFloor = c.floor()
	}
	c.Since, c.PassMax, c.Start, c.Hold = mark, time.Time{}, time.Time{}, time.Time{}
	c.JQL, c.Token, c.TZ, c.From, c.Read, c.Lower = "", "", "", time.Time{}, nil, time.Time{}
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
// (ordered by updated), given its nextPageToken (next, "" on the last
// page), and reports whether the pass reads another page. Each page starts
// again from the minute of the newest update read, not from the page
// token: an issue edited during the pass moves to the end of the order,
// and a token that stands for a position (Atlassian documents that shift
// for offset paging; the token's encoding is not documented) would then
// step over the issue after it, for good, as its update is older than the
// pass's newest. The issues listed already are listed again and skipped
// (Read). The token is followed while a page holds nothing past the
// query's minute (the minute holds as many issues as Jira answered, which
// may be fewer than asked), when the user's zone is unknown (no minute can
// be written in it), and while the minute is one the clocks pass twice
// when they go back: a query from it would start before it, up to a repeat
// earlier (jqlMinute), and list again what the pass read since, at every
// page.
//
// Token pages may have stepped over an issue, so before the pass moves
// past them (to a later minute, or to its end) the query is listed once
// more from its start (Again): what a token stepped over is listed then,
// and Read skips the rest. A token steps over an issue only when an issue
// listed before it was edited in the meantime, and the query sees that
// edit by the end of its second listing: an issue read before that
// listing began is missing from it (Due), or the query lists an issue it
// read again with a later update (Edited). A second listing that sees
// neither proves the first one whole. One that does may have stepped over
// an issue itself, and the pass rests no later than the query's start
// (Hold), so the next pass lists it again. Two exceptions keep passes
// moving on, where the second listing still lists what the first stepped
// over unless an edit shifts it too: an issue past maxRead is not kept,
// so its edit goes unseen, and an unknown zone sets no Hold (its query
// spans the whole pass, which a busy project edits every time: the pass
// would never rest past its start).
func (c *cursor) follow(key string, issues []issue, next string) bool {
	byToken := c.Token != ""
	var newest time.Time
	for i := range issues {
		id, u := issues[i].ID, issues[i].Fields.Updated.UnixMilli()
		if newest.Before(issues[i].Fields.Updated.Time) {
			newest = issues[i].Fields.Updated.Time
		}
		if at, ok := c.Due[id]; ok && at == u {
			delete(c.Due, id)
		}
		at, ok := c.Read[id]
		c.Edited = c.Edited || ok && at != u
		if ok || len(c.Read) < maxRead {
			if c.Read == nil {
				c.Read = map[string]int64{}
			}
			c.Read[id] = u
		}
	}
	minute := newest.Truncate(time.Minute)
	loc, known := zone(c.TZ)
	if next != "" && (!known || !minute.After(c.From) || repeated(minute.In(loc))) {
		c.Token = next
		return true
	}
	if byToken && !c.Again {
		c.Token, c.Again, c.Due = "", true, maps.Clone(c.Read)
		return true
	}
	if c.Again && known && c.moved(minute, next == "") && (c.Hold.IsZero() || c.From.Before(c.Hold)) {
		c.Hold = c.From
	}
	c.Again, c.Due, c.Edited = false, nil, false
	if next == "" {
		return false
	}
	c.JQL, c.Token, c.From = passJQL(key, minute, c.TZ), "", minute
	maps.DeleteFunc(c.Read, func(_ string, at int64) bool { return at < minute.UnixMilli() })
	return true
}

// zoneMoved reports whether issues, a page read from the start of the
// running query (no token) while the query had read issues from its
// minute on (Read), show that Jira read the query's minute in another
// zone than the user's zone the pass wrote it in (TZ; Jira reads a JQL
// date in the user's zone at the time of the search, and the user may
// change it in their profile): the page lists none of the issues read at
// the update read (the minute read later, at least the 15 minutes zones
// differ by, past the issues of that minute: the issues in between would
// never be listed), or lists an issue updated before From (read earlier:
// each page would list those issues again). An edit may move every issue
// read as well, so this only tells the pass to read the user's zone again.
// Not for an unknown zone, whose query is written before the bound in
// every zone.
func (c *cursor) zoneMoved(issues []issue) bool {
	if c.Token != "" || len(c.Read) == 0 {
		return false
	}
	if _, known := zone(c.TZ); !known {
		return false
	}
	relisted := false
	for i := range issues {
		u := issues[i].Fields.Updated.Time
		if u.Before(c.From) {
			return true
		}
		if at, ok := c.Read[issues[i].ID]; ok && at == u.UnixMilli() {
			relisted = true
		}
	}
	return !relisted
}

// moved reports whether the query saw an issue edited after it read it:
// one listed again with a later update (Edited), or one its second
// listing, ending before minute (or at the end of the search, when last),
// did not list at the update read before (Due).
func (c *cursor) moved(minute time.Time, last bool) bool {
	if c.Edited {
		return true
	}
	for _, at := range c.Due {
		if last || at < minute.UnixMilli() {
			return true
		}
	}
	return false
}
