package jirasandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// webhook is a dynamic webhook an app registered on a site.
type webhook struct {
	ID       int64
	URL      string
	Events   []string
	JQL      string
	Projects []string // from the JQL filter; empty: every project
	FieldIDs []string
	Expires  time.Time
	Owner    string // login of the user whose token registered it
	ClientID string
}

var (
	// jqlFieldRE finds the fields a webhook's JQL filter restricts.
	jqlFieldRE = regexp.MustCompile(`(?i)([A-Za-z][\w.\[\]]*)\s*(?:!=|>=|<=|=|>|<|~|\bnot\s+in\b|\bin\b|\bwas\b|\bchanged\b)`)
	// webhookJQLFields is the reduced JQL dynamic webhooks accept.
	webhookJQLFields = map[string]bool{"issuekey": true, "project": true, "issuetype": true, "status": true,
		"assignee": true, "reporter": true, "issue.property": true}
)

// parseWebhookJQL checks a jqlFilter against the supported subset and
// returns the projects it names.
func parseWebhookJQL(jql string) ([]string, string) {
	if strings.TrimSpace(jql) == "" {
		return nil, "jqlFilter is required."
	}
	for _, m := range jqlFieldRE.FindAllStringSubmatch(jql, -1) {
		f := strings.ToLower(m[1])
		if !webhookJQLFields[f] && !strings.HasPrefix(f, "cf[") && !strings.HasPrefix(f, "issue.property") {
			return nil, "The JQL filter is not supported: field '" + m[1] + "' cannot be used in webhook filters."
		}
	}
	if msg := jqlReservedValue(jql); msg != "" {
		return nil, msg
	}
	var out []string
	if m := jqlProjectRE.FindStringSubmatch(jql); m != nil {
		list := m[3]
		if m[2] != "" {
			list = m[2]
		}
		for _, k := range strings.Split(list, ",") {
			out = append(out, strings.ToUpper(strings.Trim(strings.TrimSpace(k), `"`)))
		}
	}
	return out, ""
}

// registerWebhooks answers 200 with one result per webhook: its new id,
// or its errors (a refused JQL, a second URL for the app).
func (s *Server) registerWebhooks(w http.ResponseWriter, r *http.Request, c caller) {
	var in struct {
		URL      string `json:"url"`
		Webhooks []struct {
			Events         []string `json:"events"`
			JQLFilter      string   `json:"jqlFilter"`
			FieldIDsFilter []string `json:"fieldIdsFilter"`
		} `json:"webhooks"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil || !webURL(in.URL) || len(in.Webhooks) == 0 {
		jiraError(w, http.StatusBadRequest, "url and webhooks are required.")
		return
	}
	if strings.Contains(in.URL, "?") {
		in.URL = in.URL[:strings.Index(in.URL, "?")] // Jira drops query parameters
	}
	results := []any{}
	for _, spec := range in.Webhooks {
		var errs []string
		for _, h := range c.site.webhooks {
			if h.ClientID == c.grant.ClientID && h.URL != in.URL && h.Expires.After(s.now()) {
				errs = append(errs, "Only a single URL per app is allowed to be registered.")
				break
			}
		}
		projects, jqlErr := parseWebhookJQL(spec.JQLFilter)
		if jqlErr != "" {
			errs = append(errs, jqlErr)
		}
		if len(spec.Events) == 0 {
			errs = append(errs, "At least one event is required.")
		}
		if len(errs) > 0 {
			results = append(results, map[string]any{"errors": errs})
			continue
		}
		c.site.nextWebhook++
		c.site.webhooks = append(c.site.webhooks, &webhook{
			ID: c.site.nextWebhook, URL: in.URL, Events: spec.Events, JQL: spec.JQLFilter, Projects: projects,
			FieldIDs: spec.FieldIDsFilter, Expires: s.now().Add(s.opts.WebhookTTL), Owner: c.user.Login, ClientID: c.grant.ClientID,
		})
		results = append(results, map[string]any{"createdWebhookId": c.site.nextWebhook})
	}
	sandbox.WriteJSON(w, http.StatusOK, map[string]any{"webhookRegistrationResult": results})
}

// live lists the app's webhooks on the site that have not expired.
func (s *Server) live(st *siteState, clientID string) []*webhook {
	var out []*webhook
	for _, h := range st.webhooks {
		if h.ClientID == clientID && h.Expires.After(s.now()) {
			out = append(out, h)
		}
	}
	return out
}

// listWebhooks pages the app's live webhooks (startAt/maxResults, up to
// 100), expirationDate as an ISO timestamp.
func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, c caller) {
	start, _ := strconv.Atoi(r.URL.Query().Get("startAt"))
	limit, _ := strconv.Atoi(r.URL.Query().Get("maxResults"))
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	all := s.live(c.site, c.grant.ClientID)
	end := min(start+limit, len(all))
	values := []any{}
	for _, h := range all[min(start, len(all)):end] {
		v := map[string]any{"id": h.ID, "jqlFilter": h.JQL, "events": h.Events, "url": h.URL, "expirationDate": jiraTime(h.Expires)}
		if len(h.FieldIDs) > 0 {
			v["fieldIdsFilter"] = h.FieldIDs
		}
		values = append(values, v)
	}
	sandbox.WriteJSON(w, http.StatusOK, map[string]any{"isLast": end >= len(all), "maxResults": limit, "startAt": start,
		"total": len(all), "values": values})
}

func webhookIDs(r *http.Request) ([]int64, bool) {
	var in struct {
		WebhookIDs []int64 `json:"webhookIds"`
	}
	err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in)
	return in.WebhookIDs, err == nil && len(in.WebhookIDs) > 0
}

// deleteWebhooks removes the app's webhooks among the ids (others are
// ignored) and answers 202.
func (s *Server) deleteWebhooks(w http.ResponseWriter, r *http.Request, c caller) {
	ids, ok := webhookIDs(r)
	if !ok {
		jiraError(w, http.StatusBadRequest, "webhookIds is required.")
		return
	}
	c.site.webhooks = slices.DeleteFunc(c.site.webhooks, func(h *webhook) bool {
		return h.ClientID == c.grant.ClientID && slices.Contains(ids, h.ID)
	})
	w.WriteHeader(http.StatusAccepted)
}

// refreshWebhooks extends the app's live webhooks among the ids by the
// webhook lifetime; unknown or expired ids are ignored. expirationDate is
// epoch milliseconds here.
func (s *Server) refreshWebhooks(w http.ResponseWriter, r *http.Request, c caller) {
	ids, ok := webhookIDs(r)
	if !ok {
		jiraError(w, http.StatusBadRequest, "webhookIds is required.")
		return
	}
	exp := s.now().Add(s.opts.WebhookTTL)
	for _, h := range s.live(c.site, c.grant.ClientID) {
		if slices.Contains(ids, h.ID) {
			h.Expires = exp
		}
	}
	sandbox.WriteJSON(w, http.StatusOK, map[string]any{"expirationDate": exp.UnixMilli()})
}

// Webhooks returns the live webhooks of a site (any app), for tests.
func (s *Server) Webhooks(cloudID string) []WebhookInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []WebhookInfo
	st := s.sites[cloudID]
	if st == nil {
		return nil
	}
	for _, h := range st.webhooks {
		if h.Expires.After(s.now()) {
			out = append(out, WebhookInfo{ID: h.ID, URL: h.URL, JQL: h.JQL, Expires: h.Expires, Owner: h.Owner})
		}
	}
	return out
}

// WebhookInfo describes a registered webhook.
type WebhookInfo struct {
	ID      int64     `json:"id"`
	URL     string    `json:"url"`
	JQL     string    `json:"jql"`
	Expires time.Time `json:"expires"`
	Owner   string    `json:"owner"`
}

// RenameSite gives a site a new URL, as an organization admin's update of
// the product URL does (Atlassian: "We'll store the previous URL in your
// site's history and redirect all links to the new URL", up to 3 times):
// the cloud id stays, accessible-resources lists the new URL and name,
// and deliveries' self links name the new host. The old URL is not served
// (the fake has no hosts of its own to redirect).
func (s *Server) RenameSite(cloudID, newURL string) error {
	u, err := url.Parse(newURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "" {
		return fmt.Errorf("site URL %q: want https://<name>.atlassian.net", newURL)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.sites[cloudID]
	if st == nil {
		return fmt.Errorf("unknown site %q", cloudID)
	}
	st.URL, st.Name = newURL, strings.SplitN(u.Host, ".", 2)[0]
	return nil
}

// ExpireWebhooks makes every dynamic webhook expire now: Jira stops
// delivering and no longer lists them.
func (s *Server) ExpireWebhooks() {
	s.mu.Lock()
	defer s.mu.Unlock()
	past := s.now().Add(-time.Second)
	for _, st := range s.sites {
		for _, h := range st.webhooks {
			h.Expires = past
		}
	}
}

// webURL reports whether v is an absolute http(s) URL (its parsed scheme,
// which is case-insensitive).
func webURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}
