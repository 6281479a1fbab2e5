package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/poblysh/poblysh/sandbox"
	"strings"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"

	"github.com/poblysh/poblysh/gen/client/connect"
	"github.com/poblysh/poblysh/gen/client/connections"
	"github.com/poblysh/poblysh/gen/client/jobs"
	"github.com/poblysh/poblysh/gen/models"
)

// connect runs one provider's OAuth flow the way a browser would: start it
// through the API, open the start page it answers (which names the tenant
// and the provider and sets the cookie that binds the flow to this
// browser), click its button (a form POST to the page's URL), open the
// provider's authorization URL it redirects to (the sandbox approves at once
// and redirects), then open the callback URL with the cookie.
func (d *demo) connect(ctx context.Context, provider string, config any) (*models.Connection, error) {
	res, err := d.api.Connect.StartConnectContext(ctx, connect.NewStartConnectParams().WithProvider(provider).
		WithBody(&models.ConnectRequest{Config: config}), httptransport.BearerToken(d.key))
	if err != nil {
		return nil, fmt.Errorf("POST /api/v1/connect/%s: %w", provider, err)
	}
	startURL := res.Payload.AuthorizationURL.String()

	flow, err := sandbox.CompleteConnect(ctx, d.browser, startURL, provider)
	if err != nil {
		return nil, err
	}
	d.printf("%s  %-16s start page: %q\n", d.since(), provider, flow.Heading)
	var out models.ConnectCallbackResponse
	if err := json.Unmarshal(flow.Callback, &out); err != nil || out.Connection == nil {
		return nil, fmt.Errorf("%s callback: unreadable answer %s", provider, flow.Callback)
	}
	if err := out.Validate(strfmt.Default); err != nil {
		return nil, fmt.Errorf("%s callback: answer does not match the spec: %w", provider, err)
	}
	// The callback's answer went to the browser without the webhook_url:
	// the tenant reads its connection, that URL included, with its key.
	res2, err := d.api.Connections.GetConnectionContext(ctx, connections.NewGetConnectionParams().WithID(*out.Connection.ID),
		httptransport.BearerToken(d.key))
	if err != nil {
		return nil, fmt.Errorf("GET /api/v1/connections/%s: %w", *out.Connection.ID, err)
	}
	c := res2.Payload
	d.printf("%s  %-16s connected as %-22s connection %s  health %s\n", d.since(), provider, *c.DisplayName, *c.ID, *c.Health)
	return c, nil
}

// waitBackfill waits until every backfill job of the connection is final,
// then prints them with their Temporal Web UI links.
func (d *demo) waitBackfill(ctx context.Context, c *models.Connection) error {
	kind := string(models.JobKindBackfill)
	for {
		res, err := d.api.Jobs.ListJobsContext(ctx, jobs.NewListJobsParams().WithConnectionID(c.ID).WithKind(&kind),
			httptransport.BearerToken(d.key))
		if err != nil {
			return fmt.Errorf("GET /api/v1/jobs?connection_id=%s: %w", *c.ID, err)
		}
		open := len(res.Payload.Jobs) == 0
		for _, j := range res.Payload.Jobs {
			if *j.Status == models.JobStatusQueued || *j.Status == models.JobStatusRunning {
				open = true
			}
		}
		if !open {
			var failed []string
			for _, j := range res.Payload.Jobs {
				took := ""
				if j.StartedAt != nil && j.FinishedAt != nil {
					took = fmt.Sprintf(" in %.1fs", time.Time(*j.FinishedAt).Sub(time.Time(*j.StartedAt)).Seconds())
				}
				d.printf("%s  %-16s %-9s %-36s %4d Signals%s\n           Temporal: %s\n", d.since(), *c.Provider, *j.Status, *j.Stream,
					*j.SignalsStored, took, j.TemporalUIURL)
				if *j.Status != models.JobStatusSucceeded {
					msg := ""
					if j.Error != nil {
						msg = *j.Error
					}
					failed = append(failed, fmt.Sprintf("job %s (%s) %s: %s", *j.ID, *j.Stream, *j.Status, msg))
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("%s backfill failed: %s", *c.Provider, strings.Join(failed, "; "))
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s backfill jobs still open: %w", *c.Provider, ctx.Err())
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// waitPush waits (up to 30 s) until the connection receives pushes:
// webhooks or watch channels registered at the sandbox. Without them live
// activity would only arrive with the next poll.
func (d *demo) waitPush(ctx context.Context, c *models.Connection) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := d.api.Connections.GetConnectionContext(ctx, connections.NewGetConnectionParams().WithID(*c.ID),
			httptransport.BearerToken(d.key))
		if err == nil && res.Payload.PushEnabled != nil && *res.Payload.PushEnabled {
			d.printf("%s  %-16s push on (%d watch channel(s)/hooks)\n", d.since(), *c.Provider, len(res.Payload.Watches))
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			d.printf("%s  %-16s push still off after 30s (err %v): live activity will wait for a poll\n", d.since(), *c.Provider, err)
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
}
