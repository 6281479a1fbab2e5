package github

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	gh "github.com/google/go-github/v89/github"

	"github.com/poblysh/poblysh/connectors"
)

// hookEvents are the events a repository webhook subscribes to.
var hookEvents = []string{"push", "pull_request", "release"}

// WatchTargets lists the configured repositories ("owner/name", lowercase),
// the values channels carry as Target.
func (c *Connector) WatchTargets(conn connectors.Connection) ([]string, error) {
	cfg, err := parseConfig(conn)
	if err != nil {
		return nil, err
	}
	return cfg.Repos, nil
}

// Watch registers a repository webhook (POST /repos/{o}/{r}/hooks) on every
// target repository (all configured ones when req.Targets is empty), pointed
// at req.CallbackURL, signed with the webhook secret, for push, pull_request
// and release. A hook with the same URL is reused and brought up to date
// instead of duplicated, so Watch is safe to repeat. Channels never expire.
// When the token may not manage hooks (GitHub answers 403 or 404) the error
// is connectors.ErrForbidden with instructions to add the webhook by hand.
// On error the channels registered so far are returned with it.
func (c *Connector) Watch(ctx context.Context, req connectors.WatchRequest) ([]connectors.Channel, error) {
	if c.cfg.WebhookSecret == "" {
		return nil, fmt.Errorf("github: watch: %w: POBLYSH_GITHUB_WEBHOOK_SECRET is not set, deliveries could not be verified", connectors.ErrInvalidConfig)
	}
	if req.CallbackURL == "" {
		return nil, fmt.Errorf("github: watch: %w: no callback URL", connectors.ErrInvalidConfig)
	}
	targets := req.Targets
	if len(targets) == 0 {
		var err error
		if targets, err = c.WatchTargets(req.Connection); err != nil {
			return nil, err
		}
	}
	client, err := c.client(req.HTTP)
	if err != nil {
		return nil, err
	}
	var out []connectors.Channel
	for _, t := range targets {
		full, err := normalizeRepo(t)
		if err != nil {
			return out, fmt.Errorf("github: watch: %w: %v", connectors.ErrInvalidConfig, err)
		}
		ch, err := c.watchRepo(ctx, client, full, req.CallbackURL)
		if err != nil {
			return out, err
		}
		out = append(out, ch)
	}
	return out, nil
}

func (c *Connector) watchRepo(ctx context.Context, client *gh.Client, full, callback string) (connectors.Channel, error) {
	owner, name, _ := strings.Cut(full, "/")
	want := &gh.Hook{
		Active: gh.Ptr(true),
		Events: hookEvents,
		Config: &gh.HookConfig{
			URL: gh.Ptr(callback), ContentType: gh.Ptr("json"),
			Secret: gh.Ptr(c.cfg.WebhookSecret), InsecureSSL: gh.Ptr("0"),
		},
	}
	existing, err := findHook(ctx, client, owner, name, callback)
	if err != nil {
		return connectors.Channel{}, hookError(full, callback, "list webhooks", err)
	}
	var h *gh.Hook
	if existing != nil {
		h, _, err = client.Repositories.EditHook(ctx, owner, name, existing.GetID(), want)
		if err != nil {
			return connectors.Channel{}, hookError(full, callback, "update webhook", err)
		}
	} else {
		want.Name = gh.Ptr("web")
		h, _, err = client.Repositories.CreateHook(ctx, owner, name, want)
		if err != nil {
			return connectors.Channel{}, hookError(full, callback, "create webhook", err)
		}
	}
	return connectors.Channel{ID: strconv.FormatInt(h.GetID(), 10), Target: full, RouteKey: routeKey(full)}, nil
}

// findHook returns the repository hook delivering to callback, if any.
func findHook(ctx context.Context, client *gh.Client, owner, name, callback string) (*gh.Hook, error) {
	opts := &gh.ListOptions{PerPage: 100}
	for {
		hooks, resp, err := client.Repositories.ListHooks(ctx, owner, name, opts)
		if err != nil {
			return nil, err
		}
		for _, h := range hooks {
			if h.GetConfig().GetURL() == callback {
				return h, nil
			}
		}
		if resp.NextPage == 0 {
			return nil, nil
		}
		opts.Page = resp.NextPage
	}
}

// hookError explains a refused hook operation: GitHub answers 403, or 404
// to hide the hooks of a repository the token may not administer.
func hookError(full, callback, op string, err error) error {
	err = mapErr(err)
	if errors.Is(err, connectors.ErrForbidden) || errors.Is(err, connectors.ErrNotFound) {
		return fmt.Errorf("github: %s on %s: %w: the token cannot manage this repository's webhooks "+
			"(it needs the admin:repo_hook scope and admin rights on the repository); add one by hand at "+
			"https://github.com/%s/settings/hooks with payload URL %s, content type application/json, "+
			"the secret configured as POBLYSH_GITHUB_WEBHOOK_SECRET, and the events push, pull_request and release (%v)",
			op, full, connectors.ErrForbidden, full, callback, err)
	}
	return fmt.Errorf("github: %s on %s: %w", op, full, err)
}

// StopWatch deletes the repository hook of a channel; a hook already gone
// (404) is not an error.
func (c *Connector) StopWatch(ctx context.Context, req connectors.StopWatchRequest) error {
	owner, name, ok := strings.Cut(req.Channel.Target, "/")
	id, err := strconv.ParseInt(req.Channel.ID, 10, 64)
	if !ok || err != nil {
		return fmt.Errorf("github: stop watch: %w: channel %q on %q is not a repository hook", connectors.ErrInvalidConfig, req.Channel.ID, req.Channel.Target)
	}
	client, err := c.client(req.HTTP)
	if err != nil {
		return err
	}
	if _, err := client.Repositories.DeleteHook(ctx, owner, name, id); err != nil {
		err = mapErr(err)
		if errors.Is(err, connectors.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("github: delete webhook %d on %s: %w", id, req.Channel.Target, err)
	}
	return nil
}
