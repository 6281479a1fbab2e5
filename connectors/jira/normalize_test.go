package jira

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	return b
}

func testConnector(t *testing.T, settings map[string]string) *Connector {
	t.Helper()
	cfg := connectors.Config{ClientID: "client", ClientSecret: "s3cret", Endpoints: defaults}.WithSettings(settings)
	c, err := New(cfg)
	require.NoError(t, err)
	return c.(*Connector)
}

// A v2 webhook body: the status item (field "Status", capital S) becomes
// issue.status_changed, the labels item issue.updated, the rank item
// nothing; both keyed by (issue id, changelog id); routed by the site host
// of the self link (which lacks /issue/) and each matched webhook.
func TestWebhookStatusChange(t *testing.T) {
	c := testConnector(t, nil)
	req := &connectors.WebhookRequest{Body: fixture(t, "webhook.issue_updated.status.json"),
		Header: http.Header{"X-Atlassian-Webhook-Identifier": {"4181-1772444472345"}}}
	d, err := c.ParseWebhook(req)
	require.NoError(t, err)
	require.Equal(t, "acme-pr.atlassian.net/4181-1772444472345", d.DeliveryID)
	require.Equal(t, "jira:issue_updated.issue_generic", d.Event)
	require.Equal(t, []string{"hook:acme-pr.atlassian.net/10001", "hook:acme-pr.atlassian.net/10007"}, d.RouteKeys)
	require.Len(t, d.Signals, 2)
	sc, up := d.Signals[0], d.Signals[1]
	require.Equal(t, KindStatusChanged, sc.Kind)
	require.Equal(t, "acme-pr.atlassian.net/issue:10042:changelog:10311:status", sc.DedupeKey)
	require.Equal(t, time.UnixMilli(1772444472345).UTC(), sc.OccurredAt)
	require.Equal(t, "Issue LPR-42 moved from In Progress to In Review: Press kit for the Q3 launch", sc.Payload.Title)
	require.Equal(t, "https://acme-pr.atlassian.net/browse/LPR-42", sc.Payload.URL)
	require.Equal(t, connectors.Actor{ID: "5b10a2844c20165700ede21g", Name: "Ada Lovelace"}, sc.Payload.Actor)
	require.Equal(t, connectors.Ref{Type: "project", ID: "10001", Name: "Launch PR"}, sc.Payload.Context)
	require.Equal(t, connectors.Ref{Type: "issue", ID: "10042", Name: "LPR-42"}, sc.Payload.Subject)
	a := sc.Payload.Attributes
	require.Equal(t, "In Progress", a["from_status"])
	require.Equal(t, "In Review", a["to_status"])
	require.Equal(t, "In Review", a["status"])
	require.Equal(t, "indeterminate", a["status_category"])
	require.Equal(t, "Task", a["issue_type"])
	require.Equal(t, "High", a["priority"])
	require.Equal(t, []string{"launch", "press"}, a["labels"])
	require.Equal(t, "Grace Hopper", a["assignee"])
	require.Equal(t, []string{"Q3 launch"}, a["fix_versions"])
	require.Equal(t, "Goal\nA press kit for the Q3 launch: brand assets, quotes and the fact sheet.\n\n- owner: @5b10ac8d82e05b22cc7d4ef5\n- due: before the embargo\n\nno markup here",
		a["description"])
	require.Equal(t, KindUpdated, up.Kind)
	require.Equal(t, "acme-pr.atlassian.net/issue:10042:changelog:10311:updated", up.DedupeKey)
	require.Equal(t, []string{"labels"}, up.Payload.Attributes["changed_fields"])
	for _, s := range d.Signals {
		require.NoError(t, connectors.ValidateSignal(Spec, s))
		require.JSONEq(t, string(req.Body), string(s.Raw))
	}
}

// Noise only (rank, sprint, time tracking) yields nothing; a comment
// without a changelog yields nothing; an update without changelog or
// comment is keyed by the issue's updated time.
func TestWebhookIgnoresNoise(t *testing.T) {
	c := testConnector(t, nil)
	var body map[string]any
	require.NoError(t, json.Unmarshal(fixture(t, "webhook.issue_updated.status.json"), &body))
	parse := func(mut func(map[string]any)) *connectors.WebhookDelivery {
		b := map[string]any{}
		raw, _ := json.Marshal(body)
		_ = json.Unmarshal(raw, &b)
		mut(b)
		raw, _ = json.Marshal(b)
		d, err := c.ParseWebhook(&connectors.WebhookRequest{Body: raw, Header: http.Header{"X-Atlassian-Webhook-Identifier": {"1"}}})
		require.NoError(t, err)
		return d
	}
	d := parse(func(b map[string]any) {
		b["changelog"] = map[string]any{"id": "10312", "items": []any{
			map[string]any{"field": "Rank", "fieldtype": "custom", "fieldId": "customfield_10019", "toString": "Ranked lower"},
			map[string]any{"field": "timeestimate", "fieldtype": "jira", "fieldId": "timeestimate", "to": "3600"},
		}}
	})
	require.Empty(t, d.Signals)
	d = parse(func(b map[string]any) {
		delete(b, "changelog")
		b["issue_event_type_name"] = "issue_commented"
		b["comment"] = map[string]any{"id": "10400", "body": "Looks good"}
	})
	require.Empty(t, d.Signals)
	d = parse(func(b map[string]any) { delete(b, "changelog") })
	require.Len(t, d.Signals, 1)
	require.Equal(t, "acme-pr.atlassian.net/issue:10042:updated:"+"1772444472345", d.Signals[0].DedupeKey)
	d = parse(func(b map[string]any) {
		b["webhookEvent"] = "jira:issue_deleted"
		b["issue_event_type_name"] = "issue_deleted"
	})
	require.Empty(t, d.Signals)
	require.NotEmpty(t, d.RouteKeys, "ignored events still route, so the intake log names the connection")
}

// A REST v3 issue (ADF description): its creation, a transition into a
// status it has since left (category from the site's status list), the
// final transition with its resolution; the creation-time labels entry,
// rank and sprint changes are not Signals. Oldest first.
func TestRESTIssueSignals(t *testing.T) {
	raw := fixture(t, "search.issue.json")
	var is issue
	require.NoError(t, json.Unmarshal(raw, &is))
	n := normalizer{siteURL: "https://acme-pr.atlassian.net", host: "acme-pr.atlassian.net", categories: map[string]string{"10001": "indeterminate"}}
	sigs := n.restSignals(&is, raw, nil)
	var got []string
	for _, s := range sigs {
		require.NoError(t, connectors.ValidateSignal(Spec, s))
		got = append(got, s.Kind+" "+s.DedupeKey)
	}
	require.Equal(t, []string{
		"issue.created acme-pr.atlassian.net/issue:10057:created",
		"issue.status_changed acme-pr.atlassian.net/issue:10057:changelog:20003:status",
		"issue.status_changed acme-pr.atlassian.net/issue:10057:changelog:20004:status",
		"issue.updated acme-pr.atlassian.net/issue:10057:changelog:20004:updated",
	}, got)
	require.Equal(t, connectors.Actor{ID: "5b10ac8d82e05b22cc7d4ef5", Name: "Grace Hopper"}, sigs[0].Payload.Actor, "creator")
	require.Equal(t, "indeterminate", sigs[1].Payload.Attributes["status_category"], "from the status list")
	require.Equal(t, "done", sigs[2].Payload.Attributes["status_category"], "the current status")
	require.Equal(t, []string{"resolution"}, sigs[3].Payload.Attributes["changed_fields"])
	require.Equal(t, "Done", sigs[3].Payload.Attributes["resolution"])
	require.Equal(t, "Scope\nSlides for Gartner, owned by @Grace Hopper\nsee https://acme.example/briefing\n- market sizing\n- 🚀 roadmap\n{\"tier\": 1}",
		sigs[0].Payload.Attributes["description"])
	require.Equal(t, time.Date(2026, 2, 12, 9, 0, 0, 0, time.UTC), sigs[1].OccurredAt)

	// The window floor drops what happened before it.
	n.floor = time.Date(2026, 2, 13, 0, 0, 0, 0, time.UTC)
	require.Len(t, n.restSignals(&is, raw, nil), 2)
}

func TestPlainText(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"null", `null`, ""},
		{"wiki link and emphasis", `"See [the plan|https://x.example] and *bold* _it_ +under+ {{mono}}"`, "See the plan and bold it under mono"},
		{"wiki bare link and snake_case kept", `"[https://x.example] fix some_snake_case_name"`, "https://x.example fix some_snake_case_name"},
		{"wiki table", `"||a||b||\n|1|2|"`, "| a | b |\n| 1 | 2 |"},
		{"adf paragraphs", `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"one"}]},{"type":"paragraph","content":[{"type":"text","text":"two"}]}]}`, "one\ntwo"},
		// ADF date nodes carry epoch milliseconds as a string.
		{"adf date", `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"Due "},{"type":"date","attrs":{"timestamp":"1582152559000"}}]}]}`, "Due 2020-02-19"},
		{"adf date not a number", `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"date","attrs":{"timestamp":"soon"}}]}]}`, "soon"},
	} {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, plainText(json.RawMessage(tc.in))) })
	}
	long, _ := json.Marshal(strings.Repeat("é", 3000))
	out := plainText(long)
	require.LessOrEqual(t, len(out), maxText)
	require.True(t, strings.HasSuffix(out, "…"))
	require.True(t, json.Valid([]byte(`"`+out+`"`)), "cut on a rune boundary")
}

// lifeStep is one changelog entry of jiraLife and what it did to the
// issue's fields (in the REST v2 shape webhook bodies use).
type lifeStep struct {
	id, at string
	author map[string]any
	items  []map[string]any
	apply  func(f map[string]any)
}

func jiraUser(id, name string) map[string]any {
	return map[string]any{"self": "https://acme.atlassian.net/rest/api/2/user?accountId=" + id, "accountId": id, "displayName": name}
}

func jiraItem(field, from, fromString, to, toString string) map[string]any {
	orNull := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	return map[string]any{"field": field, "fieldtype": "jira", "fieldId": field,
		"from": orNull(from), "fromString": orNull(fromString), "to": orNull(to), "toString": orNull(toString)}
}

// jiraLife is one issue's life: created "To Do" by Ada (with a labels entry
// stamped at creation), then started and assigned, re-prioritized,
// relabelled and moved from one fix version to another, renamed and
// retyped, and closed with a resolution and unassigned. It returns the
// fields at creation and the steps; the fields after step k are the
// creation's with the first k steps applied.
func jiraLife() (map[string]any, []lifeStep) {
	ada, bo := jiraUser("u1", "Ada"), jiraUser("u2", "Bo")
	created := map[string]any{
		"summary": "Launch", "description": "Draft *notes*",
		"project":     map[string]any{"self": "https://acme.atlassian.net/rest/api/2/project/1", "id": "1", "key": "PR", "name": "Press"},
		"issuetype":   map[string]any{"id": "10001", "name": "Task"},
		"status":      map[string]any{"id": "1", "name": "To Do", "statusCategory": map[string]any{"key": "new"}},
		"priority":    map[string]any{"id": "3", "name": "Medium"},
		"labels":      []any{"launch"},
		"assignee":    nil,
		"fixVersions": []any{map[string]any{"id": "10099", "name": "Beta"}},
		"resolution":  nil,
		"creator":     ada, "reporter": ada,
		"created": "2026-03-01T10:00:00.000+0000", "updated": "2026-03-01T10:00:00.000+0000",
	}
	steps := []lifeStep{
		{id: "101", at: "2026-03-02T09:00:00.000+0000", author: bo,
			items: []map[string]any{jiraItem("status", "1", "To Do", "3", "In Progress"), jiraItem("assignee", "", "", "u3", "Grace Hopper")},
			apply: func(f map[string]any) {
				f["status"] = map[string]any{"id": "3", "name": "In Progress", "statusCategory": map[string]any{"key": "indeterminate"}}
				f["assignee"] = jiraUser("u3", "Grace Hopper")
			}},
		{id: "102", at: "2026-03-03T09:00:00.000+0000", author: ada,
			items: []map[string]any{jiraItem("priority", "3", "Medium", "2", "High"), jiraItem("labels", "", "launch", "", "launch press"),
				jiraItem("fixVersions", "10099", "Beta", "", ""), jiraItem("fixVersions", "", "", "10100", "Q3 launch")},
			apply: func(f map[string]any) {
				f["priority"] = map[string]any{"id": "2", "name": "High"}
				f["labels"] = []any{"launch", "press"}
				f["fixVersions"] = []any{map[string]any{"id": "10100", "name": "Q3 launch"}}
			}},
		{id: "103", at: "2026-03-05T09:00:00.000+0000", author: bo,
			items: []map[string]any{jiraItem("summary", "", "Launch", "", "Launch day"), jiraItem("description", "", "Draft *notes*", "", "Final notes"),
				jiraItem("issuetype", "10001", "Task", "10002", "Story")},
			apply: func(f map[string]any) {
				f["summary"], f["description"] = "Launch day", "Final notes"
				f["issuetype"] = map[string]any{"id": "10002", "name": "Story"}
			}},
		{id: "104", at: "2026-03-09T10:00:00.000+0000", author: bo,
			items: []map[string]any{jiraItem("status", "3", "In Progress", "4", "Done"), jiraItem("resolution", "", "", "10000", "Done"),
				jiraItem("assignee", "u3", "Grace Hopper", "", "")},
			apply: func(f map[string]any) {
				f["status"] = map[string]any{"id": "4", "name": "Done", "statusCategory": map[string]any{"key": "done"}}
				f["resolution"] = map[string]any{"id": "10000", "name": "Done"}
				f["assignee"] = nil
			}},
	}
	for i := range steps {
		steps[i].items = append(steps[i].items, map[string]any{"field": "Rank", "fieldtype": "custom", "fieldId": "customfield_10019", "toString": "Ranked higher"})
	}
	return created, steps
}

// lifeFields is the fields after the first k steps.
func lifeFields(t *testing.T, created map[string]any, steps []lifeStep, k int) map[string]any {
	t.Helper()
	var f map[string]any
	b, err := json.Marshal(created)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &f))
	for _, s := range steps[:k] {
		s.apply(f)
		f["updated"] = s.at
	}
	return f
}

// lifeDeliveries are the webhook deliveries of jiraLife as it happened:
// jira:issue_created with the issue as created, then one jira:issue_updated
// per step with the issue as that step left it.
func lifeDeliveries(t *testing.T) []connectors.Signal {
	created, steps := jiraLife()
	issueAt := func(k int) map[string]any {
		return map[string]any{"id": "10042", "key": "PR-7", "self": "https://acme.atlassian.net/rest/api/2/issue/10042", "fields": lifeFields(t, created, steps, k)}
	}
	var out []connectors.Signal
	deliver := func(body map[string]any) {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		d, err := (&Connector{}).ParseWebhook(&connectors.WebhookRequest{Header: http.Header{"X-Atlassian-Webhook-Identifier": {"1"}}, Body: raw})
		require.NoError(t, err)
		out = append(out, d.Signals...)
	}
	deliver(map[string]any{"timestamp": int64(1772359200000), "webhookEvent": "jira:issue_created", "issue_event_type_name": "issue_created",
		"user": created["creator"], "issue": issueAt(0)})
	for k, s := range steps {
		at, err := time.Parse("2006-01-02T15:04:05.000-0700", s.at)
		require.NoError(t, err)
		deliver(map[string]any{"timestamp": at.UnixMilli(), "webhookEvent": "jira:issue_updated", "issue_event_type_name": "issue_generic",
			"user": s.author, "issue": issueAt(k + 1), "changelog": map[string]any{"id": s.id, "items": s.items}})
	}
	return out
}

// lifeSearch is jiraLife as a later search reads it (REST v3: the issue as
// it stands now, ADF description, changelog newest first, the creation-time
// labels entry included).
func lifeSearch(t *testing.T) (*issue, json.RawMessage) {
	created, steps := jiraLife()
	f := lifeFields(t, created, steps, len(steps))
	f["description"] = map[string]any{"type": "doc", "version": 1, "content": []any{
		map[string]any{"type": "paragraph", "content": []any{map[string]any{"type": "text", "text": "Final notes"}}}}}
	histories := []any{}
	for i := len(steps) - 1; i >= 0; i-- {
		s := steps[i]
		histories = append(histories, map[string]any{"id": s.id, "author": s.author, "created": s.at, "items": s.items})
	}
	histories = append(histories, map[string]any{"id": "100", "author": created["creator"], "created": "2026-03-01T10:00:00.500+0000",
		"items": []any{jiraItem("labels", "", "", "", "launch")}})
	raw, err := json.Marshal(map[string]any{"id": "10042", "key": "PR-7",
		"self": "https://api.atlassian.com/ex/jira/a7f3c1d2-5b64-4e0a-9c1e-2f8d4b6a0001/rest/api/3/issue/10042", "fields": f,
		"changelog": map[string]any{"startAt": 0, "maxResults": len(histories), "total": len(histories), "histories": histories}})
	require.NoError(t, err)
	var is issue
	require.NoError(t, json.Unmarshal(raw, &is))
	return &is, raw
}

// The site's status list, as GET /rest/api/3/status gives it.
var lifeCategories = map[string]string{"1": "new", "3": "indeterminate", "4": "done"}

// A creation whose webhook was missed and which a later search stores
// under the same dedupe key describes the issue as it was created: "To
// Do", no resolution, its first priority, labels, fix versions, summary
// and description, not what it has become since.
func TestRESTCreationMatchesWebhook(t *testing.T) {
	hooked := lifeDeliveries(t)[0]
	require.Equal(t, KindCreated, hooked.Kind)
	is, raw := lifeSearch(t)
	n := normalizer{siteURL: "https://acme.atlassian.net", host: "acme.atlassian.net", categories: lifeCategories}
	got := n.restSignals(is, raw, nil)[0]
	require.Equal(t, hooked.DedupeKey, got.DedupeKey)
	require.Equal(t, hooked.OccurredAt, got.OccurredAt)
	require.Equal(t, hooked.Payload, got.Payload)
	require.Equal(t, "To Do", got.Payload.Attributes["status"])
	require.Equal(t, "new", got.Payload.Attributes["status_category"])
	require.NotContains(t, got.Payload.Attributes, "resolution")
	require.Equal(t, []string{"launch"}, got.Payload.Attributes["labels"], "the creation-time entry is part of the creation")

	// Without the site's status list, the category of a status the issue
	// has left is unknown: left out, not today's.
	n.categories = nil
	got = n.restSignals(is, raw, nil)[0]
	require.Equal(t, "To Do", got.Payload.Attributes["status"])
	require.NotContains(t, got.Payload.Attributes, "status_category")
}

// Every change a search reads describes the issue as that change left it,
// as its webhook did at the time; the same holds for a history read in
// bulk (histories given oldest first).
func TestRESTHistoryMatchesWebhook(t *testing.T) {
	hooked := lifeDeliveries(t)
	is, raw := lifeSearch(t)
	n := normalizer{siteURL: "https://acme.atlassian.net", host: "acme.atlassian.net", categories: lifeCategories}
	bulk := slices.Clone(is.Changelog.Histories)
	slices.Reverse(bulk)
	for name, got := range map[string][]connectors.Signal{"embedded": n.restSignals(is, raw, nil), "bulk": n.restSignals(is, raw, bulk)} {
		t.Run(name, func(t *testing.T) {
			require.Len(t, got, len(hooked))
			for i, h := range hooked {
				require.Equal(t, h.DedupeKey, got[i].DedupeKey)
				require.Equal(t, h.Kind, got[i].Kind)
				require.Equal(t, h.OccurredAt, got[i].OccurredAt, h.DedupeKey)
				require.Equal(t, h.Payload, got[i].Payload, h.DedupeKey)
			}
			// The relabelling, mid-history: in progress, assigned, no
			// resolution yet, the old summary.
			mid := got[3]
			require.Equal(t, "acme.atlassian.net/issue:10042:changelog:102:updated", mid.DedupeKey)
			require.Equal(t, "Issue PR-7 updated: Launch", mid.Payload.Title)
			a := mid.Payload.Attributes
			require.Equal(t, "In Progress", a["status"])
			require.Equal(t, "indeterminate", a["status_category"])
			require.Equal(t, "Grace Hopper", a["assignee"])
			require.Equal(t, "High", a["priority"])
			require.Equal(t, "Task", a["issue_type"])
			require.Equal(t, []string{"launch", "press"}, a["labels"])
			require.Equal(t, []string{"Q3 launch"}, a["fix_versions"])
			require.Equal(t, "Draft notes", a["description"])
			require.NotContains(t, a, "resolution")
		})
	}
	// The issue read is left as it stands.
	require.Equal(t, "Done", is.Fields.Status.Name)
	require.Equal(t, []string{"launch", "press"}, is.Fields.Labels)
}

// The site's status list is needed as soon as the history leaves a status
// the issue is no longer in, not only when it enters one, but only when a
// Signal the pass emits (at or after its lower bound) carries that status:
// an incremental pass over an issue that just moved into its current
// status reads none.
func TestMovesElsewhere(t *testing.T) {
	is, _ := lifeSearch(t)
	last := is.Changelog.Histories[:1] // In Progress -> Done, the current status
	require.True(t, movesElsewhere(is, last, time.Time{}), "a backfill emits the Signals before it")
	require.False(t, movesElsewhere(is, is.Changelog.Histories[4:], time.Time{}), "no status change")
	require.False(t, movesElsewhere(is, last, last[0].Created.Time), "only the move into the current status is emitted")
	var started history // the move into In Progress, a status the issue left
	for _, h := range is.Changelog.Histories {
		for _, it := range h.Items {
			if it.FieldID == "status" && it.To != is.Fields.Status.ID {
				started = h
			}
		}
	}
	require.NotEmpty(t, started.ID)
	require.True(t, movesElsewhere(is, is.Changelog.Histories, started.Created.Time), "the move into In Progress is emitted")
}

// catalogExamples are the Signals of the fixtures the catalog's Jira
// examples are written from: the status-change webhook of LPR-42 in Launch
// PR, then the same issue as a backfill reads it.
func catalogExamples(t testing.TB) []connectors.Signal {
	c, err := New(connectors.Config{ClientID: "client", ClientSecret: "s3cret", Endpoints: defaults})
	require.NoError(t, err)
	body, err := os.ReadFile("testdata/webhook.issue_updated.status.json")
	require.NoError(t, err)
	d, err := c.(*Connector).ParseWebhook(&connectors.WebhookRequest{Body: body,
		Header: http.Header{"X-Atlassian-Webhook-Identifier": {"4181-1772444472345"}}})
	require.NoError(t, err)
	raw, err := os.ReadFile("testdata/search.issue.json")
	require.NoError(t, err)
	var is issue
	require.NoError(t, json.Unmarshal(raw, &is))
	return append(d.Signals, normalizer{siteURL: "https://acme-pr.atlassian.net", host: "acme-pr.atlassian.net"}.restSignals(&is, raw, nil)...)
}
