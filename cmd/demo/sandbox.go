package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
	slacksandbox "github.com/poblysh/poblysh/sandbox/slack"
)

// provider is one connection the demo makes, with its connection config.
type provider struct {
	name   string
	config any
}

// providers are connected in this order; the configs name what the
// sandboxes seed.
func (d *demo) providers() []provider {
	return []provider{
		{"github", map[string]any{"repos": []string{githubsandbox.SeedRepo}}},
		{"slack", map[string]any{"channels": []string{slacksandbox.ChannelGeneral, slacksandbox.ChannelPress}}},
		{"google-calendar", map[string]any{"calendars": []string{"primary"}}},
	}
}

// liveWant is a Signal the live activity must produce.
type liveWant struct {
	source, kind string
	at           time.Time // when the activity was created
}

// liveActivity creates one happening in each sandbox through its control
// API (the sandbox then delivers the provider's webhook or push
// notification) and returns the Signals to wait for. Each title carries the
// run's marker so the feed can recognise them.
func (d *demo) liveActivity(ctx context.Context) ([]liveWant, error) {
	var wants []liveWant

	at := time.Now()
	var pr struct {
		PullRequest struct {
			Number int    `json:"number"`
			URL    string `json:"html_url"`
		} `json:"pull_request"`
		Deliveries []json.RawMessage `json:"deliveries"`
	}
	if err := d.control(ctx, d.opts.github, "/_sandbox/github/repos/"+githubsandbox.SeedRepo+"/pulls", map[string]any{
		"title": "Launch notes for the press kit (" + d.marker + ")", "head": d.marker, "base": "main", "user": "octocat",
		"body": "Opened by make demo.",
	}, &pr); err != nil {
		return nil, err
	}
	d.printf("%s  github           opened pull request #%d on %s (%d webhook deliveries)\n", d.since(), pr.PullRequest.Number,
		githubsandbox.SeedRepo, len(pr.Deliveries))
	wants = append(wants, liveWant{"github", "pull_request.opened", at})

	at = time.Now()
	var msg struct {
		Deliveries []delivery `json:"deliveries"`
	}
	if err := d.control(ctx, d.opts.slack, "/_sandbox/slack/messages", map[string]any{
		"channel": slacksandbox.ChannelGeneral, "user": slacksandbox.UserBob,
		"text": "The Verge wants a comment on the launch by 5pm (" + d.marker + ")",
	}, &msg); err != nil {
		return nil, err
	}
	d.printf("%s  slack            posted a message in #general (Events API delivery status %v)\n", d.since(), deliveryStatuses(msg.Deliveries))
	wants = append(wants, liveWant{"slack", "message.posted", at})

	at = time.Now()
	start := time.Now().UTC().Add(24 * time.Hour).Truncate(time.Hour)
	var ev struct {
		Event struct {
			ID string `json:"id"`
		} `json:"event"`
		Notifications []json.RawMessage `json:"notifications"`
	}
	if err := d.control(ctx, d.opts.google, "/_sandbox/calendar/calendars/primary/events", map[string]any{
		"summary":     "Interview with TechCrunch (" + d.marker + ")",
		"description": "Created by make demo.",
		"start":       map[string]string{"dateTime": start.Format(time.RFC3339)},
		"end":         map[string]string{"dateTime": start.Add(30 * time.Minute).Format(time.RFC3339)},
	}, &ev); err != nil {
		return nil, err
	}
	d.printf("%s  google-calendar  created event %s on the primary calendar (%d push notification(s))\n", d.since(), ev.Event.ID,
		len(ev.Notifications))
	wants = append(wants, liveWant{"google-calendar", "calendar_event.created", at})
	return wants, nil
}

// delivery is a sandbox's report of one webhook delivery to the service.
type delivery struct {
	Status int    `json:"status"`
	Error  string `json:"error"`
}

func deliveryStatuses(ds []delivery) []string {
	out := []string{}
	for _, d := range ds {
		if d.Error != "" {
			out = append(out, d.Error)
			continue
		}
		out = append(out, fmt.Sprint(d.Status))
	}
	return out
}

// control POSTs a JSON body to a sandbox control route and decodes the answer.
func (d *demo) control(ctx context.Context, base, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.http.Do(req)
	if err != nil {
		return fmt.Errorf("sandbox POST %s%s: %w", base, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("sandbox POST %s%s: %s %s", base, path, resp.Status, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("sandbox POST %s%s: unreadable answer %s", base, path, raw)
	}
	return nil
}
