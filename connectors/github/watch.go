package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	gh "github.com/google/go-github/v89/github"

	"github.com/poblysh/poblysh/connectors"
)

// hookEvents are the events a repository webhook subscribes to: those
// that carry Signals; member and repository, whose removed,
// privatized and transferred actions may end the connection's access to
// the repository (accessActions). The hook delivers to its connection
// whether or not the connection's user can still read the repository, so
// they nudge it to find out at once; and meta, which GitHub sends when
// the hook itself is deleted ("This event occurs when there is activity
// relating to a webhook itself", action deleted; available to repository
// hooks), so that a hook someone deletes at GitHub is registered again at
// once (connectors.WebhookDelivery.ChannelGone) instead of counting as
// delivering for good: hooks never expire, so no renewal would look.
var hookEvents = []string{"push", "pull_request", "release", "member", "repository", "meta"}

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
// target repository (all configured ones when req.Targets is empty), for
// hookEvents. Each hook gets a random secret of its own
// (returned in the channel, stored encrypted by the engine), so a delivery
// verified with it speaks for this connection only. The hook's URL names
// the connection (?connection=<id>), so two connections following one
// repository each have their own hook, and disconnecting one deletes only
// its own. A hook of this connection found on the repository is reused:
// given back the secret stored for it (req.Secrets), or a fresh one when
// none is, so Watch is safe to repeat. Channels never expire.
// A repository that refuses its hook (GitHub answers 403 or 404 to a
// token that may not manage its hooks, 422 to a hook it cannot take) is
// skipped: the others get theirs, and the error, returned with their
// channels, names each refused repository; its kind is
// connectors.ErrForbidden (connectors.ErrInvalidConfig when only 422s
// refused), on which the watch pass keeps the channels and the refused
// repositories are polled. A rate limit, a 401 or a transient error stops
// Watch at once: the channels registered so far are returned with that
// error alone, so that its kind is the one the engine sees.
func (c *Connector) Watch(ctx context.Context, req connectors.WatchRequest) ([]connectors.Channel, error) {
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
	callback := hookURL(req.CallbackURL, req.Connection.ID)
	var out []connectors.Channel
	var refused refusals
	for _, t := range targets {
		full, err := normalizeRepo(t)
		if err != nil {
			refused = append(refused, fmt.Errorf("github: watch: %w: %v", connectors.ErrInvalidConfig, err))
			continue
		}
		ch, err := c.watchRepo(ctx, client, full, callback, appToken(req.Connection), req.Secrets)
		switch connectors.Kind(err) {
		case nil:
			out = append(out, ch)
		case connectors.ErrForbidden, connectors.ErrNotFound, connectors.ErrInvalidConfig:
			refused = append(refused, err)
		default:
			return out, err
		}
	}
	if len(refused) > 0 {
		return out, refused
	}
	return out, nil
}

// refusals are the errors of the repositories that refused their hooks,
// in one line (the watch pass records it as the job's watch_error);
// errors.Is finds each one's kind.
type refusals []error

func (r refusals) Error() string {
	msgs := make([]string, len(r))
	for i, err := range r {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (r refusals) Unwrap() []error { return r }

// hookURL is the delivery URL of one connection's hooks.
func hookURL(callback, connID string) string {
	if connID == "" {
		return callback
	}
	sep := "?"
	if strings.Contains(callback, "?") {
		sep = "&"
	}
	return callback + sep + "connection=" + url.QueryEscape(connID)
}

// watchRepo registers the connection's hook on one repository, or edits the
// one it finds there (enabled, every event of hookEvents, a secret). The
// secret of a hook found is the one stored for it (stored, by hook id),
// when the engine holds one: GitHub signs with the secret from the edit
// on, and a new one would be refused (401) until the engine stored it
// after Watch returned; the stored one verifies at once. A hook without a
// stored secret (none was ever stored for it) gets a new one, as a new
// hook does; what it delivers before the engine stores it is refused and
// redelivered by ConfirmWatch.
func (c *Connector) watchRepo(ctx context.Context, client *gh.Client, full, callback string, app bool, stored map[string]string) (connectors.Channel, error) {
	owner, name, _ := strings.Cut(full, "/")
	hookErr := func(op string, err error) error { return hookError(ctx, client, full, op, err, app) }
	existing, err := findHook(ctx, client, owner, name, callback)
	if err != nil {
		return connectors.Channel{}, hookErr("list webhooks", err)
	}
	secret := connectors.RandomToken(32)
	if existing != nil {
		if s := stored[strconv.FormatInt(existing.GetID(), 10)]; s != "" {
			secret = s
		}
	}
	want := &gh.Hook{
		Active: gh.Ptr(true),
		Events: hookEvents,
		Config: &gh.HookConfig{
			URL: gh.Ptr(callback), ContentType: gh.Ptr("json"),
			// Always named: GitHub removes the secret of an edit without one.
			Secret: gh.Ptr(secret), InsecureSSL: gh.Ptr("0"),
		},
	}
	var h *gh.Hook
	if existing != nil {
		h, _, err = client.Repositories.EditHook(ctx, owner, name, existing.GetID(), want)
		if err != nil {
			return connectors.Channel{}, hookErr("update webhook", err)
		}
	} else {
		want.Name = gh.Ptr("web")
		h, _, err = client.Repositories.CreateHook(ctx, owner, name, want)
		if err != nil {
			return connectors.Channel{}, hookErr("create webhook", err)
		}
	}
	id := strconv.FormatInt(h.GetID(), 10)
	return connectors.Channel{ID: id, Target: full, RouteKey: hookRouteKey(id), Secret: secret}, nil
}

// findHook returns the repository hook delivering to callback, if any,
// reading every page of the repository's hooks by their links (eachPage).
func findHook(ctx context.Context, client *gh.Client, owner, name, callback string) (*gh.Hook, error) {
	var found *gh.Hook
	err := eachPage(ctx, client, "repos/"+url.PathEscape(owner)+"/"+url.PathEscape(name)+"/hooks", func(hooks []*gh.Hook) bool {
		i := slices.IndexFunc(hooks, func(h *gh.Hook) bool { return h.GetConfig().GetURL() == callback })
		if i >= 0 {
			found = hooks[i]
		}
		return found != nil
	})
	return found, err
}

// hookError explains a refused hook operation: GitHub answers 403, or 404
// to hide the hooks of a repository the token may not administer, and 422
// to a hook past its 20 per event (errHookLimit). The
// connection then polls; it never asks anyone to copy a secret by hand. A
// GitHub App user token has no scopes: it fails because the app is not
// installed on the repository (it can still read a public one), or lacks
// the Webhooks permission; the error says which.
func hookError(ctx context.Context, client *gh.Client, full, op string, err error, app bool) error {
	err = mapErr(err)
	if errors.Is(err, errHookLimit) {
		// Invalid configuration: the watch pass polls the repository and
		// tries again at its next pass (watch_retry_at).
		return fmt.Errorf("github: %s on %s: %w; the connection polls instead. To receive events live, "+
			"delete unused webhooks of %s (Settings → Webhooks) that subscribe to those events", op, full, err, full)
	}
	if !errors.Is(err, connectors.ErrForbidden) && !errors.Is(err, connectors.ErrNotFound) {
		return fmt.Errorf("github: %s on %s: %w", op, full, err)
	}
	if app {
		owner, name, _ := strings.Cut(full, "/")
		if installed, ierr := appInstalledOn(ctx, client, owner, name); ierr == nil && !installed {
			return fmt.Errorf("github: %s on %s: %w: %s; the connection polls instead (%v)",
				op, full, connectors.ErrForbidden, notInstalled(full), err)
		}
		return fmt.Errorf("github: %s on %s: %w: the GitHub App may not manage this repository's webhooks "+
			"(it needs the Webhooks: read & write repository permission); the connection polls instead (%v)",
			op, full, connectors.ErrForbidden, err)
	}
	return fmt.Errorf("github: %s on %s: %w: the token cannot manage this repository's webhooks "+
		"(it needs the admin:repo_hook scope and admin rights on the repository); the connection polls instead. "+
		"To receive pushes live, reconnect with an account that administers %s (%v)",
		op, full, connectors.ErrForbidden, full, err)
}

// ConfirmWatch runs once the engine has stored a hook's channel. GitHub
// pings a hook the moment it is created, and delivers its events from then
// on, while Watch has not yet returned the hook's secret to be stored: those
// deliveries are answered 401, and GitHub does not retry a failed delivery
// (its docs, "Handling failed webhook deliveries", leave redelivery to the
// receiver). So ConfirmWatch lists the hook's deliveries as far back as
// GitHub still redelivers (listDeliveries), asks GitHub to redeliver
// (POST .../deliveries/{delivery_id}/attempts, 202) each event that never
// succeeded and that a retry can fix (see redeliverable), then to ping the
// hook again (POST .../pings, 204) so that its settings page shows the last
// delivery as successful. The same pass recovers events a reused hook
// could not deliver while the service was down.
// A listing that fails part way is reported, and what the pages read hold
// is redelivered all the same: they are the newest part of the log, which
// redeliverable judges exactly (an event whose newest attempt there is no
// redelivery had no other attempt). A redelivery refused for a rate limit
// ends the redeliveries (the account is held: the others would be refused
// too), reported once with the count of those not asked for. The hook is
// pinged whatever failed before.
func (c *Connector) ConfirmWatch(ctx context.Context, req connectors.ConfirmWatchRequest) error {
	owner, name, id, err := channelHook("confirm webhook", req.Channel)
	if err != nil {
		return err
	}
	client, err := c.client(req.HTTP)
	if err != nil {
		return err
	}
	var errs []error
	list, err := listDeliveries(ctx, client, owner, name, id, req.Now)
	if err != nil {
		errs = append(errs, fmt.Errorf("github: list deliveries of webhook %d on %s: %w", id, req.Channel.Target, err))
	}
	todo := redeliverable(list, req.Now)
	for i, d := range todo {
		// GitHub answers 202, which go-github reports as *AcceptedError.
		var accepted *gh.AcceptedError
		_, _, err := client.Repositories.RedeliverHookDelivery(ctx, owner, name, id, d)
		if err == nil || errors.As(err, &accepted) {
			continue
		}
		err = mapErr(err)
		if errors.Is(err, connectors.ErrRateLimited) {
			if rest := len(todo) - i - 1; rest > 0 {
				err = fmt.Errorf("%w (and %d more not asked for)", err, rest)
			}
			errs = append(errs, fmt.Errorf("github: redeliver delivery %d of webhook %d on %s: %w", d, id, req.Channel.Target, err))
			break
		}
		errs = append(errs, fmt.Errorf("github: redeliver delivery %d of webhook %d on %s: %w", d, id, req.Channel.Target, err))
	}
	if _, err := client.Repositories.PingHook(ctx, owner, name, id); err != nil {
		errs = append(errs, fmt.Errorf("github: ping webhook %d on %s: %w", id, req.Channel.Target, mapErr(err)))
	}
	return errors.Join(errs...)
}

// redeliverWindow is how old a delivery GitHub still redelivers (three
// days, by its docs), less a margin for clocks.
const redeliverWindow = 71 * time.Hour

// maxDeliveryPages bounds the pages of a hook's deliveries ConfirmWatch
// lists (100 attempts a page, GitHub's most): 1,000 attempts, a hook that
// averaged 14 an hour over the whole of redeliverWindow. Each page is a
// GET paced like every call of the account (Policy.Rate, and the primary
// budget of 5,000 an hour); a hook busier than that has its older events
// left to the syncs, and the listing says so.
const maxDeliveryPages = 10

// listDeliveries lists a hook's deliveries, newest first
// (GET /repos/{o}/{r}/hooks/{id}/deliveries, per_page 100), following the
// Link header's next cursor (go-github's Response.Cursor) until the log
// ends, a page reaches past redeliverWindow (older pages hold nothing
// GitHub would redeliver), or maxDeliveryPages were read. On an error it
// returns the pages read so far with it.
func listDeliveries(ctx context.Context, client *gh.Client, owner, name string, id int64, now time.Time) ([]*gh.HookDelivery, error) {
	opts := &gh.ListCursorOptions{PerPage: 100}
	var all []*gh.HookDelivery
	for range maxDeliveryPages {
		page, resp, err := client.Repositories.ListHookDeliveries(ctx, owner, name, id, opts)
		if err != nil {
			return all, mapErr(err)
		}
		all = append(all, page...)
		if len(page) == 0 || resp.Cursor == "" || now.Sub(page[len(page)-1].GetDeliveredAt().Time) >= redeliverWindow {
			return all, nil
		}
		opts.Cursor = resp.Cursor
	}
	return all, fmt.Errorf("listed the newest %d deliveries only (%d pages), all younger than GitHub's redelivery limit: "+
		"older events that failed are not redelivered", len(all), maxDeliveryPages)
}

// redeliverable picks, from a hook's deliveries (newest first, as GitHub
// lists them: every page listDeliveries read, so that an event counts as
// delivered when any attempt there did), the delivery id to redeliver for
// each event (GUID) that no attempt delivered: the newest attempt, when it
// was not itself a redelivery (an event is asked for once), is younger
// than redeliverWindow, and failed in a way a retry can fix: 401 (the
// hook's secret was not stored yet), no answer or a timeout (status code
// 0 or 408), 429, or a server error. A 400 or 404 would fail the same way again,
// and pings are not redelivered (ConfirmWatch pings anew).
func redeliverable(list []*gh.HookDelivery, now time.Time) []int64 {
	delivered := map[string]bool{}
	for _, d := range list {
		if code := d.GetStatusCode(); code >= 200 && code < 300 {
			delivered[d.GetGUID()] = true
		}
	}
	seen := map[string]bool{}
	var out []int64
	for _, d := range list {
		guid := d.GetGUID()
		if guid == "" || seen[guid] || delivered[guid] {
			continue
		}
		seen[guid] = true // the newest attempt speaks for the event
		code := d.GetStatusCode()
		retry := code == 0 || code == http.StatusUnauthorized || code == http.StatusRequestTimeout ||
			code == http.StatusTooManyRequests || code >= 500
		if retry && !d.GetRedelivery() && d.GetEvent() != "ping" && now.Sub(d.GetDeliveredAt().Time) < redeliverWindow {
			out = append(out, d.GetID())
		}
	}
	return out
}

// CheckWatch reads a stored channel's hook (GET
// /repos/{o}/{r}/hooks/{id}) and reports it stale when it is gone, no
// longer active, not subscribed to every event of hookEvents, or without
// a secret: someone deleted or disabled it at GitHub, edited its config
// without its secret (GitHub, "Update a repository webhook": "If you
// previously had a secret set, you must provide the same secret or set a
// new secret or the secret will be removed"; it then signs nothing, and
// every delivery is refused), or it was made before an event was added to
// them. GitHub answers a set secret as "********", none as no secret. The
// watch pass then registers it again (Watch edits a disabled, unsigned or
// under-subscribed one in place with its stored secret, and creates a
// gone one anew). A 404 is also what
// GitHub answers a token that may no longer see the repository's hooks:
// the hook is gone only when the hooks list still answers; otherwise
// nothing is known, the channel is kept, and the connection's syncs find
// out what the token still reads.
func (c *Connector) CheckWatch(ctx context.Context, req connectors.CheckWatchRequest) (bool, error) {
	owner, name, id, err := channelHook("check webhook", req.Channel)
	if err != nil {
		return false, err
	}
	client, err := c.client(req.HTTP)
	if err != nil {
		return false, err
	}
	h, _, err := client.Repositories.GetHook(ctx, owner, name, id)
	if err != nil {
		err = mapErr(err)
		if !errors.Is(err, connectors.ErrNotFound) {
			return false, fmt.Errorf("github: read webhook %d on %s: %w", id, req.Channel.Target, err)
		}
		if _, _, lerr := client.Repositories.ListHooks(ctx, owner, name, &gh.ListOptions{PerPage: 1}); lerr != nil {
			return false, fmt.Errorf("github: read webhook %d on %s: %w (and its hooks cannot be listed: %v)", id, req.Channel.Target, err, mapErr(lerr))
		}
		return true, nil
	}
	if !h.GetActive() || h.GetConfig().GetSecret() == "" {
		return true, nil
	}
	for _, e := range hookEvents {
		if !slices.Contains(h.Events, e) && !slices.Contains(h.Events, "*") {
			return true, nil
		}
	}
	return false, nil
}

// StopWatch deletes the repository hook of a channel; a hook already gone
// (404) is not an error.
func (c *Connector) StopWatch(ctx context.Context, req connectors.StopWatchRequest) error {
	owner, name, id, err := channelHook("stop watch", req.Channel)
	if err != nil {
		return err
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

// channelHook reads a channel as a repository hook: owner and name from its
// target, the hook id from its id.
func channelHook(op string, ch connectors.Channel) (owner, name string, id int64, err error) {
	owner, name, ok := strings.Cut(ch.Target, "/")
	id, perr := strconv.ParseInt(ch.ID, 10, 64)
	if !ok || perr != nil {
		return "", "", 0, fmt.Errorf("github: %s: %w: channel %q on %q is not a repository hook", op, connectors.ErrInvalidConfig, ch.ID, ch.Target)
	}
	return owner, name, id, nil
}
