package githubsandbox

import (
	"fmt"
	"time"
)

// Object URLs carry GitHub's real hosts, as GitHub's own payloads do: the
// connector never follows them, and fixtures stay stable. Link headers, which
// clients do follow, point at the sandbox.
const (
	apiBase = "https://api.github.com"
	webBase = "https://github.com"
)

// obj is a JSON object under construction.
type obj = map[string]any

// userJSON is GitHub's simple-user shape.
func userJSON(u *user) obj {
	if u == nil {
		return nil
	}
	api := apiBase + "/users/" + u.Login
	return obj{
		"login":               u.Login,
		"id":                  u.ID,
		"node_id":             nodeID(u.Type, u.ID),
		"avatar_url":          fmt.Sprintf("https://avatars.githubusercontent.com/u/%d?v=4", u.ID),
		"gravatar_id":         "",
		"url":                 api,
		"html_url":            webBase + "/" + u.Login,
		"followers_url":       api + "/followers",
		"following_url":       api + "/following{/other_user}",
		"gists_url":           api + "/gists{/gist_id}",
		"starred_url":         api + "/starred{/owner}{/repo}",
		"subscriptions_url":   api + "/subscriptions",
		"organizations_url":   api + "/orgs",
		"repos_url":           api + "/repos",
		"events_url":          api + "/events{/privacy}",
		"received_events_url": api + "/received_events",
		"type":                u.Type,
		"user_view_type":      "public",
		"site_admin":          false,
	}
}

// privateUserJSON is the authenticated user as GET /user answers it.
func privateUserJSON(u *user, repos int) obj {
	o := userJSON(u)
	extra := obj{
		"name": u.Name, "company": "@octo-org", "blog": "https://github.blog", "location": "San Francisco",
		"email": u.Email, "notification_email": u.Email, "hireable": nil, "bio": nil, "twitter_username": nil,
		"public_repos": repos, "public_gists": 1, "followers": 20, "following": 0,
		"created_at": ts(u.CreatedAt), "updated_at": ts(u.CreatedAt.AddDate(1, 0, 0)),
		"private_gists": 0, "total_private_repos": 0, "owned_private_repos": 0, "disk_usage": 10000,
		"collaborators": 0, "two_factor_authentication": true,
		"plan": obj{"name": "pro", "space": 976562499, "private_repos": 9999, "collaborators": 0},
	}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

// orgJSON is the organization object webhook payloads carry.
func orgJSON(o *user) obj {
	api := apiBase + "/orgs/" + o.Login
	return obj{
		"login":              o.Login,
		"id":                 o.ID,
		"node_id":            nodeID("Organization", o.ID),
		"url":                api,
		"repos_url":          api + "/repos",
		"events_url":         api + "/events",
		"hooks_url":          api + "/hooks",
		"issues_url":         api + "/issues",
		"members_url":        api + "/members{/member}",
		"public_members_url": api + "/public_members{/member}",
		"avatar_url":         fmt.Sprintf("https://avatars.githubusercontent.com/u/%d?v=4", o.ID),
		"description":        "",
	}
}

// repoVariant selects a repository shape.
type repoVariant int

const (
	repoEvent repoVariant = iota // webhook payloads and nested PR heads
	repoFull                     // GET /repos/{owner}/{repo}
	repoPush                     // push payloads: epoch timestamps, owner with name/email
)

// repoJSON is a repository in one of GitHub's shapes.
func repoJSON(r *repo, v repoVariant) obj {
	full := r.FullName()
	api := apiBase + "/repos/" + full
	visibility := "public"
	if r.Private {
		visibility = "private"
	}
	o := obj{
		"id": r.ID, "node_id": nodeID("Repository", r.ID), "name": r.Name, "full_name": full,
		"private": r.Private, "owner": userJSON(r.Owner), "html_url": webBase + "/" + full,
		"description": r.Description, "fork": false, "url": api,
		"forks_url":         api + "/forks",
		"keys_url":          api + "/keys{/key_id}",
		"collaborators_url": api + "/collaborators{/collaborator}",
		"teams_url":         api + "/teams",
		"hooks_url":         api + "/hooks",
		"issue_events_url":  api + "/issues/events{/number}",
		"events_url":        api + "/events",
		"assignees_url":     api + "/assignees{/user}",
		"branches_url":      api + "/branches{/branch}",
		"tags_url":          api + "/tags",
		"blobs_url":         api + "/git/blobs{/sha}",
		"git_tags_url":      api + "/git/tags{/sha}",
		"git_refs_url":      api + "/git/refs{/sha}",
		"trees_url":         api + "/git/trees{/sha}",
		"statuses_url":      api + "/statuses/{sha}",
		"languages_url":     api + "/languages",
		"stargazers_url":    api + "/stargazers",
		"contributors_url":  api + "/contributors",
		"subscribers_url":   api + "/subscribers",
		"subscription_url":  api + "/subscription",
		"commits_url":       api + "/commits{/sha}",
		"git_commits_url":   api + "/git/commits{/sha}",
		"comments_url":      api + "/comments{/number}",
		"issue_comment_url": api + "/issues/comments{/number}",
		"contents_url":      api + "/contents/{+path}",
		"compare_url":       api + "/compare/{base}...{head}",
		"merges_url":        api + "/merges",
		"archive_url":       api + "/{archive_format}{/ref}",
		"downloads_url":     api + "/downloads",
		"issues_url":        api + "/issues{/number}",
		"pulls_url":         api + "/pulls{/number}",
		"milestones_url":    api + "/milestones{/number}",
		"notifications_url": api + "/notifications{?since,all,participating}",
		"labels_url":        api + "/labels{/name}",
		"releases_url":      api + "/releases{/id}",
		"deployments_url":   api + "/deployments",
		"created_at":        ts(r.CreatedAt), "updated_at": ts(r.UpdatedAt), "pushed_at": ts(r.PushedAt),
		"git_url":   "git://github.com/" + full + ".git",
		"ssh_url":   "git@github.com:" + full + ".git",
		"clone_url": webBase + "/" + full + ".git", "svn_url": webBase + "/" + full,
		"homepage": nil, "size": 108, "stargazers_count": 80, "watchers_count": 80, "language": "Go",
		"has_issues": true, "has_projects": true, "has_downloads": true, "has_wiki": true, "has_pages": false,
		"has_discussions": false, "forks_count": 9, "mirror_url": nil, "archived": false, "disabled": false,
		"open_issues_count": openPulls(r), "license": nil, "allow_forking": true, "is_template": false,
		"web_commit_signoff_required": false, "topics": []string{}, "visibility": visibility,
		"forks": 9, "open_issues": openPulls(r), "watchers": 80, "default_branch": r.DefaultBranch,
	}
	switch v {
	case repoFull:
		o["permissions"] = obj{"admin": true, "maintain": true, "push": true, "triage": true, "pull": true}
		o["temp_clone_token"] = ""
		o["allow_squash_merge"], o["allow_merge_commit"], o["allow_rebase_merge"] = true, true, true
		o["allow_auto_merge"], o["delete_branch_on_merge"], o["allow_update_branch"] = false, false, false
		o["use_squash_pr_title_as_default"] = false
		o["squash_merge_commit_title"], o["squash_merge_commit_message"] = "COMMIT_OR_PR_TITLE", "COMMIT_MESSAGES"
		o["merge_commit_title"], o["merge_commit_message"] = "MERGE_MESSAGE", "PR_TITLE"
		o["network_count"], o["subscribers_count"] = 9, 42
		if r.Owner.Type == "Organization" {
			o["organization"] = userJSON(r.Owner)
		}
	case repoPush:
		owner := userJSON(r.Owner)
		owner["name"], owner["email"] = r.Owner.Login, r.Owner.Email
		o["owner"] = owner
		o["created_at"], o["pushed_at"] = epoch(r.CreatedAt), epoch(r.PushedAt)
		o["stargazers"], o["master_branch"] = 80, r.DefaultBranch
		if r.Owner.Type == "Organization" {
			o["organization"] = r.Owner.Login
		}
	}
	return o
}

func epoch(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

func openPulls(r *repo) int {
	n := 0
	for _, p := range r.pulls {
		if p.State == "open" {
			n++
		}
	}
	return n
}

// payloadBase is what every repository webhook payload carries besides its own fields.
func payloadBase(r *repo, sender *user) obj {
	o := obj{"repository": repoJSON(r, repoEvent), "sender": userJSON(sender)}
	if r.Owner.Type == "Organization" {
		o["organization"] = orgJSON(r.Owner)
	}
	return o
}
