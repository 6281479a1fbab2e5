package github

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	gh "github.com/google/go-github/v89/github"

	"github.com/poblysh/poblysh/connectors"
)

// Compile-time checks of the capabilities that keep routing honest.
var (
	_ connectors.AccessProver    = (*Connector)(nil)
	_ connectors.ResourceStreams = (*Connector)(nil)
	_ connectors.ChannelKeyed    = (*Connector)(nil)
	_ connectors.Router          = (*Connector)(nil)
)

// RouteKeys implements connectors.Router with the key the grant itself
// proves: the connection's GitHub user ("user:<id>"). It routes no
// activity (no event carrying Signals names it), only the events after
// which a user may have lost repositories without any repository being
// named (an organization or team membership removed, the app's
// authorization revoked), so that each connection of that user syncs at
// once (accessRouteKeys).
func (c *Connector) RouteKeys(conn connectors.Connection) ([]string, error) {
	if conn.Account.ID == "" {
		return nil, nil
	}
	return []string{userRouteKey(conn.Account.ID)}, nil
}

// ResourceRefs lists the configured repositories ("owner/name", lowercase).
func (c *Connector) ResourceRefs(conn connectors.Connection) ([]string, error) {
	cfg, err := parseConfig(conn)
	if err != nil {
		return nil, err
	}
	return cfg.Repos, nil
}

// ProveAccess reads GET /repos/{owner}/{repo} for every configured
// repository with the connection's token. A repository the token cannot
// see (GitHub answers 404 for private repositories of others, 403 when an
// organization restricts the app) is denied. A granted repository is
// routed by its numeric id ("repo:1296269"), which survives renames and
// transfers; a renamed repository answers through GitHub's redirect and is
// granted under its new name.
func (c *Connector) ProveAccess(ctx context.Context, req connectors.AccessRequest) (*connectors.AccessReport, error) {
	refs, err := c.ResourceRefs(req.Connection)
	if err != nil {
		return nil, err
	}
	client, err := c.client(req.HTTP)
	if err != nil {
		return nil, err
	}
	out := &connectors.AccessReport{}
	for _, ref := range refs {
		if !req.Requested(ref) {
			continue
		}
		owner, name, _ := cutRepo(ref)
		repo, _, err := client.Repositories.Get(ctx, owner, name)
		if err != nil {
			d, err := connectors.Denied(ref, mapErr(err))
			if err != nil {
				return nil, fmt.Errorf("github: read repository %s: %w", ref, err)
			}
			if appToken(req.Connection) {
				// A GitHub App user token reaches only what the app is
				// installed on (and public repositories): say so when that is why.
				if installed, ierr := appInstalledOn(ctx, client, owner, name); ierr == nil && !installed {
					d.Reason = notInstalled(ref)
				}
			}
			out.Denied = append(out.Denied, *d)
			continue
		}
		if repo.GetID() == 0 {
			return nil, fmt.Errorf("github: read repository %s: %w: answer has no id", ref, connectors.ErrTransient)
		}
		id := strconv.FormatInt(repo.GetID(), 10)
		out.Granted = append(out.Granted, connectors.Resource{
			Ref: ref, ID: id, Name: cmpOr(repo.GetFullName(), ref), RouteKeys: []string{repoRouteKey(repo.GetID())},
		})
	}
	return out, nil
}

// StreamResource names the repository a stream reads ("pulls:owner/name").
func (c *Connector) StreamResource(stream string) (string, bool) {
	_, owner, name, err := parseStream(stream)
	if err != nil {
		return "", false
	}
	return owner + "/" + name, true
}

// notInstalled is the reason given when a GitHub App user token cannot
// reach a repository because the app is not installed on it.
func notInstalled(full string) string {
	return "app not installed on " + full + ": install the GitHub App on it (Settings → GitHub Apps), or reconnect with an account that can"
}

// appInstalledOn reports whether the GitHub App whose user token the
// client carries is installed on owner/name, from the installations the
// token reaches (GET /user/installations, then the installation's
// repositories unless it covers all of them), every page read by its
// links (eachPage).
func appInstalledOn(ctx context.Context, client *gh.Client, owner, name string) (bool, error) {
	var inst *gh.Installation
	err := eachPage(ctx, client, "user/installations", func(page struct {
		Installations []*gh.Installation `json:"installations"`
	}) bool {
		i := slices.IndexFunc(page.Installations, func(in *gh.Installation) bool {
			return strings.EqualFold(in.GetAccount().GetLogin(), owner)
		})
		if i >= 0 {
			inst = page.Installations[i]
		}
		return inst != nil
	})
	switch {
	case err != nil:
		return false, mapErr(err)
	case inst == nil:
		return false, nil
	case inst.GetRepositorySelection() == "all":
		return true, nil
	}
	return installationHas(ctx, client, inst.GetID(), owner+"/"+name)
}

// installationHas reports whether an installation covers a repository.
func installationHas(ctx context.Context, client *gh.Client, id int64, full string) (bool, error) {
	found := false
	err := eachPage(ctx, client, "user/installations/"+strconv.FormatInt(id, 10)+"/repositories", func(page gh.ListRepositories) bool {
		found = slices.ContainsFunc(page.Repositories, func(r *gh.Repository) bool { return strings.EqualFold(r.GetFullName(), full) })
		return found
	})
	if err != nil {
		return false, mapErr(err)
	}
	return found, nil
}
