package jira

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"
	_ "time/tzdata" // users' time zones, whatever the host has installed

	"github.com/poblysh/poblysh/connectors"
)

var _ connectors.Syncer = (*Connector)(nil)

// streamPrefix: a stream is "issues:<PROJECT KEY>".
const streamPrefix = "issues:"

func streamName(key string) string { return streamPrefix + key }

// parseStream reads a stream name's project key.
func parseStream(stream string) (string, error) {
	key, ok := strings.CutPrefix(stream, streamPrefix)
	if !ok || !projectKeyRE.MatchString(key) {
		return "", fmt.Errorf("jira: stream %q: %w: want issues:<project key>", stream, connectors.ErrInvalidConfig)
	}
	return key, nil
}

// Streams lists one issues stream per configured project.
func (c *Connector) Streams(conn connectors.Connection) ([]string, error) {
	cfg, err := parseConfig(conn)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(cfg.Projects))
	for _, p := range cfg.Projects {
		out = append(out, streamName(p))
	}
	return out, nil
}

// searchFields are the fields a search names explicitly (search/jql
// returns only the id otherwise).
var searchFields = []string{"summary", "description", "status", "issuetype", "priority", "project", "assignee",
	"reporter", "creator", "labels", "fixVersions", "resolution", "created", "updated"}

// FetchPage reads one page of a project's issues with the enhanced JQL
// search (POST /rest/api/3/search/jql; the old /search answers 410), every
// field named and changelogs expanded, and returns the Signals of the
// happenings in the pass's window. A pass starts by reading the project
// (a 404 or 403 is access lost, which drops its routes), the token
// user's time zone (GET /myself: JQL dates are minutes in that zone) and
// the site's URL (renamedSite: a renamed site's pass reads on under its
// new URL, which the page names for the engine to store); its JQL is `project = "KEY" AND updated >= "<yyyy/MM/dd HH:mm>" ORDER BY
// updated ASC, key ASC` from the backfill window's start, or from two
// minutes before the last pass's Since: the newest update it saw, but no
// later than 15 minutes before it began, since search lists a change only
// once it is indexed, seconds to minutes later. The pass ends when
// nextPageToken is absent, null or empty, or isLast. Otherwise the next
// page is the same query from the minute of the newest update read (the
// issues read already are skipped), or, while a page holds nothing past
// that minute, the page token, and a query read with its token is listed
// once more before the pass moves past it (see cursor.follow); a token
// Jira no longer accepts (they expire after 7 days) restarts that query; a
// query Jira refuses mid-pass starts the pass again, and a page that shows
// the user's zone changed is read again in the new zone (see query). Issues whose embedded changelog is cut short get their history
// in bulk (POST /rest/api/3/changelog/bulkfetch); transitions into or out
// of a status other than the current one get its category from GET
// /rest/api/3/status.
func (c *Connector) FetchPage(ctx context.Context, req connectors.PageRequest) (*connectors.Page, error) {
	key, err := parseStream(req.Stream)
	if err != nil {
		return nil, err
	}
	cfg, err := parseConfig(req.Connection)
	if err != nil {
		return nil, err
	}
	cloudID, siteURL, host, err := siteOf(req.Connection)
	if err != nil {
		return nil, err
	}
	now := req.Now
	if now.IsZero() {
		now = c.now()
	}
	cur, err := decodeCursor(req.Cursor, now, cfg.BackfillDays)
	if err != nil {
		return nil, err
	}
	api := c.siteAPI(cloudID)
	res, issues, started, err := c.query(ctx, req.HTTP, api, key, now, cur)
	if err != nil {
		return nil, err
	}
	var renamed *connectors.Account
	if started {
		if renamed = c.renamedSite(ctx, req.HTTP, req.Connection); renamed != nil {
			siteURL, host = renamed.Metadata["url"], renamed.Name
		}
	}
	for i := range issues {
		if u := issues[i].Fields.Updated.Time; u.After(cur.PassMax) {
			cur.PassMax = u
		}
	}
	unread, raws := cur.unread(issues, res.Issues)
	sigs, err := c.pageSignals(ctx, req.HTTP, api, normalizer{siteURL: siteURL, host: host, floor: cur.floor()}, unread, raws)
	if err != nil {
		return nil, err
	}
	sigs = cur.fresh(sigs)
	next := ""
	if res.more() {
		next = *res.NextPageToken
	}
	more := cur.follow(key, issues, next)
	mark := cur.mark()
	cur.remember(sigs, mark)
	page := &connectors.Page{Signals: sigs, Items: len(unread), Account: renamed}
	if more {
		page.Next = cur.encode()
		return page, nil
	}
	cur.rest(mark)
	page.Next, page.Done = cur.encode(), true
	return page, nil
}

// query reads the page the cursor stands at, and reports whether a pass
// started to read it (startPass: the running query is written anew). A
// page token Jira refuses (expired, or not accepted) starts its query over
// (what it returned already is in Seen or deduplicated). A pass under way
// whose query Jira refuses (400: invalid configuration) starts again from
// its lower bound, as a new pass would: its start reads the project, so a
// project deleted or no longer browsable since the pass began (Jira then
// answers a JQL naming it 400 "The value 'KEY' does not exist for the
// field 'project'") is reported as a pass start reports it, not found or
// forbidden, which drops its routes; otherwise the query is written anew
// (the user's zone read again), and only a pass start refused again fails
// as invalid configuration. Since and Seen are kept: the window is the
// same, what the pass returned already is not returned again where Seen
// still holds it. A page read from the start of a query in the middle of
// a pass (no token) that shows the query's minute was read in another
// zone (cursor.zoneMoved) reads the user's zone again; a zone changed
// since the query was written writes it in the new zone, from the same
// minute, and searches again.
func (c *Connector) query(ctx context.Context, hc *http.Client, api, key string, now time.Time, cur *cursor) (*searchResult, []issue, bool, error) {
	started, rezoned := false, false
	for {
		if cur.JQL == "" {
			if err := c.startPass(ctx, hc, api, key, now, cur); err != nil {
				return nil, nil, false, err
			}
			started = true
		}
		res, err := c.search(ctx, hc, api, cur.JQL, cur.Token)
		if err != nil && cur.Token != "" && connectors.Kind(err) == connectors.ErrInvalidConfig {
			cur.Token = ""
			res, err = c.search(ctx, hc, api, cur.JQL, "")
		}
		if err != nil {
			if started || connectors.Kind(err) != connectors.ErrInvalidConfig {
				return nil, nil, started, fmt.Errorf("jira: search %s: %w", key, err)
			}
			cur.JQL = "" // the pass starts again
			continue
		}
		issues, err := decodeIssues(res.Issues)
		if err != nil {
			return nil, nil, started, err
		}
		if started || rezoned || !cur.zoneMoved(issues) {
			return res, issues, started, nil
		}
		rezoned = true
		tz, err := c.userZone(ctx, hc, api)
		if err != nil {
			return nil, nil, false, err
		}
		if tz == cur.TZ {
			return res, issues, false, nil // an edit moved what the query had read
		}
		cur.TZ, cur.JQL = tz, passJQL(key, cur.From, tz)
	}
}

// renamedSite reads the connection's site among those its token reaches
// (accessible-resources) by its cloud id and, when an organization admin
// has renamed the site's URL since the account was stored, answers the
// account under the new URL: name the new host, url and site_name the new
// ones, the old URL among former_urls. Deliveries name the new host from
// the rename on, and a search of the same happening must key it alike
// (normalizer.key), so the pass reads on under the new URL and the engine
// stores the account (Page.Account). nil when the URL is unchanged, the
// site is not listed, or the read failed: the pass goes on under the
// stored URL, and the next pass reads again.
func (c *Connector) renamedSite(ctx context.Context, hc *http.Client, conn connectors.Connection) *connectors.Account {
	cloudID, siteURL, _, err := siteOf(conn)
	if err != nil {
		return nil
	}
	all, err := c.sites(ctx, hc)
	if err != nil {
		return nil
	}
	for _, s := range all {
		u := strings.TrimRight(s.URL, "/")
		if s.ID != cloudID || strings.EqualFold(u, siteURL) || s.host() == "" {
			continue
		}
		meta := maps.Clone(conn.Account.Metadata)
		meta["url"], meta["site_name"] = u, s.Name
		delete(meta, metaFormerURLs)
		if former := formerURLs(siteURLs(conn.Account.Metadata), u); former != "" {
			meta[metaFormerURLs] = former
		}
		return &connectors.Account{ID: cloudID, Name: s.host(), Metadata: meta}
	}
	return nil
}

// startPass proves the project is still readable, reads the token user's
// time zone and sets the pass's JQL, lower bound and start.
func (c *Connector) startPass(ctx context.Context, hc *http.Client, api, key string, now time.Time, cur *cursor) error {
	var p project
	if err := call(ctx, hc, http.MethodGet, api+"project/"+url.PathEscape(key), nil, &p); err != nil {
		return fmt.Errorf("jira: read project %s: %w", key, err)
	}
	tz, err := c.userZone(ctx, hc, api)
	if err != nil {
		return err
	}
	cur.Lower = cur.Floor
	if !cur.Since.IsZero() {
		cur.Lower = cur.Since.Add(-overlap)
		if cur.Lower.Before(cur.Floor) {
			cur.Lower = cur.Floor
		}
	}
	cur.JQL, cur.TZ, cur.From, cur.Read = passJQL(key, cur.Lower, tz), tz, cur.Lower.Truncate(time.Minute), nil
	cur.Token, cur.Again, cur.Due, cur.Edited = "", false, nil, false
	cur.PassMax, cur.Start, cur.Hold = time.Time{}, now, time.Time{}
	return nil
}

// userZone reads the token user's time zone (GET /myself), which Jira
// reads JQL dates in at the time of each search.
func (c *Connector) userZone(ctx context.Context, hc *http.Client, api string) (string, error) {
	var me struct {
		TimeZone string `json:"timeZone"`
	}
	if err := call(ctx, hc, http.MethodGet, api+"myself", nil, &me); err != nil {
		return "", fmt.Errorf("jira: read the token user: %w", err)
	}
	return me.TimeZone, nil
}

// passJQL is a pass's query from the minute of from (floored) in the
// user's zone. An unknown zone is read as UTC fourteen hours earlier,
// which is before the bound in every zone.
func passJQL(key string, from time.Time, tz string) string {
	bound := from.Add(-14 * time.Hour).UTC().Format(jqlDate)
	if loc, ok := zone(tz); ok {
		bound = jqlMinute(from, loc)
	}
	return fmt.Sprintf(`project = %s AND updated >= "%s" ORDER BY updated ASC, key ASC`, jqlKey(key), bound)
}

// jqlDate is the layout of a JQL date with minutes.
const jqlDate = "2006/01/02 15:04"

// zone loads the user's time zone; false when there is none or Go does not
// know it.
func zone(tz string) (*time.Location, bool) {
	if tz == "" {
		return nil, false
	}
	loc, err := time.LoadLocation(tz)
	return loc, err == nil
}

// jqlMinute writes t's minute in loc as JQL reads it. A wall time that
// names two instants (the hour repeated when clocks go back) may be read
// as the later one, after t: for t in the first pass through it, the last
// minute before the repeat is written instead (01:59 where clocks go back
// from 03:00 to 02:00), before t either way and as little before as can
// be. Writing the minute one repeat earlier re-listed a whole repeat of
// issues at every page that started again in it (cursor.follow).
func jqlMinute(t time.Time, loc *time.Location) string {
	t = t.In(loc)
	if before, ok := foldAhead(t); ok {
		return before.Format(jqlDate)
	}
	return t.Format(jqlDate)
}

// repeated reports whether t's wall time names two instants (the clocks
// of its zone pass it twice when they go back): JQL may read it as either.
func repeated(t time.Time) bool {
	if _, ok := foldAhead(t); ok {
		return true
	}
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return false
	}
	_, off := t.Zone()
	_, prev := start.Add(-time.Second).In(t.Location()).Zone()
	return t.Before(start.Add(time.Duration(prev-off) * time.Second))
}

// foldAhead reports whether t's wall time comes again once the clocks of
// t's zone go back, and then answers the last minute before the stretch of
// wall time they repeat (in t's location).
func foldAhead(t time.Time) (time.Time, bool) {
	_, end := t.ZoneBounds()
	if end.IsZero() {
		return time.Time{}, false
	}
	_, off := t.Zone()
	_, next := end.In(t.Location()).Zone()
	back := time.Duration(off-next) * time.Second
	if back <= 0 || t.Before(end.Add(-back)) {
		return time.Time{}, false
	}
	return end.Add(-back - time.Minute).In(t.Location()), true
}

// jqlKey is a project key as a JQL value: always quoted, since a key may
// be a JQL reserved word ("SET", "IF", "AS", "DO", "INT" are valid keys),
// which Jira refuses unquoted with 400 "… is a reserved JQL word. You must
// surround it in quotation marks to use it in a query." A key has only
// letters, digits and '_' (projectKeyRE), so nothing needs escaping.
func jqlKey(key string) string { return `"` + key + `"` }

// searchResult is a page of POST /rest/api/3/search/jql.
type searchResult struct {
	Issues        []json.RawMessage `json:"issues"`
	NextPageToken *string           `json:"nextPageToken"`
	IsLast        *bool             `json:"isLast"`
}

// more reports whether another page follows: a token that is present,
// not null and not empty, unless isLast says otherwise.
func (r *searchResult) more() bool {
	if r.IsLast != nil && *r.IsLast {
		return false
	}
	return r.NextPageToken != nil && *r.NextPageToken != ""
}

func (c *Connector) search(ctx context.Context, hc *http.Client, api, jql, token string) (*searchResult, error) {
	body := map[string]any{"jql": jql, "maxResults": c.pageSize, "fields": searchFields, "expand": "changelog"}
	if token != "" {
		body["nextPageToken"] = token
	}
	var res searchResult
	if err := call(ctx, hc, http.MethodPost, api+"search/jql", body, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// decodeIssues reads a search page's issues.
func decodeIssues(raws []json.RawMessage) ([]issue, error) {
	issues := make([]issue, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal(raw, &issues[i]); err != nil {
			return nil, fmt.Errorf("jira: search: %w: unreadable issue: %v", connectors.ErrTransient, err)
		}
	}
	return issues, nil
}

// pageSignals normalizes a page's issues (raws are their JSON) with n,
// whose floor is the pass's lower bound.
func (c *Connector) pageSignals(ctx context.Context, hc *http.Client, api string, n normalizer, issues []issue, raws []json.RawMessage) ([]connectors.Signal, error) {
	lower := n.floor
	var long []string
	needStatuses := false
	for i := range issues {
		is := &issues[i]
		if cl := is.Changelog; cl != nil {
			if cl.Total > len(cl.Histories) {
				long = append(long, is.ID)
			}
			needStatuses = needStatuses || movesElsewhere(is, cl.Histories, lower)
		}
	}
	bulk := map[string][]history{}
	if len(long) > 0 {
		var err error
		if bulk, err = c.bulkChangelogs(ctx, hc, api, long); err != nil {
			return nil, err
		}
		for _, id := range long {
			for i := range issues {
				if issues[i].ID == id {
					needStatuses = needStatuses || movesElsewhere(&issues[i], bulk[id], lower)
				}
			}
		}
	}
	if needStatuses {
		var err error
		if n.categories, err = c.statusCategories(ctx, hc, api); err != nil {
			return nil, err
		}
	}
	var sigs []connectors.Signal
	for i := range issues {
		var hs []history
		if h, ok := bulk[issues[i].ID]; ok {
			hs = h
			if hs == nil {
				hs = []history{}
			}
		}
		sigs = append(sigs, n.restSignals(&issues[i], raws[i], hs)...)
	}
	return sigs, nil
}

// movesElsewhere reports whether a Signal at or after floor (the pass's
// lower bound: older ones are not emitted) will carry a status the issue is
// not in now, whose category the issue does not carry: the Signal of a
// transition into one, or, before a transition out of one, the older
// Signals (earlier changes, the creation). An incremental pass over an
// issue that just moved into its current status needs none, and reads no
// status list (it asked for one on nearly every page).
func movesElsewhere(is *issue, hs []history, floor time.Time) bool {
	cur := ""
	if is.Fields.Status != nil {
		cur = is.Fields.Status.ID
	}
	emitted := func(t time.Time) bool { return !t.Before(floor) }
	olderEmitted := func(h history) bool {
		if emitted(is.Fields.Created.Time) {
			return true
		}
		for _, o := range hs {
			if o.Created.Before(h.Created.Time) && emitted(o.Created.Time) {
				return true
			}
		}
		return false
	}
	for _, h := range hs {
		for _, it := range h.Items {
			if it.FieldID != "status" {
				continue
			}
			if it.To != cur && emitted(h.Created.Time) || it.From != cur && olderEmitted(h) {
				return true
			}
		}
	}
	return false
}

// bulkChangelogs reads the whole tracked history of issues (POST
// /rest/api/3/changelog/bulkfetch, at most 10 field ids, pages by
// nextPageToken, null on the last): status, the tracked fields and the
// issue type, which makes no Signal but is set back like them
// (normalizer.before).
func (c *Connector) bulkChangelogs(ctx context.Context, hc *http.Client, api string, ids []string) (map[string][]history, error) {
	out := map[string][]history{}
	for _, id := range ids {
		out[id] = nil
	}
	body := map[string]any{"issueIdsOrKeys": ids, "fieldIds": append([]string{"status", "issuetype"}, trackedFields...), "maxResults": 1000}
	for range 1000 {
		var res struct {
			IssueChangeLogs []struct {
				IssueID         string    `json:"issueId"`
				ChangeHistories []history `json:"changeHistories"`
			} `json:"issueChangeLogs"`
			NextPageToken *string `json:"nextPageToken"`
		}
		if err := call(ctx, hc, http.MethodPost, api+"changelog/bulkfetch", body, &res); err != nil {
			return nil, fmt.Errorf("jira: bulk changelogs: %w", err)
		}
		for _, l := range res.IssueChangeLogs {
			out[l.IssueID] = append(out[l.IssueID], l.ChangeHistories...)
		}
		if res.NextPageToken == nil || *res.NextPageToken == "" {
			return out, nil
		}
		body["nextPageToken"] = *res.NextPageToken
	}
	return nil, errors.New("jira: bulk changelogs: too many pages")
}

// statusCategories maps the site's status ids to their category keys (GET
// /rest/api/3/status).
func (c *Connector) statusCategories(ctx context.Context, hc *http.Client, api string) (map[string]string, error) {
	var list []status
	if err := call(ctx, hc, http.MethodGet, api+"status", nil, &list); err != nil {
		return nil, fmt.Errorf("jira: statuses: %w", err)
	}
	out := make(map[string]string, len(list))
	for _, s := range list {
		if s.StatusCategory != nil {
			out[s.ID] = s.StatusCategory.Key
		}
	}
	return out, nil
}
