package jira

import (
	"encoding/json"
	"net/http"
	"os"
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
	require.Equal(t, "issue:10042:changelog:10311:status", sc.DedupeKey)
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
	require.Equal(t, "issue:10042:changelog:10311:updated", up.DedupeKey)
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
	require.Equal(t, "issue:10042:updated:"+"1772444472345", d.Signals[0].DedupeKey)
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
	n := normalizer{siteURL: "https://acme-pr.atlassian.net", categories: map[string]string{"10001": "indeterminate"}}
	sigs := n.restSignals(&is, raw, nil)
	var got []string
	for _, s := range sigs {
		require.NoError(t, connectors.ValidateSignal(Spec, s))
		got = append(got, s.Kind+" "+s.DedupeKey)
	}
	require.Equal(t, []string{
		"issue.created issue:10057:created",
		"issue.status_changed issue:10057:changelog:20003:status",
		"issue.status_changed issue:10057:changelog:20004:status",
		"issue.updated issue:10057:changelog:20004:updated",
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
