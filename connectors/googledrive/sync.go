package googledrive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/poblysh/poblysh/connectors"
)

// pass is one FetchPage: the stream's feed, its decoded cursor and the
// Signals it produces.
type pass struct {
	c    *Connector
	ctx  context.Context
	hc   *http.Client
	feed feed
	cur  *Cursor
	conn connectors.Connection
	now  time.Time
	page *connectors.Page
	// seen is the watermark of the drain the page belongs to (Since, or
	// Seen between drains): a file created after it is new.
	seen int64
	// own are the organisation's domains: a grant to them is not sharing.
	own []string
}

// FetchPage reads one page of a stream. A fresh stream first takes a start
// page token (so nothing that changes meanwhile is missed) and resolves its
// roots; it then lists the tracked folders, which fills the ancestry cache
// and the members and yields the backfill (files modified within
// backfill_days); then it reads the change feed from the start page token.
// A folder that moves into the tracked set is listed the same way, and its
// files become document.created. The user's feed follows the config's
// folders on every page (followConfig): a PATCH keeps the cursor.
func (c *Connector) FetchPage(ctx context.Context, req connectors.PageRequest) (*connectors.Page, error) {
	f, err := feedOf(req.Connection, req.Stream)
	if err != nil {
		return nil, err
	}
	cur, err := decodeCursor(req.Cursor)
	if err != nil {
		return nil, err
	}
	p := &pass{c: c, ctx: ctx, hc: req.HTTP, feed: f, cur: cur, conn: req.Connection, now: req.Now.UTC(),
		page: &connectors.Page{}, seen: cur.watermark(), own: ownDomains(req.Connection.Account)}
	if err := p.read(); err != nil {
		return nil, fmt.Errorf("google-drive: %s: %w", req.Stream, err)
	}
	p.page.Next = cur.encode()
	return p.page, nil
}

// read reads one page: the start, a listing, or the change feed. The
// user's feed first follows the config's folders (a PATCH keeps the
// cursor).
func (p *pass) read() error {
	if p.cur.Phase == phaseStart {
		return p.start()
	}
	if p.feed.drive == "" {
		if err := p.followConfig(); err != nil {
			return err
		}
	}
	if len(p.cur.Walk) > 0 {
		return p.walk()
	}
	return p.changes()
}

// start takes the feed's start page token and resolves the roots to list.
func (p *pass) start() error {
	tok, err := p.c.startPageToken(p.ctx, p.hc, p.feed.drive)
	if err != nil {
		return err
	}
	cur := p.cur
	for _, ref := range p.feed.roots {
		f, err := p.c.getFile(p.ctx, p.hc, ref)
		if k := connectors.Kind(err); k == connectors.ErrNotFound || k == connectors.ErrForbidden {
			if p.feed.drive != "" {
				return err // the shared drive itself: access lost
			}
			continue // a folder gone since it was proved: the others are still read
		}
		if err != nil {
			return err
		}
		it := walkItem{Folder: f.ID, Corpus: f.corpus()}
		if p.feed.drive != "" {
			it = walkItem{Drive: p.feed.drive}
		}
		p.track(ref, f, it)
	}
	if p.feed.drive == "" {
		cur.Tracked = slices.Clone(p.feed.roots)
	}
	cur.Phase, cur.PageToken = phaseWalk, tok
	cur.Cutoff = p.now.AddDate(0, 0, -p.c.backfillWindow(p.conn)).Unix()
	cur.Seen = p.now.UnixMilli()
	cur.Started = cur.Seen
	return nil
}

// walk lists one page of the first folder (or shared drive) to list, unless
// that folder no longer lies under a root.
func (p *pass) walk() error {
	cur := p.cur
	it := cur.Walk[0]
	if it.Folder != "" && !it.Forget {
		// A folder queued under a root taken out since (untrack keeps those
		// whose cache entry was evicted) is not listed. Its files would be
		// placed with the same call.
		at, err := p.placeFolder(it.Folder)
		if err != nil {
			return err
		}
		if !at.in {
			cur.Walk = cur.Walk[1:]
			return nil
		}
	}
	list, err := p.c.listFiles(p.ctx, p.hc, it)
	if errors.Is(err, errNotMember) && it.Folder != "" && strings.HasPrefix(it.Corpus, "drive:") {
		// A folder on a shared drive the user is not a member of (tracked
		// on purpose, see memberDenial): Drive refuses the drive's corpus
		// to a non-member, and the user's corpus holds what is shared with
		// the user. List it there from the start.
		it.Corpus, it.PageToken = corpusUser, ""
		cur.Walk[0] = it
		return nil
	}
	if k := connectors.Kind(err); it.Folder != "" && (k == connectors.ErrNotFound || k == connectors.ErrForbidden) {
		cur.Walk = cur.Walk[1:] // the folder went away meanwhile
		return nil
	}
	if connectors.Kind(err) == connectors.ErrInvalidConfig && it.PageToken != "" {
		// Drive refused the stored nextPageToken (400): "If the token is
		// rejected for any reason, it should be discarded, and pagination
		// should be restarted from the first page of results. The page
		// token is typically valid for several hours" (FileList). A walk
		// paused that long (a re-authorization, an outage) lists the folder
		// again from its start; what is listed twice is stored once. A
		// 400 without a token is the error it is.
		cur.Walk[0].PageToken = ""
		return nil
	}
	if err != nil {
		return err
	}
	if list.IncompleteSearch {
		// Only an allDrives search (a walk item of a cursor written before
		// corpora were chosen) says so, and the page may leave files out:
		// find the folder's corpus and list it there from the start.
		f, err := p.c.getFile(p.ctx, p.hc, it.Folder)
		if err != nil {
			return err
		}
		it.Corpus, it.PageToken = f.corpus(), ""
		cur.Walk[0] = it
		return nil
	}
	p.page.Items = len(list.Files)
	var sub []walkItem
	for _, raw := range list.Files {
		var f file
		if err := json.Unmarshal(raw, &f); err != nil || f.ID == "" {
			return fmt.Errorf("%w: files.list returned an unreadable file", connectors.ErrTransient)
		}
		if f.folder() {
			cur.Folders[f.ID] = folder{Name: f.Name, Parent: f.parent()}
			if it.Folder != "" && !(it.Forget && slices.Contains(cur.Roots, f.ID)) {
				corpus := f.corpus()
				if it.Corpus == corpusUser {
					corpus = corpusUser // a subfolder of a non-member's folder is listed where its parent was
				}
				sub = append(sub, walkItem{Folder: f.ID, Corpus: corpus, MovedIn: it.MovedIn, MovedAt: it.MovedAt,
					Cutoff: it.Cutoff, Forget: it.Forget})
			}
			continue
		}
		if it.Forget {
			err = p.unlisted(&f)
		} else {
			err = p.listed(&f, raw, it)
		}
		if err != nil {
			return err
		}
	}
	if list.NextPageToken != "" {
		cur.Walk[0].PageToken = list.NextPageToken
	} else {
		cur.Walk = cur.Walk[1:]
	}
	cur.Walk = append(cur.Walk, sub...)
	if len(cur.Walk) == 0 && cur.Phase == phaseWalk {
		cur.Phase = phaseChanges
	}
	return nil
}

// listed takes in a file found by listing a tracked folder (walk item it):
// it becomes a member (its grants are remembered, not announced). In a
// moved-in folder a file that was not a member is document.created at the
// time of the folder's move (at its creation, reason new, when it was
// created in the folder after the move); in the first listing, or that of
// a folder put into the config since (it.Cutoff), a file modified within
// the backfill window yields the backfill Signals. A shortcut is none.
func (p *pass) listed(f *file, raw json.RawMessage, it walkItem) error {
	cur := p.cur
	if f.shortcut() {
		cur.forget(f.ID) // a member of a cursor stored before shortcuts were skipped
		return nil
	}
	_, known := cur.member(f.ID)
	if (it.MovedIn || it.Cutoff > 0) && known {
		return nil // tracked already
	}
	movedIn, moved, cutoff := it.MovedIn, it.movedAt(p.now), cur.Cutoff
	if it.Cutoff > 0 {
		cutoff = it.Cutoff
	}
	mod, created := parseTime(f.ModifiedTime), parseTime(f.CreatedTime)
	cur.remember(f.ID, member{modified: mod.UnixMilli()})
	for _, g := range grants(f, p.own) {
		cur.shared(f.ID, g.key)
	}
	at, err := p.place(f)
	if err != nil || !at.in {
		return err
	}
	switch {
	case movedIn && (created.After(moved) || p.seen > 0 && created.UnixMilli() >= p.seen):
		// Created in the folder after its move, before the walk reached
		// it, or created since the feed's watermark at all (a folder read
		// live to place another file is walked as moved in though it may
		// never have left the tree): a new file, at its own creation (not
		// before it existed).
		p.born(f, raw, at, created, mod)
	case movedIn:
		p.movedIn(f, raw, at, moved, it.moveMillis(cur))
	case created.Unix() > cutoff:
		p.born(f, raw, at, created, mod)
	default:
		// Created and modified are judged apart: modifiedTime is writable
		// (Drive for desktop and the API keep an uploaded file's own), so
		// a file uploaded within the window may say it was modified long
		// before, and one created before it may have been edited since:
		// that edit opens the file's window, as one the feed tells does.
		if mod.Unix() > cutoff && mod.Sub(created) >= editWindow {
			p.emit(KindUpdated, f, raw, at, mod, updateKey(f.ID, mod), nil)
			p.opened(f.ID, mod)
		}
	}
	return nil
}

// movedIn tells f moved into the tracked set at when: document.created
// (reason moved_in), keyed by the file and the time (unix ms) of the change
// that moved it (or its folder) in. A file may come back any number of
// times (moved out and in again, between two tracked shared drives, access
// lost and given back), and each time is a Signal of its own: keyed by the
// file alone, as its creation is, every move in after the first was
// dropped by the store as a duplicate of the creation. The change's time
// is Drive's, so a page read again derives the same key. The Signal also
// claims the creation's key (an alias): a backfill lists the file where it
// is now and, created within the window, tells it as created, which is
// this arrival told again.
func (p *pass) movedIn(f *file, raw json.RawMessage, at placement, when time.Time, ms int64) {
	p.emit(KindCreated, f, raw, at, when, fmt.Sprintf("file:%s:moved_in:%d", f.ID, ms), map[string]any{"reason": reasonMovedIn})
	p.page.Signals[len(p.page.Signals)-1].AliasKeys = []string{createdKey(f.ID)}
}

// createdKey is the dedupe key of a file's creation.
func createdKey(id string) string { return "file:" + id + ":created" }

// born tells a file new to the tracked set at its creation, the same way
// whichever path reads it first (the change feed, a backfill, a walk under
// way): document.created (reason new) at createdTime, which opens the
// file's edit window, so its first minutes of typing belong to its
// creation; and document.updated at modifiedTime when that is 10 minutes
// or more after the creation (Drive keeps one change entry per file, so
// the feed may first read a file long after it was created, and the
// edits since are told as one), which opens the window at that edit.
func (p *pass) born(f *file, raw json.RawMessage, at placement, created, mod time.Time) {
	p.emit(KindCreated, f, raw, at, created, createdKey(f.ID), map[string]any{"reason": reasonNew})
	p.opened(f.ID, created)
	if mod.Sub(created) >= editWindow {
		p.emit(KindUpdated, f, raw, at, mod, updateKey(f.ID, mod), nil)
		p.opened(f.ID, mod)
	}
}

// opened records the edit window a Signal opened at t (a creation, or an
// edit a listing or the feed told). A window older than pruneEdits keeps
// (an hour before the pass) is dropped instead: it can hold no later
// edit, and a backfill tells thousands of old creations and edits.
func (p *pass) opened(id string, t time.Time) {
	if ms := t.UnixMilli(); ms >= p.now.Add(-time.Hour).UnixMilli() {
		p.cur.Edits[id] = ms
	} else {
		delete(p.cur.Edits, id)
	}
}

// changes reads one page of the change feed.
func (p *pass) changes() error {
	cur := p.cur
	list, err := p.c.changes(p.ctx, p.hc, p.feed.drive, cur.PageToken)
	if err != nil {
		return err
	}
	if cur.Since == 0 {
		cur.Since = cur.Seen // a drain begins: its watermark holds until it ends
	}
	p.page.Items = len(list.Changes)
	for _, ch := range list.Changes {
		if err := p.change(ch); err != nil {
			return err
		}
	}
	switch {
	case list.NextPageToken != "":
		cur.PageToken = list.NextPageToken
	case list.NewStartPageToken != "":
		cur.PageToken = list.NewStartPageToken
		cur.Since = 0 // the drain is over: seen is the next one's watermark
		for id, e := range cur.Folders {
			if e.Live { // its move, if any, has been read
				e.Live = false
				cur.Folders[id] = e
			}
		}
		p.page.Done = len(cur.Walk) == 0
		if cur.Phase == phaseChanges {
			cur.Started = 0 // every change made while the first walk ran has been read
		}
	default:
		return fmt.Errorf("%w: changes.list returned neither nextPageToken nor newStartPageToken", connectors.ErrTransient)
	}
	p.pruneEdits()
	return nil
}

// change applies one entry of the change feed.
func (p *pass) change(ch change) error {
	cur := p.cur
	t := parseTime(ch.Time)
	if t.IsZero() {
		t = p.now
	}
	cur.Seen = max(cur.Seen, t.UnixMilli())
	if ch.ChangeType == "drive" {
		return nil // a shared drive's own settings changed
	}
	if ch.Removed || len(ch.File) == 0 || string(ch.File) == "null" {
		cur.forget(ch.FileID) // deleted for good, or no longer visible
		if e, ok := cur.Folders[ch.FileID]; ok && !slices.Contains(cur.Roots, ch.FileID) {
			e.Out, e.Parent = true, ""
			cur.Folders[ch.FileID] = e
		}
		return nil
	}
	var f file
	if err := json.Unmarshal(ch.File, &f); err != nil || f.ID == "" {
		return fmt.Errorf("%w: changes.list returned an unreadable file", connectors.ErrTransient)
	}
	if f.folder() {
		return p.folderChanged(&f, t)
	}
	return p.fileChanged(&f, ch.File, t)
}

// folderChanged rewrites a folder's cache entry, so its subtree moves with
// it. A folder that enters the tracked set is listed: its files that are
// not members are moved in, at the change's time t. A folder that leaves
// it is listed too, to forget its files (and its subfolders'): moved back
// in, with it or alone, they are moved in again. The listing is that of
// the subtree that left, as a move in lists the subtree that came.
func (p *pass) folderChanged(f *file, t time.Time) error {
	cur := p.cur
	if slices.Contains(cur.Roots, f.ID) {
		if f.ID != cur.MyDrive {
			cur.Folders[f.ID] = folder{Name: f.Name} // a renamed root; My Drive keeps its name
		}
		return nil
	}
	was := false
	// A folder read live this drain (placing a change of a file in it that
	// came first) is cached where it is now, perhaps past this very move:
	// it counts as unknown, as it was before the read, so a move in is
	// listed (its files that are members already are skipped). Not with
	// the members overflowed: every file not remembered would be moved in.
	if e, ok := cur.Folders[f.ID]; ok && !e.Out && (!e.Live || cur.Overflow) {
		at, err := p.placeFolder(f.ID)
		if err != nil {
			return err
		}
		was = at.in
	}
	cur.Folders[f.ID] = folder{Name: f.Name, Parent: f.parent()}
	if f.Trashed {
		return nil
	}
	now, err := p.placeFolder(f.ID)
	if err != nil {
		return err
	}
	switch {
	case now.in && !was:
		cur.Walk = append(cur.Walk, walkItem{Folder: f.ID, Corpus: f.corpus(), MovedIn: true, MovedAt: t.UnixMilli()})
	case was && !now.in:
		cur.Walk = append(cur.Walk, walkItem{Folder: f.ID, Corpus: f.corpus(), Forget: true})
	}
	return nil
}

// fileChanged classifies a change of a file: created (new to the tracked
// set), edited (modifiedTime moved, either way: an upload that keeps the
// file's own older modification time is a new revision), trashed, shared
// (a new public grant, or one to a domain outside the organisation), or
// nothing (metadata only, outside the tracked set, or a shortcut).
func (p *pass) fileChanged(f *file, raw json.RawMessage, t time.Time) error {
	cur := p.cur
	if f.shortcut() {
		cur.forget(f.ID) // a member of a cursor stored before shortcuts were skipped
		return nil
	}
	at, err := p.place(f)
	if err != nil {
		return err
	}
	m, known := cur.member(f.ID)
	if !at.in {
		if known {
			cur.forget(f.ID) // moved out
		}
		return nil
	}
	mod, created := parseTime(f.ModifiedTime), parseTime(f.CreatedTime)
	gs := grants(f, p.own)
	if !known {
		cur.remember(f.ID, member{modified: mod.UnixMilli(), trashed: f.Trashed})
		for _, g := range gs {
			cur.shared(f.ID, g.key)
		}
		if f.Trashed {
			if cur.Started > 0 && !cur.Overflow && created.UnixMilli() < cur.Started {
				// Trashed while the first walk ran, before it reached the
				// file's folder (the walk lists trashed = false): it was
				// tracked when the stream started.
				p.trashed(f, raw, at, t, cur.Started)
			}
			return nil
		}
		isNew := created.UnixMilli() >= p.seen
		if cur.Overflow && !isNew {
			// Not remembered because the members overflowed: an edit
			// since the watermark is all that can be told.
			if mod.UnixMilli() > p.seen {
				p.edited(f, raw, at, mod)
			}
			return nil
		}
		if isNew {
			p.born(f, raw, at, created, mod)
			return nil
		}
		p.movedIn(f, raw, at, t, t.UnixMilli())
		return nil
	}
	modified := max(mod.UnixMilli(), 0) // as remember keeps it
	if mod.IsZero() {
		modified = m.modified // no modifiedTime: nothing to compare
	}
	cur.remember(f.ID, member{modified: modified, trashed: f.Trashed})
	switch {
	case f.Trashed && !m.trashed:
		p.trashed(f, raw, at, t, 0)
		return nil
	case f.Trashed:
		return nil
	case modified != m.modified:
		p.edited(f, raw, at, mod)
	}
	for _, g := range gs {
		if !cur.shared(f.ID, g.key) {
			p.emit(KindShared, f, raw, at, t, fmt.Sprintf("file:%s:shared:%s:%d", f.ID, g.key, t.UnixMilli()), g.attrs())
		}
	}
	return nil
}

// trashed makes document.trashed at the file's trashedTime (shared drive
// items carry it), or else at t, the change's time; a trash before since
// (unix ms) makes none.
func (p *pass) trashed(f *file, raw json.RawMessage, at placement, t time.Time, since int64) {
	when := parseTime(f.TrashedTime)
	if when.IsZero() {
		when = t
	}
	if when.UnixMilli() < since {
		return // in the trash before the stream started
	}
	p.emit(KindTrashed, f, raw, at, when, fmt.Sprintf("file:%s:trashed:%d", f.ID, when.UnixMilli()),
		map[string]any{"explicitly_trashed": f.ExplicitlyTrashed})
}

// editWindow is how long edits of one file are coalesced into one
// document.updated: Docs autosaves every few seconds.
const editWindow = 10 * time.Minute

// edited records a content edit at mod. An edit within editWindow of the
// edit that opened the file's window (kept in the cursor, so across passes)
// makes no Signal; otherwise it opens a new window and makes
// document.updated keyed by the 10-minute bucket of mod. The bucket is what
// a backfill derives from the file's modifiedTime too, so a backfill after
// a burst of autosaves stores nothing new unless the burst crossed a bucket
// boundary.
func (p *pass) edited(f *file, raw json.RawMessage, at placement, mod time.Time) {
	ms := mod.UnixMilli()
	if open, ok := p.cur.Edits[f.ID]; ok && ms-open < editWindow.Milliseconds() && ms >= open {
		return
	}
	p.cur.Edits[f.ID] = ms
	p.emit(KindUpdated, f, raw, at, mod, updateKey(f.ID, mod), nil)
}

// updateKey is the dedupe key of an edit: the file and the 10-minute bucket
// of its modifiedTime.
func updateKey(id string, mod time.Time) string {
	bucket := mod.UnixMilli() / editWindow.Milliseconds() * editWindow.Milliseconds()
	return fmt.Sprintf("file:%s:updated:%d", id, bucket)
}

// pruneEdits drops edit windows that can no longer coalesce anything (an
// hour older than the newest change), and the oldest past maxEdits.
func (p *pass) pruneEdits() {
	cur := p.cur
	for id, ms := range cur.Edits {
		if ms < cur.Seen-time.Hour.Milliseconds() {
			delete(cur.Edits, id)
		}
	}
	for len(cur.Edits) > maxEdits {
		oldest, at := "", int64(0)
		for id, ms := range cur.Edits {
			if oldest == "" || ms < at || (ms == at && id < oldest) {
				oldest, at = id, ms
			}
		}
		delete(cur.Edits, oldest)
	}
}

// parseTime parses an RFC 3339 timestamp; anything else is the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}
