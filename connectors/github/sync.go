package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	gh "github.com/google/go-github/v89/github"

	"github.com/poblysh/poblysh/connectors"
)

// FetchPage reads one page of a stream (pulls:, releases: or commits:
// <owner>/<name>) from its cursor and returns the page's Signals and the
// cursor to store with them; see cursor for the format.
func (c *Connector) FetchPage(ctx context.Context, req connectors.PageRequest) (*connectors.Page, error) {
	kind, owner, name, err := parseStream(req.Stream)
	if err != nil {
		return nil, err
	}
	cur, err := decodeCursor(req.Cursor)
	if err != nil {
		return nil, err
	}
	cur = cur.follow(provedRepo(req.Resource))
	client, err := c.client(req.HTTP)
	if err != nil {
		return nil, err
	}
	// A pass keeps the page size it started with: page numbers depend on it.
	perPage := cur.PerPage
	if cur.starting() || perPage <= 0 {
		perPage = c.pageSize
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	r := &reader{Connector: c, gh: client, owner: owner, name: name, cur: cur, perPage: perPage, now: now.UTC()}
	var page *connectors.Page
	switch kind {
	case streamPulls:
		page, err = r.pulls(ctx)
	case streamReleases:
		page, err = r.releases(ctx)
	default:
		page, err = r.commits(ctx)
	}
	if err != nil {
		return nil, err
	}
	if page.Next, err = cur.encode(); err != nil {
		return nil, err
	}
	if cur.RepoID != 0 && cur.RepoName != "" {
		// The repository as GitHub names it now, read by its id: after a
		// rename or a transfer the engine records the new name.
		page.Resource = &connectors.Resource{Ref: r.full(), ID: strconv.FormatInt(cur.RepoID, 10),
			Name: cur.RepoName, RouteKeys: []string{repoRouteKey(cur.RepoID)}}
	}
	return page, nil
}

// reader reads one page of one stream.
type reader struct {
	*Connector
	gh          *gh.Client
	owner, name string
	cur         *cursor
	perPage     int
	now         time.Time
}

func (r *reader) full() string { return r.owner + "/" + r.name }

// listPage is one page of a REST list.
type listPage struct {
	items []json.RawMessage
	// next is the query of the next page as the answer linked it
	// (nextLink), "" on the last page.
	next        string
	etag        string
	notModified bool // 304: the If-None-Match validator still holds
	// settled: items stamped before it cannot change any more without a
	// later stamp (see settledBefore).
	settled time.Time
}

// list reads the page of a REST list the cursor is at, with If-None-Match
// when etag is set: the first page, or the one the page before linked
// (cursor.Link; a cursor stored before links were kept names a page
// number). go-github reports a 304 as an error; it is "nothing new" here.
func (r *reader) list(ctx context.Context, path string, base url.Values, etag string) (*listPage, error) {
	for {
		q, err := pageQuery(base, r.perPage, r.cur.Link, r.cur.Page)
		if err != nil {
			return nil, fmt.Errorf("github: %w: cursor: %v", connectors.ErrCursorExpired, err)
		}
		req, err := r.gh.NewRequest(ctx, http.MethodGet, path+"?"+q.Encode(), nil)
		if err != nil {
			return nil, fmt.Errorf("github: build request: %w", err)
		}
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		var items []json.RawMessage
		sent := time.Now()
		resp, err := r.gh.Do(req, &items)
		switch {
		case resp != nil && resp.StatusCode == http.StatusNotModified:
			return &listPage{notModified: true}, nil
		case resp != nil && resp.StatusCode == http.StatusConflict:
			// Only the commits list gets here (see ClassifyResponse): 409 "Git
			// Repository is empty" is an empty, final page.
			return &listPage{}, nil
		case resp != nil && resp.StatusCode == http.StatusUnprocessableEntity && pageNumberRefused(err):
			// A page number GitHub serves by cursor only (see
			// ClassifyResponse). Only a page number the connector named
			// itself (a cursor stored before links were kept) gets here
			// rightly: the pass reads the list again from its first page,
			// following its links to the cursor pages. What it reads again
			// is stored once (dedupe keys); the pass's marks only grow.
			if r.cur.Link != "" || r.cur.Page <= 1 {
				return nil, fmt.Errorf("github: %w: GitHub refused the page number its own link named (%s)", connectors.ErrTransient, q.Get("page"))
			}
			r.cur.Page, r.cur.Link = 1, ""
			continue
		case resp != nil && resp.StatusCode == http.StatusUnprocessableEntity:
			// Only "Only the first 1000 results are available." gets here (see
			// ClassifyResponse): a page past what GitHub serves of the list
			// (releases: the first 1000), though the page before linked to it.
			// An empty, final page: the pass ends with what it read.
			return &listPage{}, nil
		case err != nil:
			return nil, mapErr(err)
		}
		return &listPage{items: items, next: nextLink(resp.Header), etag: resp.Header.Get("ETag"),
			settled: settledBefore(resp.Header.Get("Date"), time.Since(sent), r.now)}, nil
	}
}

// pageNumberRefused reports whether err is GitHub's 422 to a page number
// on a list it serves by cursor only past a point (pageParamMessage).
func pageNumberRefused(err error) bool {
	var er *gh.ErrorResponse
	return errors.As(err, &er) && strings.Contains(er.Message, string(pageParamMessage))
}

// settledBefore is the second before which an item of a page could not
// change without GitHub stamping it anew. GitHub's timestamps are whole
// seconds: an item read in second T and changed later in T keeps the
// stamp T, so the page's items of T (and later) are read again by the
// next pass. The page was read after the request was sent: no earlier than
// its Date (GitHub's clock, to the second) less the time the call took.
// Without a Date, the engine's clock when the page began, less a second.
func settledBefore(date string, took time.Duration, now time.Time) time.Time {
	if d, err := http.ParseTime(date); err == nil {
		return d.Add(-took).UTC().Truncate(time.Second)
	}
	return now.UTC().Truncate(time.Second).Add(-time.Second)
}

// startETag is the validator to send on the first page of a pass: only for
// incremental passes (a backfill must read everything).
func (r *reader) startETag() string {
	if r.cur.starting() && r.cur.Since != nil {
		return r.cur.ETag
	}
	return ""
}

// advance stores the page's position: next page, or the end of the pass.
func (r *reader) advance(lp *listPage, stop bool, sigs []connectors.Signal) *connectors.Page {
	if r.cur.starting() {
		r.cur.PassETag = lp.etag
	}
	done := stop || lp.next == ""
	if done {
		r.cur.finish()
	} else {
		r.cur.next(lp.next, r.perPage)
	}
	return &connectors.Page{Signals: sigs, Items: len(lp.items), Done: done}
}

// provedRepo is the id of the repository the connection proved for the
// stream, 0 when it holds none.
func provedRepo(res *connectors.Resource) int64 {
	if res == nil {
		return 0
	}
	id, err := strconv.ParseInt(res.ID, 10, 64)
	if err != nil || id <= 0 {
		return 0
	}
	return id
}

// ensureRepo caches the repository's id, full name and default branch in
// the cursor: once, or at the start of every pass when refresh is set (a
// conditional request, free when nothing changed). A known repository is
// read by its id (GET /repositories/{id}), which a rename or a transfer
// keeps: the answer carries its new full name. Only a stream that knows no
// id reads the config's name; never again after: a new repository that
// takes a renamed one's old name is another repository (GitHub then stops
// redirecting the old name to the renamed one).
func (r *reader) ensureRepo(ctx context.Context, refresh bool) error {
	if r.cur.RepoID != 0 && r.cur.RepoName != "" && !(refresh && r.cur.starting()) {
		return nil
	}
	return r.readRepo(ctx)
}

// readRepo reads the repository's facts into the cursor (see ensureRepo),
// conditionally when the cursor holds them already.
func (r *reader) readRepo(ctx context.Context) error {
	path := "repos/" + url.PathEscape(r.owner) + "/" + url.PathEscape(r.name)
	if r.cur.RepoID != 0 {
		path = "repositories/" + strconv.FormatInt(r.cur.RepoID, 10)
	}
	req, err := r.gh.NewRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return fmt.Errorf("github: build request: %w", err)
	}
	if r.cur.RepoID != 0 && r.cur.RepoName != "" && r.cur.RepoETag != "" {
		req.Header.Set("If-None-Match", r.cur.RepoETag)
	}
	var repo gh.Repository
	resp, err := r.gh.Do(req, &repo)
	if resp != nil && resp.StatusCode == http.StatusNotModified {
		return nil
	}
	if err != nil {
		return fmt.Errorf("github: get repository %s: %w", r.full(), mapErr(err))
	}
	if r.cur.RepoID != 0 && repo.GetID() != r.cur.RepoID {
		return fmt.Errorf("github: get repository %s: %w: asked for id %d, got %d", r.full(), connectors.ErrTransient, r.cur.RepoID, repo.GetID())
	}
	r.cur.RepoID, r.cur.RepoName = repo.GetID(), cmpOr(repo.GetFullName(), r.full())
	r.cur.Branch, r.cur.RepoETag = repo.GetDefaultBranch(), resp.Header.Get("ETag")
	return nil
}

// repoPath is a path under the repository as GitHub names it now (read by
// its id in ensureRepo), not under the config's name, which may now name
// another repository.
func (r *reader) repoPath(suffix string) string {
	owner, name := r.owner, r.name
	if o, n, ok := cutRepo(r.cur.RepoName); ok {
		owner, name = o, n
	}
	return "repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name) + "/" + suffix
}

// pulls reads GET /repos/{o}/{r}/pulls?state=all&sort=updated&direction=desc.
// A pass stops at the first pull request updated before the high-water mark.
func (r *reader) pulls(ctx context.Context) (*connectors.Page, error) {
	if err := r.ensureRepo(ctx, true); err != nil {
		return nil, err
	}
	q := url.Values{"state": {"all"}, "sort": {"updated"}, "direction": {"desc"}}
	lp, err := r.list(ctx, r.repoPath("pulls"), q, r.startETag())
	if err != nil {
		return nil, fmt.Errorf("github: list pulls of %s: %w", r.full(), err)
	}
	if lp.notModified {
		return &connectors.Page{Done: true}, nil
	}
	var sigs []connectors.Signal
	stop := false
	for _, raw := range lp.items {
		var pr gh.PullRequest
		if err := json.Unmarshal(raw, &pr); err != nil {
			return nil, fmt.Errorf("github: list pulls of %s: %w: decode: %v", r.full(), connectors.ErrTransient, err)
		}
		t, id := pr.GetUpdatedAt().UTC(), strconv.FormatInt(pr.GetID(), 10)
		if r.cur.Since != nil && t.Before(*r.cur.Since) {
			stop = true
			break
		}
		if t.Before(lp.settled) {
			// Only settled items are covered by the mark: one stamped in
			// the second the page was read may still change (a merge)
			// without a new updated_at, and is read again next pass.
			r.cur.observe(t, id)
		}
		if !r.cur.old(t, id) {
			sigs = append(sigs, pullSignals(&pr, raw)...)
		}
	}
	return r.advance(lp, stop, sigs), nil
}

// releases reads GET /repos/{o}/{r}/releases, every page of every pass:
// GitHub orders releases by the date of their tag's commit, not by
// publication, so a draft published today can sit on any page. Only
// releases published after the high-water mark yield Signals, and
// pre-releases of the last pass that are now full releases (promotions).
// The first page's ETag makes an unchanged list cost one free 304, but only
// while that page was the whole list (fewer releases than a page): with
// more, a release published or promoted on a later page leaves the first
// page, and its ETag, as they were, and a 304 skipped the pass.
func (r *reader) releases(ctx context.Context) (*connectors.Page, error) {
	if err := r.ensureRepo(ctx, true); err != nil {
		return nil, err
	}
	lp, err := r.list(ctx, r.repoPath("releases"), url.Values{}, r.startETag())
	if err != nil {
		return nil, fmt.Errorf("github: list releases of %s: %w", r.full(), err)
	}
	if lp.notModified {
		return &connectors.Page{Done: true}, nil
	}
	r.cur.begin(r.now)
	repo := repoRef{ID: r.cur.RepoID, FullName: r.cur.RepoName}
	var sigs []connectors.Signal
	for _, raw := range lp.items {
		var rel gh.RepositoryRelease
		if err := json.Unmarshal(raw, &rel); err != nil {
			return nil, fmt.Errorf("github: list releases of %s: %w: decode: %v", r.full(), connectors.ErrTransient, err)
		}
		if rel.GetDraft() || rel.PublishedAt == nil {
			continue
		}
		t, id := rel.GetPublishedAt().UTC(), strconv.FormatInt(rel.GetID(), 10)
		r.cur.observe(t, id)
		// published_at does not move when a pre-release is promoted: the
		// pre-releases of the last pass are remembered, and one that is now
		// a full release is a promotion, whatever its date.
		promoted := false
		if rel.GetPrerelease() {
			r.cur.prerelease(id)
		} else {
			promoted = slices.Contains(r.cur.Pre, id)
		}
		if r.cur.old(t, id) && !promoted {
			continue
		}
		if s, ok := releaseSignal(&rel, repo, raw, promoted); ok {
			sigs = append(sigs, s)
		}
	}
	starting := r.cur.starting()
	page := r.advance(lp, false, sigs)
	if starting && (lp.next != "" || len(lp.items) >= r.perPage) {
		r.cur.ETag, r.cur.PassETag = "", "" // the first page is not the list
	}
	return page, nil
}

// commitLookback is how far before the mark a dated listing of the
// default branch begins (see listCommits): a commit reaches the branch
// after its committer dated it (pushed days later, a clock behind), and
// what the lookback reads again is stored once, by its HEAD key.
const commitLookback = 7 * 24 * time.Hour

// defaultCompareLimit is the most commits a pass reads by comparison
// (Connector.compareLimit): a larger one (the default branch switched to
// an unrelated branch, a history imported whole) is read as a dated
// listing instead.
const defaultCompareLimit = 5000

// commits reads the commits that reached the default branch since the last
// pass. A pass begins by reading the branch's head (GET …/git/ref/heads/
// <branch>, conditional on the last pass's: an unchanged branch is a free
// 304 and the pass ends there) and reads that commit's history, pinned,
// whatever the branch does meanwhile:
//
//   - after a pass that read a head (cursor.Head): GET …/compare/
//     {Head}...{head}, every commit reachable from the new head and not
//     from the old one, whatever its committer date (a commit made Monday
//     and fast-forwarded Wednesday, a committer clock behind another's);
//   - otherwise (a backfill, a cursor of an earlier version), or when the
//     comparison cannot serve (the old head gone: 404; more than
//     Connector.compareLimit commits; GitHub failing to build it): GET …/commits?
//     sha=<head>&since=<mark less commitLookback>, all of it on a backfill.
//
// The default branch is re-resolved at the start of every pass (see
// branchHead). Every commit read is yielded: what a pass reads again is
// stored once, by its HEAD key (see commitSignal). The mark (committer
// dates, for the dated listing) is bounded by now: a commit dated in the
// future (a committer's clock) does not raise it.
func (r *reader) commits(ctx context.Context) (*connectors.Page, error) {
	if !r.cur.starting() && r.cur.PassHead == "" {
		// A pass an earlier version began, by the branch's name and
		// since= the mark: begun again, pinned.
		r.cur.restart()
		r.perPage = r.pageSize
	}
	if err := r.ensureRepo(ctx, true); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if r.cur.starting() {
			if done, err := r.beginCommits(ctx); err != nil || done != nil {
				return done, err
			}
		}
		var lp *listPage
		var retry bool
		var err error
		if r.cur.PassBase != "" {
			lp, retry, err = r.compareCommits(ctx)
		} else {
			lp, retry, err = r.listCommits(ctx)
		}
		if err != nil {
			return nil, err
		}
		if retry {
			if attempt > 0 {
				return nil, fmt.Errorf("github: read commits of %s@%s: %w: the pass's head %s is gone again", r.full(), r.cur.Branch, connectors.ErrTransient, short(r.cur.PassHead))
			}
			r.cur.restart()
			r.perPage = r.pageSize
			continue
		}
		return r.commitsPage(lp)
	}
}

// beginCommits begins a commits pass: reads the default branch's head
// and pins the pass to it, comparing from the last pass's head when there
// is one. It returns the pass's final page when there is nothing to read:
// the branch unchanged (304), the same head under another validator (a
// renamed branch), an empty repository.
func (r *reader) beginCommits(ctx context.Context) (*connectors.Page, error) {
	head, etag, state, err := r.branchHead(ctx)
	switch {
	case err != nil:
		return nil, err
	case state == headUnchanged:
		return &connectors.Page{Done: true}, nil
	case state == headNone:
		r.cur.finish()
		return &connectors.Page{Done: true}, nil
	}
	r.cur.PassHead, r.cur.PassETag, r.cur.PassBase = head, etag, r.cur.Head
	if head == r.cur.Head {
		r.cur.finish()
		return &connectors.Page{Done: true}, nil
	}
	return nil, nil
}

// headState is what branchHead read.
type headState int

const (
	headRead      headState = iota // a head sha and its validator
	headUnchanged                  // 304: where the last pass left it
	headNone                       // 409: an empty repository, no head
)

// branchHead reads the default branch's head sha: GET …/git/ref/heads/
// <branch>, with If-None-Match the last pass's validator when it read a
// head (a 304 is free). An empty repository answers 409 "Git Repository is
// empty.", as GitHub's Git database API does. A 404 is a branch that is
// gone: the default branch renamed (or switched, the old one deleted)
// since the repository was read. The repository, read again by its id,
// then names the branch to read. Only when the repository itself cannot be
// read is the 404 the repository's (access lost); one that still names the
// same branch is a transient answer, retried.
func (r *reader) branchHead(ctx context.Context) (string, string, headState, error) {
	for attempt := 0; ; attempt++ {
		var segs []string
		for _, s := range strings.Split(r.cur.Branch, "/") {
			segs = append(segs, url.PathEscape(s))
		}
		req, err := r.gh.NewRequest(ctx, http.MethodGet, r.repoPath("git/ref/heads/"+strings.Join(segs, "/")), nil)
		if err != nil {
			return "", "", headNone, fmt.Errorf("github: build request: %w", err)
		}
		if r.cur.Head != "" && r.cur.ETag != "" {
			req.Header.Set("If-None-Match", r.cur.ETag)
		}
		var ref struct {
			Object struct {
				SHA string `json:"sha"`
			} `json:"object"`
		}
		resp, err := r.gh.Do(req, &ref)
		switch {
		case resp != nil && resp.StatusCode == http.StatusNotModified:
			return "", "", headUnchanged, nil
		case resp != nil && resp.StatusCode == http.StatusConflict:
			return "", "", headNone, nil
		case err == nil && ref.Object.SHA == "":
			return "", "", headNone, fmt.Errorf("github: read the head of %s@%s: %w: no sha", r.full(), r.cur.Branch, connectors.ErrTransient)
		case err == nil:
			return ref.Object.SHA, resp.Header.Get("ETag"), headRead, nil
		}
		err = fmt.Errorf("github: read the head of %s@%s: %w", r.full(), r.cur.Branch, mapErr(err))
		if !errors.Is(err, connectors.ErrNotFound) {
			return "", "", headNone, err
		}
		branch := r.cur.Branch
		if rerr := r.readRepo(ctx); rerr != nil {
			return "", "", headNone, rerr
		}
		if r.cur.Branch == branch || attempt > 0 {
			return "", "", headNone, fmt.Errorf("%w: %v (the repository still reads, default branch %s)", connectors.ErrTransient, err, r.cur.Branch)
		}
	}
}

// compareCommits reads the page of GET …/compare/{PassBase}...{PassHead}
// the cursor is at: the commits reachable from the pass's head and not
// from the last pass's, oldest first. retry asks for the pass to begin
// again as a dated listing (Head forgotten) when the comparison cannot
// serve: the old head is gone (404: a force push's rewound commits, once
// GitHub collected them), GitHub could not build it (406, 422, 5xx: "this
// diff is taking too long to generate"), or it holds more than
// Connector.compareLimit commits.
func (r *reader) compareCommits(ctx context.Context) (*listPage, bool, error) {
	path := r.repoPath("compare/" + url.PathEscape(r.cur.PassBase) + "..." + url.PathEscape(r.cur.PassHead))
	page := max(r.cur.Page, 1)
	q, err := pageQuery(nil, r.perPage, r.cur.Link, page)
	if err != nil {
		return nil, false, fmt.Errorf("github: %w: cursor: %v", connectors.ErrCursorExpired, err)
	}
	req, err := r.gh.NewRequest(ctx, http.MethodGet, path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, false, fmt.Errorf("github: build request: %w", err)
	}
	var cmp struct {
		Status       string            `json:"status"`
		TotalCommits int               `json:"total_commits"`
		Commits      []json.RawMessage `json:"commits"`
	}
	resp, err := r.gh.Do(req, &cmp)
	if err != nil {
		if resp == nil || !compareFallsBack(resp.Response) {
			return nil, false, fmt.Errorf("github: compare commits of %s: %w", r.full(), mapErr(err))
		}
		if resp.StatusCode == http.StatusNotFound {
			// The old head gone, or the repository: only a repository
			// that still reads is the former.
			if rerr := r.readRepo(ctx); rerr != nil {
				return nil, false, rerr
			}
		}
		r.cur.Head = ""
		return nil, true, nil
	}
	if page == 1 && cmp.TotalCommits > r.compareLimit {
		r.cur.Head = ""
		return nil, true, nil
	}
	next := nextLink(resp.Header)
	if next == "" && page*r.perPage < cmp.TotalCommits && len(cmp.Commits) > 0 {
		// A comparison pages by number (page, per_page), and total_commits
		// says more follow though no link names them.
		next = url.Values{"page": {strconv.Itoa(page + 1)}}.Encode()
	}
	return &listPage{items: cmp.Commits, next: next}, false, nil
}

// compareFallsBack reports whether a compare answer means the comparison
// cannot serve (see compareCommits); ClassifyResponse passes these through.
func compareFallsBack(resp *http.Response) bool {
	switch code := resp.StatusCode; {
	case code == http.StatusNotFound, code == http.StatusNotAcceptable, code == http.StatusUnprocessableEntity:
		return true
	case code >= 500:
		return resp.Header.Get("Retry-After") == ""
	}
	return false
}

// listCommits reads the page of GET …/commits?sha=<PassHead> the cursor is
// at, since the mark less commitLookback (all of it on a backfill). A 404
// is the pinned commit gone (GitHub collected it after a force push) or
// the repository: the pass begins again at the branch's head when the
// repository still reads (retry). A 409 "Git Repository is empty" is an
// empty, final page (see list).
func (r *reader) listCommits(ctx context.Context) (*listPage, bool, error) {
	q := url.Values{"sha": {r.cur.PassHead}}
	if r.cur.Since != nil {
		q.Set("since", r.cur.Since.Add(-commitLookback).UTC().Format("2006-01-02T15:04:05Z"))
	}
	lp, err := r.list(ctx, r.repoPath("commits"), q, "")
	if err == nil {
		return lp, false, nil
	}
	err = fmt.Errorf("github: list commits of %s@%s: %w", r.full(), short(r.cur.PassHead), err)
	if !errors.Is(err, connectors.ErrNotFound) {
		return nil, false, err
	}
	if rerr := r.readRepo(ctx); rerr != nil {
		return nil, false, rerr
	}
	return nil, true, nil
}

// commitsPage yields every commit of a page of the pass (see commits).
func (r *reader) commitsPage(lp *listPage) (*connectors.Page, error) {
	repo := repoRef{ID: r.cur.RepoID, FullName: r.cur.RepoName}
	var sigs []connectors.Signal
	for _, raw := range lp.items {
		var c gh.RepositoryCommit
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("github: read commits of %s: %w: decode: %v", r.full(), connectors.ErrTransient, err)
		}
		if t := commitTime(&c); !t.After(r.now) {
			// A committer clock ahead of ours never raises the mark past
			// now, or the dated listing would hide every commit until then.
			r.cur.observe(t, c.GetSHA())
		}
		sigs = append(sigs, commitSignal(&c, repo, r.cur.Branch, raw))
	}
	// The pass's validator is the ref's (beginCommits), not a page's.
	lp.etag = r.cur.PassETag
	return r.advance(lp, false, sigs), nil
}
