package githubsandbox

import (
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
		pg := s.paginate(w, r, len(list))
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
		pg := s.paginate(w, r, len(list))
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
		pg := s.paginate(w, r, len(list))
		out := make([]obj, 0, pg.end-pg.start)
		for _, c := range list[pg.start:pg.end] {
			out = append(out, commitJSON(rp, c))
		}
		return http.StatusOK, out
	})
}
