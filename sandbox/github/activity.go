package githubsandbox

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Activity is what a simulated action created and the webhook events GitHub
// would send for it, in order.
type Activity struct {
	// Kind names Object in control API answers: pull_request, release, push, repository.
	Kind   string
	Object map[string]any
	Events []Event
}

// PullInput opens a pull request. Head defaults to a new branch
// feature-<number> one commit ahead of Base (default: the default branch).
type PullInput struct {
	Title  string   `json:"title"`
	Body   string   `json:"body"`
	Head   string   `json:"head"`
	Base   string   `json:"base"`
	User   string   `json:"user"`
	Draft  bool     `json:"draft"`
	Labels []string `json:"labels"`
}

// validationError is a 422 from an activity; its text is GitHub's message.
type validationError string

func (e validationError) Error() string { return string(e) }

// OpenPull opens a pull request and returns its pull_request "opened" event.
func (s *Server) OpenPull(fullName string, in PullInput) (*Activity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, u, err := s.actorLocked(fullName, in.User)
	if err != nil {
		return nil, err
	}
	base := cmpOr(in.Base, rp.DefaultBranch)
	baseHead := rp.head(base)
	if baseHead == nil {
		return nil, validationError("base branch " + base + " does not exist")
	}
	number := 1
	for _, p := range rp.pulls {
		number = max(number, p.Number+1)
	}
	head := cmpOr(in.Head, fmt.Sprintf("feature-%d", number))
	now := s.now()
	if rp.head(head) == nil {
		c := s.newCommitLocked(rp, u, baseHead, cmpOr(in.Title, "Update README.md"))
		rp.branches[head] = append(slices.Clone(rp.branches[base]), c)
	}
	p := &pull{
		ID: s.id(1347100000), Number: number, Title: cmpOr(in.Title, "Update README.md"), Body: in.Body,
		User: u, State: "open", Draft: in.Draft, HeadRef: head, HeadSHA: rp.head(head).SHA,
		BaseRef: base, BaseSHA: baseHead.SHA, CreatedAt: now, UpdatedAt: now,
		Commits: len(aheadOf(rp, head, base)), Additions: 12, Deletions: 4, ChangedFiles: 2,
	}
	for _, name := range in.Labels {
		p.Labels = append(p.Labels, label{ID: 208100000 + int64(len(name)), Name: name, Color: "ededed"})
	}
	rp.pulls = append(rp.pulls, p)
	rp.UpdatedAt = now
	return s.pullActivityLocked(rp, p, u, "opened"), nil
}

// MergePull merges an open pull request: its pull_request "closed" event
// (merged: true), then the push of the merge commit to the base branch.
func (s *Server) MergePull(fullName string, number int, login string) (*Activity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, u, p, err := s.pullLocked(fullName, number, login)
	if err != nil {
		return nil, err
	}
	if p.State != "open" {
		return nil, validationError("Pull Request is not mergeable")
	}
	now := s.now()
	before := rp.head(p.BaseRef)
	ahead := aheadOf(rp, p.HeadRef, p.BaseRef)
	merge := s.newCommitLocked(rp, u, before, fmt.Sprintf("Merge pull request #%d from %s/%s\n\n%s", p.Number, rp.Owner.Login, p.HeadRef, p.Title))
	merge.Parents = append(merge.Parents, p.HeadSHA)
	rp.branches[p.BaseRef] = slices.Concat(rp.branches[p.BaseRef], ahead, []*commit{merge})
	p.State, p.ClosedAt, p.MergedAt, p.UpdatedAt, p.MergedBy, p.MergeCommitSHA = "closed", now, now, now, u, merge.SHA
	rp.PushedAt, rp.UpdatedAt = now, now
	act := s.pullActivityLocked(rp, p, u, "closed")
	commits := append(slices.Clone(ahead), merge)
	push := s.pushPayloadLocked(rp, u, pushSpec{ref: "refs/heads/" + p.BaseRef, before: before.SHA, after: merge.SHA,
		commits: commits, head: merge, notDistinct: len(ahead)})
	act.Events = append(act.Events, Event{Name: "push", Repo: act.Events[0].Repo, Payload: push})
	return act, nil
}

// ClosePull closes an open pull request without merging.
func (s *Server) ClosePull(fullName string, number int, login string) (*Activity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, u, p, err := s.pullLocked(fullName, number, login)
	if err != nil {
		return nil, err
	}
	if p.State != "open" {
		return nil, validationError("pull request is already closed")
	}
	now := s.now()
	p.State, p.ClosedAt, p.UpdatedAt = "closed", now, now
	return s.pullActivityLocked(rp, p, u, "closed"), nil
}

// ReopenPull reopens a pull request closed without merging.
func (s *Server) ReopenPull(fullName string, number int, login string) (*Activity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, u, p, err := s.pullLocked(fullName, number, login)
	if err != nil {
		return nil, err
	}
	if p.State != "closed" || !p.MergedAt.IsZero() {
		return nil, validationError("only a pull request closed without merging can be reopened")
	}
	p.State, p.ClosedAt, p.UpdatedAt = "open", time.Time{}, s.now()
	return s.pullActivityLocked(rp, p, u, "reopened"), nil
}

func (s *Server) pullActivityLocked(rp *repo, p *pull, sender *user, action string) *Activity {
	payload := payloadBase(rp, sender)
	payload["action"] = action
	payload["number"] = p.Number
	payload["pull_request"] = pullJSON(rp, p, true)
	return &Activity{
		Kind: "pull_request", Object: pullJSON(rp, p, true),
		Events: []Event{{Name: "pull_request", Repo: strings.ToLower(rp.FullName()), Payload: payload}},
	}
}

// actorLocked resolves a repository and the acting user (SeedUser by default).
func (s *Server) actorLocked(fullName, login string) (*repo, *user, error) {
	rp := s.repos[strings.ToLower(fullName)]
	if rp == nil {
		return nil, nil, fmt.Errorf("repository %s: %w", fullName, ErrNotFound)
	}
	return rp, s.ensureUserLocked(cmpOr(login, SeedUser)), nil
}

func (s *Server) pullLocked(fullName string, number int, login string) (*repo, *user, *pull, error) {
	rp, u, err := s.actorLocked(fullName, login)
	if err != nil {
		return nil, nil, nil, err
	}
	p := rp.pull(number)
	if p == nil {
		return nil, nil, nil, fmt.Errorf("pull request #%d: %w", number, ErrNotFound)
	}
	return rp, u, p, nil
}

// newCommitLocked makes a commit on top of parent (nil: a root commit).
func (s *Server) newCommitLocked(rp *repo, u *user, parent *commit, msg string) *commit {
	s.nextID++
	c := &commit{
		SHA: fakeSHA(rp.ID, "@", s.nextID, msg), TreeSHA: fakeSHA(rp.ID, "^", s.nextID),
		Message: msg, Author: u, Date: s.now(), Distinct: true, Modified: []string{"README.md"},
	}
	if parent != nil {
		c.Parents = []string{parent.SHA}
	}
	return c
}

// aheadOf returns the commits of branch head that base does not have, oldest first.
func aheadOf(rp *repo, head, base string) []*commit {
	have := map[string]bool{}
	for _, c := range rp.branches[base] {
		have[c.SHA] = true
	}
	var out []*commit
	for _, c := range rp.branches[head] {
		if !have[c.SHA] {
			out = append(out, c)
		}
	}
	return out
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// ReleaseInput creates a release.
type ReleaseInput struct {
	TagName         string `json:"tag_name"`
	Name            string `json:"name"`
	Body            string `json:"body"`
	TargetCommitish string `json:"target_commitish"`
	Draft           bool   `json:"draft"`
	Prerelease      bool   `json:"prerelease"`
	User            string `json:"user"`
}

// CreateRelease creates a release. A draft emits release "created" only; a
// published release emits "created", "published", then "released" (or
// "prereleased"), as GitHub does.
func (s *Server) CreateRelease(fullName string, in ReleaseInput) (*Activity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, u, err := s.actorLocked(fullName, in.User)
	if err != nil {
		return nil, err
	}
	if in.TagName == "" {
		return nil, validationError("tag_name is required")
	}
	for _, rel := range rp.releases {
		if rel.TagName == in.TagName {
			return nil, validationError("Release with tag_name " + in.TagName + " already_exists")
		}
	}
	now := s.now()
	rel := &release{
		ID: s.id(150100000), TagName: in.TagName, TargetCommitish: cmpOr(in.TargetCommitish, rp.DefaultBranch),
		Name: cmpOr(in.Name, in.TagName), Body: in.Body, Draft: in.Draft, Prerelease: in.Prerelease,
		Author: u, CreatedAt: now, UpdatedAt: now,
	}
	if !rel.Draft {
		rel.PublishedAt = now
	}
	rp.releases = append(rp.releases, rel)
	actions := []string{"created"}
	if !rel.Draft {
		actions = append(actions, publishActions(rel)...)
	}
	return s.releaseActivityLocked(rp, rel, u, actions...), nil
}

// PublishRelease publishes a draft: release "published", then "released"
// (or "prereleased").
func (s *Server) PublishRelease(fullName string, id int64, login string) (*Activity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, u, err := s.actorLocked(fullName, login)
	if err != nil {
		return nil, err
	}
	rel := rp.release(id)
	if rel == nil {
		return nil, fmt.Errorf("release %d: %w", id, ErrNotFound)
	}
	if !rel.Draft {
		return nil, validationError("release is already published")
	}
	now := s.now()
	rel.Draft, rel.PublishedAt, rel.UpdatedAt = false, now, now
	return s.releaseActivityLocked(rp, rel, u, publishActions(rel)...), nil
}

// PromoteRelease turns a published pre-release into a full release (the
// "Set as a pre-release" box unticked): release "edited", then "released",
// as GitHub sends them. published_at stays; updated_at moves.
func (s *Server) PromoteRelease(fullName string, id int64, login string) (*Activity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, u, err := s.actorLocked(fullName, login)
	if err != nil {
		return nil, err
	}
	rel := rp.release(id)
	if rel == nil {
		return nil, fmt.Errorf("release %d: %w", id, ErrNotFound)
	}
	if rel.Draft || !rel.Prerelease {
		return nil, validationError("only a published pre-release can be promoted")
	}
	rel.Prerelease, rel.UpdatedAt = false, s.now()
	act := s.releaseActivityLocked(rp, rel, u, "edited", "released")
	act.Events[0].Payload["changes"] = obj{}
	return act, nil
}

func publishActions(rel *release) []string {
	if rel.Prerelease {
		return []string{"published", "prereleased"}
	}
	return []string{"published", "released"}
}

func (s *Server) releaseActivityLocked(rp *repo, rel *release, sender *user, actions ...string) *Activity {
	act := &Activity{Kind: "release", Object: releaseJSON(rp, rel)}
	for _, a := range actions {
		p := payloadBase(rp, sender)
		p["action"] = a
		p["release"] = releaseJSON(rp, rel)
		act.Events = append(act.Events, Event{Name: "release", Repo: strings.ToLower(rp.FullName()), Payload: p})
	}
	return act
}
