package zohomail

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/press"
	"github.com/poblysh/poblysh/connectors/zoho"
)

// cursorVersion is bumped when the cursor format changes; an older cursor
// is then reported expired and the engine resyncs the stream.
const cursorVersion = 1

// maxPressThreads bounds the threads remembered as press already.
const maxPressThreads = 500

// maxCleared bounds the messages remembered as cleared by their headers
// (cursor.Cleared).
const maxCleared = 500

// headerReading names how headers reads a message's headers, for the
// cursor's cleared list (cursor.ClearedBy). 2: a folded line is a
// continuation whatever header it continues; before 2026-12-07 (1, absent
// from the cursor) a fold of a header not read was read as a header, and
// Proton Mail's signature as List-Unsubscribe.
const headerReading = 2

// reconcileEvery is how often a pass reconciles: reads the folder down to
// reconcileWindow back rather than to the high-water mark (see newPass).
const reconcileEvery = 6 * time.Hour

// reconcileWindow is how far back a reconciling pass reads (at most
// BACKFILL_DAYS).
const reconcileWindow = 7 * 24 * time.Hour

// maxHeldPress bounds the press threads a pass holds back (pass.Press):
// each is a whole Signal, a few KB of cursor.
const maxHeldPress = 50

// cursor is an inbox or sent stream's cursor:
//
//	{"v":1,"folder":"7325431000000008012","hw":1711540357880,
//	 "seen":[{"id":"1711540357880100001","t":1711540357880}],
//	 "press":["1711540357880100001"],"cleared":["1711540357880107920"],"cleared_by":2,
//	 "reconciled":1711538000000,
//	 "pass":{"start":191,"high":1711540357880,"prev":["…"],"recent":[…],"kept":10,"back":1,
//	         "press":[{"Kind":"email.press_thread","DedupeKey":"press:…",…}]}}
//
// folder is the folder's id (read once from GET /folders, see folderID). hw is
// the newest receivedTime of the last pass (a first pass that read nothing:
// its window's start); a pass reads messages/view
// newest first (sortorder=false) until receivedTime falls below hw minus
// the overlap, and seen holds the ids of that overlap already read, so they
// are not emitted again (dedupe by messageId). press holds the threads
// email.press_thread was emitted for, cleared the messages whose headers
// cleared them of press (see normalize), cleared_by the header reading
// that judged them (headerReading), and reconciled when the last
// reconciling pass began (see newPass). pass is the pass under way: the next
// start offset (1-based), its newest time, the ids of the previous page
// (new mail arriving during a pass shifts offsets; repeats are skipped)
// and the ids inside the overlap of its newest time, and the press threads
// it holds back until it ends (see holdPress).
type cursor struct {
	V      int      `json:"v"`
	Folder string   `json:"folder,omitempty"`
	HW     int64    `json:"hw,omitempty"`
	Seen   []seenID `json:"seen,omitempty"`
	Press  []string `json:"press,omitempty"`
	// Cleared and Reconciled are absent from cursors stored before
	// 2026-12-07: none cleared, and the next pass reconciles.
	Cleared []string `json:"cleared,omitempty"`
	// ClearedBy is the headerReading Cleared was judged by; absent (0)
	// from cursors stored before 2026-12-07, whose Cleared decodeCursor
	// forgets (see rejudge).
	ClearedBy  int   `json:"cleared_by,omitempty"`
	Reconciled int64 `json:"reconciled,omitempty"`
	Pass       *pass `json:"pass,omitempty"`
}

type seenID struct {
	ID string `json:"id"`
	T  int64  `json:"t"`
}

type pass struct {
	Start  int      `json:"start"`
	Cutoff int64    `json:"cutoff"`
	High   int64    `json:"high,omitempty"`
	Prev   []string `json:"prev,omitempty"`
	Recent []seenID `json:"recent,omitempty"`
	// Kept is how many of the previous page's last messages the next page
	// reads again (pageOverlap): start is an offset into the folder as it
	// is now, so mail moved out or deleted during a pass moves every later
	// message up (archived mail stays listed: includearchive), and without
	// the overlap the one at a page boundary was never read. A next page that shares no message with the previous
	// one (or is empty) lost more than that: the pass steps back a page,
	// and again while the page read there shares none (see stepBack).
	Kept int `json:"kept,omitempty"`
	// Back counts the pass's steps back, at most maxStepsBack: a folder
	// losing mail faster than the pass reads it cannot hold it forever.
	// Past the bound pages are read on without the check, as before a
	// pass stepped back at all. A cursor stored without it counts from 0.
	Back int `json:"back,omitempty"`
	// Press holds email.press_thread of the threads this pass found, each
	// the oldest qualifying message read so far: the pass reads newest
	// first, so an older message of a thread may be on a later page, and a
	// thread is described by its first qualifying message (as an
	// incremental pass, and Gmail, describe it). They are emitted when the
	// pass ends.
	Press []connectors.Signal `json:"press,omitempty"`
}

// maxStepsBack bounds the steps back of one pass (pass.Back): 20 pages
// is 4,000 messages at the default page size leaving the folder during a
// pass, each step one messages/view call.
const maxStepsBack = 20

// pageOverlap is how many messages consecutive pages of a pass share.
func pageOverlap(n int) int { return min(10, n/2) }

func decodeCursor(raw json.RawMessage) (cursor, error) {
	cur := cursor{V: cursorVersion}
	if t := bytes.TrimSpace(raw); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		cur.ClearedBy = headerReading
		return cur, nil
	}
	if err := json.Unmarshal(raw, &cur); err != nil || cur.V != cursorVersion {
		return cursor{}, fmt.Errorf("zoho-mail: %w: unreadable or outdated cursor", connectors.ErrCursorExpired)
	}
	cur.rejudge()
	return cur, nil
}

// rejudge forgets, once, the messages an earlier header reading cleared
// (Cleared judged by less than headerReading): before 2026-12-07 a press
// candidate Proton Mail signed was cleared as list mail. The next pass then
// reconciles, whenever the last reconciliation was (newPass), and so
// reads again each of them received in its window and judges it again
// with the headers read anew: one header call per message it held, at
// most maxCleared, once. A press thread found stores one
// email.press_thread (keyed by the thread); the rest are cleared again,
// under this reading. A cursor that cleared nothing is left as it was.
// Older mail is judged again by a backfill, which starts a cursor anew.
func (cur *cursor) rejudge() {
	if cur.ClearedBy >= headerReading {
		return
	}
	if len(cur.Cleared) > 0 {
		cur.Cleared, cur.Reconciled = nil, 0
	}
	cur.ClearedBy = headerReading
}

// folderTypes maps a stream to the folderType Zoho gives its system folder
// (at the path "/" + the type).
var folderTypes = map[string]string{streamInbox: "Inbox", streamSent: "Sent"}

// FetchPage implements connectors.Syncer: one messages/view call per page
// (the first page of a stream also reads GET /folders once; a message the
// detector takes for press also reads its headers).
func (c *Connector) FetchPage(ctx context.Context, req connectors.PageRequest) (*connectors.Page, error) {
	typ, ok := folderTypes[req.Stream]
	if !ok {
		return nil, fmt.Errorf("zoho-mail: %w", &connectors.ConfigError{Fields: map[string]string{"stream": fmt.Sprintf("unknown stream %q", req.Stream)}})
	}
	cfg, err := parseConfig(req.Connection.Config)
	if err != nil {
		return nil, fmt.Errorf("zoho-mail: %w", err)
	}
	cur, err := decodeCursor(req.Cursor)
	if err != nil {
		return nil, err
	}
	acct := req.Connection.Account
	if cur.Folder == "" {
		if cur.Folder, err = c.folderID(ctx, req.HTTP, acct, typ); err != nil {
			return nil, err
		}
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	if cur.Pass == nil {
		cur.Pass = c.newPass(&cur, now)
	}
	p := cur.Pass
	// includearchive: archived mail stays in its folder (archive-options.html)
	// but is listed only when asked for (get-emails-list.html); without it
	// mail archived before a pass read it was never read.
	q := url.Values{"folderId": {cur.Folder}, "start": {strconv.Itoa(p.Start)}, "limit": {strconv.Itoa(c.pageSize)},
		"sortorder": {"false"}, "sortBy": {"date"}, "includeto": {"true"}, "includearchive": {"true"}}
	var page []json.RawMessage
	if err := c.get(ctx, req.HTTP, acct, "/api/accounts/"+url.PathEscape(acct.ID)+"/messages/view", q, &page); err != nil {
		return nil, err
	}
	if c.stepBack(p, page) {
		next, err := json.Marshal(cur)
		if err != nil {
			return nil, fmt.Errorf("zoho-mail: encode cursor: %w", err)
		}
		return &connectors.Page{Items: len(page), Next: next}, nil
	}
	base, _ := c.APIBase(acct)
	f := folder{ID: cur.Folder, Type: typ, Host: base, Mailbox: acct.ID, Email: acct.Metadata[metaEmail], Outbound: req.Stream == streamSent}
	var out []connectors.Signal
	var ids []string
	reachedCutoff := false
	for _, raw := range page {
		var it item
		if json.Unmarshal(raw, &it) != nil {
			continue
		}
		at, ok := it.received()
		id := it.MessageID.String()
		if !ok || id == "" {
			continue
		}
		ms := at.UnixMilli()
		ids = append(ids, id)
		if ms < p.Cutoff {
			reachedCutoff = true // newest first: everything after is older
			break
		}
		if slices.Contains(p.Prev, id) || containsID(cur.Seen, id) || containsID(p.Recent, id) {
			continue
		}
		sigs, err := c.normalize(ctx, req.HTTP, acct, f, &it, raw, cfg, &cur)
		if err != nil {
			return nil, err
		}
		out = append(out, sigs...)
		if ms > p.High {
			p.High = ms
		}
		p.Recent = append(p.Recent, seenID{ID: id, T: ms})
		p.Recent = keepFrom(p.Recent, p.High-c.overlap.Milliseconds())
	}
	done := reachedCutoff || len(page) < c.pageSize
	if done {
		if p.High > cur.HW {
			cur.HW = p.High
		} else if cur.HW == 0 {
			// A first pass that read nothing (a folder quiet for longer
			// than BACKFILL_DAYS) keeps its window's start: later passes
			// read down to it, not to their own now − BACKFILL_DAYS,
			// which lost what came between once one came later than
			// BACKFILL_DAYS after this one.
			cur.HW = p.Cutoff
		}
		cur.Seen = keepFrom(append(cur.Seen, p.Recent...), cur.HW-c.overlap.Milliseconds())
		out = append(out, cur.releasePress()...)
		cur.Pass = nil
	} else {
		p.Kept = pageOverlap(len(page))
		p.Start += len(page) - p.Kept
		p.Prev = ids
	}
	next, err := json.Marshal(cur)
	if err != nil {
		return nil, fmt.Errorf("zoho-mail: encode cursor: %w", err)
	}
	return &connectors.Page{Signals: out, Items: len(page), Next: next, Done: done}, nil
}

// newPass starts a pass at now. The first reads BACKFILL_DAYS back; the
// others down to the last pass's newest time less the overlap, and, once
// every reconcileEvery, down to reconcileWindow back (BACKFILL_DAYS when
// less), or further when the high-water mark is older. Mail moved into the
// folder (marked not spam, restored from Trash, moved back from another
// folder) keeps the receivedTime it arrived with, below the high-water
// mark, and Zoho Mail lists no changes: only such a pass reads it. What it
// reads again is stored once, by its dedupe key.
func (c *Connector) newPass(cur *cursor, now time.Time) *pass {
	ms := now.UnixMilli()
	if cur.HW == 0 {
		cur.Reconciled = ms
		return &pass{Start: 1, Cutoff: now.Add(-c.backfill).UnixMilli()}
	}
	cutoff := cur.HW - c.overlap.Milliseconds()
	if ms-cur.Reconciled >= reconcileEvery.Milliseconds() {
		cur.Reconciled = ms
		cutoff = min(cutoff, now.Add(-min(reconcileWindow, c.backfill)).UnixMilli())
	}
	return &pass{Start: 1, Cutoff: cutoff}
}

// stepBack moves the pass a page up when page, read at p.Start, shares no
// message with the previous page (p.Prev), an empty page included: more
// mail left the folder since than pages overlap by, and what moved up past
// the boundary is above p.Start now. The page is read again from there
// (what is read twice is stored once), and checked the same way, until a
// page overlaps the previous one, the pass is at the top of the folder, or
// it has stepped back maxStepsBack times (see pass.Back).
func (c *Connector) stepBack(p *pass, page []json.RawMessage) bool {
	if p.Kept == 0 || p.Start <= 1 || p.Back >= maxStepsBack || slices.ContainsFunc(page, func(raw json.RawMessage) bool {
		var it item
		return json.Unmarshal(raw, &it) == nil && slices.Contains(p.Prev, it.MessageID.String())
	}) {
		return false
	}
	p.Start = max(1, p.Start-c.pageSize)
	p.Back++
	return true
}

func containsID(list []seenID, id string) bool {
	return slices.ContainsFunc(list, func(s seenID) bool { return s.ID == id })
}

// keepFrom keeps the ids at or after ms, each once.
func keepFrom(list []seenID, ms int64) []seenID {
	out := list[:0]
	seen := map[string]bool{}
	for _, s := range list {
		if s.T >= ms && !seen[s.ID] {
			seen[s.ID] = true
			out = append(out, s)
		}
	}
	return out
}

// normalize turns one message into its Signals, asking the press detector
// about its thread unless the thread is press already.
func (c *Connector) normalize(ctx context.Context, hc *http.Client, acct connectors.Account, f folder, it *item, raw json.RawMessage,
	cfg config, cur *cursor) ([]connectors.Signal, error) {
	out := messageSignals(f, it, raw)
	if len(out) == 0 || slices.Contains(cur.Press, it.thread()) {
		return out, nil
	}
	m := press.Message{From: it.from(), To: it.to(), Cc: it.cc(), Subject: it.subject(), Outbound: f.Outbound, Account: f.Email}
	r := c.press.Detect(m, cfg.detectorConfig())
	if r.Press && !f.Outbound {
		// The list carries no List-Id nor Auto-Submitted: a newsletter from
		// a media outlet or a journalist's auto-reply looks like press until
		// its headers say otherwise. They never qualify whatever the
		// config, so a message they cleared is remembered, and a
		// reconciling pass reading it again does not ask again.
		id := it.MessageID.String()
		if slices.Contains(cur.Cleared, id) {
			return out, nil
		}
		content, err := c.header(ctx, hc, acct, f.ID, id)
		if err != nil {
			return nil, err
		}
		m.ListID, m.ListUnsubscribe, m.Precedence, m.AutoSubmitted = headers(content)
		if r = c.press.Detect(m, cfg.detectorConfig()); !r.Press {
			cur.clear(id)
		}
	}
	if !r.Press {
		return out, nil
	}
	if s, ok := pressSignal(f, it, r, raw); ok {
		out = append(out, cur.holdPress(s)...)
	}
	return out, nil
}

// holdPress keeps s, a press thread's qualifying message, in the pass until
// the pass ends, in place of a newer message of the same thread it holds.
// Past maxHeldPress threads the one held longest is emitted now, with the
// oldest qualifying message read so far (returned).
func (cur *cursor) holdPress(s connectors.Signal) []connectors.Signal {
	p := cur.Pass
	if i := slices.IndexFunc(p.Press, func(h connectors.Signal) bool { return h.DedupeKey == s.DedupeKey }); i >= 0 {
		if !s.OccurredAt.After(p.Press[i].OccurredAt) {
			p.Press[i] = s
		}
		return nil
	}
	p.Press = append(p.Press, s)
	if len(p.Press) <= maxHeldPress {
		return nil
	}
	first := p.Press[0]
	p.Press = p.Press[1:]
	cur.pressed(first.Payload.Subject.ID)
	return []connectors.Signal{first}
}

// releasePress empties the pass's held press threads, remembering each
// thread as press, and returns their Signals.
func (cur *cursor) releasePress() []connectors.Signal {
	out := cur.Pass.Press
	for _, s := range out {
		cur.pressed(s.Payload.Subject.ID)
	}
	cur.Pass.Press = nil
	return out
}

// clear remembers a message its headers cleared of press (the last
// maxCleared).
func (cur *cursor) clear(id string) {
	cur.Cleared = append(cur.Cleared, id)
	if n := len(cur.Cleared); n > maxCleared {
		cur.Cleared = cur.Cleared[n-maxCleared:]
	}
}

// pressed remembers a thread as press (the last maxPressThreads).
func (cur *cursor) pressed(thread string) {
	cur.Press = append(cur.Press, thread)
	if n := len(cur.Press); n > maxPressThreads {
		cur.Press = cur.Press[n-maxPressThreads:]
	}
}

// folderID finds the id of the system folder of a type (Inbox, Sent) with
// GET /api/accounts/{id}/folders: the folder at the path "/Inbox" or
// "/Sent", else the first of that folderType. A custom folder can carry
// the folderType of a system folder
// (https://www.zoho.com/mail/help/api/get-single-folder-details.html:
// "path":"/MyCustomFolder","folderType":"Inbox"), so the type alone may
// name the wrong one.
func (c *Connector) folderID(ctx context.Context, hc *http.Client, acct connectors.Account, typ string) (string, error) {
	var folders []struct {
		FolderID   zoho.Str `json:"folderId"`
		FolderType string   `json:"folderType"`
		FolderName string   `json:"folderName"`
		Path       string   `json:"path"`
	}
	if err := c.get(ctx, hc, acct, "/api/accounts/"+url.PathEscape(acct.ID)+"/folders", nil, &folders); err != nil {
		return "", err
	}
	byType := ""
	for _, f := range folders {
		switch {
		case f.FolderID == "":
		case strings.EqualFold(f.Path, "/"+typ):
			return f.FolderID.String(), nil
		case byType == "" && strings.EqualFold(f.FolderType, typ):
			byType = f.FolderID.String()
		}
	}
	if byType != "" {
		return byType, nil
	}
	return "", fmt.Errorf("zoho-mail: folders: %w: the mailbox has no %s folder", connectors.ErrNotFound, typ)
}

// header reads a message's raw headers (…/folders/{f}/messages/{m}/header).
func (c *Connector) header(ctx context.Context, hc *http.Client, acct connectors.Account, folderID, messageID string) (string, error) {
	var h struct {
		HeaderContent string `json:"headerContent"`
	}
	path := "/api/accounts/" + url.PathEscape(acct.ID) + "/folders/" + url.PathEscape(folderID) + "/messages/" + url.PathEscape(messageID) + "/header"
	if err := c.get(ctx, hc, acct, path, nil, &h); err != nil {
		return "", err
	}
	return h.HeaderContent, nil
}
