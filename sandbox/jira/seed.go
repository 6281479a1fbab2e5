package jirasandbox

import (
	"fmt"
	"time"
)

// newSites builds the two sites, with their projects, empty.
func newSites() map[string]*siteState {
	a := &siteState{ID: SiteID, URL: SiteURL, Name: "acme-pr", nextWebhook: 10000, projects: map[string]*projectState{
		ProjectLPR: {ID: "10001", Key: ProjectLPR, Name: "Launch PR"},
		ProjectMKT: {ID: "10002", Key: ProjectMKT, Name: "Marketing"},
	}}
	b := &siteState{ID: SecondSite, URL: SecondURL, Name: "acme-labs", nextWebhook: 10000, projects: map[string]*projectState{
		ProjectOPS: {ID: "10100", Key: ProjectOPS, Name: "Operations"},
	}}
	return map[string]*siteState{a.ID: a, b.ID: b}
}

// AddProject adds an empty project to a site (key upper case, as Jira
// keeps them); false when the site is unknown or has the key already.
func (s *Server) AddProject(cloudID, key, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.sites[cloudID]
	if !ok || st.projects[key] != nil {
		return false
	}
	st.projects[key] = &projectState{ID: fmt.Sprint(20000 + len(st.projects)), Key: key, Name: name}
	return true
}

var lprSummaries = []string{
	"Press kit for the Q3 launch", "Brief the analysts", "Embargo schedule", "Launch blog post",
	"Customer quotes", "Media list refresh", "Spokesperson training", "Fact sheet",
	"Photo shoot", "Award submissions", "Podcast tour", "Launch-day war room",
}

// seed fills the sites with a deterministic history relative to now: every
// seeded happening but two (an issue last touched 200 days ago, and the
// creation of one 120 days ago) lies inside the default 90-day backfill
// window. Counts follow from ExpectedSignals.
func (s *Server) seed(now time.Time) {
	now = now.Truncate(time.Minute)
	day := 24 * time.Hour
	a, b := s.sites[SiteID], s.sites[SecondSite]
	for i, summary := range lprSummaries {
		created := now.Add(-time.Duration(80-6*i)*day - time.Duration(i)*time.Hour)
		author := []string{"ada", "grace", "linus"}[i%3]
		is := a.newIssue(ProjectLPR, summary, author, created)
		is.Description = fmt.Sprintf("h2. Goal\n*%s* for the launch, see [the plan|https://acme.example/plan/%d].\n* owner: [~accountid:%s]\n{code}no markup here{code}",
			summary, i, people[author].AccountID)
		if i%3 != 0 {
			// Jira stamps initial values right at creation: part of it.
			a.addHistory(is, author, created.Add(time.Second), change{Field: "Rank", FieldType: "custom", FieldID: "customfield_10019", ToString: "Ranked higher"},
				change{Field: "labels", FieldType: "jira", FieldID: "labels", ToString: "launch"})
			is.Labels = []string{"launch"}
		}
		if i >= 2 {
			_, _ = a.transition(is, "In Progress", "grace", created.Add(day))
		}
		if i%2 == 0 {
			a.addHistory(is, "ada", created.Add(2*day), change{Field: "priority", FieldType: "jira", FieldID: "priority", From: "3", FromString: "Medium", To: "2", ToString: "High"})
			is.Priority = "High"
		}
		if i%4 == 1 {
			a.addHistory(is, "linus", created.Add(2*day), change{Field: "Rank", FieldType: "custom", FieldID: "customfield_10019", ToString: "Ranked lower"})
		}
		if i == 3 {
			a.addHistory(is, "linus", created.Add(2*day+time.Hour), change{Field: "timespent", FieldType: "jira", FieldID: "timespent", To: "3600", ToString: "3600"},
				change{Field: "WorklogId", FieldType: "jira", FieldID: "WorklogId", To: "10040", ToString: "10040"})
		}
		if i >= 5 {
			_, _ = a.transition(is, "In Review", "ada", created.Add(3*day))
		}
		if i == 7 {
			a.addHistory(is, "grace", created.Add(4*day), change{Field: "summary", FieldType: "jira", FieldID: "summary", FromString: is.Summary, ToString: is.Summary + " (final)"},
				change{Field: "labels", FieldType: "jira", FieldID: "labels", FromString: "", ToString: "launch press"})
			is.Summary += " (final)"
			is.Labels = []string{"launch", "press"}
		}
		if i >= 8 {
			_, _ = a.transition(is, "Done", "ada", created.Add(5*day))
			is.FixVersions = []string{"Q3 launch"}
		}
		if i == 11 {
			// A long history: more entries than a search embeds.
			for k := range 26 {
				label := []string{"launch", "launch war-room"}[k%2]
				a.addHistory(is, "grace", created.Add(6*day+time.Duration(k)*time.Hour),
					change{Field: "labels", FieldType: "jira", FieldID: "labels", FromString: "", ToString: label})
			}
			is.Labels = []string{"launch", "war-room"}
		}
	}
	// Created before the window, moved inside it.
	old := a.newIssue(ProjectLPR, "Evergreen boilerplate", "ada", now.Add(-120*day))
	_, _ = a.transition(old, "In Progress", "ada", now.Add(-10*day))
	// Untouched for 200 days: outside the window altogether.
	a.newIssue(ProjectLPR, "Retired press template", "grace", now.Add(-200*day))

	for i := range 5 {
		created := now.Add(-time.Duration(40-7*i)*day + time.Duration(i)*time.Minute)
		is := a.newIssue(ProjectMKT, fmt.Sprintf("Campaign asset %d", i+1), "grace", created)
		is.Type = "Story"
		if i%2 == 1 {
			_, _ = a.transition(is, "In Progress", "grace", created.Add(day))
		}
		if i%2 == 0 {
			a.addHistory(is, "ada", created.Add(2*day), change{Field: "assignee", FieldType: "jira", FieldID: "assignee", To: people["ada"].AccountID, ToString: "Ada Lovelace"})
			is.Assignee = "ada"
		}
	}
	for i := range 4 {
		created := now.Add(-time.Duration(30-5*i) * day)
		is := b.newIssue(ProjectOPS, fmt.Sprintf("Runbook %d", i+1), "ada", created)
		is.Type = "Bug"
		_, _ = b.transition(is, "In Progress", "ada", created.Add(12*time.Hour))
	}
}

// ExpectedSignals is the number of Signals a full backfill of a project
// yields over the last days days, by the connector's rules: an issue's
// creation, and per changelog entry one status change (a "status" item)
// plus one update when it changed a tracked field, for happenings in the
// window and not within 2 s of the issue's creation.
func (s *Server) ExpectedSignals(cloudID, project string, days int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.sites[cloudID]
	if st == nil {
		return 0
	}
	floor := s.now().Add(-time.Duration(days) * 24 * time.Hour)
	tracked := map[string]bool{"summary": true, "description": true, "priority": true, "assignee": true, "labels": true, "fixVersions": true, "resolution": true}
	n := 0
	for _, is := range st.issues {
		if is.Project != project || is.Updated.Before(floor) {
			continue
		}
		if !is.Created.Before(floor) {
			n++
		}
		for _, h := range is.Histories {
			if h.Created.Before(floor) || h.Created.Sub(is.Created) < 2*time.Second {
				continue
			}
			status, upd := false, false
			for _, it := range h.Items {
				status = status || it.FieldID == "status"
				upd = upd || tracked[it.FieldID]
			}
			if status {
				n++
			}
			if upd {
				n++
			}
		}
	}
	return n
}
