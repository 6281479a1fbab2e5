package githubsandbox

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/poblysh/poblysh/sandbox"
)

// Who can read what, as on GitHub: a public repository is readable by every
// token; a private one only by its owner and its collaborators (GitHub
// answers 404, not 403, so as not to reveal that it exists). GitHub App user
// tokens (Options.AccessTTL > 0) read public repositories, and private ones
// the app is installed on; anything more (hooks) needs the installation:
// 403 "Resource not accessible by integration" elsewhere. GET
// /user/installations and /user/installations/{id}/repositories list what
// the app's installations give the user. A renamed or transferred repository answers its old URL with
// a redirect to /repositories/{id}/…, 301 for GET and HEAD and 307 for other
// methods, and deliveries keep carrying its id.
//
// Control routes:
//
//	POST   /_sandbox/github/users                                     {"login"}
//	POST   /_sandbox/github/repos/{owner}/{repo}/collaborators        {"user", "permission"} ("admin": admin rights; otherwise read)
//	DELETE /_sandbox/github/repos/{owner}/{repo}/collaborators/{user} {"user"} (who removes; sends member removed)
//	POST   /_sandbox/github/repos/{owner}/{repo}/rename               {"name", "owner", "user"} (sends repository transferred/renamed)
//	POST   /_sandbox/github/repos/{owner}/{repo}/installation         {"installed": bool, "user"} (sends installation or installation_repositories to the App)

// canReadLocked reports whether the session may see rp. Called with s.mu held.
// A GitHub App user token reads what both the user and the app can: a
// public repository always (public resources need no installation), a
// private one only where the app is installed. A private repository is
// read by its owner, its collaborators and the owners of the organization
// that owns it (GitHub: organization owners have admin rights on every
// repository the organization owns).
func (s *Server) canReadLocked(sess *session, rp *repo) bool {
	if !rp.Private {
		return true
	}
	if s.opts.AccessTTL > 0 && !rp.AppInstalled {
		return false
	}
	login := strings.ToLower(sess.login)
	return strings.EqualFold(rp.Owner.Login, login) || rp.Collaborators[login] || s.orgOwners[strings.ToLower(rp.Owner.Login)][login]
}

// isAdminLocked reports whether the session's user administers rp: its
// owner, an owner of the organization that owns it, or a collaborator made
// admin (SetAdmin). Called with s.mu held.
func (s *Server) isAdminLocked(sess *session, rp *repo) bool {
	login := strings.ToLower(sess.login)
	return strings.EqualFold(rp.Owner.Login, login) || rp.Admins[login] || s.orgOwners[strings.ToLower(rp.Owner.Login)][login]
}

// AddUser creates a user (a person) if missing.
func (s *Server) AddUser(login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureUserLocked(login)
}

// SetCollaborator grants a user read access to a repository, or removes
// the user's access (admin rights included).
func (s *Server) SetCollaborator(fullName, login string, on bool) error {
	return s.setAccess(fullName, login, func(rp *repo, login string) {
		if on {
			rp.Collaborators[login] = true
		} else {
			delete(rp.Collaborators, login)
			delete(rp.Admins, login)
		}
	})
}

// SetAdmin makes a user a collaborator with admin rights on a repository
// (GitHub's PUT /repos/{o}/{r}/collaborators/{user}, permission admin), or
// takes the admin rights away and leaves read access (on false). Only
// admins may manage a repository's hooks.
func (s *Server) SetAdmin(fullName, login string, on bool) error {
	return s.setAccess(fullName, login, func(rp *repo, login string) {
		rp.Collaborators[login] = true
		if on {
			rp.Admins[login] = true
		} else {
			delete(rp.Admins, login)
		}
	})
}

// setAccess changes a user's access to a repository under the lock: the
// user is created if missing, the repository's access maps exist, and set
// gets the login lower-cased.
func (s *Server) setAccess(fullName, login string, set func(rp *repo, login string)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[strings.ToLower(fullName)]
	if rp == nil {
		return ErrNotFound
	}
	s.ensureUserLocked(login)
	if rp.Collaborators == nil {
		rp.Collaborators = map[string]bool{}
	}
	if rp.Admins == nil {
		rp.Admins = map[string]bool{}
	}
	set(rp, strings.ToLower(login))
	return nil
}

// RemoveCollaborator takes a user's access to a repository away, as an
// admin (sender; the repository's owner by default) does under Settings →
// Collaborators, and returns the event GitHub sends for it: member, action
// removed, naming the member and the repository
// (https://docs.github.com/en/webhooks/webhook-events-and-payloads#member).
// A user who was no collaborator changes nothing and sends nothing.
// SetCollaborator changes access without an event.
func (s *Server) RemoveCollaborator(fullName, login, sender string) (*Activity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[strings.ToLower(fullName)]
	if rp == nil {
		return nil, fmt.Errorf("repository %s: %w", fullName, ErrNotFound)
	}
	by, u := s.ensureUserLocked(cmpOr(sender, rp.Owner.Login)), s.ensureUserLocked(login)
	act := &Activity{Kind: "member", Object: userJSON(u)}
	if !rp.Collaborators[strings.ToLower(login)] {
		return act, nil
	}
	delete(rp.Collaborators, strings.ToLower(login))
	delete(rp.Admins, strings.ToLower(login))
	payload := payloadBase(rp, by)
	payload["action"] = "removed"
	payload["member"] = userJSON(u)
	act.Events = []Event{{Name: "member", Repo: strings.ToLower(rp.FullName()), Payload: payload}}
	return act, nil
}

// SetAppInstalled installs or uninstalls the GitHub App on a repository,
// without an event (InstallApp returns GitHub's).
func (s *Server) SetAppInstalled(fullName string, on bool) error {
	_, err := s.InstallApp(fullName, on, "")
	return err
}

// InstallApp installs or uninstalls the GitHub App on a repository, as
// sender (SeedUser by default) does in the account's settings (a
// selected-repositories installation), and returns the events GitHub
// sends the App for it (app-level only: "installation" and
// "installation_repositories" reach no repository hook): installation
// created, with the repository in repositories, when the account had none
// installed; installation deleted when it was its last (GitHub keeps no
// installation on no repository: uninstalling it is how the last one
// goes); installation_repositories added or removed, with the repository
// in repositories_added or repositories_removed, otherwise
// (https://docs.github.com/en/webhooks/webhook-events-and-payloads#installation_repositories).
// Nothing changes, and nothing is sent, when the app already is as asked.
func (s *Server) InstallApp(fullName string, on bool, sender string) (*Activity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[strings.ToLower(fullName)]
	if rp == nil {
		return nil, fmt.Errorf("repository %s: %w", fullName, ErrNotFound)
	}
	act := &Activity{Kind: "repository", Object: repoJSON(rp, repoFull)}
	if rp.AppInstalled == on {
		return act, nil
	}
	others := 0
	for _, o := range s.repos {
		if o != rp && o.Owner == rp.Owner && o.AppInstalled {
			others++
		}
	}
	rp.AppInstalled = on
	by := s.ensureUserLocked(cmpOr(sender, SeedUser))
	mini := []obj{{"id": rp.ID, "node_id": nodeID("Repository", rp.ID), "name": rp.Name, "full_name": rp.FullName(), "private": rp.Private}}
	p := obj{"installation": installationJSON(rp.Owner), "requester": nil, "sender": userJSON(by)}
	ev := Event{Repo: strings.ToLower(rp.FullName()), Payload: p}
	switch {
	case others == 0:
		ev.Name, p["action"], p["repositories"] = "installation", map[bool]string{true: "created", false: "deleted"}[on], mini
	case on:
		ev.Name, p["action"], p["repository_selection"] = "installation_repositories", "added", "selected"
		p["repositories_added"], p["repositories_removed"] = mini, []obj{}
	default:
		ev.Name, p["action"], p["repository_selection"] = "installation_repositories", "removed", "selected"
		p["repositories_added"], p["repositories_removed"] = []obj{}, mini
	}
	act.Events = []Event{ev}
	return act, nil
}

// Rename renames a repository and/or transfers it to another owner. Its id,
// hooks and history stay; the old name redirects. No event is sent
// (RenameRepo returns GitHub's).
func (s *Server) Rename(fullName, newOwner, newName string) (string, error) {
	act, err := s.RenameRepo(fullName, newOwner, newName, "")
	if err != nil {
		return "", err
	}
	return act.Object["full_name"].(string), nil
}

// RenameRepo renames a repository and/or transfers it to another owner,
// as sender (the repository's owner by default) does in its settings,
// and returns the events GitHub sends for it to the hooks subscribed to
// "repository" and to the GitHub App: repository transferred (changes.
// owner.from names the former owner, as user or organization) when the
// owner changed, repository renamed (changes.repository.name.from) when
// the name did (https://docs.github.com/en/webhooks/webhook-events-and-payloads#repository).
// Its id, hooks and history stay; the old name redirects.
func (s *Server) RenameRepo(fullName, newOwner, newName, sender string) (*Activity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := strings.ToLower(fullName)
	rp := s.repos[old]
	if rp == nil {
		return nil, ErrNotFound
	}
	by := s.ensureUserLocked(cmpOr(sender, rp.Owner.Login))
	fromOwner, fromName := rp.Owner, rp.Name
	owner := rp.Owner
	if newOwner != "" {
		owner = s.ensureUserLocked(newOwner)
	}
	name := cmpOr(newName, rp.Name)
	k := key(owner.Login, name)
	if other := s.repos[k]; other != nil && other != rp {
		return nil, validationError("name already exists on this account")
	}
	delete(s.repos, old)
	rp.Owner, rp.Name, rp.UpdatedAt = owner, name, s.now()
	s.repos[k] = rp
	s.renamed[old] = rp
	delete(s.renamed, k)
	act := &Activity{Kind: "repository", Object: repoJSON(rp, repoFull)}
	if owner != fromOwner {
		p := payloadBase(rp, by)
		p["action"] = "transferred"
		from := obj{"user": userJSON(fromOwner)}
		if fromOwner.Type == "Organization" {
			from = obj{"organization": orgJSON(fromOwner)}
		}
		p["changes"] = obj{"owner": obj{"from": from}}
		act.Events = append(act.Events, Event{Name: "repository", Repo: k, Payload: p})
	}
	if name != fromName {
		p := payloadBase(rp, by)
		p["action"] = "renamed"
		p["changes"] = obj{"repository": obj{"name": obj{"from": fromName}}}
		act.Events = append(act.Events, Event{Name: "repository", Repo: k, Payload: p})
	}
	return act, nil
}

// redirectRenamed answers requests to a renamed repository's old URL the
// way GitHub does, and serves /repositories/{id}/… by the repository's
// current name. It reports whether it handled the request.
func (s *Server) redirectRenamed(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case strings.HasPrefix(r.URL.Path, "/repos/"):
		parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/repos/"), "/", 3)
		if len(parts) < 2 {
			return false
		}
		s.mu.Lock()
		rp := s.renamed[key(parts[0], parts[1])]
		var id int64
		if rp != nil {
			id = rp.ID
		}
		s.mu.Unlock()
		if rp == nil {
			return false
		}
		loc := scheme(r) + "://" + r.Host + "/repositories/" + strconv.FormatInt(id, 10)
		if len(parts) == 3 {
			loc += "/" + parts[2]
		}
		if r.URL.RawQuery != "" {
			loc += "?" + r.URL.RawQuery
		}
		status := http.StatusMovedPermanently
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			status = http.StatusTemporaryRedirect
		}
		w.Header().Set("Location", loc)
		sandbox.WriteJSON(w, status, map[string]string{"message": "Moved Permanently", "url": loc,
			"documentation_url": "https://docs.github.com/rest/guides/best-practices-for-using-the-rest-api#follow-redirects"})
		return true
	case strings.HasPrefix(r.URL.Path, "/repositories/"):
		idPart, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/repositories/"), "/")
		id, err := strconv.ParseInt(idPart, 10, 64)
		if err != nil {
			return false
		}
		s.mu.Lock()
		var full string
		for _, rp := range s.repos {
			if rp.ID == id {
				full = rp.FullName()
			}
		}
		s.mu.Unlock()
		if full == "" {
			writeGitHubError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest")
			return true
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/repos/" + full
		if rest != "" {
			r2.URL.Path += "/" + rest
		}
		r2.URL.RawPath = ""
		r2.RequestURI = ""
		s.handler.ServeHTTP(w, r2)
		return true
	}
	return false
}

func (s *Server) accessControlRoutes(mux *http.ServeMux) {
	const p = "/_sandbox/github/repos/{owner}/{repo}"
	full := func(r *http.Request) string { return r.PathValue("owner") + "/" + r.PathValue("repo") }
	reply := func(w http.ResponseWriter, err error, v any) {
		if err != nil {
			sandbox.WriteJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		sandbox.WriteJSON(w, http.StatusOK, v)
	}
	mux.HandleFunc("POST /_sandbox/github/users", func(w http.ResponseWriter, r *http.Request) {
		var b struct{ Login string }
		if err := decodeControl(r, &b); err != nil || b.Login == "" {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": `body must be {"login": "…"}`})
			return
		}
		s.AddUser(b.Login)
		sandbox.WriteJSON(w, http.StatusOK, map[string]string{"login": b.Login})
	})
	mux.HandleFunc("POST "+p+"/collaborators", func(w http.ResponseWriter, r *http.Request) {
		var b struct{ User, Permission string }
		if err := decodeControl(r, &b); err != nil || b.User == "" {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": `body must be {"user": "…", "permission": "admin"|"pull"}`})
			return
		}
		// GitHub's PUT /repos/{o}/{r}/collaborators/{user} takes permission
		// pull, triage, push, maintain or admin; only admin manages hooks.
		err := s.SetAdmin(full(r), b.User, b.Permission == "admin")
		reply(w, err, map[string]string{"collaborator": b.User, "permission": cmpOr(b.Permission, "pull")})
	})
	mux.HandleFunc("DELETE "+p+"/collaborators/{user}", s.control(func(r *http.Request, b body) (*Activity, error) {
		return s.RemoveCollaborator(full(r), r.PathValue("user"), b.User)
	}))
	mux.HandleFunc("POST "+p+"/installation", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			sandbox.DeliveryOptions
			Installed bool
			User      string
		}
		if err := decodeControl(r, &b); err != nil {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": `body must be {"installed": true|false, "user": "…"}`})
			return
		}
		act, err := s.InstallApp(full(r), b.Installed, b.User)
		if err != nil {
			reply(w, err, nil)
			return
		}
		sandbox.WriteJSON(w, http.StatusOK, map[string]any{"installed": b.Installed, "deliveries": s.emitAll(r.Context(), act, b.DeliveryOptions)})
	})
	mux.HandleFunc("POST "+p+"/rename", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			sandbox.DeliveryOptions
			Name, Owner, User string
		}
		if err := decodeControl(r, &b); err != nil || (b.Name == "" && b.Owner == "") {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": `body must be {"name": "…", "owner": "…", "user": "…"}`})
			return
		}
		act, err := s.RenameRepo(full(r), b.Owner, b.Name, b.User)
		var ve validationError
		switch {
		case errors.As(err, &ve):
			sandbox.WriteJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
			return
		case err != nil:
			reply(w, err, nil)
			return
		}
		sandbox.WriteJSON(w, http.StatusOK, map[string]any{"full_name": act.Object["full_name"], "repository": act.Object,
			"deliveries": s.emitAll(r.Context(), act, b.DeliveryOptions)})
	})
}

// RepoID returns a repository's numeric id (0 when unknown).
func (s *Server) RepoID(fullName string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rp := s.repos[strings.ToLower(fullName)]; rp != nil {
		return rp.ID
	}
	return 0
}

// UserID returns a user's numeric id (0 when unknown).
func (s *Server) UserID(login string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[strings.ToLower(login)]; u != nil {
		return u.ID
	}
	return 0
}

// HookCount returns how many hooks a repository has.
func (s *Server) HookCount(fullName string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rp := s.repos[strings.ToLower(fullName)]; rp != nil {
		return len(rp.hooks)
	}
	return 0
}

// appMayWriteLocked reports whether a GitHub App user token may go beyond
// reading rp (manage its hooks): only where the app is installed. OAuth App
// tokens are governed by scopes instead. Called with s.mu held.
func (s *Server) appMayWriteLocked(rp *repo) bool {
	return s.opts.AccessTTL == 0 || rp.AppInstalled
}

// notAccessibleByIntegration is GitHub's answer to a GitHub App token
// calling beyond its installation.
func (s *Server) notAccessibleByIntegration(w http.ResponseWriter, sess *session) {
	s.rateHeaders(w, sess, true)
	w.Header().Set("X-Accepted-GitHub-Permissions", "repository_hooks=write")
	writeGitHubError(w, http.StatusForbidden, "Resource not accessible by integration",
		"https://docs.github.com/rest/repos/webhooks#create-a-repository-webhook")
}

// installationID is the id of the GitHub App's installation on an account.
func installationID(owner *user) int64 { return 40000000 + owner.ID }

// installationJSON is the GitHub App's installation on an account, as
// GET /user/installations lists it and installation events carry it.
func installationJSON(u *user) obj {
	return obj{
		"id": installationID(u), "account": userJSON(u), "repository_selection": "selected",
		"app_id": 900001, "app_slug": "poblysh-sandbox", "target_id": u.ID, "target_type": u.Type,
		"permissions": obj{"metadata": "read", "contents": "read", "pull_requests": "read", "repository_hooks": "write"},
		"events":      []string{"push", "pull_request", "release"},
		"html_url":    webBase + "/settings/installations/" + strconv.FormatInt(installationID(u), 10),
	}
}

// installedReposLocked lists, per owning account, the repositories the app
// is installed on that the session's user can read. Called with s.mu held.
func (s *Server) installedReposLocked(sess *session) map[*user][]*repo {
	out := map[*user][]*repo{}
	for _, rp := range s.repos {
		if rp.AppInstalled && s.canReadLocked(sess, rp) {
			out[rp.Owner] = append(out[rp.Owner], rp)
		}
	}
	for _, rs := range out {
		slices.SortFunc(rs, func(a, b *repo) int { return strings.Compare(a.FullName(), b.FullName()) })
	}
	return out
}

// listUserInstallations serves GET /user/installations: the app's
// installations the user can reach (user access tokens of a GitHub App
// only), paged (per_page, page).
func (s *Server) listUserInstallations(w http.ResponseWriter, r *http.Request, sess *session) {
	if s.opts.AccessTTL == 0 {
		s.apiError(w, sess, http.StatusForbidden, "You must authenticate with an access token authorized to a GitHub App in order to list installations")
		return
	}
	s.mu.Lock()
	byOwner := s.installedReposLocked(sess)
	owners := make([]*user, 0, len(byOwner))
	for u := range byOwner {
		owners = append(owners, u)
	}
	slices.SortFunc(owners, func(a, b *user) int { return cmpInt(a.ID, b.ID) })
	list := make([]obj, 0, len(owners))
	for _, u := range owners {
		list = append(list, installationJSON(u))
	}
	s.mu.Unlock()
	pg := s.paginate(w, r, len(list), true)
	if pg.refused != nil {
		s.rateHeaders(w, sess, true)
		writeGitHubError(w, http.StatusUnprocessableEntity, pg.refused.message, pg.refused.doc)
		return
	}
	s.respond(w, r, sess, http.StatusOK, obj{"total_count": len(list), "installations": list[pg.start:pg.end]})
}

// listInstallationRepos serves GET /user/installations/{id}/repositories,
// by full name, paged (per_page, page) as GitHub pages it.
func (s *Server) listInstallationRepos(w http.ResponseWriter, r *http.Request, sess *session) {
	id, _ := pathInt(r, "id")
	if s.opts.AccessTTL == 0 {
		s.apiError(w, sess, http.StatusForbidden, "You must authenticate with an access token authorized to a GitHub App in order to list repositories")
		return
	}
	s.mu.Lock()
	var repos []obj
	found := false
	for u, rs := range s.installedReposLocked(sess) {
		if installationID(u) != id {
			continue
		}
		found = true
		for _, rp := range rs {
			repos = append(repos, repoJSON(rp, repoFull))
		}
	}
	s.mu.Unlock()
	if !found {
		s.apiError(w, sess, http.StatusNotFound, "Not Found")
		return
	}
	pg := s.paginate(w, r, len(repos), true)
	if pg.refused != nil {
		s.rateHeaders(w, sess, true)
		writeGitHubError(w, http.StatusUnprocessableEntity, pg.refused.message, pg.refused.doc)
		return
	}
	s.respond(w, r, sess, http.StatusOK, obj{"total_count": len(repos), "repository_selection": "selected", "repositories": repos[pg.start:pg.end]})
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
