package jirasandbox

import (
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Seeded sites: acme-pr (projects LPR and MKT) and acme-labs (OPS). The
// default user reaches both; SecondUser reaches acme-pr only.
const (
	SiteID      = "a7f3c1d2-5b64-4e0a-9c1e-2f8d4b6a0001"
	SiteURL     = "https://acme-pr.atlassian.net"
	SecondSite  = "a7f3c1d2-5b64-4e0a-9c1e-2f8d4b6a0002"
	SecondURL   = "https://acme-labs.atlassian.net"
	ProjectLPR  = "LPR"
	ProjectMKT  = "MKT"
	ProjectOPS  = "OPS"
	DefaultUser = "ada"
	SecondUser  = "grace"
)

// person is a user of the fake.
type person struct {
	Login, AccountID, Name, Email, TimeZone string
	Sites                                   []string
}

var people = map[string]*person{
	"ada":   {Login: "ada", AccountID: "5b10a2844c20165700ede21g", Name: "Ada Lovelace", Email: "ada@acme.example", TimeZone: "Europe/Berlin", Sites: []string{SiteID, SecondSite}},
	"grace": {Login: "grace", AccountID: "5b10ac8d82e05b22cc7d4ef5", Name: "Grace Hopper", Email: "grace@acme.example", TimeZone: "America/New_York", Sites: []string{SiteID}},
	"linus": {Login: "linus", AccountID: "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077", Name: "Linus Torvalds", Email: "linus@acme.example", TimeZone: "UTC", Sites: []string{SiteID}},
}

// statusDef is a workflow status with its category.
type statusDef struct {
	ID, Name, CategoryKey, CategoryName, Color string
	CategoryID                                 int
}

var statuses = []statusDef{
	{"10000", "To Do", "new", "To Do", "blue-gray", 2},
	{"3", "In Progress", "indeterminate", "In Progress", "yellow", 4},
	{"10001", "In Review", "indeterminate", "In Progress", "yellow", 4},
	{"10002", "Done", "done", "Done", "green", 3},
}

func statusByName(name string) (statusDef, bool) {
	for _, s := range statuses {
		if s.Name == name {
			return s, true
		}
	}
	return statusDef{}, false
}

// siteState is one Jira site.
type siteState struct {
	ID, URL, Name string
	projects      map[string]*projectState
	issues        []*issueState
	nextIssue     int
	nextHistory   int
	webhooks      []*webhook
	nextWebhook   int64
	nextDelivery  int
}

type projectState struct {
	ID, Key, Name string
}

// change is one changed field of a history entry.
type change struct {
	Field, FieldType, FieldID, From, FromString, To, ToString string
}

// historyState is one changelog entry.
type historyState struct {
	ID      int
	Author  string // login
	Created time.Time
	Items   []change
}

// issueState is an issue and its whole history.
type issueState struct {
	ID, Key, Project            string
	Summary, Description        string // description in wiki markup (v2); ADF is built from it
	Type, Priority, Status      string
	Labels, FixVersions         []string
	Assignee, Reporter, Creator string // logins
	Resolution                  string
	Created, Updated            time.Time
	Histories                   []historyState
}

func (s *siteState) project(key string) *projectState { return s.projects[key] }

func (s *siteState) issue(keyOrID string) *issueState {
	for _, is := range s.issues {
		if is.Key == keyOrID || is.ID == keyOrID {
			return is
		}
	}
	return nil
}

// addHistory records a change on an issue at t and bumps its update time.
func (s *siteState) addHistory(is *issueState, author string, t time.Time, items ...change) historyState {
	s.nextHistory++
	h := historyState{ID: s.nextHistory, Author: author, Created: t, Items: items}
	is.Histories = append(is.Histories, h)
	if t.After(is.Updated) {
		is.Updated = t
	}
	return h
}

// newIssue creates an issue in a project at t.
func (s *siteState) newIssue(project, summary, author string, t time.Time) *issueState {
	s.nextIssue++
	n := 0
	for _, is := range s.issues {
		if is.Project == project {
			n++
		}
	}
	is := &issueState{
		ID: strconv.Itoa(10000 + s.nextIssue), Key: fmt.Sprintf("%s-%d", project, n+1), Project: project,
		Summary: summary, Type: "Task", Priority: "Medium", Status: "To Do", Labels: []string{},
		FixVersions: []string{}, Reporter: author, Creator: author, Created: t, Updated: t,
	}
	s.issues = append(s.issues, is)
	return is
}

// transition moves an issue to a status at t.
func (s *siteState) transition(is *issueState, to, author string, t time.Time) (historyState, error) {
	from, _ := statusByName(is.Status)
	target, ok := statusByName(to)
	if !ok {
		return historyState{}, fmt.Errorf("unknown status %q", to)
	}
	items := []change{{Field: "status", FieldType: "jira", FieldID: "status", From: from.ID, FromString: from.Name, To: target.ID, ToString: target.Name}}
	if target.CategoryKey == "done" && is.Resolution == "" {
		items = append(items, change{Field: "resolution", FieldType: "jira", FieldID: "resolution", To: "10000", ToString: "Done"})
		is.Resolution = "Done"
	}
	is.Status = target.Name
	return s.addHistory(is, author, t, items...), nil
}

// sortedIssues is the site's issues ordered by update then key.
func (s *siteState) sortedIssues() []*issueState {
	out := append([]*issueState(nil), s.issues...)
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Updated.Equal(out[j].Updated) {
			return out[i].Updated.Before(out[j].Updated)
		}
		return out[i].Key < out[j].Key
	})
	return out
}
