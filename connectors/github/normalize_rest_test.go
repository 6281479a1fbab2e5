package github

import (
	"encoding/json"
	"testing"
	"time"

	gh "github.com/google/go-github/v89/github"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
)

func TestPullSignalsFromREST(t *testing.T) {
	items := restItems(t, "sandbox.rest.pulls.json")
	ref := func(id, title string) connectors.Ref {
		return connectors.Ref{Type: "pull_request", ID: id, Name: title}
	}
	url := func(n string) string { return "https://github.com/octo-org/hello-world/pull/" + n }
	tests := []struct {
		name string
		item int
		want []want
	}{
		{"merged yields opened and merged", 0, []want{
			{kind: KindPullRequestOpened, key: "pr:1347000001:opened", at: at("2024-03-02T05:00:00Z"), actor: "hubot",
				title: "Pull request #1 opened: Fix typo (part 1)", url: url("1"), subject: ref("1347000001", "Fix typo (part 1)"),
				attrs: map[string]any{"number": 1, "state": "open", "draft": false, "base_ref": "main", "head_ref": "feature-1", "labels": []string{}}},
			// The REST list carries no merged_by: the merger is unknown.
			{kind: KindPullRequestMerged, key: "pr:1347000001:merged", at: at("2024-03-03T07:00:00Z"), actor: "",
				title: "Pull request #1 merged: Fix typo (part 1)", url: url("1"), subject: ref("1347000001", "Fix typo (part 1)"),
				attrs: map[string]any{"state": "closed", "merge_commit_sha": mergeSHA(t, items[0])}},
		}},
		{"open yields opened", 1, []want{
			{kind: KindPullRequestOpened, key: "pr:1347000002:opened", at: at("2024-03-03T01:00:00Z"), actor: "monalisa",
				title: "Pull request #2 opened: Refactor parser (part 2)", url: url("2"), subject: ref("1347000002", "Refactor parser (part 2)"),
				attrs: map[string]any{"number": 2, "state": "open", "labels": []string{"bug"}}},
		}},
		{"closed unmerged yields opened and closed", 2, []want{
			{kind: KindPullRequestOpened, key: "pr:1347000003:opened", at: at("2024-03-03T21:00:00Z"), actor: "octocat",
				title: "Pull request #3 opened: Update docs (part 3)", url: url("3"), subject: ref("1347000003", "Update docs (part 3)"),
				attrs: map[string]any{"number": 3, "labels": []string{"enhancement"}}},
			{kind: KindPullRequestClosed, key: "pr:1347000003:closed:1709593200", at: at("2024-03-04T23:00:00Z"), actor: "",
				title: "Pull request #3 closed: Update docs (part 3)", url: url("3"), subject: ref("1347000003", "Update docs (part 3)"),
				attrs: map[string]any{"number": 3, "state": "closed"}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pr gh.PullRequest
			require.NoError(t, json.Unmarshal(items[tc.item], &pr))
			sigs := pullSignals(&pr, items[tc.item])
			require.Len(t, sigs, len(tc.want))
			for i, w := range tc.want {
				checkSignal(t, w, sigs[i], seedRepoRef)
				require.JSONEq(t, string(items[tc.item]), string(sigs[i].Raw))
			}
			_, hasAdditions := sigs[0].Payload.Attributes["additions"]
			require.False(t, hasAdditions, "list items carry no line counts")
		})
	}
}

// mergeSHA reads merge_commit_sha from a REST pull request.
func mergeSHA(t *testing.T, raw json.RawMessage) string {
	var v struct {
		SHA string `json:"merge_commit_sha"`
	}
	require.NoError(t, json.Unmarshal(raw, &v))
	require.Len(t, v.SHA, 40)
	return v.SHA
}

func TestReleaseSignalsFromREST(t *testing.T) {
	items := restItems(t, "sandbox.rest.releases.json")
	repo := repoRef{ID: 1296269, FullName: "octo-org/hello-world"}
	tests := []struct {
		name string
		item int
		want *want
	}{
		{"draft is ignored", 0, nil},
		{"prerelease counts", 1, &want{kind: KindReleasePublished, key: "release:150100009:prerelease", at: at("2024-06-03T10:17:00Z"),
			actor: "octocat", title: "Pre-release v1.1.0-rc.1 published", url: "https://github.com/octo-org/hello-world/releases/tag/v1.1.0-rc.1",
			subject: connectors.Ref{Type: "release", ID: "150100009", Name: "v1.1.0-rc.1"}, attrs: map[string]any{"prerelease": true}}},
		{"published", 2, &want{kind: KindReleasePublished, key: "release:150100008:published", at: at("2024-06-03T10:16:00Z"),
			actor: "octocat", title: "Release Version 1.0 published", url: "https://github.com/octo-org/hello-world/releases/tag/v1.0.0",
			subject: connectors.Ref{Type: "release", ID: "150100008", Name: "v1.0.0"},
			attrs:   map[string]any{"prerelease": false, "tag_name": "v1.0.0", "name": "Version 1.0", "body": "First stable release."}}},
		{"seeded draft is ignored", 3, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rel gh.RepositoryRelease
			require.NoError(t, json.Unmarshal(items[tc.item], &rel))
			s, ok := releaseSignal(&rel, repo, items[tc.item], false)
			require.Equal(t, tc.want != nil, ok)
			if tc.want != nil {
				checkSignal(t, *tc.want, s, seedRepoRef)
			}
		})
	}
}

func TestCommitSignalsFromREST(t *testing.T) {
	items := restItems(t, "sandbox.rest.commits.json")
	repo := repoRef{ID: 1296269, FullName: "octo-org/hello-world"}
	tests := []struct {
		name       string
		item       int
		sha, title string
		parent     string
		actor      string
		at         time.Time
	}{
		{"pushed commit", 0, "aaf15c1200b5829cb19f43c68dba3c4e052232d7", "Commit aaf15c1 on main: Speed up the parser (2/3)",
			"a4cad8f7638b1e09302c3fba788734c0294ebab8", "monalisa", at("2024-06-03T10:02:00Z")},
		{"seeded commit", 2, "bb472deb2fd596ca564467c22655debb31ddc7c9", "Commit bb472de on main: Tidy config (#32)",
			"fe502d32ed42e160e7b037f7d8158fe91acfe4aa", "hubot", at("2024-03-10T10:00:00Z")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c gh.RepositoryCommit
			require.NoError(t, json.Unmarshal(items[tc.item], &c))
			s := commitSignal(&c, repo, "main", items[tc.item])
			checkSignal(t, want{
				kind: KindCodePushed, key: "commit:1296269:HEAD:" + tc.sha, at: tc.at, actor: tc.actor, title: tc.title,
				aliases: []string{"commit:1296269:refs/heads/main:" + tc.sha}, matches: []string{"commit:1296269:refs/heads/main:" + tc.sha},
				url:     "https://github.com/octo-org/hello-world/commit/" + tc.sha,
				subject: connectors.Ref{Type: "commit", ID: tc.sha, Name: firstLine(c.GetCommit().GetMessage())},
				attrs: map[string]any{"ref": "refs/heads/main", "branch": "main", "commit_count": 1, "source": "backfill",
					"before": tc.parent, "after": tc.sha},
			}, s, seedRepoRef)
			head := s.Payload.Attributes["head_commit"].(map[string]any)
			require.Equal(t, tc.sha, head["id"])
			require.Equal(t, tc.at.Format(time.RFC3339), head["timestamp"])
		})
	}
}
