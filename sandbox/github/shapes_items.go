package githubsandbox

import (
	"fmt"
	"time"
)

func labelJSON(r *repo, l label) obj {
	return obj{
		"id": l.ID, "node_id": nodeID("Label", l.ID),
		"url":  apiBase + "/repos/" + r.FullName() + "/labels/" + l.Name,
		"name": l.Name, "color": l.Color, "default": l.Default, "description": l.Description,
	}
}

func branchJSON(r *repo, ref, sha string) obj {
	return obj{
		"label": r.Owner.Login + ":" + ref, "ref": ref, "sha": sha,
		"user": userJSON(r.Owner), "repo": repoJSON(r, repoEvent),
	}
}

// pullJSON is a pull request: the list-item shape, or with full set the shape
// of GET /pulls/{number} and webhook payloads (merge state, counts).
func pullJSON(r *repo, p *pull, full bool) obj {
	api := apiBase + "/repos/" + r.FullName()
	self := fmt.Sprintf("%s/pulls/%d", api, p.Number)
	html := fmt.Sprintf("%s/%s/pull/%d", webBase, r.FullName(), p.Number)
	issue := fmt.Sprintf("%s/issues/%d", api, p.Number)
	labels := make([]obj, 0, len(p.Labels))
	for _, l := range p.Labels {
		labels = append(labels, labelJSON(r, l))
	}
	var mergeSHA any
	if p.MergeCommitSHA != "" {
		mergeSHA = p.MergeCommitSHA
	}
	o := obj{
		"url": self, "id": p.ID, "node_id": nodeID("PullRequest", p.ID), "html_url": html,
		"diff_url": html + ".diff", "patch_url": html + ".patch", "issue_url": issue,
		"commits_url": self + "/commits", "review_comments_url": self + "/comments",
		"review_comment_url": api + "/pulls/comments{/number}", "comments_url": issue + "/comments",
		"statuses_url": api + "/statuses/" + p.HeadSHA,
		"number":       p.Number, "state": p.State, "locked": false, "title": p.Title,
		"user": userJSON(p.User), "body": p.Body, "labels": labels, "milestone": nil,
		"active_lock_reason": nil, "created_at": ts(p.CreatedAt), "updated_at": ts(p.UpdatedAt),
		"closed_at": ts(p.ClosedAt), "merged_at": ts(p.MergedAt), "merge_commit_sha": mergeSHA,
		"assignee": nil, "assignees": []obj{}, "requested_reviewers": []obj{}, "requested_teams": []obj{},
		"head": branchJSON(r, p.HeadRef, p.HeadSHA), "base": branchJSON(r, p.BaseRef, p.BaseSHA),
		"_links": obj{
			"self": obj{"href": self}, "html": obj{"href": html}, "issue": obj{"href": issue},
			"comments": obj{"href": issue + "/comments"}, "review_comments": obj{"href": self + "/comments"},
			"review_comment": obj{"href": api + "/pulls/comments{/number}"}, "commits": obj{"href": self + "/commits"},
			"statuses": obj{"href": api + "/statuses/" + p.HeadSHA},
		},
		"author_association": "MEMBER", "auto_merge": nil, "draft": p.Draft,
	}
	if full {
		mergeable, state := any(nil), "unknown"
		if p.State == "open" {
			mergeable, state = true, "clean"
		}
		o["merged"] = !p.MergedAt.IsZero()
		o["mergeable"], o["rebaseable"], o["mergeable_state"] = mergeable, mergeable, state
		o["merged_by"] = userJSON(p.MergedBy)
		o["comments"], o["review_comments"], o["maintainer_can_modify"] = 0, 0, false
		o["commits"], o["additions"], o["deletions"], o["changed_files"] = p.Commits, p.Additions, p.Deletions, p.ChangedFiles
	}
	return o
}

// releaseJSON is a release as the REST API and webhooks carry it.
func releaseJSON(r *repo, rel *release) obj {
	api := fmt.Sprintf("%s/repos/%s/releases/%d", apiBase, r.FullName(), rel.ID)
	html := webBase + "/" + r.FullName() + "/releases/tag/" + rel.TagName
	if rel.Draft {
		html = webBase + "/" + r.FullName() + "/releases/tag/untagged-" + fakeSHA(rel.ID)[:20]
	}
	return obj{
		"url": api, "assets_url": api + "/assets",
		"upload_url": fmt.Sprintf("https://uploads.github.com/repos/%s/releases/%d/assets{?name,label}", r.FullName(), rel.ID),
		"html_url":   html, "id": rel.ID, "author": userJSON(rel.Author), "node_id": nodeID("Release", rel.ID),
		"tag_name": rel.TagName, "target_commitish": rel.TargetCommitish, "name": rel.Name,
		"draft": rel.Draft, "immutable": false, "prerelease": rel.Prerelease,
		"created_at": ts(rel.CreatedAt), "updated_at": ts(rel.UpdatedAt), "published_at": ts(rel.PublishedAt),
		"assets":      []obj{},
		"tarball_url": apiBase + "/repos/" + r.FullName() + "/tarball/" + rel.TagName,
		"zipball_url": apiBase + "/repos/" + r.FullName() + "/zipball/" + rel.TagName,
		"body":        rel.Body,
	}
}

func gitUser(u *user, at time.Time) obj {
	return obj{"name": u.Name, "email": u.Email, "date": ts(at)}
}

// commitJSON is a commit as GET /repos/{owner}/{repo}/commits lists it.
func commitJSON(r *repo, c *commit) obj {
	api := apiBase + "/repos/" + r.FullName()
	parents := make([]obj, 0, len(c.Parents))
	for _, p := range c.Parents {
		parents = append(parents, obj{"sha": p, "url": api + "/commits/" + p, "html_url": webBase + "/" + r.FullName() + "/commit/" + p})
	}
	return obj{
		"sha": c.SHA, "node_id": nodeID("Commit", fmt.Sprintf("%d:%s", r.ID, c.SHA)),
		"commit": obj{
			"author": gitUser(c.Author, c.Date), "committer": gitUser(c.Author, c.Date),
			"message": c.Message, "tree": obj{"sha": c.TreeSHA, "url": api + "/git/trees/" + c.TreeSHA},
			"url": api + "/git/commits/" + c.SHA, "comment_count": 0,
			"verification": obj{"verified": false, "reason": "unsigned", "signature": nil, "payload": nil, "verified_at": nil},
		},
		"url": api + "/commits/" + c.SHA, "html_url": webBase + "/" + r.FullName() + "/commit/" + c.SHA,
		"comments_url": api + "/commits/" + c.SHA + "/comments",
		"author":       userJSON(c.Author), "committer": userJSON(c.Author), "parents": parents,
	}
}

// pushCommitJSON is a commit as push payloads carry it.
func pushCommitJSON(r *repo, c *commit) obj {
	if c == nil {
		return nil
	}
	person := obj{"name": c.Author.Name, "email": c.Author.Email, "username": c.Author.Login}
	orEmpty := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return obj{
		"id": c.SHA, "tree_id": c.TreeSHA, "distinct": c.Distinct, "message": c.Message,
		"timestamp": ts(c.Date), "url": webBase + "/" + r.FullName() + "/commit/" + c.SHA,
		"author": person, "committer": person,
		"added": orEmpty(c.Added), "removed": orEmpty(c.Removed), "modified": orEmpty(c.Modified),
	}
}

// hookJSON is a repository webhook; the secret is masked as GitHub does.
func hookJSON(r *repo, h *hook) obj {
	api := fmt.Sprintf("%s/repos/%s/hooks/%d", apiBase, r.FullName(), h.ID)
	cfg := obj{"content_type": h.ContentType, "insecure_ssl": h.InsecureSSL, "url": h.URL}
	if h.Secret != "" {
		cfg["secret"] = "********"
	}
	return obj{
		"type": "Repository", "id": h.ID, "name": "web", "active": h.Active, "events": h.Events,
		"config": cfg, "updated_at": ts(h.UpdatedAt), "created_at": ts(h.CreatedAt),
		"url": api, "test_url": api + "/test", "ping_url": api + "/pings", "deliveries_url": api + "/deliveries",
		"last_response": obj{"code": nil, "status": "unused", "message": nil},
	}
}
