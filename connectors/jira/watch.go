package jira

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/poblysh/poblysh/connectors"
)

var (
	_ connectors.Watcher        = (*Connector)(nil)
	_ connectors.ChannelRenewer = (*Connector)(nil)
	_ connectors.ChannelRekeyer = (*Connector)(nil)
)

// webhookEvents are the events each dynamic webhook subscribes to.
// Deletions are subscribed to so the intake log shows them; they yield no
// Signal.
var webhookEvents = []string{"jira:issue_created", "jira:issue_updated", "jira:issue_deleted"}

// webhookTTL is how long Jira keeps a dynamic webhook after registration
// or refresh, when its answer does not say.
const webhookTTL = 30 * 24 * time.Hour

// WatchTargets lists the configured project keys, the values channels
// carry as Target.
func (c *Connector) WatchTargets(conn connectors.Connection) ([]string, error) {
	return c.ResourceRefs(conn)
}

// Watch registers one dynamic webhook per target project in one call
// (POST /rest/api/3/webhook): the service's webhook URL (Jira drops query
// parameters, so nothing can ride on it), the three issue events,
// jqlFilter `project = KEY` (inside the reduced JQL dynamic webhooks
// accept), and fieldIdsFilter naming status and the tracked fields, so
// updates touching nothing we follow are not sent. Jira answers 200 even
// when a registration failed: each result is read; failed ones are left
// for the next watch pass and, when none succeeded, the error says why
// (the connection polls meanwhile). A channel's id is "<cloud id>/<webhook
// id>" (webhook ids are numbered per site) and its route key names the
// site's host and the webhook id, which is what deliveries carry.
//
// For an app that is not distributed publicly, Jira delivers dynamic
// webhooks only when the app's owner registered them: with
// POBLYSH_JIRA_APP_OWNER_ACCOUNT_ID set, connections made by anyone else
// register nothing and poll (the error says so).
func (c *Connector) Watch(ctx context.Context, req connectors.WatchRequest) ([]connectors.Channel, error) {
	if req.CallbackURL == "" {
		return nil, fmt.Errorf("jira: watch: %w: no callback URL", connectors.ErrInvalidConfig)
	}
	cloudID, _, host, err := siteOf(req.Connection)
	if err != nil {
		return nil, err
	}
	if c.owner != "" && req.Connection.Account.Metadata["user_id"] != c.owner {
		return nil, fmt.Errorf("jira: watch: %w: the Jira app is not distributed publicly (POBLYSH_JIRA_APP_OWNER_ACCOUNT_ID), "+
			"and Jira delivers its webhooks only when the app's owner registered them; this connection was made by "+
			"another Atlassian account, so it polls instead", connectors.ErrForbidden)
	}
	targets := req.Targets
	if len(targets) == 0 {
		if targets, err = c.WatchTargets(req.Connection); err != nil {
			return nil, err
		}
	}
	if len(targets) == 0 {
		return nil, nil
	}
	type spec struct {
		Events         []string `json:"events"`
		JQLFilter      string   `json:"jqlFilter"`
		FieldIDsFilter []string `json:"fieldIdsFilter,omitempty"`
	}
	body := struct {
		URL      string `json:"url"`
		Webhooks []spec `json:"webhooks"`
	}{URL: req.CallbackURL}
	fields := append([]string{"status"}, trackedFields...)
	for _, key := range targets {
		if !projectKeyRE.MatchString(key) {
			return nil, fmt.Errorf("jira: watch: %w: %q is not a project key", connectors.ErrInvalidConfig, key)
		}
		body.Webhooks = append(body.Webhooks, spec{Events: webhookEvents, JQLFilter: "project = " + jqlKey(key), FieldIDsFilter: fields})
	}
	var ans struct {
		Results []struct {
			CreatedWebhookID int64    `json:"createdWebhookId"`
			Errors           []string `json:"errors"`
		} `json:"webhookRegistrationResult"`
	}
	if err := call(ctx, req.HTTP, http.MethodPost, c.siteAPI(cloudID)+"webhook", body, &ans); err != nil {
		return nil, fmt.Errorf("jira: register webhooks: %w", err)
	}
	var ids []string
	var failures []string
	for i, key := range targets {
		if i >= len(ans.Results) {
			failures = append(failures, key+": no result")
			ids = append(ids, "")
			continue
		}
		r := ans.Results[i]
		if r.CreatedWebhookID <= 0 {
			failures = append(failures, key+": "+strings.Join(r.Errors, "; "))
			ids = append(ids, "")
			continue
		}
		ids = append(ids, strconv.FormatInt(r.CreatedWebhookID, 10))
	}
	listed, err := c.listWebhooks(ctx, req.HTTP, cloudID)
	if err != nil {
		listed = nil // registered all the same; the default lifetime applies
	}
	var out []connectors.Channel
	for i, id := range ids {
		if id == "" {
			continue
		}
		n, _ := strconv.ParseInt(id, 10, 64)
		exp := listed[n].expires // Jira's Webhook schema makes expirationDate optional
		if exp.IsZero() {
			exp = req.Now.Add(webhookTTL)
		}
		key := targets[i]
		out = append(out, connectors.Channel{
			ID: cloudID + "/" + id, Target: key, Stream: streamName(key), RouteKey: hookRouteKey(host, id), Expires: exp,
		})
	}
	if len(out) == 0 && len(failures) > 0 {
		return nil, fmt.Errorf("jira: register webhooks: %w: Jira refused them (%s); the connection polls instead",
			connectors.ErrInvalidConfig, strings.Join(failures, ", "))
	}
	return out, nil
}

// StopWatch deletes a channel's webhook (DELETE /rest/api/3/webhook); Jira
// ignores ids it does not know, so a webhook already gone is no error.
func (c *Connector) StopWatch(ctx context.Context, req connectors.StopWatchRequest) error {
	cloudID, id, err := splitChannelID(req.Channel.ID)
	if err != nil {
		return err
	}
	body := map[string][]int64{"webhookIds": {id}}
	if err := call(ctx, req.HTTP, http.MethodDelete, c.siteAPI(cloudID)+"webhook", body, nil); err != nil {
		if connectors.Kind(err) == connectors.ErrNotFound {
			return nil
		}
		return fmt.Errorf("jira: delete webhook %d: %w", id, err)
	}
	return nil
}

// RenewWatch extends channels' webhooks by 30 days (PUT
// /rest/api/3/webhook/refresh). Jira ignores unknown ids there, so the
// app's webhooks are listed first (GET /rest/api/3/webhook): a webhook no
// longer listed, or past its expiry, is gone and is left out of the answer,
// and the engine registers a new one. The channels answered carry the
// route key of their webhook on the host of the connection's site URL as
// it is now (ChannelRouteKey).
//
// A channel whose webhook delivers to another URL than the service's
// webhook URL (POBLYSH_PUBLIC_URL changed since it was registered) is not
// extended: Jira allows one URL per app on a site, so it would keep
// sending issue bodies to the former URL for as long as it was renewed,
// and refuse every registration at the new one. Every webhook the listing
// shows at such a URL is deleted (DELETE /rest/api/3/webhook), this
// connection's and those other connections registered there (the one-URL
// rule would refuse the new registration until each of them had been
// renewed), and the channel is left out of the answer, so the engine
// registers it again at the service's URL. Only a URL that one of the
// connection's own webhooks had is taken for a former URL of this
// service: a webhook at a URL none of them had is another deployment's
// sharing the OAuth app, and is left alone.
//
// That DELETE is best effort: when it fails, the current webhooks are
// refreshed all the same (a connection whose cleanup kept failing lost
// push on every target as their webhooks expired), and the channels at
// the former URL are named in a *connectors.RenewCleanupError beside the
// answer: the engine logs it and leaves them as they are, so the next
// renewal finds them due and deletes again. A failed refresh fails the
// renewal.
func (c *Connector) RenewWatch(ctx context.Context, req connectors.RenewWatchRequest) ([]connectors.Channel, error) {
	cloudID, _, host, err := siteOf(req.Connection)
	if err != nil {
		return nil, err
	}
	live, err := c.listWebhooks(ctx, req.HTTP, cloudID)
	if err != nil {
		return nil, err
	}
	current := ""
	if c.cfg.PublicURLSet {
		current = hookURLKey(c.cfg.WebhookURL(Provider))
	}
	var keep []connectors.Channel
	var ids []int64
	var held []string           // channels at a former URL
	former := map[string]bool{} // URLs the connection's webhooks have that are not the service's
	for _, ch := range req.Channels {
		cid, id, err := splitChannelID(ch.ID)
		if err != nil || cid != cloudID {
			continue
		}
		// A listed webhook without an expirationDate (optional in Jira's
		// schema) is live.
		h, ok := live[id]
		if !ok || (!h.expires.IsZero() && !h.expires.After(req.Now)) {
			continue
		}
		if u := hookURLKey(h.url); current != "" && u != "" && u != current {
			former[u] = true
			held = append(held, ch.ID)
			continue
		}
		keep = append(keep, ch)
		ids = append(ids, id)
	}
	var cleanup *connectors.RenewCleanupError
	if len(former) > 0 {
		var gone []int64
		for id, h := range live {
			if former[hookURLKey(h.url)] {
				gone = append(gone, id)
			}
		}
		slices.Sort(gone)
		if err := call(ctx, req.HTTP, http.MethodDelete, c.siteAPI(cloudID)+"webhook", map[string][]int64{"webhookIds": gone}, nil); err != nil {
			cleanup = &connectors.RenewCleanupError{Held: held,
				Err: fmt.Errorf("jira: delete the webhooks at a former URL of the service (tried again at the next renewal): %w", err)}
		}
	}
	if len(ids) > 0 {
		var ans struct {
			ExpirationDate flexTime `json:"expirationDate"`
		}
		if err := call(ctx, req.HTTP, http.MethodPut, c.siteAPI(cloudID)+"webhook/refresh", map[string][]int64{"webhookIds": ids}, &ans); err != nil {
			return nil, fmt.Errorf("jira: refresh webhooks: %w", err)
		}
		exp := ans.ExpirationDate.Time
		if exp.IsZero() {
			exp = req.Now.Add(webhookTTL)
		}
		for i := range keep {
			keep[i].Expires, keep[i].RouteKey = exp, hookRouteKey(host, strconv.FormatInt(ids[i], 10))
		}
	}
	if cleanup != nil {
		return keep, cleanup
	}
	return keep, nil
}

// hookURLKey is the form in which two webhook URLs are compared: scheme
// and host in lower case, without the query (Jira drops it) or the
// fragment; "" for a URL that does not parse (an unknown URL: never taken
// for a former one).
func hookURLKey(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + u.EscapedPath()
}

// ChannelRouteKey is the route key a channel's webhook has now: its id on
// the host of the connection's site URL. An admin's rename of the site
// keeps the webhook and its id, while its deliveries name the new host
// from then on; once the connection's site URL is the new one (a poll
// reads it, or a re-authorization), the engine renews the channel and
// stores this key. A channel of another site keeps its key (RenewWatch
// leaves it out).
func (c *Connector) ChannelRouteKey(conn connectors.Connection, ch connectors.Channel) (string, error) {
	cloudID, _, host, err := siteOf(conn)
	if err != nil {
		return "", err
	}
	cid, id, err := splitChannelID(ch.ID)
	if err != nil {
		return "", err
	}
	if cid != cloudID {
		return ch.RouteKey, nil
	}
	return hookRouteKey(host, strconv.FormatInt(id, 10)), nil
}

// listedWebhook is one of the app's webhooks on a site as GET
// /rest/api/3/webhook lists it.
type listedWebhook struct {
	expires time.Time // zero: not said
	url     string    // where it delivers; "" when not said
}

// listWebhooks lists the app's dynamic webhooks on a site (GET
// /rest/api/3/webhook, startAt pages) by id, with their expiry and URL.
func (c *Connector) listWebhooks(ctx context.Context, hc *http.Client, cloudID string) (map[int64]listedWebhook, error) {
	out := map[int64]listedWebhook{}
	for start := 0; start < 100000; {
		var page struct {
			IsLast     bool `json:"isLast"`
			MaxResults int  `json:"maxResults"`
			StartAt    int  `json:"startAt"`
			Values     []struct {
				ID             int64    `json:"id"`
				ExpirationDate flexTime `json:"expirationDate"`
				URL            string   `json:"url"`
			} `json:"values"`
		}
		if err := call(ctx, hc, http.MethodGet, c.siteAPI(cloudID)+"webhook?maxResults=100&startAt="+strconv.Itoa(start), nil, &page); err != nil {
			return nil, fmt.Errorf("jira: list webhooks: %w", err)
		}
		for _, v := range page.Values {
			out[v.ID] = listedWebhook{expires: v.ExpirationDate.Time, url: v.URL}
		}
		if page.IsLast || len(page.Values) == 0 {
			return out, nil
		}
		start += len(page.Values)
	}
	return out, nil
}

// splitChannelID reads "<cloud id>/<webhook id>".
func splitChannelID(s string) (string, int64, error) {
	cloudID, raw, ok := strings.Cut(s, "/")
	id, err := strconv.ParseInt(raw, 10, 64)
	if !ok || cloudID == "" || err != nil || id <= 0 {
		return "", 0, fmt.Errorf("jira: channel %q: %w: not <cloud id>/<webhook id>", s, connectors.ErrInvalidConfig)
	}
	return cloudID, id, nil
}

// flexTime reads expirationDate, which Jira sends as epoch milliseconds in
// some answers and as an ISO timestamp ("2019-06-01T12:42:30.000+0000") in
// others; a number too small for milliseconds is seconds.
type flexTime struct{ time.Time }

// UnmarshalJSON implements json.Unmarshaler.
func (t *flexTime) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		return nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 100_000_000_000 {
			t.Time = time.Unix(n, 0).UTC()
		} else {
			t.Time = time.UnixMilli(n).UTC()
		}
		return nil
	}
	var jt jiraTime
	if err := jt.UnmarshalJSON(b); err != nil {
		return err
	}
	t.Time = jt.Time
	return nil
}
