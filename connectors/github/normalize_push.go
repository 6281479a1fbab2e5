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

const zeroSHA = "0000000000000000000000000000000000000000"

// maxPushCommits is the most commits a push payload lists: GitHub's
// "The array includes a maximum of 2048 commits. If necessary, you can use
// the Commits API to fetch additional commits." (Webhook events: push).
const maxPushCommits = 2048

// pushSignal normalizes a push webhook into one code.pushed Signal. Tag
// pushes (refs/tags/...) and other non-branch refs are skipped: the kind is
// a push to a branch. Branch deletions (deleted, or an all-zero after) are
// skipped too. The key is the head commit's key (pushKey: its HEAD key on
// the default branch, else commit:<repo id>:<ref>:<sha>), and every other
// commit of the push is an alias key, so a later backfill of those commits
// stores nothing new; a push without commits (a branch created at an
// existing commit, a force push that only rewinds) is
// push:<repo id>:<ref>:<after>. A push whose head commit is not distinct
// (GitHub: "Whether this commit is distinct from any that have been pushed
// before"), the same head pushed again after a rollback or a fast-forward
// to commits pushed elsewhere, is keyed by the move,
// push:<repo id>:<ref>:<before>..<after>, and claims every commit's key:
// keyed by its head, a head pushed again to the same branch took the first
// push's key and was dropped as its duplicate. A payload lists
// maxPushCommits commits at most: commit_count counts those listed, and
// commit_count_truncated marks a push that lists that many (it may hold
// more, which are not its aliases: the commits sync of the default branch
// stores them as code.pushed of their own).
func pushSignal(ev *gh.PushEvent, raw json.RawMessage, now time.Time) (connectors.Signal, bool) {
	ref := ev.GetRef()
	branch, isBranch := strings.CutPrefix(ref, "refs/heads/")
	after := ev.GetAfter()
	if !isBranch || ev.GetDeleted() || after == "" || after == zeroSHA {
		return connectors.Signal{}, false
	}
	repo := repoRef{ID: ev.GetRepo().GetID(), FullName: ev.GetRepo().GetFullName()}
	rid := strconv.FormatInt(repo.ID, 10)
	n := len(ev.Commits)
	key := "push:" + rid + ":" + ref + ":" + after
	head := ev.GetHeadCommit()
	var aliases []string
	if n > 0 {
		keyOf := func(sha string) string { return commitKey(rid, ref, sha) }
		if branch == cmpOr(ev.GetRepo().GetDefaultBranch(), ev.GetRepo().GetMasterBranch()) {
			keyOf = func(sha string) string { return headKey(rid, sha) }
		}
		key = keyOf(after)
		again := head != nil && head.Distinct != nil && !head.GetDistinct()
		if again {
			key = "push:" + rid + ":" + ref + ":" + ev.GetBefore() + ".." + after
		}
		for _, c := range ev.Commits {
			if id := c.GetID(); id != "" && (id != after || again) {
				aliases = append(aliases, keyOf(id))
			}
		}
	}
	at := ev.GetRepo().GetPushedAt().Time
	if at.IsZero() {
		at = head.GetTimestamp().Time
	}
	if at.IsZero() {
		at = now
	}
	verb := "pushed"
	if ev.GetForced() {
		verb = "force-pushed"
	}
	// A payload lists maxPushCommits commits at most and does not say how
	// many it left out: one that lists that many may stand for more.
	truncated := n >= maxPushCommits
	title := fmt.Sprintf("%d commit%s %s to %s", n, plural(n), verb, branch)
	if truncated {
		title = fmt.Sprintf("%d+ commits %s to %s", n, verb, branch)
	}
	if n == 0 {
		title = fmt.Sprintf("%s %s to %s", branch, verb, short(after))
		if ev.GetCreated() {
			title = fmt.Sprintf("Branch %s created at %s", branch, short(after))
		}
	}
	actor := actorOf(ev.GetSender())
	if actor.Name == "" {
		actor.Name = ev.GetPusher().GetName()
		actor.Bot = isBot("", actor.Name)
	}
	headAttr := map[string]any{"id": after}
	if head != nil {
		headAttr = map[string]any{
			"id": cmpOr(head.GetID(), after), "message": head.GetMessage(), "url": head.GetURL(),
			"timestamp": head.GetTimestamp().UTC().Format(time.RFC3339),
			"author":    map[string]any{"name": head.GetAuthor().GetName(), "username": head.GetAuthor().GetLogin()},
		}
	}
	attrs := map[string]any{
		"ref": ref, "branch": branch, "commit_count": n, "head_commit": headAttr,
		"compare_url": ev.GetCompare(), "forced": ev.GetForced(), "created": ev.GetCreated(),
		"before": ev.GetBefore(), "after": after, "source": "webhook",
	}
	if truncated {
		attrs["commit_count_truncated"] = true
	}
	return connectors.Signal{
		Kind: KindCodePushed, OccurredAt: at.UTC(), DedupeKey: key, AliasKeys: aliases,
		Payload: connectors.Payload{
			Title:      title,
			URL:        ev.GetCompare(),
			Actor:      actor,
			Subject:    connectors.Ref{Type: "commit", ID: after, Name: firstLine(head.GetMessage())},
			Context:    repo.context(),
			Attributes: attrs,
		},
		Raw: raw,
	}, true
}

// commitSignal normalizes a commit of the REST commits list of the default
// branch: a code.pushed Signal with commit_count 1 and source backfill,
// keyed by its HEAD key like the push to the default branch that carried
// it (see headKey). It also claims, and matches, the commit's key on the
// branch by name, commit:<repo id>:refs/heads/<branch>:<sha>: the key of a
// push to that branch before it became the default one. It happened at the
// committer date, the date GitHub's since filter reads.
func commitSignal(c *gh.RepositoryCommit, repo repoRef, branch string, raw json.RawMessage) connectors.Signal {
	sha := c.GetSHA()
	rid := strconv.FormatInt(repo.ID, 10)
	gc := c.GetCommit()
	at := commitTime(c)
	actor := actorOf(c.Author)
	if actor.Name == "" {
		actor.Name = gc.GetAuthor().GetName()
	}
	before := ""
	if len(c.Parents) > 0 {
		before = c.Parents[0].GetSHA()
	}
	return connectors.Signal{
		Kind: KindCodePushed, OccurredAt: at, DedupeKey: headKey(rid, sha),
		AliasKeys: []string{commitKey(rid, "refs/heads/"+branch, sha)}, MatchKeys: []string{commitKey(rid, "refs/heads/"+branch, sha)},
		Payload: connectors.Payload{
			Title:   fmt.Sprintf("Commit %s on %s: %s", short(sha), branch, firstLine(gc.GetMessage())),
			URL:     c.GetHTMLURL(),
			Actor:   actor,
			Subject: connectors.Ref{Type: "commit", ID: sha, Name: firstLine(gc.GetMessage())},
			Context: repo.context(),
			Attributes: map[string]any{
				"ref": "refs/heads/" + branch, "branch": branch, "commit_count": 1,
				"head_commit": map[string]any{
					"id": sha, "message": gc.GetMessage(), "url": c.GetHTMLURL(),
					"timestamp": at.Format(time.RFC3339),
					"author":    map[string]any{"name": gc.GetAuthor().GetName(), "username": c.GetAuthor().GetLogin()},
				},
				"before": before, "after": sha, "source": "backfill",
			},
		},
		Raw: raw,
	}
}

// commitKey is the dedupe key of a commit reaching a branch:
// commit:<repo id>:<ref>:<sha>. The ref is part of it, so the same commit
// pushed to another branch (a fast-forward of main to a feature branch's
// head, a promotion) is a push of its own, while a push and the backfill of
// the same branch agree.
func commitKey(repoID, ref, sha string) string { return "commit:" + repoID + ":" + ref + ":" + sha }

// headKey is the key of a commit that reached the repository's default
// branch, whatever that branch was named then: commit:<repo id>:HEAD:<sha>
// (HEAD: git's name for a repository's default branch). It keys a push to
// the default branch (its head; its other commits' are its aliases) and a
// commit read from the default branch, so the two agree by the unique key
// (a push and the sync that reads its head concurrently store one), and
// once the default branch is renamed (master to main) a backfill stores
// none of the commits pushed or read under the old name again. A branch
// pushed to before it became the default one agrees with its backfill by
// the branch's name (commitSignal's alias and match key). Until 2026-12-07
// a push to the default branch was keyed by the branch's name and claimed
// the HEAD keys as aliases: an alias row for every one-commit push, a
// quarter of the intake's throughput (docs/performance.md, change 24).
// Signals stored in that form, or before (migration 0035), hold the HEAD
// key as an alias, which the insert checks a dedupe key against too.
func headKey(repoID, sha string) string { return "commit:" + repoID + ":HEAD:" + sha }

// commitTime is the committer date (the author date when absent).
func commitTime(c *gh.RepositoryCommit) time.Time {
	gc := c.GetCommit()
	if t := gc.GetCommitter().GetDate(); !t.IsZero() {
		return t.UTC()
	}
	return gc.GetAuthor().GetDate().UTC()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
