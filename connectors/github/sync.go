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
	items       []json.RawMessage
	next        int // next page number, 0 on the last page
	etag        string
	notModified bool // 304: the If-None-Match validator still holds
	// settled: items stamped before it cannot change any more without a
	// later stamp (see settledBefore).
	settled time.Time
}

// list reads one page of a REST list, with If-None-Match when etag is set.
// go-github reports a 304 as an error; it is "nothing new" here.
func (r *reader) list(ctx context.Context, path string, q url.Values, etag string) (*listPage, error) {
	q.Set("per_page", strconv.Itoa(r.perPage))
	q.Set("page", strconv.Itoa(max(r.cur.Page, 1)))
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
	case resp != nil && resp.StatusCode == http.StatusUnprocessableEntity:
		// Only "Only the first 1000 results are available." gets here (see
		// ClassifyResponse): a page past what GitHub serves of the list
		// (releases: the first 1000), though the page before linked to it.
		// An empty, final page: the pass ends with what it read.
		return &listPage{}, nil
	case err != nil:
		return nil, mapErr(err)
	}
	return &listPage{items: items, next: resp.NextPage, etag: resp.Header.Get("ETag"),
		settled: settledBefore(resp.Header.Get("Date"), time.Since(sent), r.now)}, nil
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
	done := stop || lp.next == 0
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
	if starting && (lp.next != 0 || len(lp.items) >= r.perPage) {
		r.cur.ETag, r.cur.PassETag = "", "" // the first page is not the list
	}
	return page, nil
}

// commits reads GET /repos/{o}/{r}/commits?sha=<default branch>&since=<mark>.
// The default branch is re-resolved at the start of every pass, and when
// the list answers 404 (see listCommits). The mark is bounded by now: a
// commit dated in the future (a committer's clock) is yielded once,
// remembered by sha while it stays ahead, and does not move the mark.
func (r *reader) commits(ctx context.Context) (*connectors.Page, error) {
	if err := r.ensureRepo(ctx, true); err != nil {
		return nil, err
	}
	lp, err := r.listCommits(ctx)
	if err != nil {
		return nil, err
	}
	if lp.notModified {
		return &connectors.Page{Done: true}, nil
	}
	repo := repoRef{ID: r.cur.RepoID, FullName: r.cur.RepoName}
	var sigs []connectors.Signal
	for _, raw := range lp.items {
		var c gh.RepositoryCommit
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("github: list commits of %s: %w: decode: %v", r.full(), connectors.ErrTransient, err)
		}
		t, id := commitTime(&c), c.GetSHA()
		yielded := slices.Contains(r.cur.Ahead, id)
		if t.After(r.now) {
			// A committer clock ahead of ours: the commit is yielded once
			// (by sha) and never raises the mark past now, or since= would
			// hide every commit until that date.
			r.cur.aheadOf(id)
			if !yielded {
				sigs = append(sigs, commitSignal(&c, repo, r.cur.Branch, raw))
			}
			continue
		}
		r.cur.observe(t, id)
		if !r.cur.old(t, id) && !yielded {
			sigs = append(sigs, commitSignal(&c, repo, r.cur.Branch, raw))
		}
	}
	return r.advance(lp, false, sigs), nil
}

// listCommits reads the page of the commits list the cursor is at. GitHub
// answers 404 "No commit found for SHA" for a branch that is gone: the
// default branch renamed (or switched, the old one deleted) since the pass
// began, the cursor still naming the old one. The repository, read again
// by its id, then names the branch to read: the pass starts again on it,
// from its first page, and stays incremental (since= the resting mark;
// what the pass read before is read again, and stored once: see headKey).
// Only when the repository itself cannot be
// read is the 404 the repository's (access lost); one that still names the
// same branch is a transient answer, retried.
func (r *reader) listCommits(ctx context.Context) (*listPage, error) {
	for attempt := 0; ; attempt++ {
		q := url.Values{"sha": {r.cur.Branch}}
		if r.cur.Since != nil {
			q.Set("since", r.cur.Since.UTC().Format("2006-01-02T15:04:05Z"))
		}
		lp, err := r.list(ctx, r.repoPath("commits"), q, r.startETag())
		if err == nil {
			return lp, nil
		}
		err = fmt.Errorf("github: list commits of %s@%s: %w", r.full(), r.cur.Branch, err)
		if !errors.Is(err, connectors.ErrNotFound) {
			return nil, err
		}
		branch := r.cur.Branch
		if rerr := r.readRepo(ctx); rerr != nil {
			return nil, rerr
		}
		if r.cur.Branch == branch || attempt > 0 {
			return nil, fmt.Errorf("%w: %v (the repository still reads, default branch %s)", connectors.ErrTransient, err, r.cur.Branch)
		}
		r.cur.restart()
		r.perPage = r.pageSize
	}
}
