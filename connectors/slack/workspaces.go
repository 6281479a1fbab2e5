package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/poblysh/poblysh/connectors"
)

// An org-wide install reads the workspaces its org granted the app. Slack
// names a workspace, never the org, in the news about it: app_rate_limited
// carries team_id only
// (https://docs.slack.dev/reference/events/app_rate_limited/), and
// app_uninstalled and tokens_revoked name the workspace in team_id. So an
// org's connection routes app:<team id> for each workspace its own token
// lists with auth.teams.list: the "workspaces" resource, proved at connect
// and at every config change, and read again by the "workspaces" stream on
// every pass (a sync that team_access_granted and team_access_revoked start
// at once), whose last page shows it as listed so the engine routes it so.
const (
	// workspacesRef is the resource of an org-wide install's workspaces.
	workspacesRef = "workspaces"
	// workspacesStream reads it.
	workspacesStream = "workspaces"
)

// workspacesResource is the resource of the workspaces an org-wide install
// was granted (teams, from auth.teams.list), routed by app:<team id> each.
func workspacesResource(acct connectors.Account, teams []string) connectors.Resource {
	keys := make([]string, 0, len(teams))
	for _, t := range teams {
		if t != "" {
			keys = append(keys, appKeyPrefix+t)
		}
	}
	slices.Sort(keys)
	return connectors.Resource{Ref: workspacesRef, ID: acct.ID, Name: acct.Name, RouteKeys: slices.Compact(keys)}
}

// workspacesCursor is the cursor of the "workspaces" stream: mid-listing,
// the auth.teams.list cursor and the workspaces listed so far; at rest
// only V is set, and each pass lists them anew.
type workspacesCursor struct {
	V     int      `json:"v"`
	Page  string   `json:"page,omitempty"`
	Teams []string `json:"teams,omitempty"`
}

// fetchWorkspaces reads one auth.teams.list page of an org-wide install.
// It yields no Signal; its last page shows the workspaces resource as
// listed (Page.Resource).
func (c *Connector) fetchWorkspaces(ctx context.Context, s *session, raw json.RawMessage) (*connectors.Page, error) {
	if !orgInstall(s.acct) {
		return nil, fmt.Errorf("slack: %w", &connectors.ConfigError{Fields: map[string]string{
			"stream": "the workspaces stream is an org-wide install's"}})
	}
	var cur workspacesCursor
	if err := decodeCursor(raw, &cur, &cur.V); err != nil {
		return nil, err
	}
	teams, next, err := c.teamsPage(ctx, s.hc, cur.Page)
	if err != nil {
		return nil, err
	}
	for _, t := range teams {
		if !slices.Contains(cur.Teams, t) {
			cur.Teams = append(cur.Teams, t)
		}
	}
	cur.Page = next
	page := &connectors.Page{Items: len(teams)}
	if next == "" {
		r := workspacesResource(s.acct, cur.Teams)
		page.Resource, page.Done = &r, true
		cur = workspacesCursor{V: cursorVersion}
	}
	if page.Next, err = json.Marshal(cur); err != nil {
		return nil, fmt.Errorf("slack: encode cursor: %w", err)
	}
	return page, nil
}
