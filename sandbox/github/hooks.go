package githubsandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// HookInput is a repository webhook to create, as POST /repos/{o}/{r}/hooks
// takes it.
type HookInput struct {
	URL         string
	Secret      string
	ContentType string   // json (default here) or form
	Events      []string // default ["push"], as GitHub
}

// hookBody is the JSON body of POST and PATCH /hooks.
type hookBody struct {
	Name         *string  `json:"name"`
	Active       *bool    `json:"active"`
	Events       []string `json:"events"`
	AddEvents    []string `json:"add_events"`
	RemoveEvents []string `json:"remove_events"`
	Config       *struct {
		URL         *string `json:"url"`
		ContentType *string `json:"content_type"`
		Secret      *string `json:"secret"`
		InsecureSSL any     `json:"insecure_ssl"`
	} `json:"config"`
}

// mayManageHooksLocked reports whether the caller's token may touch rp's
// hooks: its user must administer rp (GitHub: "You must be a repository
// owner or have admin access in the repository to create and manage
// webhooks in a repository"; it answers 404 otherwise, hiding the hooks as
// it hides private repositories), and OAuth App tokens need repo,
// admin:repo_hook or write:repo_hook (read:repo_hook to read); GitHub App
// user tokens carry permissions, not scopes, and reach no further than
// their user. Called with s.mu held.
func (s *Server) mayManageHooksLocked(sess *session, rp *repo, write bool) bool {
	if !s.isAdminLocked(sess, rp) {
		return false
	}
	if s.opts.AccessTTL > 0 {
		return true
	}
	ok := []string{"repo", "admin:repo_hook", "write:repo_hook"}
	if !write {
		ok = append(ok, "read:repo_hook")
	}
	return slices.ContainsFunc(sess.grant.Scopes, func(sc string) bool { return slices.Contains(ok, sc) })
}

func (s *Server) listHooks(w http.ResponseWriter, r *http.Request, sess *session) {
	s.mu.Lock()
	rp := s.repoLocked(r.PathValue("owner"), r.PathValue("repo"))
	uninstalled := rp != nil && s.canReadLocked(sess, rp) && !s.appMayWriteLocked(rp)
	s.mu.Unlock()
	if uninstalled {
		s.notAccessibleByIntegration(w, sess)
		return
	}
	s.withRepo(w, r, sess, func(rp *repo) (int, any) {
		if !s.mayManageHooksLocked(sess, rp, false) {
			return http.StatusNotFound, "Not Found"
		}
		pg := s.paginate(w, r, len(rp.hooks), true)
		if pg.refused != nil {
			return http.StatusUnprocessableEntity, *pg.refused
		}
		out := make([]obj, 0, pg.end-pg.start)
		for _, h := range rp.hooks[pg.start:pg.end] {
			out = append(out, hookJSON(rp, h))
		}
		return http.StatusOK, out
	})
}

func (s *Server) createHook(w http.ResponseWriter, r *http.Request, sess *session) {
	var in hookBody
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.apiError(w, sess, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	if in.Name != nil && *in.Name != "web" {
		s.validationFailed(w, sess, "Hook", "name", "invalid", "")
		return
	}
	hi := HookInput{ContentType: "form", Events: in.Events}
	if in.Config != nil {
		hi.URL = deref(in.Config.URL)
		hi.Secret = deref(in.Config.Secret)
		if in.Config.ContentType != nil {
			hi.ContentType = *in.Config.ContentType
		}
	}
	s.mu.Lock()
	rp := s.repoLocked(r.PathValue("owner"), r.PathValue("repo"))
	if rp == nil || !s.canReadLocked(sess, rp) {
		s.mu.Unlock()
		s.apiError(w, sess, http.StatusNotFound, "Not Found")
		return
	}
	if !s.appMayWriteLocked(rp) {
		s.mu.Unlock()
		s.notAccessibleByIntegration(w, sess)
		return
	}
	if !s.mayManageHooksLocked(sess, rp, true) {
		s.mu.Unlock()
		s.apiError(w, sess, http.StatusNotFound, "Not Found")
		return
	}
	h, err := s.addHookLocked(rp, hi)
	if err != nil {
		s.mu.Unlock()
		s.hookRefused(w, sess, err)
		return
	}
	if in.Active != nil {
		h.Active = *in.Active
	}
	ping := s.pingEventLocked(rp, h, s.ensureUserLocked(sess.login))
	body := hookJSON(rp, h)
	s.mu.Unlock()
	s.deliverAsync(h, ping)
	s.respond(w, r, sess, http.StatusCreated, body)
}

// HookLimit is how many hooks of one repository may subscribe to one
// event: "you can only create up to 20 webhooks that subscribe to each
// individual event type" (GitHub, Types of webhooks).
const HookLimit = 20

// hookLimitError is GitHub's refusal of a hook past HookLimit for some of
// its events: 422 Validation Failed, one error per event, each
// `The "push" event cannot have more than 20 hooks` (as GitHub words it,
// grafana/grafana#127638).
type hookLimitError []string

func (e hookLimitError) Error() string { return strings.Join(e, "; ") }

// hookLimitLocked refuses events that HookLimit hooks of rp other than
// self already subscribe to. Called with s.mu held.
func hookLimitLocked(rp *repo, events []string, self *hook) error {
	var full hookLimitError
	for _, e := range events {
		n := 0
		for _, h := range rp.hooks {
			if h != self && slices.Contains(h.Events, e) {
				n++
			}
		}
		if n >= HookLimit && !slices.Contains(full, e) {
			full = append(full, fmt.Sprintf("The %q event cannot have more than %d hooks", e, HookLimit))
		}
	}
	if len(full) > 0 {
		return full
	}
	return nil
}

// hookRefused answers a hook create or edit that failed validation: 422
// Validation Failed with one error per reason.
func (s *Server) hookRefused(w http.ResponseWriter, sess *session, err error) {
	lim, ok := err.(hookLimitError)
	if !ok {
		s.validationFailed(w, sess, "Hook", "", "custom", err.Error())
		return
	}
	s.rateHeaders(w, sess, true)
	sandbox.WriteJSON(w, http.StatusUnprocessableEntity, lim.body())
}

// body is GitHub's 422 answer.
func (e hookLimitError) body() obj {
	errs := make([]obj, 0, len(e))
	for _, m := range e {
		errs = append(errs, obj{"resource": "Hook", "code": "custom", "message": m})
	}
	return obj{
		"message": "Validation Failed", "errors": errs,
		"documentation_url": "https://docs.github.com/rest/repos/webhooks#create-a-repository-webhook", "status": "422",
	}
}

// addHookLocked validates and stores a hook (at most HookLimit per event).
// Called with s.mu held.
func (s *Server) addHookLocked(rp *repo, in HookInput) (*hook, error) {
	u, err := url.Parse(in.URL)
	if in.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, validationError("Invalid request: config.url must be an http(s) URL")
	}
	for _, h := range rp.hooks {
		if h.URL == in.URL {
			return nil, validationError("Hook already exists on this repository")
		}
	}
	if in.ContentType == "" {
		in.ContentType = "json"
	}
	if in.ContentType != "json" && in.ContentType != "form" {
		return nil, validationError("Invalid request: config.content_type must be json or form")
	}
	if len(in.Events) == 0 {
		in.Events = []string{"push"}
	}
	if err := hookLimitLocked(rp, in.Events, nil); err != nil {
		return nil, err
	}
	now := s.now()
	h := &hook{
		ID: s.id(500000000), Active: true, Events: slices.Clone(in.Events), URL: in.URL,
		ContentType: in.ContentType, Secret: in.Secret, InsecureSSL: "0",
		CreatedAt: now, UpdatedAt: now, deliverer: &sandbox.Deliverer{}, redelivering: map[string]int{},
	}
	h.deliverer.SetTarget(in.URL)
	repoID := rp.ID
	h.deliverer.OnResult = func(del sandbox.Delivery, res sandbox.Result, took time.Duration) {
		s.logHookDelivery(h, repoID, del, res, took)
	}
	rp.hooks = append(rp.hooks, h)
	return h, nil
}

func (s *Server) getHook(w http.ResponseWriter, r *http.Request, sess *session) {
	id, _ := pathInt(r, "id")
	s.withRepo(w, r, sess, func(rp *repo) (int, any) {
		h := rp.hook(id)
		if h == nil || !s.mayManageHooksLocked(sess, rp, false) {
			return http.StatusNotFound, "Not Found"
		}
		return http.StatusOK, hookJSON(rp, h)
	})
}

func (s *Server) editHook(w http.ResponseWriter, r *http.Request, sess *session) {
	id, _ := pathInt(r, "id")
	var in hookBody
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.apiError(w, sess, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	s.withRepo(w, r, sess, func(rp *repo) (int, any) {
		h := rp.hook(id)
		if h == nil || !s.mayManageHooksLocked(sess, rp, true) {
			return http.StatusNotFound, "Not Found"
		}
		events := slices.Clone(h.Events)
		if in.Events != nil {
			events = slices.Clone(in.Events)
		}
		for _, e := range in.AddEvents {
			if !slices.Contains(events, e) {
				events = append(events, e)
			}
		}
		events = slices.DeleteFunc(events, func(e string) bool { return slices.Contains(in.RemoveEvents, e) })
		// An edit that subscribes the hook to an event HookLimit others
		// take is refused whole, as a creation is.
		if err := hookLimitLocked(rp, events, h); err != nil {
			return http.StatusUnprocessableEntity, err.(hookLimitError).body()
		}
		if in.Active != nil {
			h.Active = *in.Active
		}
		h.Events = events
		if c := in.Config; c != nil {
			if c.URL != nil && *c.URL != "" {
				h.URL = *c.URL
				h.deliverer.SetTarget(h.URL)
			}
			if c.ContentType != nil {
				h.ContentType = *c.ContentType
			}
			// GitHub, "Update a repository webhook": "If you previously
			// had a secret set, you must provide the same secret or set a
			// new secret or the secret will be removed." A PATCH without
			// config keeps it.
			h.Secret = deref(c.Secret)
			if c.InsecureSSL != nil {
				h.InsecureSSL = strings.Trim(fmt.Sprint(c.InsecureSSL), `"`)
			}
		}
		h.UpdatedAt = s.now()
		return http.StatusOK, hookJSON(rp, h)
	})
}

func (s *Server) deleteHook(w http.ResponseWriter, r *http.Request, sess *session) {
	id, _ := pathInt(r, "id")
	var h *hook
	var meta Event
	s.withRepo(w, r, sess, func(rp *repo) (int, any) {
		i := slices.IndexFunc(rp.hooks, func(h *hook) bool { return h.ID == id })
		if i < 0 || !s.mayManageHooksLocked(sess, rp, true) {
			return http.StatusNotFound, "Not Found"
		}
		h, meta = s.removeHookLocked(rp, i, s.ensureUserLocked(sess.login))
		return http.StatusNoContent, nil
	})
	if meta.Name != "" {
		s.deliverAsync(h, meta)
	}
}

// removeHookLocked deletes rp's hook at index i and returns it with the
// meta event GitHub then sends it ("This event occurs when there is
// activity relating to a webhook itself", action deleted: hook_id and
// hook name the deleted hook), signed with the deleted hook's secret, when
// the hook was active and subscribed to meta (a zero Event otherwise).
// Called with s.mu held.
func (s *Server) removeHookLocked(rp *repo, i int, sender *user) (*hook, Event) {
	h := rp.hooks[i]
	rp.hooks = slices.Delete(rp.hooks, i, i+1)
	if !h.wants("meta") {
		return h, Event{}
	}
	p := payloadBase(rp, sender)
	p["action"] = "deleted"
	p["hook_id"] = h.ID
	p["hook"] = hookJSON(rp, h)
	return h, Event{Name: "meta", Repo: strings.ToLower(rp.FullName()), Payload: p}
}

// DeleteHook deletes a repository webhook as an admin of the repository
// would in its settings (Settings → Webhooks → Delete), as SeedUser:
// GitHub sends the hook a meta deleted event when it subscribes to
// meta, as DELETE /repos/{o}/{r}/hooks/{id} does. Wait waits for it.
func (s *Server) DeleteHook(fullName string, hookID int64) error {
	s.mu.Lock()
	rp := s.repos[strings.ToLower(fullName)]
	i := -1
	if rp != nil {
		i = slices.IndexFunc(rp.hooks, func(h *hook) bool { return h.ID == hookID })
	}
	if i < 0 {
		s.mu.Unlock()
		return fmt.Errorf("hook %d on %s: %w", hookID, fullName, ErrNotFound)
	}
	h, meta := s.removeHookLocked(rp, i, s.ensureUserLocked(SeedUser))
	s.mu.Unlock()
	if meta.Name != "" {
		s.deliverAsync(h, meta)
	}
	return nil
}

// HookIDs lists the ids of a repository's hooks, oldest first.
func (s *Server) HookIDs(fullName string) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[strings.ToLower(fullName)]
	if rp == nil {
		return nil
	}
	out := make([]int64, 0, len(rp.hooks))
	for _, h := range rp.hooks {
		out = append(out, h.ID)
	}
	return out
}

func (s *Server) pingHook(w http.ResponseWriter, r *http.Request, sess *session) {
	id, _ := pathInt(r, "id")
	var h *hook
	var ping Event
	s.withRepo(w, r, sess, func(rp *repo) (int, any) {
		if h = rp.hook(id); h == nil || !s.mayManageHooksLocked(sess, rp, true) {
			return http.StatusNotFound, "Not Found"
		}
		ping = s.pingEventLocked(rp, h, s.ensureUserLocked(sess.login))
		return http.StatusNoContent, nil
	})
	if h != nil && ping.Name != "" {
		s.deliverAsync(h, ping)
	}
}

// CreateHook registers a repository webhook as POST /hooks would and returns
// its id and the ping event GitHub sends on creation (not delivered here).
func (s *Server) CreateHook(fullName string, in HookInput) (int64, Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[strings.ToLower(fullName)]
	if rp == nil {
		return 0, Event{}, fmt.Errorf("repository %s: %w", fullName, ErrNotFound)
	}
	h, err := s.addHookLocked(rp, in)
	if err != nil {
		return 0, Event{}, err
	}
	return h.ID, s.pingEventLocked(rp, h, s.ensureUserLocked(SeedUser)), nil
}

// pingEventLocked builds the ping event for a new hook. Called with s.mu held.
func (s *Server) pingEventLocked(rp *repo, h *hook, sender *user) Event {
	p := payloadBase(rp, sender)
	p["zen"] = "Responsive is better than fast."
	p["hook_id"] = h.ID
	p["hook"] = hookJSON(rp, h)
	return Event{Name: "ping", Repo: strings.ToLower(rp.FullName()), Payload: p}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
