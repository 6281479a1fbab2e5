package github

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	gh "github.com/google/go-github/v89/github"

	"github.com/poblysh/poblysh/connectors"
)

// repoRef is the repository a Signal happened in.
type repoRef struct {
	ID       int64
	FullName string
}

func (r repoRef) context() connectors.Ref {
	return connectors.Ref{Type: "repository", ID: strconv.FormatInt(r.ID, 10), Name: r.FullName}
}

func repoOf(r *gh.Repository) repoRef { return repoRef{ID: r.GetID(), FullName: r.GetFullName()} }

// actorOf is a GitHub account as the actor. Bots (a GitHub App's account:
// type "Bot", login "<app>[bot]") are flagged Bot so consumers can filter
// them out.
func actorOf(u *gh.User) connectors.Actor {
	if u == nil || u.GetLogin() == "" {
		return connectors.Actor{}
	}
	return connectors.Actor{ID: strconv.FormatInt(u.GetID(), 10), Name: u.GetLogin(), Bot: isBot(u.GetType(), u.GetLogin())}
}

// isBot reports whether an account is a bot: GitHub types GitHub App
// accounts "Bot" and names them "<app>[bot]"; commit authors in push
// payloads carry only the username, hence the login check.
func isBot(typ, login string) bool {
	return strings.EqualFold(typ, "Bot") || strings.HasSuffix(strings.ToLower(login), "[bot]")
}

// pullSignals yields every Signal a REST pull request's state implies: it
// was opened; and merged, or closed without merging. A webhook for the same
// happening yields the same dedupe keys. The REST list has no merged_by, so
// the actor of merged and closed Signals read here is unknown (empty).
func pullSignals(pr *gh.PullRequest, raw json.RawMessage) []connectors.Signal {
	repo := repoOf(pr.GetBase().GetRepo())
	out := []connectors.Signal{pullSignal(KindPullRequestOpened, pr, repo, actorOf(pr.User), raw)}
	switch {
	case pr.MergedAt != nil:
		out = append(out, pullSignal(KindPullRequestMerged, pr, repo, actorOf(pr.MergedBy), raw))
	case pr.GetState() == "closed" && pr.ClosedAt != nil:
		out = append(out, pullSignal(KindPullRequestClosed, pr, repo, connectors.Actor{}, raw))
	}
	return out
}

// pullEventSignals normalizes a pull_request webhook: opened, and closed
// (merged or not). Other actions (reopened, edited, synchronize,
// ready_for_review, labeled...) yield nothing. The actor is the sender.
func pullEventSignals(ev *gh.PullRequestEvent, raw json.RawMessage) []connectors.Signal {
	pr := ev.GetPullRequest()
	if pr == nil {
		return nil
	}
	repo := repoOf(ev.GetRepo())
	if repo.ID == 0 {
		repo = repoOf(pr.GetBase().GetRepo())
	}
	actor := actorOf(ev.GetSender())
	switch ev.GetAction() {
	case "opened":
		return []connectors.Signal{pullSignal(KindPullRequestOpened, pr, repo, actor, raw)}
	case "closed":
		if pr.GetMerged() || pr.MergedAt != nil {
			return []connectors.Signal{pullSignal(KindPullRequestMerged, pr, repo, actor, raw)}
		}
		if pr.ClosedAt != nil {
			return []connectors.Signal{pullSignal(KindPullRequestClosed, pr, repo, actor, raw)}
		}
	}
	return nil
}

// pullSignal builds one pull request Signal. Keys: pr:<id>:opened,
// pr:<id>:merged, pr:<id>:closed:<closed_at unix> (a pull request can be
// closed, reopened and closed again).
func pullSignal(kind string, pr *gh.PullRequest, repo repoRef, actor connectors.Actor, raw json.RawMessage) connectors.Signal {
	id := strconv.FormatInt(pr.GetID(), 10)
	attrs := map[string]any{
		"number":   pr.GetNumber(),
		"state":    "closed",
		"draft":    pr.GetDraft(),
		"base_ref": pr.GetBase().GetRef(),
		"head_ref": pr.GetHead().GetRef(),
		"labels":   labelNames(pr.Labels),
	}
	if pr.Additions != nil {
		attrs["additions"], attrs["deletions"] = pr.GetAdditions(), pr.GetDeletions()
	}
	var verb, key string
	var at time.Time
	switch kind {
	case KindPullRequestOpened:
		verb, key, at = "opened", "pr:"+id+":opened", pr.GetCreatedAt().Time
		attrs["state"] = "open"
	case KindPullRequestMerged:
		verb, key, at = "merged", "pr:"+id+":merged", pr.GetMergedAt().Time
		if pr.MergedBy != nil {
			attrs["merged_by"] = pr.MergedBy.GetLogin()
		}
		if sha := pr.GetMergeCommitSHA(); sha != "" {
			attrs["merge_commit_sha"] = sha
		}
	default:
		at = pr.GetClosedAt().Time
		verb, key = "closed", fmt.Sprintf("pr:%s:closed:%d", id, at.Unix())
	}
	return connectors.Signal{
		Kind: kind, OccurredAt: at.UTC(), DedupeKey: key,
		Payload: connectors.Payload{
			Title:      fmt.Sprintf("Pull request #%d %s: %s", pr.GetNumber(), verb, pr.GetTitle()),
			URL:        pr.GetHTMLURL(),
			Actor:      actor,
			Subject:    connectors.Ref{Type: "pull_request", ID: id, Name: pr.GetTitle()},
			Context:    repo.context(),
			Attributes: attrs,
		},
		Raw: raw,
	}
}

func labelNames(ls []*gh.Label) []string {
	out := make([]string, 0, len(ls))
	for _, l := range ls {
		out = append(out, l.GetName())
	}
	return out
}

// releaseSignal normalizes a published release (drafts yield nothing).
// A full release is keyed release:<id>:published; a pre-release
// release:<id>:prerelease, with prerelease true, so that its promotion to
// a full release later (GitHub's "released" action) is a release.published
// of its own, with prerelease false. A full release happened at
// published_at, or, when promoted, at updated_at (the promotion; later
// edits move it too). The actor is the release author.
func releaseSignal(rel *gh.RepositoryRelease, repo repoRef, raw json.RawMessage, promoted bool) (connectors.Signal, bool) {
	if rel == nil || rel.GetDraft() || rel.PublishedAt == nil {
		return connectors.Signal{}, false
	}
	id := strconv.FormatInt(rel.GetID(), 10)
	label := cmpOr(rel.GetName(), rel.GetTagName())
	what, key := "Release", "release:"+id+":published"
	at := rel.GetPublishedAt().UTC()
	if rel.GetPrerelease() {
		what, key = "Pre-release", "release:"+id+":prerelease"
	} else if promoted && rel.UpdatedAt != nil && rel.GetUpdatedAt().After(at) {
		at = rel.GetUpdatedAt().UTC()
	}
	return connectors.Signal{
		Kind: KindReleasePublished, OccurredAt: at, DedupeKey: key,
		Payload: connectors.Payload{
			Title:   fmt.Sprintf("%s %s published", what, label),
			URL:     rel.GetHTMLURL(),
			Actor:   actorOf(rel.Author),
			Subject: connectors.Ref{Type: "release", ID: id, Name: rel.GetTagName()},
			Context: repo.context(),
			Attributes: map[string]any{
				"tag_name":         rel.GetTagName(),
				"prerelease":       rel.GetPrerelease(),
				"name":             rel.GetName(),
				"body":             rel.GetBody(),
				"target_commitish": rel.GetTargetCommitish(),
			},
		},
		Raw: raw,
	}, true
}

// releaseEventSignals normalizes a release webhook. "published" yields the
// release as it is (a release or a pre-release); "released" ("a release
// was published, or a pre-release was changed to a release") yields the
// full release, so a promotion is seen: for a release published directly
// GitHub sends both, with the same key. created, prereleased (sent with
// published), edited, unpublished, deleted yield nothing.
func releaseEventSignals(ev *gh.ReleaseEvent, raw json.RawMessage) []connectors.Signal {
	switch ev.GetAction() {
	case "published":
	case "released":
		if ev.GetRelease().GetPrerelease() {
			return nil
		}
	default:
		return nil
	}
	if s, ok := releaseSignal(ev.GetRelease(), repoOf(ev.GetRepo()), raw, ev.GetAction() == "released"); ok {
		return []connectors.Signal{s}
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
