package jirasandbox

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

func (s *Server) myself(w http.ResponseWriter, _ *http.Request, c caller) {
	out := s.v3(c.site).user(c.user.Login).(map[string]any)
	out["locale"] = "en_GB"
	out["groups"] = map[string]any{"size": 2, "items": []any{}}
	out["applicationRoles"] = map[string]any{"size": 1, "items": []any{}}
	sandbox.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request, c caller) {
	p := c.site.project(r.PathValue("key"))
	if p == nil {
		jiraError(w, http.StatusNotFound, "No project could be found with key '"+r.PathValue("key")+"'.")
		return
	}
	rr := s.v3(c.site)
	sandbox.WriteJSON(w, http.StatusOK, map[string]any{
		"expand": "description,lead,issueTypes,url,projectKeys,permissions,insight", "self": rr.base + "project/" + p.ID,
		"id": p.ID, "key": p.Key, "name": p.Name, "description": "", "lead": rr.user(DefaultUser),
		"assigneeType": "UNASSIGNED", "projectTypeKey": "software", "simplified": false, "style": "classic",
		"isPrivate": false, "avatarUrls": avatars("project-" + p.ID), "properties": map[string]any{},
	})
}

func (s *Server) listStatuses(w http.ResponseWriter, _ *http.Request, c caller) {
	rr := s.v3(c.site)
	out := []any{}
	for _, sd := range statuses {
		out = append(out, rr.status(sd.Name))
	}
	sandbox.WriteJSON(w, http.StatusOK, out)
}

var (
	jqlProjectRE = regexp.MustCompile(`(?i)\bproject\s*(=|\bin\b)\s*(?:\(([^)]*)\)|"?([A-Za-z][A-Za-z0-9_]*)"?)`)
	jqlUpdatedRE = regexp.MustCompile(`(?i)\bupdated\s*>=\s*"(\d{4}/\d{2}/\d{2} \d{2}:\d{2})"`)
)

// jqlReserved are JQL's reserved words
// (https://support.atlassian.com/jira-software-cloud/docs/jql-reserved-words/)
// that are also valid project keys. Jira refuses one unquoted as a value.
var jqlReserved = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an abort access add after alias all alter and any are as asc audit avg before begin
		between boolean break by byte catch cf char character check checkpoint collate collation column commit connect
		continue count create current date decimal declare decrement default defaults define delete delimiter desc
		difference distinct divide do double drop else empty encoding end equals escape exclusive exec execute exists
		explain false fetch file field first float for from function go goto grant greater group having identified if
		immediate in increment index initial inner inout input insert int integer intersect intersection into is isempty
		isnull join last left less like limit lock long max min minus mode modify modulo more multiply next noaudit not
		notin nowait null number object of on option or order outer output power previous prior privileges public raise
		raw remainder rename resource return returns right row rowid rownum rows select session set share size sqrt start
		strict string subtract sum synonym table then to trans transaction trigger true uid union unique update user
		validate values view when whenever where while with`) {
		m[w] = true
	}
	return m
}()

// jqlReservedValue is Jira's 400 message for a project key in jql that is
// a reserved word without quotes; "" when there is none.
func jqlReservedValue(jql string) string {
	m := jqlProjectRE.FindStringSubmatch(jql)
	if m == nil {
		return ""
	}
	var vals []string
	if m[2] != "" {
		vals = strings.Split(m[2], ",")
	} else if !strings.HasSuffix(m[0], `"`) {
		vals = []string{m[3]}
	}
	for _, v := range vals {
		if v = strings.TrimSpace(v); !strings.HasPrefix(v, `"`) && jqlReserved[strings.ToLower(v)] {
			return "Error in the JQL Query: '" + v + "' is a reserved JQL word. You must surround it in quotation marks to use it in a query."
		}
	}
	return ""
}

// pageToken is the opaque nextPageToken: an offset bound to its JQL and
// valid for 7 days, like Jira's.
type pageToken struct {
	Offset int    `json:"o"`
	JQL    string `json:"h"`
	Issued int64  `json:"t"`
}

func jqlHash(jql string) string {
	sum := sha256.Sum256([]byte(jql))
	return hex.EncodeToString(sum[:8])
}

// searchJQL is the enhanced search: bounded JQL only (a project or an
// updated restriction), dates read in the token user's time zone, the
// fields named (the id only otherwise), changelogs on expand=changelog,
// pages linked by nextPageToken, and no total. The last page ends in
// turns with the token absent, null, or empty, always with isLast.
func (s *Server) searchJQL(w http.ResponseWriter, r *http.Request, c caller) {
	var in struct {
		JQL           string   `json:"jql"`
		NextPageToken string   `json:"nextPageToken"`
		MaxResults    int      `json:"maxResults"`
		Fields        []string `json:"fields"`
		Expand        string   `json:"expand"`
	}
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		in.JQL, in.NextPageToken, in.Expand = q.Get("jql"), q.Get("nextPageToken"), q.Get("expand")
		in.MaxResults, _ = strconv.Atoi(q.Get("maxResults"))
		if f := q.Get("fields"); f != "" {
			in.Fields = strings.Split(f, ",")
		}
	} else if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
		jiraError(w, http.StatusBadRequest, "Invalid request payload. Refer to the REST API documentation and try again.")
		return
	}
	if msg := jqlReservedValue(in.JQL); msg != "" {
		jiraError(w, http.StatusBadRequest, msg)
		return
	}
	projects := map[string]bool{}
	if m := jqlProjectRE.FindStringSubmatch(in.JQL); m != nil {
		list := m[3]
		if m[2] != "" {
			list = m[2]
		}
		for _, k := range strings.Split(list, ",") {
			k = strings.ToUpper(strings.Trim(strings.TrimSpace(k), `"`))
			if c.site.project(k) == nil {
				jiraError(w, http.StatusBadRequest, "The value '"+k+"' does not exist for the field 'project'.")
				return
			}
			projects[k] = true
		}
	}
	var since time.Time
	if m := jqlUpdatedRE.FindStringSubmatch(in.JQL); m != nil {
		loc, err := time.LoadLocation(cmp.Or(s.zones[c.user.Login], c.user.TimeZone))
		if err != nil {
			loc = time.UTC
		}
		since, _ = time.ParseInLocation("2006/01/02 15:04", m[1], loc)
	}
	if len(projects) == 0 && since.IsZero() {
		jiraError(w, http.StatusBadRequest, "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.")
		return
	}
	offset := 0
	if in.NextPageToken != "" {
		var tok pageToken
		raw, err := base64.RawURLEncoding.DecodeString(in.NextPageToken)
		if err != nil || json.Unmarshal(raw, &tok) != nil || tok.JQL != jqlHash(in.JQL) ||
			s.now().Sub(time.UnixMilli(tok.Issued)) > 7*24*time.Hour {
			jiraError(w, http.StatusBadRequest, "The provided next page token is invalid or expired.")
			return
		}
		offset = tok.Offset
	}
	limit := in.MaxResults
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, s.opts.PageSize, 5000)
	var match []*issueState
	for _, is := range c.site.sortedIssues() {
		if (len(projects) == 0 || projects[is.Project]) && !is.Updated.Before(since) {
			match = append(match, is)
		}
	}
	fields := in.Fields
	if len(fields) == 0 {
		fields = []string{} // the id only
	}
	changelog := strings.Contains(in.Expand, "changelog")
	rr := s.v3(c.site)
	issues := []any{}
	end := min(offset+limit, len(match))
	for _, is := range match[min(offset, len(match)):end] {
		issues = append(issues, rr.issue(is, fields, changelog))
	}
	out := map[string]any{"issues": issues}
	if end < len(match) {
		raw, _ := json.Marshal(pageToken{Offset: end, JQL: jqlHash(in.JQL), Issued: s.now().UnixMilli()})
		out["nextPageToken"] = base64.RawURLEncoding.EncodeToString(raw)
		out["isLast"] = false
	} else {
		s.pageCalls++
		switch s.pageCalls % 3 {
		case 1:
			out["nextPageToken"] = nil
		case 2:
			out["nextPageToken"] = ""
		}
		out["isLast"] = true
	}
	sandbox.WriteJSON(w, http.StatusOK, out)
}

// bulkFetch is POST /rest/api/3/changelog/bulkfetch: changelogs of up to
// 1000 issues, oldest first, filtered by at most 10 field ids, paged by
// nextPageToken (null on the last page).
func (s *Server) bulkFetch(w http.ResponseWriter, r *http.Request, c caller) {
	var in struct {
		IssueIDsOrKeys []string `json:"issueIdsOrKeys"`
		FieldIDs       []string `json:"fieldIds"`
		MaxResults     int      `json:"maxResults"`
		NextPageToken  string   `json:"nextPageToken"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil || len(in.IssueIDsOrKeys) == 0 ||
		len(in.IssueIDsOrKeys) > 1000 || len(in.FieldIDs) > 10 {
		jiraError(w, http.StatusBadRequest, "issueIdsOrKeys (1 to 1000) is required; at most 10 fieldIds.")
		return
	}
	want := map[string]bool{}
	for _, f := range in.FieldIDs {
		want[f] = true
	}
	type entry struct {
		issue string
		h     historyState
	}
	var all []entry
	for _, k := range in.IssueIDsOrKeys {
		is := c.site.issue(k)
		if is == nil {
			continue
		}
		for _, h := range is.Histories {
			if len(want) > 0 {
				var items []change
				for _, it := range h.Items {
					if want[it.FieldID] {
						items = append(items, it)
					}
				}
				if len(items) == 0 {
					continue
				}
				h.Items = items
			}
			all = append(all, entry{is.ID, h})
		}
	}
	offset, _ := strconv.Atoi(in.NextPageToken)
	limit := in.MaxResults
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	limit = min(limit, 10) // small pages, so paging is exercised
	end := min(offset+limit, len(all))
	rr := s.v3(c.site)
	byIssue := map[string][]any{}
	var order []string
	for _, e := range all[min(offset, len(all)):end] {
		if _, ok := byIssue[e.issue]; !ok {
			order = append(order, e.issue)
		}
		byIssue[e.issue] = append(byIssue[e.issue], rr.history(e.h))
	}
	logs := []any{}
	for _, id := range order {
		logs = append(logs, map[string]any{"issueId": id, "changeHistories": byIssue[id]})
	}
	var next any
	if end < len(all) {
		next = strconv.Itoa(end)
	}
	sandbox.WriteJSON(w, http.StatusOK, map[string]any{"issueChangeLogs": logs, "nextPageToken": next})
}
