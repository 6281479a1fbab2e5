package googlecalendar

import (
	"context"
	"fmt"

	"github.com/poblysh/poblysh/connectors"
)

// Compile-time checks of the capabilities that keep routing honest.
var (
	_ connectors.AccessProver    = (*Connector)(nil)
	_ connectors.ResourceStreams = (*Connector)(nil)
)

// ResourceRefs implements connectors.AccessProver: the configured calendar
// ids ("primary" when none is configured).
func (c *Connector) ResourceRefs(conn connectors.Connection) ([]string, error) {
	return calendars(conn)
}

// ProveAccess implements connectors.AccessProver: each configured calendar
// is read with events.list (maxResults=1), which the narrow scope
// calendar.events.readonly allows (calendars.get does not). Google answers
// 404 notFound for a calendar the token's user cannot see and 403 when it
// may not read it; both deny the calendar. A granted calendar has no route
// keys of its own: its deliveries arrive on the watch channel the
// connection's own token opens on it, routed by channel id.
func (c *Connector) ProveAccess(ctx context.Context, req connectors.AccessRequest) (*connectors.AccessReport, error) {
	ids, err := c.ResourceRefs(req.Connection)
	if err != nil {
		return nil, err
	}
	svc, _, err := c.service(ctx, req.HTTP, false)
	if err != nil {
		return nil, err
	}
	out := &connectors.AccessReport{}
	for _, id := range ids {
		if !req.Requested(id) {
			continue
		}
		resp, err := svc.Events.List(id).MaxResults(1).Fields("summary").Context(ctx).Do()
		if err != nil {
			d, err := connectors.Denied(id, c.apiError(err))
			if err != nil {
				return nil, fmt.Errorf("google-calendar: read calendar %s: %w", id, err)
			}
			out.Denied = append(out.Denied, *d)
			continue
		}
		r := connectors.Resource{Ref: id, Name: resp.Summary}
		if id != PrimaryCalendar {
			r.ID = id
		}
		out.Granted = append(out.Granted, r)
	}
	return out, nil
}

// StreamResource implements connectors.ResourceStreams: "events:<id>"
// reads calendar id, so a 404 or 403 there drops that calendar's channel
// route and degrades the connection until a later read proves it again.
func (c *Connector) StreamResource(stream string) (string, bool) {
	id, err := calendarOfStream(stream)
	return id, err == nil
}
