package githubsandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Changing the default branch, as GitHub's REST API does it:
//
//	PATCH /repos/{owner}/{repo}                        {"default_branch": "…"} (200, the repository)
//	POST  /repos/{owner}/{repo}/branches/{branch}/rename {"new_name": "…"}     (201, the branch)
//
// Both take effect at once (GitHub's rename may finish in the background)
// and send no webhook here. A renamed branch's old name is gone: the commits
// list answers 404 "No commit found for SHA: <old name>" for it, as for any
// unknown ref.

// SetDefaultBranch makes an existing branch the repository's default one,
// as PATCH /repos/{owner}/{repo} with default_branch does.
func (s *Server) SetDefaultBranch(fullName, branch string) (*Activity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[strings.ToLower(fullName)]
	if rp == nil {
		return nil, fmt.Errorf("repository %s: %w", fullName, ErrNotFound)
	}
	if err := s.setDefaultBranchLocked(rp, branch); err != nil {
		return nil, err
	}
	return &Activity{Kind: "repository", Object: repoJSON(rp, repoFull)}, nil
}

func (s *Server) setDefaultBranchLocked(rp *repo, branch string) error {
	if _, ok := rp.branches[branch]; !ok {
		return validationError("The branch " + branch + " was not found. Please push that ref first or create it via the Git Data API.")
	}
	if rp.DefaultBranch != branch {
		rp.DefaultBranch, rp.UpdatedAt = branch, s.now()
	}
	return nil
}

// RenameBranch renames a branch, as POST …/branches/{branch}/rename does:
// its commits stay, the default branch follows it, and so do the base of
// open pull requests and the target of draft releases.
func (s *Server) RenameBranch(fullName, branch, newName string) (*Activity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[strings.ToLower(fullName)]
	if rp == nil {
		return nil, fmt.Errorf("repository %s: %w", fullName, ErrNotFound)
	}
	if err := s.renameBranchLocked(rp, branch, newName); err != nil {
		return nil, err
	}
	return &Activity{Kind: "branch", Object: branchWithProtectionJSON(rp, newName)}, nil
}

func (s *Server) renameBranchLocked(rp *repo, branch, newName string) error {
	hist, ok := rp.branches[branch]
	switch {
	case !ok:
		return fmt.Errorf("branch %s: %w", branch, ErrNotFound)
	case newName == "" || strings.HasPrefix(newName, "refs/") || strings.ContainsAny(newName, " :~^?*[\\"):
		return validationError("New branch name is not a valid ref name")
	case newName == branch:
		return nil
	}
	if _, taken := rp.branches[newName]; taken {
		return validationError("New branch name already exists")
	}
	rp.branches[newName] = hist
	delete(rp.branches, branch)
	if rp.DefaultBranch == branch {
		rp.DefaultBranch = newName
	}
	for _, p := range rp.pulls {
		if p.State == "open" && p.BaseRef == branch {
			p.BaseRef = newName
		}
	}
	for _, rel := range rp.releases {
		if rel.Draft && rel.TargetCommitish == branch {
			rel.TargetCommitish = newName
		}
	}
	rp.UpdatedAt = s.now()
	return nil
}

// mayAdminRepoLocked reports whether the caller's token may change the
// repository's settings: an OAuth App token with repo (or public_repo for a
// public repository); a GitHub App user token where the app is installed.
// Called with s.mu held.
func (s *Server) mayAdminRepoLocked(sess *session, rp *repo) bool {
	if s.opts.AccessTTL > 0 {
		return rp.AppInstalled
	}
	return slices.Contains(sess.grant.Scopes, "repo") || (!rp.Private && slices.Contains(sess.grant.Scopes, "public_repo"))
}

// editRepo serves PATCH /repos/{owner}/{repo}: default_branch only (other
// fields are accepted and ignored).
func (s *Server) editRepo(w http.ResponseWriter, r *http.Request, sess *session) {
	var in struct {
		DefaultBranch *string `json:"default_branch"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.apiError(w, sess, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	s.withRepo(w, r, sess, func(rp *repo) (int, any) {
		if !s.mayAdminRepoLocked(sess, rp) {
			return http.StatusForbidden, apiMessage{"Resource not accessible by integration",
				"https://docs.github.com/rest/repos/repos#update-a-repository"}
		}
		if in.DefaultBranch != nil {
			if err := s.setDefaultBranchLocked(rp, *in.DefaultBranch); err != nil {
				return http.StatusUnprocessableEntity, apiMessage{err.Error(),
					"https://docs.github.com/rest/repos/repos#update-a-repository"}
			}
		}
		return http.StatusOK, repoJSON(rp, repoFull)
	})
}

// renameBranch serves POST /repos/{owner}/{repo}/branches/{branch}/rename.
func (s *Server) renameBranch(w http.ResponseWriter, r *http.Request, sess *session) {
	var in struct {
		NewName string `json:"new_name"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.apiError(w, sess, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	const doc = "https://docs.github.com/rest/branches/branches#rename-a-branch"
	s.withRepo(w, r, sess, func(rp *repo) (int, any) {
		if !s.mayAdminRepoLocked(sess, rp) {
			return http.StatusForbidden, apiMessage{"Resource not accessible by integration", doc}
		}
		branch := r.PathValue("branch")
		if _, ok := rp.branches[branch]; !ok {
			return http.StatusNotFound, apiMessage{"Branch not found", doc}
		}
		if err := s.renameBranchLocked(rp, branch, in.NewName); err != nil {
			return http.StatusUnprocessableEntity, apiMessage{err.Error(), doc}
		}
		return http.StatusCreated, branchWithProtectionJSON(rp, in.NewName)
	})
}

// branchWithProtectionJSON is a branch as GET …/branches/{branch} and the
// rename answer carry it (an unprotected one). Called with s.mu held.
func branchWithProtectionJSON(rp *repo, branch string) obj {
	api := apiBase + "/repos/" + rp.FullName() + "/branches/" + branch
	var head any
	if c := rp.head(branch); c != nil {
		head = commitJSON(rp, c)
	}
	return obj{
		"name": branch, "commit": head,
		"_links":    obj{"self": api, "html": webBase + "/" + rp.FullName() + "/tree/" + branch},
		"protected": false,
		"protection": obj{"enabled": false, "required_status_checks": obj{
			"enforcement_level": "off", "contexts": []string{}, "checks": []obj{}}},
		"protection_url": api + "/protection",
	}
}
