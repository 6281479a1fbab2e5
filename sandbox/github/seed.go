package githubsandbox

import (
	"fmt"
	"strings"
	"time"
)

// Seeded accounts and repository. Every timestamp is fixed in the past, so
// two sandboxes seed byte-identical histories.
const (
	// SeedRepo is the seeded repository, as GitHub spells its full name.
	SeedRepo = "octo-org/hello-world"
	// SeedRepoID is its numeric id.
	SeedRepoID int64 = 1296269
	// SeedDefaultBranch is its default branch.
	SeedDefaultBranch = "main"
	// SeedUser is the login tokens are issued for unless another is asked for.
	SeedUser = "octocat"
	// SeedUserID is SeedUser's numeric id.
	SeedUserID int64 = 583231
)

// Seeded history of SeedRepo.
const (
	SeedPulls         = 24 // pull requests in total
	SeedPullsMerged   = 10 // merged
	SeedPullsClosed   = 6  // closed without merging
	SeedPullsOpen     = 8  // open, 2 of them drafts
	SeedReleases      = 13 // releases in total
	SeedReleaseDrafts = 2  // drafts (not published)
	SeedPrereleases   = 3  // published pre-releases
	SeedCommits       = 32 // commits on the default branch
)

// Signal counts a full backfill of SeedRepo yields per stream kind: every
// pull request is opened, and merged or closed when it was; every published
// release; every commit on the default branch.
const (
	SeedPullSignals    = SeedPulls + SeedPullsMerged + SeedPullsClosed
	SeedReleaseSignals = SeedReleases - SeedReleaseDrafts
	SeedCommitSignals  = SeedCommits
)

// seedBase is the first seeded instant.
var seedBase = time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)

// pullPattern assigns a fate to pull request n (1-based): M merged, C closed
// unmerged, O open, D open draft.
const pullPattern = "MOCMMOCMDMOCMMOCMDOMCMOC"

// SeedRepos returns the full names of the seeded repositories.
func SeedRepos() []string { return []string{SeedRepo} }

// seed fills the sandbox with SeedRepo and its history. Called with s.mu held.
func (s *Server) seed() {
	octocat := s.ensureUserLocked(SeedUser)
	hubot := s.ensureUserLocked("hubot")
	mona := s.ensureUserLocked("monalisa")
	org := &user{Login: "octo-org", ID: 9919, Type: "Organization", Name: "Octo Org", CreatedAt: seedBase.AddDate(-3, 0, 0)}
	s.users["octo-org"] = org
	// octocat owns the organization, and so administers its repositories.
	s.orgOwners["octo-org"] = map[string]bool{strings.ToLower(SeedUser): true}
	authors := []*user{octocat, hubot, mona}

	r := &repo{
		ID: SeedRepoID, Owner: org, Name: "hello-world", Description: "My first repository on GitHub!",
		DefaultBranch: SeedDefaultBranch, CreatedAt: seedBase.AddDate(0, -1, 0),
		branches: map[string][]*commit{}, AppInstalled: true,
	}
	topics := []string{"Add README", "Fix typo", "Refactor parser", "Update docs", "Bump dependencies", "Add tests", "Improve logging", "Tidy config"}
	var main []*commit
	for i := range SeedCommits {
		c := &commit{
			SHA:      fakeSHA(SeedRepo, "@main#", i),
			TreeSHA:  fakeSHA(SeedRepo, "^tree#", i),
			Message:  fmt.Sprintf("%s (#%d)\n\nSeeded commit %d.", topics[i%len(topics)], i+1, i+1),
			Author:   authors[i%len(authors)],
			Date:     seedBase.Add(time.Duration(i) * 7 * time.Hour),
			Distinct: true,
			Modified: []string{"README.md"},
		}
		if i > 0 {
			c.Parents = []string{main[i-1].SHA}
		}
		main = append(main, c)
	}
	r.branches[SeedDefaultBranch] = main
	r.PushedAt = main[len(main)-1].Date
	r.UpdatedAt = r.PushedAt

	bug := label{ID: 208045946, Name: "bug", Color: "d73a4a", Description: "Something isn't working", Default: true}
	enh := label{ID: 208045947, Name: "enhancement", Color: "a2eeef", Description: "New feature or request", Default: true}
	for n := 1; n <= SeedPulls; n++ {
		created := seedBase.Add(time.Duration(n) * 20 * time.Hour)
		p := &pull{
			ID: 1347000000 + int64(n), Number: n, Title: fmt.Sprintf("%s (part %d)", topics[n%len(topics)], n),
			Body: fmt.Sprintf("Seeded pull request %d.", n), User: authors[n%len(authors)], State: "open",
			HeadRef: fmt.Sprintf("feature-%d", n), HeadSHA: fakeSHA(SeedRepo, "@feature#", n),
			BaseRef: SeedDefaultBranch, BaseSHA: main[n%len(main)].SHA,
			CreatedAt: created, UpdatedAt: created.Add(3 * time.Hour),
			Commits: 1 + n%3, Additions: 10 * n, Deletions: 3 * n, ChangedFiles: 1 + n%4,
		}
		if n%2 == 0 {
			p.Labels = []label{bug}
		} else if n%3 == 0 {
			p.Labels = []label{enh}
		}
		switch pullPattern[n-1] {
		case 'M':
			p.State, p.ClosedAt, p.MergedAt = "closed", created.Add(26*time.Hour), created.Add(26*time.Hour)
			p.UpdatedAt, p.MergedBy = p.ClosedAt, octocat
			p.MergeCommitSHA = fakeSHA(SeedRepo, "@merge#", n)
		case 'C':
			p.State, p.ClosedAt, p.UpdatedAt = "closed", created.Add(26*time.Hour), created.Add(26*time.Hour)
		case 'D':
			p.Draft = true
		}
		r.pulls = append(r.pulls, p)
	}

	for k := 1; k <= SeedReleases; k++ {
		created := seedBase.Add(time.Duration(k) * 60 * time.Hour)
		rel := &release{
			ID: 150000000 + int64(k), TagName: fmt.Sprintf("v0.%d.0", k), TargetCommitish: SeedDefaultBranch,
			Name: fmt.Sprintf("v0.%d.0", k), Body: fmt.Sprintf("## Changes\n\n* Seeded release %d.", k),
			Author: octocat, CreatedAt: created, UpdatedAt: created.Add(time.Hour), PublishedAt: created.Add(time.Hour),
		}
		switch k {
		case 3, 7, 11:
			rel.Prerelease = true
			rel.TagName += "-rc.1"
			rel.Name = rel.TagName + " (release candidate)"
		case 12, 13:
			rel.Draft, rel.PublishedAt = true, time.Time{}
			rel.Name = strings.TrimPrefix(rel.Name, "v") + " draft"
		}
		r.releases = append(r.releases, rel)
	}
	s.repos[key(org.Login, r.Name)] = r
}

// ensureUserLocked returns the account with login, creating a person with a
// stable id when it does not exist yet. Called with s.mu held.
func (s *Server) ensureUserLocked(login string) *user {
	if u, ok := s.users[strings.ToLower(login)]; ok {
		return u
	}
	ids := map[string]int64{SeedUser: SeedUserID, "hubot": 480938, "monalisa": 2154, "dependabot[bot]": 49699333, "github-actions[bot]": 41898282}
	id, ok := ids[strings.ToLower(login)]
	if !ok {
		s.nextID++
		id = 7000000 + s.nextID
	}
	u := &user{Login: login, ID: id, Type: "User", Name: strings.ToUpper(login[:1]) + login[1:],
		Email: login + "@users.noreply.github.com", CreatedAt: seedBase.AddDate(-5, 0, int(id%300))}
	if strings.HasSuffix(strings.ToLower(login), "[bot]") {
		// A GitHub App's account, as GitHub types it: "Bot", login "<app>[bot]".
		u.Type = "Bot"
	}
	s.users[strings.ToLower(login)] = u
	return u
}

// ExpectedSignals returns, for the repository fullName, the exact number of
// Signals a full backfill of its current state yields per stream, keyed by
// the github connector's stream names ("pulls:owner/name", "releases:...",
// "commits:..."). It follows activity created through the control API.
func (s *Server) ExpectedSignals(fullName string) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[strings.ToLower(fullName)]
	if !ok {
		return nil
	}
	var pulls, releases int
	for _, p := range r.pulls {
		pulls++
		if !p.ClosedAt.IsZero() {
			pulls++ // merged or closed unmerged
		}
	}
	for _, rel := range r.releases {
		if !rel.Draft {
			releases++
		}
	}
	name := strings.ToLower(fullName)
	return map[string]int{
		"pulls:" + name:    pulls,
		"releases:" + name: releases,
		"commits:" + name:  len(r.branches[r.DefaultBranch]),
	}
}
