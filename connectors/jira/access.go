package jira

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/poblysh/poblysh/connectors"
)

// Compile-time checks of the capabilities that keep routing honest.
var (
	_ connectors.AccessProver    = (*Connector)(nil)
	_ connectors.ResourceStreams = (*Connector)(nil)
)

// ResourceRefs lists the configured project keys.
func (c *Connector) ResourceRefs(conn connectors.Connection) ([]string, error) {
	cfg, err := parseConfig(conn)
	if err != nil {
		return nil, err
	}
	return cfg.Projects, nil
}

// project is what GET /rest/api/3/project/{key} answers (the fields read).
type project struct {
	ID   string `json:"id"`
	Key  string `json:"key"`
	Name string `json:"name"`
}

// ProveAccess reads GET /rest/api/3/project/{key} on the connection's site
// for every configured project with the connection's own token: Jira
// answers 404 for a project that does not exist or that the user may not
// browse, and such a project is denied. Projects carry no route keys:
// deliveries reach the connection through the webhooks its own token
// registered, one per granted project. A config whose site names another
// site than the connection's (neither its cloud id, nor its URL, nor a
// URL it had before a rename) is denied as "site": a connection follows
// one site, and another site is another connection.
func (c *Connector) ProveAccess(ctx context.Context, req connectors.AccessRequest) (*connectors.AccessReport, error) {
	cfg, err := parseConfig(req.Connection)
	if err != nil {
		return nil, err
	}
	cloudID, siteURL, _, err := siteOf(req.Connection)
	if err != nil {
		return nil, err
	}
	out := &connectors.AccessReport{}
	if cfg.Site != "" && !namesSite(req.Connection.Account, cfg.Site) {
		out.Denied = append(out.Denied, connectors.Denial{Ref: "site",
			Reason: "the connection follows " + siteURL + "; connect again to follow another site",
			Err:    fmt.Errorf("jira: site %s: %w", cfg.Site, connectors.ErrForbidden)})
	}
	for _, key := range cfg.Projects {
		if !req.Requested(key) {
			continue
		}
		var p project
		err := call(ctx, req.HTTP, http.MethodGet, c.siteAPI(cloudID)+"project/"+url.PathEscape(key), nil, &p)
		if err != nil {
			d, err := connectors.Denied(key, err)
			if err != nil {
				return nil, fmt.Errorf("jira: read project %s: %w", key, err)
			}
			out.Denied = append(out.Denied, *d)
			continue
		}
		if p.ID == "" {
			return nil, fmt.Errorf("jira: read project %s: %w: answer has no id", key, connectors.ErrTransient)
		}
		out.Granted = append(out.Granted, connectors.Resource{Ref: key, ID: p.ID, Name: cmpOr(p.Name, key)})
	}
	return out, nil
}

// StreamResource names the project a stream reads ("issues:ABC" → "ABC").
func (c *Connector) StreamResource(stream string) (string, bool) {
	key, err := parseStream(stream)
	return key, err == nil
}
