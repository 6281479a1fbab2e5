package githubsandbox

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// zeroSHA is the "after" of a deleted ref and the "before" of a created one.
var zeroSHA = strings.Repeat("0", 40)

// PushInput pushes commits to a branch.
type PushInput struct {
	// Branch defaults to the default branch; a new name creates the branch
	// from the default branch's head.
	Branch string `json:"branch"`
	// Commits is how many new commits the push carries (0: a branch created
	// at an existing commit, or a force push that only rewinds), up to
	// 20000; its payload lists the first 2048, as GitHub lists 2048 at most.
	Commits int `json:"commits"`
	// Forced drops the branch's newest commit before adding the new ones.
	Forced  bool   `json:"forced"`
	User    string `json:"user"`
	Message string `json:"message"`
	// From fast-forwards Branch to the head of branch From (a promotion:
	// main catches up with a release branch). The push carries the commits
	// From has that Branch lacks, none of them distinct (they were pushed
	// before), the head commit neither, as GitHub sends it. Commits must be
	// 0. It also pushes a head again after a rollback (a forced push of 0
	// commits), from a branch that kept it.
	From string `json:"from"`
	// CommitterDate dates the new commits (author and committer); zero: now.
	// A date in the future plays a committer whose clock is wrong.
	CommitterDate time.Time `json:"committer_date"`
}

// maxPayloadCommits is the most commits a push payload lists: GitHub's
// "The array includes a maximum of 2048 commits. If necessary, you can use
// the Commits API to fetch additional commits." Which of a larger push's
// commits it lists GitHub does not document: the sandbox lists the oldest.
const maxPayloadCommits = 2048

// maxPushInput bounds PushInput.Commits (the sandbox's memory, not GitHub's).
const maxPushInput = 20000

// pushSpec is one push payload to build.
type pushSpec struct {
	ref, before, after       string
	created, deleted, forced bool
	baseRef                  string
	compare                  string
	commits                  []*commit
	head                     *commit
	notDistinct              int // the first n commits were already on another branch
}

// Push applies a push and returns its push event.
func (s *Server) Push(fullName string, in PushInput) (*Activity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, u, err := s.actorLocked(fullName, in.User)
	if err != nil {
		return nil, err
	}
	if in.Commits < 0 || in.Commits > maxPushInput {
		return nil, validationError(fmt.Sprintf("commits must be between 0 and %d", maxPushInput))
	}
	branch := cmpOr(in.Branch, rp.DefaultBranch)
	hist, exists := rp.branches[branch]
	spec := pushSpec{ref: "refs/heads/" + branch, forced: in.Forced}
	if exists {
		spec.before = hist[len(hist)-1].SHA
	} else {
		hist = slices.Clone(rp.branches[rp.DefaultBranch])
		spec.before, spec.created = zeroSHA, true
	}
	hist = slices.Clone(hist)
	if in.From != "" {
		src, ok := rp.branches[in.From]
		switch {
		case !ok:
			return nil, fmt.Errorf("branch %s: %w", in.From, ErrNotFound)
		case in.Commits != 0 || in.Forced:
			return nil, validationError("a fast-forward (from) carries no new commits and is not forced")
		case len(hist) > len(src) || (len(hist) > 0 && src[len(hist)-1].SHA != hist[len(hist)-1].SHA):
			return nil, validationError("not a fast-forward: " + branch + " is not behind " + in.From)
		}
		spec.commits = slices.Clone(src[len(hist):])
		spec.notDistinct = len(spec.commits)
		hist = slices.Clone(src)
	}
	if in.Forced && len(hist) > 1 {
		rp.drop(hist)
		hist = hist[:len(hist)-1]
	}
	msg := cmpOr(in.Message, "Update README.md")
	for i := range in.Commits {
		text := msg
		if in.Commits > 1 {
			text = fmt.Sprintf("%s (%d/%d)", msg, i+1, in.Commits)
		}
		var parent *commit
		if len(hist) > 0 {
			parent = hist[len(hist)-1]
		}
		c := s.newCommitLocked(rp, u, parent, text)
		if !in.CommitterDate.IsZero() {
			c.Date = in.CommitterDate.UTC().Truncate(time.Second)
		}
		hist = append(hist, c)
		spec.commits = append(spec.commits, c)
	}
	if len(hist) == 0 {
		return nil, validationError("nothing to push: the repository is empty")
	}
	spec.head = hist[len(hist)-1]
	spec.after = spec.head.SHA
	rp.branches[branch] = hist
	rp.PushedAt = s.now()
	return s.pushActivityLocked(rp, u, spec), nil
}

// DeleteBranch deletes a branch (not the default one): a push with deleted
// true, an all-zero after and no head commit.
func (s *Server) DeleteBranch(fullName, branch, login string) (*Activity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, u, err := s.actorLocked(fullName, login)
	if err != nil {
		return nil, err
	}
	head := rp.head(branch)
	if head == nil {
		return nil, fmt.Errorf("branch %s: %w", branch, ErrNotFound)
	}
	if branch == rp.DefaultBranch {
		return nil, validationError("the default branch cannot be deleted")
	}
	rp.drop(rp.branches[branch])
	delete(rp.branches, branch)
	rp.PushedAt = s.now()
	return s.pushActivityLocked(rp, u, pushSpec{ref: "refs/heads/" + branch, before: head.SHA, after: zeroSHA, deleted: true}), nil
}

// PushTag pushes a new lightweight tag at sha (default: the default
// branch's head): a push to refs/tags/<tag> with no commits.
func (s *Server) PushTag(fullName, tag, sha, login string) (*Activity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, u, err := s.actorLocked(fullName, login)
	if err != nil {
		return nil, err
	}
	if tag == "" {
		return nil, validationError("tag is required")
	}
	c := rp.head(rp.DefaultBranch)
	if sha != "" {
		c = rp.commitBySHA(sha)
	}
	if c == nil {
		return nil, fmt.Errorf("commit %q: %w", sha, ErrNotFound)
	}
	rp.PushedAt = s.now()
	spec := pushSpec{ref: "refs/tags/" + tag, before: zeroSHA, after: c.SHA, created: true, head: c}
	if head := rp.head(rp.DefaultBranch); head != nil && head.SHA == c.SHA {
		spec.baseRef = "refs/heads/" + rp.DefaultBranch
	}
	return s.pushActivityLocked(rp, u, spec), nil
}

func (s *Server) pushActivityLocked(rp *repo, u *user, spec pushSpec) *Activity {
	p := s.pushPayloadLocked(rp, u, spec)
	return &Activity{Kind: "push", Object: p, Events: []Event{{Name: "push", Repo: strings.ToLower(rp.FullName()), Payload: p}}}
}

// pushPayloadLocked builds a push payload with the push-specific repository shape.
func (s *Server) pushPayloadLocked(rp *repo, u *user, spec pushSpec) map[string]any {
	full := rp.FullName()
	compare := spec.compare
	switch {
	case compare != "":
	case spec.created && len(spec.commits) == 0:
		compare = webBase + "/" + full + "/compare/" + strings.TrimPrefix(strings.TrimPrefix(spec.ref, "refs/heads/"), "refs/tags/")
	case spec.created:
		compare = webBase + "/" + full + "/compare/" + spec.commits[0].SHA[:12] + "^..." + spec.after[:12]
	default:
		compare = webBase + "/" + full + "/compare/" + spec.before[:12] + "..." + spec.after[:12]
	}
	commits := make([]obj, 0, min(len(spec.commits), maxPayloadCommits))
	for i, c := range spec.commits[:min(len(spec.commits), maxPayloadCommits)] {
		o := pushCommitJSON(rp, c)
		o["distinct"] = i >= spec.notDistinct
		commits = append(commits, o)
	}
	var head any
	if spec.head != nil {
		// The head is distinct as it is in commits: a fast-forward to
		// commits pushed before (a promotion, a head pushed again after a
		// rollback) carries a head that is not.
		h := pushCommitJSON(rp, spec.head)
		h["distinct"] = false
		for i, c := range spec.commits {
			if c.SHA == spec.head.SHA {
				h["distinct"] = i >= spec.notDistinct
			}
		}
		head = h
	}
	var baseRef any
	if spec.baseRef != "" {
		baseRef = spec.baseRef
	}
	p := obj{
		"ref": spec.ref, "before": spec.before, "after": spec.after,
		"repository": repoJSON(rp, repoPush),
		"pusher":     obj{"name": u.Login, "email": u.Email},
		"sender":     userJSON(u),
		"created":    spec.created, "deleted": spec.deleted, "forced": spec.forced,
		"base_ref": baseRef, "compare": compare, "commits": commits, "head_commit": head,
	}
	if rp.Owner.Type == "Organization" {
		p["organization"] = orgJSON(rp.Owner)
	}
	return p
}

// CreateRepo creates an empty-history repository with one initial commit on
// its default branch (default "main"), owned by owner (created as a user
// when unknown). A renamed repository's old name may be taken: it then
// names the new repository, and no longer redirects.
func (s *Server) CreateRepo(fullName, defaultBranch string, private bool) (*Activity, error) {
	owner, name, ok := strings.Cut(fullName, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return nil, validationError("name must be owner/name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.repos[key(owner, name)] != nil {
		return nil, validationError("name already exists on this account")
	}
	u := s.ensureUserLocked(owner)
	now := s.now()
	rp := &repo{
		ID: s.id(1300000000), Owner: u, Name: name, Private: private, DefaultBranch: cmpOr(defaultBranch, "main"),
		CreatedAt: now, UpdatedAt: now, PushedAt: now, branches: map[string][]*commit{}, AppInstalled: true,
	}
	rp.branches[rp.DefaultBranch] = []*commit{s.newCommitLocked(rp, u, nil, "Initial commit")}
	s.repos[key(owner, name)] = rp
	// A renamed repository's old name, taken again, stops redirecting.
	delete(s.renamed, key(owner, name))
	return &Activity{Kind: "repository", Object: repoJSON(rp, repoFull)}, nil
}
