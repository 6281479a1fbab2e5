package jira

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The Jira objects the connector reads, shared by REST v3 answers and the
// REST v2 representation webhook bodies use; only rich text differs
// (description: ADF in v3, a wiki-markup string in v2) and is kept raw.

type user struct {
	Self        string `json:"self"`
	AccountID   string `json:"accountId"`
	DisplayName string `json:"displayName"`
}

type named struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type statusCategory struct {
	Key  string `json:"key"` // new, indeterminate, done
	Name string `json:"name"`
}

type status struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	StatusCategory *statusCategory `json:"statusCategory"`
}

type projectRef struct {
	ID   string `json:"id"`
	Key  string `json:"key"`
	Name string `json:"name"`
}

type issueFields struct {
	Summary     string          `json:"summary"`
	Description json.RawMessage `json:"description"`
	Status      *status         `json:"status"`
	IssueType   *named          `json:"issuetype"`
	Priority    *named          `json:"priority"`
	Project     *projectRef     `json:"project"`
	Assignee    *user           `json:"assignee"`
	Reporter    *user           `json:"reporter"`
	Creator     *user           `json:"creator"`
	Labels      []string        `json:"labels"`
	FixVersions []named         `json:"fixVersions"`
	Resolution  *named          `json:"resolution"`
	Created     jiraTime        `json:"created"`
	Updated     jiraTime        `json:"updated"`
}

type issue struct {
	ID        string         `json:"id"`
	Key       string         `json:"key"`
	Self      string         `json:"self"`
	Fields    issueFields    `json:"fields"`
	Changelog *changelogPage `json:"changelog"`
}

// changelogPage is an issue's changelog as expand=changelog embeds it; it
// is cut short when Total exceeds the histories it holds.
type changelogPage struct {
	StartAt    int       `json:"startAt"`
	MaxResults int       `json:"maxResults"`
	Total      int       `json:"total"`
	Histories  []history `json:"histories"`
}

// history is one changelog entry (a "change group"): every field changed
// by one edit or transition.
type history struct {
	ID      string       `json:"id"`
	Author  *user        `json:"author"`
	Created jiraTime     `json:"created"`
	Items   []changeItem `json:"items"`
}

// changeItem is one field's change. Field is a display name whose case
// varies ("Status"/"status"); FieldID is stable. From/To are ids (status
// ids, account ids), the *String twins their display values.
type changeItem struct {
	Field      string `json:"field"`
	FieldType  string `json:"fieldtype"`
	FieldID    string `json:"fieldId"`
	From       string `json:"from"`
	FromString string `json:"fromString"`
	To         string `json:"to"`
	ToString   string `json:"toString"`
}

// jiraTime reads Jira's timestamps ("2024-03-05T09:12:44.123+0100"), RFC
// 3339 and epoch milliseconds.
type jiraTime struct{ time.Time }

var jiraLayouts = []string{"2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05-0700", time.RFC3339Nano}

// UnmarshalJSON implements json.Unmarshaler.
func (t *jiraTime) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		return nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		t.Time = time.UnixMilli(ms).UTC()
		return nil
	}
	for _, l := range jiraLayouts {
		if v, err := time.Parse(l, s); err == nil {
			t.Time = v.UTC()
			return nil
		}
	}
	return fmt.Errorf("jira: unreadable time %q", s)
}

// epochMillis reads the webhook "timestamp": a number of milliseconds
// (documented), or the same as a string.
type epochMillis int64

// UnmarshalJSON implements json.Unmarshaler.
func (e *epochMillis) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		return nil
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil // an unreadable timestamp falls back to the issue's times
	}
	*e = epochMillis(ms)
	return nil
}
