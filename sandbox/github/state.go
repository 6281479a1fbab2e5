package githubsandbox

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// user is a GitHub account: a person ("User") or an organization.
type user struct {
	Login     string
	ID        int64
	Type      string // "User" or "Organization"
	Name      string
	Email     string
	CreatedAt time.Time
}

// label is a pull request label.
type label struct {
	ID          int64
	Name        string
	Color       string
	Description string
	Default     bool
}

// commit is a git commit; history is modelled as a linear list per branch.
type commit struct {
	SHA      string
	TreeSHA  string
	Message  string
	Author   *user // GitHub account of author and committer
	Date     time.Time
	Parents  []string
	Distinct bool
	Added    []string
	Removed  []string
	Modified []string
}

// pull is a pull request.
type pull struct {
	ID             int64
	Number         int
	Title          string
	Body           string
	User           *user
	State          string // open or closed
	Draft          bool
	Labels         []label
	HeadRef        string
	HeadSHA        string
	BaseRef        string
	BaseSHA        string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	ClosedAt       time.Time // zero: null
	MergedAt       time.Time // zero: null
	MergedBy       *user
	MergeCommitSHA string
	Commits        int
	Additions      int
	Deletions      int
	ChangedFiles   int
}

// release is a GitHub release; drafts have a zero PublishedAt.
type release struct {
	ID              int64
	TagName         string
	TargetCommitish string
	Name            string
	Body            string
	Draft           bool
	Prerelease      bool
	Author          *user
	CreatedAt       time.Time
	UpdatedAt       time.Time
	PublishedAt     time.Time
}

// hook is a repository webhook with its own deliverer (its URL is the target).
type hook struct {
	ID          int64
	Active      bool
	Events      []string
	URL         string
	ContentType string // json or form
	Secret      string
	InsecureSSL string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	deliverer   *sandbox.Deliverer
	// deliveries is the hook's delivery log, oldest first (every attempt,
	// redeliveries included), as GET .../hooks/{id}/deliveries lists it.
	deliveries []*hookDelivery
	// redelivering counts redeliveries asked for and not yet attempted, by
	// GUID, so that their attempts are logged as redeliveries.
	redelivering map[string]int
}

// hookDelivery is one attempt to deliver an event to a repository hook.
type hookDelivery struct {
	ID          int64
	GUID        string // X-GitHub-Delivery, shared by the event's redeliveries
	DeliveredAt time.Time
	Redelivery  bool
	Duration    time.Duration
	StatusCode  int // 0 when the target could not be reached
	Event       string
	Action      string
	RepoID      int64
	// sent is the delivery as it was sent; a redelivery sends it again.
	sent sandbox.Delivery
}

// wants reports whether the hook subscribes to event.
func (h *hook) wants(event string) bool {
	return h.Active && (slices.Contains(h.Events, event) || slices.Contains(h.Events, "*"))
}

// repo is a repository and everything in it.
type repo struct {
	ID            int64
	Owner         *user
	Name          string
	Private       bool
	Description   string
	DefaultBranch string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	PushedAt      time.Time
	branches      map[string][]*commit // oldest first
	// dropped are the histories of heads no branch holds any more (a
	// force push's rewound commits, a deleted branch's head), by head sha,
	// oldest first: GitHub keeps such commits (compare, commits?sha= still
	// read them) until it collects garbage.
	dropped  map[string][]*commit
	pulls    []*pull
	releases []*release
	hooks    []*hook
	// Collaborators may read a private repository besides its owner
	// (lowercase logins).
	Collaborators map[string]bool
	// Admins administer the repository besides its owner and the owners of
	// the organization that owns it (lowercase logins): they alone may
	// manage its hooks.
	Admins map[string]bool
	// AppInstalled: the GitHub App is installed on the repository (App
	// mode only): its user tokens reach it and app-level deliveries are sent.
	AppInstalled bool
}

// FullName is owner/name as GitHub spells it.
func (r *repo) FullName() string { return r.Owner.Login + "/" + r.Name }

// head returns the newest commit of a branch, nil when the branch is empty or absent.
func (r *repo) head(branch string) *commit {
	cs := r.branches[branch]
	if len(cs) == 0 {
		return nil
	}
	return cs[len(cs)-1]
}

func (r *repo) pull(number int) *pull {
	for _, p := range r.pulls {
		if p.Number == number {
			return p
		}
	}
	return nil
}

func (r *repo) release(id int64) *release {
	for _, rel := range r.releases {
		if rel.ID == id {
			return rel
		}
	}
	return nil
}

func (r *repo) hook(id int64) *hook {
	for _, h := range r.hooks {
		if h.ID == id {
			return h
		}
	}
	return nil
}

// history returns the commits reachable from ref (branch name or sha), oldest
// first, and whether ref was found. A sha no branch holds any more (see
// dropped) is found too.
func (r *repo) history(ref string) ([]*commit, bool) {
	if cs, ok := r.branches[ref]; ok {
		return cs, true
	}
	for _, all := range []map[string][]*commit{r.branches, r.dropped} {
		for _, cs := range all {
			for i, c := range cs {
				if c.SHA == ref {
					return cs[:i+1], true
				}
			}
		}
	}
	return nil, false
}

// drop remembers the history of a head no branch will hold any more.
func (r *repo) drop(hist []*commit) {
	if len(hist) == 0 {
		return
	}
	if r.dropped == nil {
		r.dropped = map[string][]*commit{}
	}
	r.dropped[hist[len(hist)-1].SHA] = slices.Clone(hist)
}

// ForgetDropped drops the commits no branch holds (see repo.dropped), as
// GitHub's garbage collection does in time: a compare from such a commit
// then answers 404.
func (s *Server) ForgetDropped(fullName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rp := s.repos[strings.ToLower(fullName)]; rp != nil {
		rp.dropped = nil
	}
}

// commitBySHA finds a commit on any branch.
func (r *repo) commitBySHA(sha string) *commit {
	for _, cs := range r.branches {
		for _, c := range cs {
			if c.SHA == sha {
				return c
			}
		}
	}
	return nil
}

// fakeSHA derives a stable 40-hex sha from parts.
func fakeSHA(parts ...any) string {
	sum := sha1.Sum([]byte(fmt.Sprint(parts...)))
	return hex.EncodeToString(sum[:])
}

// nodeID builds a legacy GraphQL node id ("MDQ6VXNlcjE=" = "04:User1").
func nodeID(typ string, id any) string {
	return base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%02d:%s%v", len(typ), typ, id)))
}

// key normalizes an owner/name for lookups; GitHub names are case-insensitive.
func key(owner, name string) string { return strings.ToLower(owner + "/" + name) }

// ts formats a GitHub timestamp; zero is JSON null.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}
