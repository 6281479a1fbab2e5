package jirasandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// IssueInput creates an issue.
type IssueInput struct {
	Project     string   `json:"project"`
	Summary     string   `json:"summary"`
	Description string   `json:"description"` // wiki markup
	Type        string   `json:"type"`
	Priority    string   `json:"priority"`
	Labels      []string `json:"labels"`
	User        string   `json:"user"` // login of the actor (default: ada)
}

// EditInput changes fields of an issue; empty fields are left alone.
type EditInput struct {
	Summary     string   `json:"summary"`
	Description string   `json:"description"`
	Priority    string   `json:"priority"`
	Assignee    string   `json:"assignee"` // login
	Labels      []string `json:"labels"`
	// Rank moves the issue on the board: a change no connector follows.
	Rank bool   `json:"rank"`
	User string `json:"user"`
}

// Change is the outcome of an issue change: the issue key and what the
// deliveries answered.
type Change struct {
	Key        string           `json:"key"`
	ID         string           `json:"id"`
	HistoryID  int              `json:"history_id,omitempty"`
	Deliveries []sandbox.Result `json:"deliveries"`
}

func actor(login string) string {
	if login == "" || people[login] == nil {
		return DefaultUser
	}
	return login
}

// apply runs a change on a site under the lock, then sends its deliveries.
func (s *Server) apply(ctx context.Context, cloudID string, opt sandbox.DeliveryOptions, f func(st *siteState) (*issueState, event, error)) (*Change, error) {
	s.mu.Lock()
	st := s.sites[cloudID]
	if st == nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("unknown site %q", cloudID)
	}
	is, ev, err := f(st)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	outs := s.deliveriesLocked(st, is, ev)
	ch := &Change{Key: is.Key, ID: is.ID}
	if ev.hist != nil {
		ch.HistoryID = ev.hist.ID
	}
	s.mu.Unlock()
	ch.Deliveries = s.send(ctx, outs, opt)
	return ch, nil
}

// CreateIssue creates an issue and delivers jira:issue_created (with the
// changelog of its initial values, as Jira sends it).
func (s *Server) CreateIssue(ctx context.Context, cloudID string, in IssueInput, opt sandbox.DeliveryOptions) (*Change, error) {
	return s.apply(ctx, cloudID, opt, func(st *siteState) (*issueState, event, error) {
		if st.project(in.Project) == nil {
			return nil, event{}, fmt.Errorf("unknown project %q", in.Project)
		}
		who := actor(in.User)
		is := st.newIssue(in.Project, in.Summary, who, s.now())
		is.Description = in.Description
		if in.Type != "" {
			is.Type = in.Type
		}
		if in.Priority != "" {
			is.Priority = in.Priority
		}
		if in.Labels != nil {
			is.Labels = in.Labels
		}
		h := st.addHistory(is, who, s.now(), change{Field: "status", FieldType: "jira", FieldID: "status", To: "10000", ToString: "To Do"})
		return is, event{name: "jira:issue_created", typeName: "issue_created", actor: who, hist: &h}, nil
	})
}

// Transition moves an issue to a status and delivers jira:issue_updated
// (issue_generic, as Jira names transitions).
func (s *Server) Transition(ctx context.Context, cloudID, key, to, user string, opt sandbox.DeliveryOptions) (*Change, error) {
	return s.apply(ctx, cloudID, opt, func(st *siteState) (*issueState, event, error) {
		is := st.issue(key)
		if is == nil {
			return nil, event{}, fmt.Errorf("unknown issue %q", key)
		}
		who := actor(user)
		h, err := st.transition(is, to, who, s.now())
		if err != nil {
			return nil, event{}, err
		}
		return is, event{name: "jira:issue_updated", typeName: "issue_generic", actor: who, hist: &h}, nil
	})
}

// Edit changes fields of an issue and delivers jira:issue_updated.
func (s *Server) Edit(ctx context.Context, cloudID, key string, in EditInput, opt sandbox.DeliveryOptions) (*Change, error) {
	return s.apply(ctx, cloudID, opt, func(st *siteState) (*issueState, event, error) {
		is := st.issue(key)
		if is == nil {
			return nil, event{}, fmt.Errorf("unknown issue %q", key)
		}
		var items []change
		typeName := "issue_updated"
		if in.Summary != "" && in.Summary != is.Summary {
			items = append(items, change{Field: "summary", FieldType: "jira", FieldID: "summary", FromString: is.Summary, ToString: in.Summary})
			is.Summary = in.Summary
		}
		if in.Description != "" && in.Description != is.Description {
			items = append(items, change{Field: "description", FieldType: "jira", FieldID: "description", FromString: is.Description, ToString: in.Description})
			is.Description = in.Description
		}
		if in.Priority != "" && in.Priority != is.Priority {
			items = append(items, change{Field: "priority", FieldType: "jira", FieldID: "priority", From: priorityIDs[is.Priority],
				FromString: is.Priority, To: priorityIDs[in.Priority], ToString: in.Priority})
			is.Priority = in.Priority
		}
		if in.Assignee != "" && in.Assignee != is.Assignee && people[in.Assignee] != nil {
			var from, fromName string
			if p := people[is.Assignee]; p != nil {
				from, fromName = p.AccountID, p.Name
			}
			items = append(items, change{Field: "assignee", FieldType: "jira", FieldID: "assignee", From: from, FromString: fromName,
				To: people[in.Assignee].AccountID, ToString: people[in.Assignee].Name})
			is.Assignee, typeName = in.Assignee, "issue_assigned"
		}
		if in.Labels != nil && !slices.Equal(in.Labels, is.Labels) {
			items = append(items, change{Field: "labels", FieldType: "jira", FieldID: "labels", FromString: joinLabels(is.Labels), ToString: joinLabels(in.Labels)})
			is.Labels = in.Labels
		}
		if in.Rank {
			items = append(items, change{Field: "Rank", FieldType: "custom", FieldID: "customfield_10019", ToString: "Ranked higher"})
		}
		if len(items) == 0 {
			return nil, event{}, fmt.Errorf("nothing to change")
		}
		h := st.addHistory(is, actor(in.User), s.now(), items...)
		return is, event{name: "jira:issue_updated", typeName: typeName, actor: actor(in.User), hist: &h}, nil
	})
}

// SetTimeZone changes a user's time zone, as the user's Atlassian profile
// settings do: /myself and every user object name it from then on, and
// searches by that user read JQL dates in it, whatever a query running
// before assumed.
func (s *Server) SetTimeZone(login, tz string) error {
	if people[login] == nil {
		return fmt.Errorf("unknown user %q", login)
	}
	if _, err := time.LoadLocation(tz); err != nil || tz == "" {
		return fmt.Errorf("time zone %q: want an IANA name such as America/New_York", tz)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zones[login] = tz
	return nil
}

// DeleteProject deletes a project with its issues, as a Jira admin moving
// it to the trash does (for the token user, as losing its Browse
// permission does): GET project/{key} answers 404 and a search naming it
// 400 "The value 'KEY' does not exist for the field 'project'.".
func (s *Server) DeleteProject(cloudID, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.sites[cloudID]
	if st == nil || st.project(key) == nil {
		return fmt.Errorf("unknown project %q on site %q", key, cloudID)
	}
	delete(st.projects, key)
	st.issues = slices.DeleteFunc(st.issues, func(is *issueState) bool { return is.Project == key })
	return nil
}

func joinLabels(l []string) string {
	out := ""
	for i, x := range l {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

// QuotaFault is a 429 of the points-based hourly quota: X-RateLimit-*
// headers with the reset resetIn from now, RateLimit-Reason and the beta
// quota headers, and Retry-After only when withRetryAfter. The reset is a
// minute, "yyyy-MM-ddTHH:mmZ" as Atlassian documents it (JRACLOUD-69262),
// so up to a minute before the instant (Beta-RateLimit's t= has the
// seconds), and X-RateLimit-Remaining is not 0: quota 429s were seen
// carrying the burst bucket's count.
func QuotaFault(now time.Time, resetIn time.Duration, withRetryAfter bool) sandbox.Fault {
	secs := int(resetIn.Round(time.Second) / time.Second)
	f := sandbox.Fault{Status: http.StatusTooManyRequests, Headers: map[string]string{
		"X-RateLimit-Limit":       "65000",
		"X-RateLimit-Remaining":   "9",
		"X-RateLimit-Reset":       now.Add(resetIn).UTC().Format(QuotaResetLayout),
		"X-RateLimit-NearLimit":   "true",
		"RateLimit-Reason":        "jira-quota-tenant-based",
		"Beta-RateLimit-Policy":   `"tenant-app-quota";q=65000;w=3600`,
		"Beta-RateLimit":          `"tenant-app-quota";r=0;t=` + strconv.Itoa(secs),
		"X-Beta-RateLimit-Reason": "jira-quota-tenant-based",
	}}
	if withRetryAfter {
		f.RetryAfter = secs
	}
	return f
}

// QuotaResetLayout is the layout of X-RateLimit-Reset, "yyyy-MM-ddTHH:mmZ".
const QuotaResetLayout = "2006-01-02T15:04Z07:00"

// BurstFault is a 429 of the per-second burst limit, with Retry-After.
func BurstFault(retryAfter int) sandbox.Fault {
	return sandbox.Fault{Status: http.StatusTooManyRequests, RetryAfter: retryAfter, Headers: map[string]string{
		"RateLimit-Reason": "jira-burst-based", "X-RateLimit-NearLimit": "true",
	}}
}

// controlRoutes mounts the Jira control API (see the package doc of
// docs/providers/jira.md):
//
//	POST /_sandbox/jira/sites/{cloud}/issues               IssueInput (+copies, hold)
//	POST /_sandbox/jira/sites/{cloud}/issues/{key}/transition {"to", "user"}
//	POST /_sandbox/jira/sites/{cloud}/issues/{key}/edit     EditInput
//	GET  /_sandbox/jira/sites/{cloud}/webhooks              live webhooks
//	POST /_sandbox/jira/webhooks/expire                     every webhook expires now
//	POST /_sandbox/jira/sites/{cloud}/rename                {"url": "https://acme-launch.atlassian.net"}
//	POST /_sandbox/jira/tokens/spend                        {"ago": "11m"}: refresh tokens spent elsewhere
//	POST /_sandbox/jira/quota                               {"reset_in": "2s", "retry_after": false, "count": 1, "path_prefix": ""}
//	GET  /_sandbox/jira/sites/{cloud}/projects/{key}/expected?days=90
//	DELETE /_sandbox/jira/sites/{cloud}/projects/{key}      the project and its issues are gone
//	PUT  /_sandbox/jira/users/{login}/timezone              {"time_zone": "America/New_York"}
func (s *Server) controlRoutes(mux *http.ServeMux) {
	type delivery struct {
		Copies int  `json:"copies"`
		Hold   bool `json:"hold"`
	}
	answer := func(w http.ResponseWriter, ch *Change, err error) {
		if err != nil {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		sandbox.WriteJSON(w, http.StatusCreated, ch)
	}
	mux.HandleFunc("POST /_sandbox/jira/sites/{cloud}/issues", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			IssueInput
			delivery
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		ch, err := s.CreateIssue(r.Context(), r.PathValue("cloud"), in.IssueInput, sandbox.DeliveryOptions{Copies: in.Copies, Hold: in.Hold})
		answer(w, ch, err)
	})
	mux.HandleFunc("POST /_sandbox/jira/sites/{cloud}/issues/{key}/transition", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			To, User string
			delivery
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		ch, err := s.Transition(r.Context(), r.PathValue("cloud"), r.PathValue("key"), in.To, in.User, sandbox.DeliveryOptions{Copies: in.Copies, Hold: in.Hold})
		answer(w, ch, err)
	})
	mux.HandleFunc("POST /_sandbox/jira/sites/{cloud}/issues/{key}/edit", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			EditInput
			delivery
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		ch, err := s.Edit(r.Context(), r.PathValue("cloud"), r.PathValue("key"), in.EditInput, sandbox.DeliveryOptions{Copies: in.Copies, Hold: in.Hold})
		answer(w, ch, err)
	})
	mux.HandleFunc("GET /_sandbox/jira/sites/{cloud}/webhooks", func(w http.ResponseWriter, r *http.Request) {
		sandbox.WriteJSON(w, http.StatusOK, map[string]any{"webhooks": s.Webhooks(r.PathValue("cloud"))})
	})
	mux.HandleFunc("POST /_sandbox/jira/webhooks/expire", func(w http.ResponseWriter, r *http.Request) {
		s.ExpireWebhooks()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sandbox/jira/sites/{cloud}/rename", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			URL string `json:"url"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		if err := s.RenameSite(r.PathValue("cloud"), in.URL); err != nil {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sandbox/jira/tokens/spend", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Ago sandbox.Duration `json:"ago"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		s.SpendRefreshTokens(time.Duration(in.Ago))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sandbox/jira/quota", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			ResetIn    sandbox.Duration `json:"reset_in"`
			RetryAfter bool             `json:"retry_after"`
			Count      int              `json:"count"`
			PathPrefix string           `json:"path_prefix"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		if in.ResetIn <= 0 {
			in.ResetIn = sandbox.Duration(2 * time.Second)
		}
		f := QuotaFault(s.now(), time.Duration(in.ResetIn), in.RetryAfter)
		f.Count, f.PathPrefix = in.Count, in.PathPrefix
		s.Faults.Add(f)
		sandbox.WriteJSON(w, http.StatusCreated, f)
	})
	mux.HandleFunc("DELETE /_sandbox/jira/sites/{cloud}/projects/{key}", func(w http.ResponseWriter, r *http.Request) {
		if err := s.DeleteProject(r.PathValue("cloud"), r.PathValue("key")); err != nil {
			sandbox.WriteJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT /_sandbox/jira/users/{login}/timezone", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			TimeZone string `json:"time_zone"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		if err := s.SetTimeZone(r.PathValue("login"), in.TimeZone); err != nil {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_sandbox/jira/sites/{cloud}/projects/{key}/expected", func(w http.ResponseWriter, r *http.Request) {
		days, _ := strconv.Atoi(r.URL.Query().Get("days"))
		if days <= 0 {
			days = 90
		}
		sandbox.WriteJSON(w, http.StatusOK, map[string]int{"signals": s.ExpectedSignals(r.PathValue("cloud"), r.PathValue("key"), days)})
	})
}
