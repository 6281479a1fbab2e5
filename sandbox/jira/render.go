package jirasandbox

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// jiraTime is Jira's timestamp format.
func jiraTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000-0700") }

// rest is how objects are rendered: REST v3 through the API gateway
// (rich text as ADF), or REST v2 on the site as webhook bodies carry them
// (rich text as wiki markup).
type rest struct {
	site  *siteState
	v2    bool
	base  string            // API root self links hang from
	zones map[string]string // Server.zones (read under its lock)
}

func (s *Server) v3(st *siteState) rest {
	return rest{site: st, base: "https://api.atlassian.com/ex/jira/" + st.ID + "/rest/api/3/", zones: s.zones}
}

func (s *Server) v2(st *siteState) rest {
	return rest{site: st, v2: true, base: st.URL + "/rest/api/2/", zones: s.zones}
}

func avatars(seed string) map[string]string {
	u := "https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/" + seed + "/"
	return map[string]string{"48x48": u + "48", "24x24": u + "24", "16x16": u + "16", "32x32": u + "32"}
}

func (r rest) user(login string) any {
	p := people[login]
	if p == nil {
		return nil
	}
	return map[string]any{
		"self": r.base + "user?accountId=" + p.AccountID, "accountId": p.AccountID, "emailAddress": p.Email,
		"avatarUrls": avatars(p.AccountID), "displayName": p.Name, "active": true, "timeZone": cmp.Or(r.zones[login], p.TimeZone), "accountType": "atlassian",
	}
}

func (r rest) status(name string) map[string]any {
	sd, _ := statusByName(name)
	return map[string]any{
		"self": r.base + "status/" + sd.ID, "description": "", "iconUrl": r.site.URL + "/", "name": sd.Name, "id": sd.ID,
		"statusCategory": map[string]any{
			"self": r.base + "statuscategory/" + strconv.Itoa(sd.CategoryID), "id": sd.CategoryID, "key": sd.CategoryKey,
			"colorName": sd.Color, "name": sd.CategoryName,
		},
	}
}

var priorityIDs = map[string]string{"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}
var typeIDs = map[string]string{"Task": "10001", "Story": "10002", "Bug": "10003", "Epic": "10000"}

// description renders the wiki-markup description for the version: as is
// (v2), or as an ADF document with a paragraph per line (v3).
func (r rest) description(wiki string) any {
	if wiki == "" {
		return nil
	}
	if r.v2 {
		return wiki
	}
	var paras []any
	for _, line := range strings.Split(wiki, "\n") {
		if line == "" {
			continue
		}
		paras = append(paras, map[string]any{"type": "paragraph", "content": []any{map[string]any{"type": "text", "text": line}}})
	}
	return map[string]any{"type": "doc", "version": 1, "content": paras}
}

// fields renders every field of an issue (want nil), or only those named.
func (r rest) fields(is *issueState, want []string) map[string]any {
	pr := r.site.project(is.Project)
	versions := []any{}
	for i, v := range is.FixVersions {
		versions = append(versions, map[string]any{"self": r.base + "version/" + strconv.Itoa(10200+i), "id": strconv.Itoa(10200 + i),
			"description": "", "name": v, "archived": false, "released": false})
	}
	var resolution any
	if is.Resolution != "" {
		resolution = map[string]any{"self": r.base + "resolution/10000", "id": "10000", "description": "Work has been completed on this issue.", "name": is.Resolution}
	}
	all := map[string]any{
		"summary":     is.Summary,
		"description": r.description(is.Description),
		"status":      r.status(is.Status),
		"issuetype": map[string]any{"self": r.base + "issuetype/" + typeIDs[is.Type], "id": typeIDs[is.Type], "description": "",
			"iconUrl": r.site.URL + "/rest/api/2/universal_avatar/view/type/issuetype/avatar/10318?size=medium", "name": is.Type,
			"subtask": false, "avatarId": 10318, "hierarchyLevel": 0},
		"priority": map[string]any{"self": r.base + "priority/" + priorityIDs[is.Priority], "iconUrl": r.site.URL + "/images/icons/priorities/" +
			strings.ToLower(is.Priority) + ".svg", "name": is.Priority, "id": priorityIDs[is.Priority]},
		"project": map[string]any{"self": r.base + "project/" + pr.ID, "id": pr.ID, "key": pr.Key, "name": pr.Name,
			"projectTypeKey": "software", "simplified": false, "avatarUrls": avatars("project-" + pr.ID)},
		"assignee":    r.user(is.Assignee),
		"reporter":    r.user(is.Reporter),
		"creator":     r.user(is.Creator),
		"labels":      append([]string{}, is.Labels...),
		"fixVersions": versions,
		"resolution":  resolution,
		"created":     jiraTime(is.Created),
		"updated":     jiraTime(is.Updated),
	}
	if want == nil {
		// What a full issue also carries (webhook bodies): the noise the
		// connector must ignore.
		var resDate any
		if is.Resolution != "" {
			resDate = jiraTime(is.Updated)
		}
		extra := map[string]any{
			"statuscategorychangedate": jiraTime(is.Updated), "timespent": nil, "aggregatetimespent": nil,
			"resolutiondate": resDate, "workratio": -1, "lastViewed": nil, "versions": []any{}, "issuelinks": []any{},
			"watches":  map[string]any{"self": r.base + "issue/" + is.Key + "/watchers", "watchCount": 1, "isWatching": true},
			"votes":    map[string]any{"self": r.base + "issue/" + is.Key + "/votes", "votes": 0, "hasVoted": false},
			"progress": map[string]any{"progress": 0, "total": 0}, "aggregateprogress": map[string]any{"progress": 0, "total": 0},
			"timetracking": map[string]any{}, "timeestimate": nil, "timeoriginalestimate": nil, "aggregatetimeestimate": nil,
			"aggregatetimeoriginalestimate": nil, "components": []any{}, "attachment": []any{}, "subtasks": []any{},
			"environment": nil, "duedate": nil, "security": nil, "customfield_10019": "0|i0000" + is.ID + ":",
			"customfield_10020": nil, "customfield_10021": nil, "customfield_10015": nil, "customfield_10016": nil,
		}
		for k, v := range extra {
			all[k] = v
		}
		return all
	}
	out := map[string]any{}
	for _, f := range want {
		if v, ok := all[f]; ok {
			out[f] = v
		}
	}
	return out
}

func (r rest) history(h historyState) map[string]any {
	items := []any{}
	for _, c := range h.Items {
		items = append(items, map[string]any{
			"field": c.Field, "fieldtype": c.FieldType, "fieldId": c.FieldID,
			"from": nullable(c.From), "fromString": nullable(c.FromString), "to": nullable(c.To), "toString": nullable(c.ToString),
		})
	}
	return map[string]any{"id": strconv.Itoa(h.ID), "author": r.user(h.Author), "created": jiraTime(h.Created), "items": items}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// issue renders an issue: the fields named (nil: all), and, with
// changelog, its EmbeddedHistories most recent changelog entries, newest
// first, as Jira embeds "a list of recent updates to an issue, sorted by
// date, starting from the most recent" (SearchAndReconcileRequestBean's
// expand). A client that reads them in that order, or takes them for the
// oldest when total says more exist, reads wrong here as it would there.
func (r rest) issue(is *issueState, want []string, changelog bool) map[string]any {
	out := map[string]any{
		"expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
		"id":     is.ID, "self": r.base + "issue/" + is.ID, "key": is.Key,
		"fields": r.fields(is, want),
	}
	if changelog {
		all := slices.Clone(is.Histories)
		slices.SortStableFunc(all, func(a, b historyState) int { return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID)) })
		hs := []any{}
		for i := len(all) - 1; i >= 0 && len(hs) < EmbeddedHistories; i-- {
			hs = append(hs, r.history(all[i]))
		}
		out["changelog"] = map[string]any{"startAt": 0, "maxResults": len(hs), "total": len(is.Histories), "histories": hs}
	}
	return out
}
