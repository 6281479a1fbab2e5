package github

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/poblysh/poblysh/connectors"
)

// cursorVersion is the cursor format; a cursor of another version restarts
// the stream as a backfill (dedupe keys make that harmless).
const cursorVersion = 1

// cursor is a stream's stored position. A stream is read in passes: a pass
// walks the list from page 1 until it ends (or, for pulls, reaches items
// older than the high-water mark), then rests. Mid-pass fields let a crash
// resume at the next page; resting fields are where the next incremental
// pass starts.
//
//	{"v":1,"since":"2024-05-01T10:00:00Z","seen":["1347000024"],"etag":"W/\"…\"",
//	 "repo_id":1296269,"repo":"octo-org/hello-world","branch":"main","repo_etag":"W/\"…\""}
//
// (commits add "head":"<sha>"); mid-pass adds {"page":3,"link":"page=3"
// (or "after=…"),"per_page":100,"pass_max":"…","pass_seen":[…],
// "pass_etag":"…"} (commits: "pass_head", "pass_base").
type cursor struct {
	V int `json:"v"`
	// Since is the high-water mark of the last completed pass: the newest
	// item timestamp seen (pulls: updated_at; releases: published_at;
	// commits: committer date, no later than the pass's now; commits are
	// not read by it, see Head, but for the dated listing when Head cannot
	// serve). Nil before the first pass ends (backfill).
	Since *time.Time `json:"since,omitempty"`
	// Seen are the ids of items stamped exactly Since, so an item of the
	// same second is neither repeated nor lost (GitHub has 1 s precision).
	Seen []string `json:"seen,omitempty"`
	// ETag is the first page's validator from the last completed pass; the
	// next pass sends it as If-None-Match and a 304 means nothing changed.
	// Commits: the validator of the default branch's ref as the pass read
	// it (see Head).
	ETag string `json:"etag,omitempty"`

	// Page is the number of the next page of the pass in progress (the
	// link's page, or one more than the page read when it names a
	// cursor); 0 when resting.
	Page int `json:"page,omitempty"`
	// Link is the query of the next page as GitHub linked it (Link
	// rel="next", per_page left out: see nextLink), requested as it is: a
	// page number, or an after= cursor on a list GitHub serves by cursor.
	// Empty in a cursor stored before links were kept: its Page is
	// requested by number (and read again from page 1 should GitHub
	// refuse the number, see list).
	Link string `json:"link,omitempty"`
	// PerPage is the pass's page size (page numbers depend on it).
	PerPage int `json:"per_page,omitempty"`
	// PassMax and PassSeen accumulate the pass's high-water mark.
	PassMax  *time.Time `json:"pass_max,omitempty"`
	PassSeen []string   `json:"pass_seen,omitempty"`
	// PassETag is the first page's ETag of the pass in progress.
	PassETag string `json:"pass_etag,omitempty"`

	// Head (commits) is the sha the default branch pointed to when the last
	// completed pass began: the pass read every commit reachable from it.
	// The next pass reads what is reachable from the branch's head now and
	// not from Head (GET …/compare/{Head}...{head}), whatever the commits'
	// dates: a committer date is the committer's clock when the commit was
	// made, not when it reached the branch, and since= hid every commit
	// that reached it dated before the mark. Empty before the first pass
	// that read it (a cursor of an earlier version: that pass lists the
	// branch since the mark less commitLookback).
	Head string `json:"head,omitempty"`
	// PassHead (commits) is the head the pass in progress reads, pinned at
	// its start: its pages list that commit's history, whatever the branch
	// does meanwhile. PassBase is the commit it compares from (Head), empty
	// for a listing pass (commits?sha=PassHead).
	PassHead string `json:"pass_head,omitempty"`
	PassBase string `json:"pass_base,omitempty"`

	// Pre (releases) are the ids of the published pre-releases of the last
	// pass: one that comes back as a full release was promoted (its
	// published_at does not move). PassPre accumulates the pass's.
	Pre     []string `json:"pre,omitempty"`
	PassPre []string `json:"pass_pre,omitempty"`
	// PassStart (releases) is when the pass in progress began: the pass's
	// mark is no later than it (less releaseSettle). Releases are listed
	// by their tag's commit date, not by publication, so one published
	// during the pass may sit on a page already read while a later one
	// sits on a page still to read: a mark at the later one's date made
	// the next pass take the first for old.
	PassStart *time.Time `json:"pass_start,omitempty"`
	// Recent (releases) are the ids of the releases of the last pass
	// published at or after its mark, already reported: the next pass,
	// which reads them again, skips them. PassRecent accumulates the
	// pass's.
	Recent     []string `json:"recent,omitempty"`
	PassRecent []string `json:"pass_recent,omitempty"`

	// Repository facts: id and full name, re-read by id at the start of
	// every pass (the lists are read under the current name, and releases
	// and commits do not name their repository); the default branch commits
	// are read from.
	RepoID   int64  `json:"repo_id,omitempty"`
	RepoName string `json:"repo,omitempty"`
	Branch   string `json:"branch,omitempty"`
	RepoETag string `json:"repo_etag,omitempty"`
}

// decodeCursor reads a stored cursor; nil or another version starts afresh.
func decodeCursor(raw json.RawMessage) (*cursor, error) {
	c := &cursor{V: cursorVersion}
	if len(raw) == 0 || string(raw) == "null" {
		return c, nil
	}
	var stored cursor
	if err := json.Unmarshal(raw, &stored); err != nil {
		return nil, fmt.Errorf("github: cursor: %w: %v", connectors.ErrCursorExpired, err)
	}
	if stored.V != cursorVersion {
		return c, nil
	}
	return &stored, nil
}

func (c *cursor) encode() (json.RawMessage, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("github: encode cursor: %w", err)
	}
	return b, nil
}

// follow returns the cursor to read the repository the connection proved
// (id proved, 0 when unknown): c itself when it reads that repository or
// has not resolved one yet (it then reads the proved one by id), a fresh
// cursor when it was following another repository (the connection proved
// the ref's name anew, and the name now answers another repository: its
// stream starts over, as a new repository's does).
func (c *cursor) follow(proved int64) *cursor {
	switch {
	case proved == 0 || c.RepoID == proved:
		return c
	case c.RepoID == 0:
		c.RepoName, c.RepoETag = "", ""
		c.RepoID = proved
		return c
	default:
		return &cursor{V: cursorVersion, RepoID: proved}
	}
}

// starting reports whether the next read begins a pass.
func (c *cursor) starting() bool { return c.Page == 0 }

// old reports whether an item stamped t with id was covered by an earlier pass.
func (c *cursor) old(t time.Time, id string) bool {
	if c.Since == nil {
		return false
	}
	return t.Before(*c.Since) || (t.Equal(*c.Since) && slices.Contains(c.Seen, id)) || slices.Contains(c.Recent, id)
}

// observe records an item of the pass in progress.
func (c *cursor) observe(t time.Time, id string) {
	t = t.UTC()
	switch {
	case c.PassMax == nil || t.After(*c.PassMax):
		c.PassMax, c.PassSeen = &t, []string{id}
	case t.Equal(*c.PassMax) && !slices.Contains(c.PassSeen, id):
		c.PassSeen = append(c.PassSeen, id)
	}
	if c.PassStart != nil && !t.Before(c.PassStart.Add(-releaseSettle)) && !slices.Contains(c.PassRecent, id) {
		c.PassRecent = append(c.PassRecent, id)
	}
}

// prerelease records a published pre-release of the pass in progress.
func (c *cursor) prerelease(id string) {
	if !slices.Contains(c.PassPre, id) {
		c.PassPre = append(c.PassPre, id)
	}
}

// next moves to the page the page read linked (link, see nextLink) of
// the pass in progress.
func (c *cursor) next(link string, perPage int) {
	c.Page, c.Link, c.PerPage = linkedPage(link, c.Page), link, perPage
}

// restart drops the pass in progress: the next read begins a pass anew
// from the resting fields.
func (c *cursor) restart() {
	c.Page, c.Link, c.PerPage, c.PassMax, c.PassSeen, c.PassETag, c.PassPre = 0, "", 0, nil, nil, "", nil
	c.PassStart, c.PassRecent, c.PassHead, c.PassBase = nil, nil, "", ""
}

// releaseSettle is how far before a releases pass's start its mark is
// held at the latest: GitHub's clock (published_at) may run ahead of ours.
const releaseSettle = 5 * time.Minute

// begin records the start of a releases pass (see PassStart).
func (c *cursor) begin(now time.Time) {
	if c.starting() {
		t := now.UTC()
		c.PassStart = &t
	}
}

// finish ends the pass: its high-water mark becomes the resting one, for
// releases no later than the pass's start less releaseSettle (what was
// published since is read again by the next pass, which skips what this
// one reported: Recent); for commits the head it read becomes Head.
func (c *cursor) finish() {
	if c.PassStart != nil {
		if bound := c.PassStart.Add(-releaseSettle); c.PassMax != nil && c.PassMax.After(bound) {
			c.PassMax, c.PassSeen = &bound, nil
		}
		c.Recent = c.PassRecent
	}
	if c.PassMax != nil {
		switch {
		case c.Since == nil || c.PassMax.After(*c.Since):
			c.Since, c.Seen = c.PassMax, c.PassSeen
		case c.PassMax.Equal(*c.Since):
			for _, id := range c.PassSeen {
				if !slices.Contains(c.Seen, id) {
					c.Seen = append(c.Seen, id)
				}
			}
		}
	}
	if c.PassETag != "" {
		c.ETag = c.PassETag
	}
	if c.PassHead != "" {
		c.Head = c.PassHead
	}
	c.Pre = c.PassPre
	c.restart()
}
