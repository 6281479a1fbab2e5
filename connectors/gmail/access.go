package gmail

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/poblysh/poblysh/connectors"
)

// ResourceRefs implements connectors.AccessProver: the mailbox and each
// configured label.
func (c *Connector) ResourceRefs(conn connectors.Connection) ([]string, error) {
	cfg, err := config(conn)
	if err != nil {
		return nil, err
	}
	return append([]string{MailboxRef}, cfg.Labels...), nil
}

// ProveAccess implements connectors.AccessProver with the metadata scope:
// the mailbox with users.getProfile, whose address (as Gmail names it now)
// becomes the route key pushes are routed by, and each label with
// labels.get (404 for a label the mailbox does not have).
func (c *Connector) ProveAccess(ctx context.Context, req connectors.AccessRequest) (*connectors.AccessReport, error) {
	refs, err := c.ResourceRefs(req.Connection)
	if err != nil {
		return nil, err
	}
	out := &connectors.AccessReport{}
	for _, ref := range refs {
		if !req.Requested(ref) {
			continue
		}
		var r connectors.Resource
		if ref == MailboxRef {
			r, err = c.proveMailbox(ctx, req)
		} else {
			r, err = c.proveLabel(ctx, req.HTTP, ref)
		}
		var deny *connectors.Denial
		if err != nil {
			if deny, err = connectors.Denied(ref, err); err != nil {
				return nil, fmt.Errorf("gmail: read %s: %w", ref, err)
			}
			out.Denied = append(out.Denied, *deny)
			continue
		}
		out.Granted = append(out.Granted, r)
	}
	return out, nil
}

// proveMailbox reads the mailbox the connection's token reads: users/me is
// the grant's own account, which the callback identified by its OpenID
// subject from this grant, so that mailbox is the connection's whatever
// address it has now. The address is not compared with the one stored at
// connect: a Workspace admin may rename the user (the old address becomes
// an alias), and the renamed mailbox was denied, its route dropped and
// every PATCH refused. The resource carries the address Gmail answers, so
// the route follows a rename.
func (c *Connector) proveMailbox(ctx context.Context, req connectors.AccessRequest) (connectors.Resource, error) {
	email, _, err := c.profile(ctx, req.HTTP)
	if err != nil {
		return connectors.Resource{}, err
	}
	return connectors.Resource{Ref: MailboxRef, ID: email, Name: email, RouteKeys: []string{RouteKey(email)}}, nil
}

func (c *Connector) proveLabel(ctx context.Context, hc *http.Client, id string) (connectors.Resource, error) {
	var l struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := c.call(ctx, hc, http.MethodGet, "labels/"+url.PathEscape(id), nil, nil, &l); err != nil {
		return connectors.Resource{}, err
	}
	return connectors.Resource{Ref: id, ID: l.ID, Name: l.Name}, nil
}

// StreamResource implements connectors.ResourceStreams: "label:<id>" reads
// that label.
func (c *Connector) StreamResource(stream string) (string, bool) {
	l, err := labelOfStream(stream)
	return l, err == nil
}
