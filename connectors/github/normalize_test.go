package github

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
)

// want is the expected shape of one Signal.
type want struct {
	kind, key string
	aliases   []string
	matches   []string // MatchKeys
	at        time.Time
	actor     string
	title     string
	url       string
	subject   connectors.Ref
	attrs     map[string]any // checked key by key
}

const (
	afterCommits = "e88792aa4f1ecb4c7330404aca01c6bd8e640a02"
	afterForced  = "1857e0a7631985d32480813b18de1f819fb20f3b"
	afterMerge   = "89ed3973cfdc3778ecd488a9201690aeaf7b6e27"
	seedContext  = "1296269"
)

var seedRepoRef = connectors.Ref{Type: "repository", ID: seedContext, Name: "octo-org/hello-world"}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// parseFixture runs ParseWebhook on a fixture as an event delivery.
func parseFixture(t *testing.T, event, name string) (*connectors.WebhookDelivery, []byte) {
	t.Helper()
	body := fixture(t, name)
	c, err := New(connectors.Config{WebhookSecret: "s"})
	require.NoError(t, err)
	h := http.Header{}
	h.Set("X-GitHub-Event", event)
	h.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	h.Set("Content-Type", "application/json")
	d, err := c.(*Connector).ParseWebhook(&connectors.WebhookRequest{Header: h, Body: body, Now: at("2030-01-01T00:00:00Z")})
	require.NoError(t, err)
	return d, body
}

func checkSignal(t *testing.T, w want, s connectors.Signal, ctx connectors.Ref) {
	t.Helper()
	require.NoError(t, connectors.ValidateSignal(Spec, s))
	require.Equal(t, w.kind, s.Kind)
	require.Equal(t, w.key, s.DedupeKey)
	require.Equal(t, w.aliases, s.AliasKeys)
	require.Equal(t, w.matches, s.MatchKeys)
	require.True(t, w.at.Equal(s.OccurredAt), "occurred at %s, want %s", s.OccurredAt, w.at)
	require.Equal(t, w.actor, s.Payload.Actor.Name)
	require.Equal(t, w.title, s.Payload.Title)
	require.Equal(t, w.url, s.Payload.URL)
	require.Equal(t, w.subject, s.Payload.Subject)
	require.Equal(t, ctx, s.Payload.Context)
	for k, v := range w.attrs {
		require.Equal(t, v, s.Payload.Attributes[k], "attribute %s", k)
	}
}

func TestParseWebhookFixtures(t *testing.T) {
	pr := connectors.Ref{Type: "pull_request", ID: "1347100006", Name: "Add a feature"}
	prURL := "https://github.com/octo-org/hello-world/pull/25"
	prAttrs := func(state string) map[string]any {
		return map[string]any{"number": 25, "state": state, "draft": false, "base_ref": "main", "head_ref": "feature-25",
			"labels": []string{"enhancement"}, "additions": 12, "deletions": 4}
	}
	tests := []struct {
		name, event, fixture string
		route                string
		ctx                  connectors.Ref
		want                 []want // nil: ignored
	}{
		{"push with commits", "push", "sandbox.push.commits.json", "repo:1296269", seedRepoRef, []want{{
			// a push to the default branch: each commit's HEAD key
			kind: KindCodePushed, key: "commit:1296269:HEAD:" + afterCommits,
			aliases: []string{"commit:1296269:HEAD:a4cad8f7638b1e09302c3fba788734c0294ebab8", "commit:1296269:HEAD:aaf15c1200b5829cb19f43c68dba3c4e052232d7"},
			at:      time.Unix(1717409040, 0), actor: "monalisa", title: "3 commits pushed to main",
			url:     "https://github.com/octo-org/hello-world/compare/bb472deb2fd5...e88792aa4f1e",
			subject: connectors.Ref{Type: "commit", ID: afterCommits, Name: "Speed up the parser (3/3)"},
			attrs: map[string]any{"ref": "refs/heads/main", "branch": "main", "commit_count": 3, "forced": false, "created": false,
				"before": "bb472deb2fd596ca564467c22655debb31ddc7c9", "after": afterCommits, "source": "webhook",
				"compare_url": "https://github.com/octo-org/hello-world/compare/bb472deb2fd5...e88792aa4f1e"},
		}}},
		{"push with zero commits (new branch)", "push", "sandbox.push.zero-commits.json", "repo:1296269", seedRepoRef, []want{{
			kind: KindCodePushed, key: "push:1296269:refs/heads/release/1.x:" + afterCommits,
			at: time.Unix(1717409100, 0), actor: "octocat", title: "Branch release/1.x created at e88792a",
			url:     "https://github.com/octo-org/hello-world/compare/release/1.x",
			subject: connectors.Ref{Type: "commit", ID: afterCommits, Name: "Speed up the parser (3/3)"},
			attrs:   map[string]any{"branch": "release/1.x", "commit_count": 0, "created": true, "forced": false},
		}}},
		{"forced push", "push", "sandbox.push.forced.json", "repo:1296269", seedRepoRef, []want{{
			kind: KindCodePushed, key: "commit:1296269:HEAD:" + afterForced, // one commit: no alias (the intake's plain insert)
			at: time.Unix(1717409220, 0), actor: "octocat", title: "1 commit force-pushed to main",
			url:     "https://github.com/octo-org/hello-world/compare/e88792aa4f1e...1857e0a76319",
			subject: connectors.Ref{Type: "commit", ID: afterForced, Name: "Rewrite history"},
			attrs:   map[string]any{"forced": true, "commit_count": 1, "before": afterCommits},
		}}},
		{"push of a merge commit", "push", "sandbox.push.merge.json", "repo:1296269", seedRepoRef, []want{{
			kind: KindCodePushed, key: "commit:1296269:HEAD:" + afterMerge, aliases: []string{"commit:1296269:HEAD:3c21cf26cb02ffd5b45af51d7161def4c2466e9c"},
			at: time.Unix(1717409640, 0), actor: "octocat", title: "2 commits pushed to main",
			url:     "https://github.com/octo-org/hello-world/compare/1857e0a76319...89ed3973cfdc",
			subject: connectors.Ref{Type: "commit", ID: afterMerge, Name: "Merge pull request #25 from octo-org/feature-25"},
			attrs:   map[string]any{"commit_count": 2},
		}}},
		{"GitHub example: push creating a branch", "push", "github.push.new-branch.json", "repo:186853002",
			connectors.Ref{Type: "repository", ID: "186853002", Name: "Codertocat/Hello-World"}, []want{{
				kind: KindCodePushed, key: "commit:186853002:HEAD:6113728f27ae82c7b1a177c8d03f9e96e0adf246", // master is the default branch
				at: time.Unix(1557933657, 0), actor: "Codertocat", title: "1 commit pushed to master",
				url:     "https://github.com/Codertocat/Hello-World/commit/6113728f27ae82c7b1a177c8d03f9e96e0adf246",
				subject: connectors.Ref{Type: "commit", ID: "6113728f27ae82c7b1a177c8d03f9e96e0adf246", Name: "Initial commit"},
				attrs: map[string]any{"branch": "master", "commit_count": 1, "created": true, "head_commit": map[string]any{
					"id": "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "message": "Initial commit", "timestamp": "2019-05-15T15:19:25Z",
					"url":    "https://github.com/Codertocat/Hello-World/commit/6113728f27ae82c7b1a177c8d03f9e96e0adf246",
					"author": map[string]any{"name": "Codertocat", "username": "Codertocat"}}},
			}}},
		{"tag push is skipped", "push", "sandbox.push.tag.json", "repo:1296269", seedRepoRef, nil},
		{"branch deletion is skipped", "push", "sandbox.push.branch-deleted.json", "repo:1296269", seedRepoRef, nil},
		{"pull request opened", "pull_request", "sandbox.pull_request.opened.json", "repo:1296269", seedRepoRef, []want{{
			kind: KindPullRequestOpened, key: "pr:1347100006:opened", at: at("2024-06-03T10:10:00Z"), actor: "hubot",
			title: "Pull request #25 opened: Add a feature", url: prURL, subject: pr, attrs: prAttrs("open"),
		}}},
		{"pull request closed unmerged", "pull_request", "sandbox.pull_request.closed.json", "repo:1296269", seedRepoRef, []want{{
			kind: KindPullRequestClosed, key: "pr:1347100006:closed:1717409520", at: at("2024-06-03T10:12:00Z"), actor: "monalisa",
			title: "Pull request #25 closed: Add a feature", url: prURL, subject: pr, attrs: prAttrs("closed"),
		}}},
		{"pull request reopened is ignored", "pull_request", "sandbox.pull_request.reopened.json", "repo:1296269", seedRepoRef, nil},
		{"pull request merged", "pull_request", "sandbox.pull_request.merged.json", "repo:1296269", seedRepoRef, []want{{
			kind: KindPullRequestMerged, key: "pr:1347100006:merged", at: at("2024-06-03T10:14:00Z"), actor: "octocat",
			title: "Pull request #25 merged: Add a feature", url: prURL, subject: pr,
			attrs: map[string]any{"number": 25, "state": "closed", "merged_by": "octocat", "merge_commit_sha": afterMerge},
		}}},
		{"release published", "release", "sandbox.release.published.json", "repo:1296269", seedRepoRef, []want{{
			kind: KindReleasePublished, key: "release:150100008:published", at: at("2024-06-03T10:16:00Z"), actor: "octocat",
			title: "Release Version 1.0 published", url: "https://github.com/octo-org/hello-world/releases/tag/v1.0.0",
			subject: connectors.Ref{Type: "release", ID: "150100008", Name: "v1.0.0"},
			attrs: map[string]any{"tag_name": "v1.0.0", "prerelease": false, "name": "Version 1.0",
				"body": "First stable release.", "target_commitish": "main"},
		}}},
		{"prerelease published", "release", "sandbox.release.prerelease.json", "repo:1296269", seedRepoRef, []want{{
			kind: KindReleasePublished, key: "release:150100009:prerelease", at: at("2024-06-03T10:17:00Z"), actor: "octocat",
			title: "Pre-release v1.1.0-rc.1 published", url: "https://github.com/octo-org/hello-world/releases/tag/v1.1.0-rc.1",
			subject: connectors.Ref{Type: "release", ID: "150100009", Name: "v1.1.0-rc.1"},
			attrs:   map[string]any{"prerelease": true, "tag_name": "v1.1.0-rc.1"},
		}}},
		{"draft release is ignored", "release", "sandbox.release.draft-created.json", "repo:1296269", seedRepoRef, nil},
		{"GitHub example: release published", "release", "github.release.published.json", "repo:186853002",
			connectors.Ref{Type: "repository", ID: "186853002", Name: "Codertocat/Hello-World"}, []want{{
				kind: KindReleasePublished, key: "release:17372790:published", at: at("2019-05-15T15:20:53Z"), actor: "Codertocat",
				title: "Release 0.0.1 published", url: "https://github.com/Codertocat/Hello-World/releases/tag/0.0.1",
				subject: connectors.Ref{Type: "release", ID: "17372790", Name: "0.0.1"},
				attrs:   map[string]any{"tag_name": "0.0.1", "prerelease": false, "name": "", "target_commitish": "master"},
			}}},
		{"ping is ignored", "ping", "sandbox.ping.json", "repo:1296269", seedRepoRef, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, body := parseFixture(t, tc.event, tc.fixture)
			require.Equal(t, "72d3162e-cc78-11e3-81ab-4c9367dc0958", d.DeliveryID)
			require.Equal(t, []string{tc.route}, d.RouteKeys)
			require.False(t, d.Notify)
			require.Nil(t, d.Reply)
			require.Len(t, d.Signals, len(tc.want), "signals: %v", kindsOf(d.Signals))
			for i, w := range tc.want {
				checkSignal(t, w, d.Signals[i], tc.ctx)
				require.JSONEq(t, string(body), string(d.Signals[i].Raw), "Raw is the delivered payload")
			}
		})
	}
}

func TestParseWebhookEventName(t *testing.T) {
	d, _ := parseFixture(t, "pull_request", "sandbox.pull_request.merged.json")
	require.Equal(t, "pull_request.closed", d.Event)
	d, _ = parseFixture(t, "push", "sandbox.push.commits.json")
	require.Equal(t, "push", d.Event)
}

// restItems decodes a REST list fixture.
func restItems(t *testing.T, name string) []json.RawMessage {
	t.Helper()
	var items []json.RawMessage
	require.NoError(t, json.Unmarshal(fixture(t, name), &items))
	require.NotEmpty(t, items)
	return items
}
