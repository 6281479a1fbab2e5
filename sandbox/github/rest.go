package githubsandbox

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, sess *session) {
	s.mu.Lock()
	u := s.ensureUserLocked(sess.login)
	n := 0
	for _, rp := range s.repos {
		if rp.Owner == u {
			n++
		}
	}
	body := privateUserJSON(u, n)
	s.mu.Unlock()
	s.respond(w, r, sess, http.StatusOK, body)
}

func (s *Server) getRateLimit(w http.ResponseWriter, r *http.Request, sess *session) {
	remaining, reset := s.rateState(sess, false)
	core := obj{"limit": s.rateLimit(), "remaining": remaining, "reset": reset.Unix(), "used": s.rateLimit() - remaining, "resource": "core"}
	// GET /rate_limit does not count against the limit.
	s.rateHeaders(w, sess, false)
	sandbox.WriteJSON(w, http.StatusOK, obj{"resources": obj{"core": core}, "rate": core})
}

// apiMessage is an error answer with its own documentation URL.
type apiMessage struct{ message, doc string }

// withRepo resolves {owner}/{repo} under the lock and runs fn, or answers 404.
// fn answers a body, or a message (string, apiMessage) with an error status.
func (s *Server) withRepo(w http.ResponseWriter, r *http.Request, sess *session, fn func(rp *repo) (int, any)) {
	s.mu.Lock()
	rp := s.repoLocked(r.PathValue("owner"), r.PathValue("repo"))
	if rp == nil || !s.canReadLocked(sess, rp) {
		s.mu.Unlock()
		s.apiError(w, sess, http.StatusNotFound, "Not Found")
		return
	}
	status, body := fn(rp)
	s.mu.Unlock()
	if msg, ok := body.(string); ok {
		s.apiError(w, sess, status, msg)
		return
	}
	if m, ok := body.(apiMessage); ok {
		s.rateHeaders(w, sess, true)
		writeGitHubError(w, status, m.message, m.doc)
		return
	}
	if status == http.StatusNoContent {
		s.noContent(w, sess)
		return
	}
	s.respond(w, r, sess, status, body)
}

func (s *Server) getRepo(w http.ResponseWriter, r *http.Request, sess *session) {
	s.withRepo(w, r, sess, func(rp *repo) (int, any) {
		o := repoJSON(rp, repoFull)
		// What the caller may do: administer it (its owner, an owner of
		// its organization, a collaborator made admin) or read it
		// (collaborators are read-only here).
		admin := s.isAdminLocked(sess, rp)
		o["permissions"] = obj{"admin": admin, "maintain": admin, "push": admin, "triage": admin, "pull": true}
		return http.StatusOK, o
	})
}

// listPulls serves GET /repos/{o}/{r}/pulls: state (open, closed, all),
// sort (created, updated), direction (default desc for created, asc
// otherwise, as GitHub), base, per_page, page.
func (s *Server) listPulls(w http.ResponseWriter, r *http.Request, sess *session) {
	q := r.URL.Query()
	s.withRepo(w, r, sess, func(rp *repo) (int, any) {
		state := q.Get("state")
		if state == "" {
			state = "open"
		}
		var list []*pull
		for _, p := range rp.pulls {
			if (state == "all" || p.State == state) && (q.Get("base") == "" || q.Get("base") == p.BaseRef) {
				list = append(list, p)
			}
		}
		sortBy := q.Get("sort")
		at := func(p *pull) time.Time {
			if sortBy == "updated" {
				return p.UpdatedAt
			}
			return p.CreatedAt
		}
		desc := q.Get("direction") == "desc" || (q.Get("direction") == "" && (sortBy == "" || sortBy == "created"))
		slices.SortStableFunc(list, func(a, b *pull) int {
			c := at(a).Compare(at(b))
			if c == 0 {
				c = a.Number - b.Number
			}
			if desc {
				return -c
			}
			return c
		})
		pg := s.paginate(w, r, len(list), true)
		if pg.refused != nil {
			return http.StatusUnprocessableEntity, *pg.refused
		}
		out := make([]obj, 0, pg.end-pg.start)
		for _, p := range list[pg.start:pg.end] {
			out = append(out, pullJSON(rp, p, false))
		}
		return http.StatusOK, out
	})
}

func (s *Server) getPull(w http.ResponseWriter, r *http.Request, sess *session) {
	n, _ := pathInt(r, "number")
	s.withRepo(w, r, sess, func(rp *repo) (int, any) {
		p := rp.pull(int(n))
		if p == nil {
			return http.StatusNotFound, "Not Found"
		}
		return http.StatusOK, pullJSON(rp, p, true)
	})
}

// releasesSorted returns releases newest created first, as GitHub lists them.
func releasesSorted(rp *repo) []*release {
	list := slices.Clone(rp.releases)
	slices.SortStableFunc(list, func(a, b *release) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return int(b.ID - a.ID)
	})
	return list
}

// releaseListCap is how many releases GitHub's list serves: a page that
// starts past them is answered 422 "Only the first 1000 results are
// available." (the Link header of the page before still names it).
const releaseListCap = 1000

// listReleases serves GET /repos/{o}/{r}/releases: per_page, page; the
// first releaseListCap releases only.
func (s *Server) listReleases(w http.ResponseWriter, r *http.Request, sess *session) {
	s.withRepo(w, r, sess, func(rp *repo) (int, any) {
		list := releasesSorted(rp)
		pg := s.paginate(w, r, len(list), true)
		if pg.refused != nil {
			return http.StatusUnprocessableEntity, *pg.refused
		}
		if pg.start >= releaseListCap {
			w.Header().Del("Link")
			return http.StatusUnprocessableEntity, apiMessage{"Only the first 1000 results are available.",
				"https://docs.github.com/rest/releases/releases#list-releases"}
		}
		pg.end = min(pg.end, releaseListCap)
		out := make([]obj, 0, pg.end-pg.start)
		for _, rel := range list[pg.start:pg.end] {
			out = append(out, releaseJSON(rp, rel))
		}
		return http.StatusOK, out
	})
}

func (s *Server) getRelease(w http.ResponseWriter, r *http.Request, sess *session) {
	id, _ := pathInt(r, "id")
	s.withRepo(w, r, sess, func(rp *repo) (int, any) {
		rel := rp.release(id)
		if rel == nil {
			return http.StatusNotFound, "Not Found"
		}
		return http.StatusOK, releaseJSON(rp, rel)
	})
}

// listCommits serves GET /repos/{o}/{r}/commits: sha (branch or commit,
// default branch when absent), since and until (ISO 8601, inclusive, on the
// committer date), per_page, page; newest first.
func (s *Server) listCommits(w http.ResponseWriter, r *http.Request, sess *session) {
	q := r.URL.Query()
	var since, until time.Time
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &since}, {"until", &until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				s.validationFailed(w, sess, "Commit", p.name, "invalid", "")
				return
			}
			*p.dst = t
		}
	}
	s.withRepo(w, r, sess, func(rp *repo) (int, any) {
		if len(rp.branches) == 0 {
			return http.StatusConflict, "Git Repository is empty."
		}
		ref := q.Get("sha")
		if ref == "" {
			ref = rp.DefaultBranch
		}
		hist, ok := rp.history(strings.TrimPrefix(ref, "refs/heads/"))
		if !ok {
			return http.StatusNotFound, "No commit found for SHA: " + ref
		}
		var list []*commit
		for i := len(hist) - 1; i >= 0; i-- {
			c := hist[i]
			if (since.IsZero() || !c.Date.Before(since)) && (until.IsZero() || !c.Date.After(until)) {
				list = append(list, c)
			}
		}
		pg := s.paginate(w, r, len(list), true)
		if pg.refused != nil {
			return http.StatusUnprocessableEntity, *pg.refused
		}
		out := make([]obj, 0, pg.end-pg.start)
		for _, c := range list[pg.start:pg.end] {
			out = append(out, commitJSON(rp, c))
		}
		return http.StatusOK, out
	})
}

// getRef serves GET /repos/{o}/{r}/git/ref/{ref}: a branch,
// heads/<branch>, exactly (the singular route matches no prefix), with
// its head commit; 404 for an unknown ref (tags are not kept as refs
// here), 409 "Git Repository is empty." for a repository without commits,
// as GitHub's Git database API answers one. Conditional as any GET: the
// ETag changes with the head.
func (s *Server) getRef(w http.ResponseWriter, r *http.Request, sess *session) {
	const doc = "https://docs.github.com/rest/git/refs#get-a-reference"
	ref := r.PathValue("ref")
	s.withRepo(w, r, sess, func(rp *repo) (int, any) {
		if len(rp.branches) == 0 {
			return http.StatusConflict, apiMessage{"Git Repository is empty.", doc}
		}
		branch, ok := strings.CutPrefix(ref, "heads/")
		c := rp.head(branch)
		if !ok || c == nil {
			return http.StatusNotFound, apiMessage{"Not Found", doc}
		}
		api := apiBase + "/repos/" + rp.FullName()
		return http.StatusOK, obj{
			"ref": "refs/" + ref, "node_id": nodeID("Ref", fmt.Sprintf("%d:refs/%s", rp.ID, ref)),
			"url":    api + "/git/refs/" + ref,
			"object": obj{"sha": c.SHA, "type": "commit", "url": api + "/git/commits/" + c.SHA},
		}
	})
}

// compareUnpaged is how many commits a comparison read without per_page
// or page lists: the newest 250.
const compareUnpaged = 250

// compare serves GET /repos/{o}/{r}/compare/{base}...{head}, each a
// branch or a commit sha (one no branch holds any more too, as GitHub
// keeps them; see repo.dropped): commits reachable from head and not
// from base, oldest first, as git log base..head in chronological order;
// status identical, ahead, behind or diverged; ahead_by, behind_by,
// total_commits, base_commit, merge_base_commit. With per_page or page
// the commits are paged (Link), files on the first page only; without,
// the newest 250. 404 for an unknown commit or no common ancestor.
func (s *Server) compare(w http.ResponseWriter, r *http.Request, sess *session) {
	const doc = "https://docs.github.com/rest/commits/commits#compare-two-commits"
	q := r.URL.Query()
	base, head, ok := strings.Cut(r.PathValue("basehead"), "...")
	if !ok {
		s.apiError(w, sess, http.StatusNotFound, "Not Found")
		return
	}
	s.withRepo(w, r, sess, func(rp *repo) (int, any) {
		bh, okb := rp.history(base)
		hh, okh := rp.history(head)
		if !okb || !okh || len(bh) == 0 || len(hh) == 0 {
			return http.StatusNotFound, apiMessage{"Not Found", doc}
		}
		inBase, inHead := map[string]bool{}, map[string]bool{}
		for _, c := range bh {
			inBase[c.SHA] = true
		}
		for _, c := range hh {
			inHead[c.SHA] = true
		}
		var ahead []*commit
		var mergeBase *commit
		for _, c := range hh {
			if inBase[c.SHA] {
				mergeBase = c
			} else {
				ahead = append(ahead, c)
			}
		}
		if mergeBase == nil {
			return http.StatusNotFound, apiMessage{"No common ancestor between " + base + " and " + head + ".", doc}
		}
		behind := 0
		for _, c := range bh {
			if !inHead[c.SHA] {
				behind++
			}
		}
		status := "diverged"
		switch {
		case len(ahead) == 0 && behind == 0:
			status = "identical"
		case behind == 0:
			status = "ahead"
		case len(ahead) == 0:
			status = "behind"
		}
		list, first := ahead, true
		if q.Has("per_page") || q.Has("page") {
			// GitHub pages a comparison by page number only.
			pg := s.paginate(w, r, len(ahead), false)
			list, first = ahead[pg.start:pg.end], pg.start == 0
		} else if len(ahead) > compareUnpaged {
			list = ahead[len(ahead)-compareUnpaged:]
		}
		commits := make([]obj, 0, len(list))
		for _, c := range list {
			commits = append(commits, commitJSON(rp, c))
		}
		web := webBase + "/" + rp.FullName() + "/compare/" + base + "..." + head
		o := obj{
			"url": apiBase + "/repos/" + rp.FullName() + "/compare/" + base + "..." + head, "html_url": web,
			"permalink_url": web, "diff_url": web + ".diff", "patch_url": web + ".patch",
			"base_commit": commitJSON(rp, bh[len(bh)-1]), "merge_base_commit": commitJSON(rp, mergeBase),
			"status": status, "ahead_by": len(ahead), "behind_by": behind, "total_commits": len(ahead),
			"commits": commits,
		}
		if first {
			files := []obj{}
			seen := map[string]bool{}
			for _, c := range ahead {
				for _, f := range c.Modified {
					if !seen[f] {
						seen[f] = true
						files = append(files, obj{"filename": f, "status": "modified"})
					}
				}
			}
			o["files"] = files
		}
		return http.StatusOK, o
	})
}
