package jira_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/connectortest"
	"github.com/poblysh/poblysh/sandbox"
	jirasandbox "github.com/poblysh/poblysh/sandbox/jira"
)

// Webhooks are registered one per project with the reduced JQL, renewed in
// place while they live, reported gone once they expired, and deleted on
// stop.
func TestWatchRenewStop(t *testing.T) {
	h := newHarness(t, jirasandbox.Options{WebhookTTL: time.Hour}, `["LPR", "MKT"]`)
	ctx := context.Background()
	w := h.prov.Connector.(connectors.Watcher)
	chans, err := w.Watch(ctx, connectors.WatchRequest{Connection: h.conn, HTTP: h.client(),
		CallbackURL: "https://poblysh.example/api/v1/webhooks/jira", Now: time.Now()})
	require.NoError(t, err)
	require.Len(t, chans, 2)
	hooks := h.sb.Webhooks(jirasandbox.SiteID)
	require.Len(t, hooks, 2)
	require.Equal(t, `project = "LPR"`, hooks[0].JQL)
	for i, ch := range chans {
		require.Equal(t, jirasandbox.SiteID+"/"+jsonID(hooks[i].ID), ch.ID)
		require.Equal(t, "hook:acme-pr.atlassian.net/"+jsonID(hooks[i].ID), ch.RouteKey)
		require.Equal(t, "issues:"+[]string{"LPR", "MKT"}[i], ch.Stream)
		require.WithinDuration(t, hooks[i].Expires, ch.Expires, time.Second, "expiry read back from Jira")
	}

	r := h.prov.Connector.(connectors.ChannelRenewer)
	later := time.Now().Add(30 * time.Minute)
	renewed, err := r.RenewWatch(ctx, connectors.RenewWatchRequest{Connection: h.conn, HTTP: h.client(), Channels: chans, Now: time.Now()})
	require.NoError(t, err)
	require.Len(t, renewed, 2)
	require.True(t, renewed[0].Expires.After(later), "extended by the webhook lifetime")

	h.sb.ExpireWebhooks()
	renewed, err = r.RenewWatch(ctx, connectors.RenewWatchRequest{Connection: h.conn, HTTP: h.client(), Channels: chans, Now: time.Now()})
	require.NoError(t, err)
	require.Empty(t, renewed, "expired webhooks are gone: the engine registers new ones")

	chans, err = w.Watch(ctx, connectors.WatchRequest{Connection: h.conn, HTTP: h.client(),
		CallbackURL: "https://poblysh.example/api/v1/webhooks/jira", Targets: []string{"MKT"}, Now: time.Now()})
	require.NoError(t, err)
	require.Len(t, chans, 1)
	require.Len(t, h.sb.Webhooks(jirasandbox.SiteID), 1)
	require.NoError(t, w.StopWatch(ctx, connectors.StopWatchRequest{Connection: h.conn, HTTP: h.client(), Channel: chans[0]}))
	require.Empty(t, h.sb.Webhooks(jirasandbox.SiteID))
	require.NoError(t, w.StopWatch(ctx, connectors.StopWatchRequest{Connection: h.conn, HTTP: h.client(), Channel: chans[0]}), "already gone")
}

// A privately distributed app registers nothing for users other than its
// owner (Jira would not deliver), and says why.
func TestWatchPrivateApp(t *testing.T) {
	h := newHarness(t, jirasandbox.Options{}, `["LPR"]`)
	sb := h.sb
	env := sb.Env(h.url)
	env["POBLYSH_JIRA_APP_OWNER_ACCOUNT_ID"] = "someone-else"
	cfg, err := connectors.LoadConfig(h.prov.Spec, func(k string) string { return env[k] }, "https://poblysh.example", true)
	require.NoError(t, err)
	c, err := h.prov.Spec.New(cfg)
	require.NoError(t, err)
	_, err = c.(connectors.Watcher).Watch(context.Background(), connectors.WatchRequest{Connection: h.conn, HTTP: h.client(),
		CallbackURL: "https://poblysh.example/api/v1/webhooks/jira", Now: time.Now()})
	require.ErrorIs(t, err, connectors.ErrForbidden)
	require.Contains(t, err.Error(), "polls instead")
	require.Empty(t, sb.Webhooks(jirasandbox.SiteID))
}

// Identify binds the one site of a user, and asks for config.site when the
// token reaches two; the config picks either by URL or cloud id.
func TestIdentifySites(t *testing.T) {
	h := newHarness(t, jirasandbox.Options{}, `["LPR"]`)
	chooser := h.prov.Connector.(connectors.AccountChooser)
	ctx := context.Background()
	_, err := chooser.IdentifyFor(ctx, connectors.IdentifyRequest{HTTP: h.client()})
	var ce *connectors.ConfigError
	require.ErrorAs(t, err, &ce)
	require.Contains(t, ce.Fields["site"], jirasandbox.SecondURL)
	acct, err := chooser.IdentifyFor(ctx, connectors.IdentifyRequest{HTTP: h.client(), Config: json.RawMessage(`{"site":"` + jirasandbox.SecondURL + `","projects":["OPS"]}`)})
	require.NoError(t, err)
	require.Equal(t, jirasandbox.SecondSite, acct.ID)
	require.Equal(t, "acme-labs.atlassian.net", acct.Name)
	require.Equal(t, jirasandbox.SecondURL, acct.Metadata["url"])
	require.Equal(t, "5b10a2844c20165700ede21g", acct.Metadata["user_id"])
	_, err = time.Parse(time.RFC3339, acct.Metadata["authorized_at"])
	require.NoError(t, err)

	ts, err := h.sb.IssueToken(jirasandbox.SecondUser)
	require.NoError(t, err)
	grace := connectors.NewRegistry(h.prov).HTTPClient(h.prov, "", ts.AccessToken)
	acct, err = h.prov.Connector.(connectors.Authorizer).Identify(ctx, nil, grace)
	require.NoError(t, err)
	require.Equal(t, jirasandbox.SiteID, acct.ID, "one site: no config needed")
}

func jsonID(id int64) string { b, _ := json.Marshal(id); return string(b) }

// A project key that is a JQL reserved word ("SET", "IF", "DO"...) is a
// valid key; Jira refuses it unquoted in a query and in a webhook's
// filter, so the connector always quotes keys: the project is read and
// watched like any other.
func TestProjectKeyThatIsAReservedWord(t *testing.T) {
	h := newHarness(t, jirasandbox.Options{}, `["SET"]`)
	require.True(t, h.sb.AddProject(jirasandbox.SiteID, "SET", "Settlements"))
	_, err := h.sb.CreateIssue(context.Background(), jirasandbox.SiteID, jirasandbox.IssueInput{Project: "SET", Summary: "Settlement press note"},
		sandbox.DeliveryOptions{})
	require.NoError(t, err)
	sigs, _ := connectortest.Drain(t, h.prov, h.conn, h.client(), "issues:SET", nil)
	require.Len(t, sigs, 1)
	require.Contains(t, sigs[0].Payload.Title, "Settlement press note")

	w := h.prov.Connector.(connectors.Watcher)
	chans, err := w.Watch(context.Background(), connectors.WatchRequest{Connection: h.conn, HTTP: h.client(),
		CallbackURL: "https://poblysh.example/api/v1/webhooks/jira", Now: time.Now()})
	require.NoError(t, err)
	require.Len(t, chans, 1)
	hooks := h.sb.Webhooks(jirasandbox.SiteID)
	require.Len(t, hooks, 1)
	require.Equal(t, `project = "SET"`, hooks[0].JQL)
}

// After the service's public URL changes (POBLYSH_PUBLIC_URL), a renewal
// moves the site's webhooks off the former URL instead of extending them:
// Jira allows one URL per app on a site ("Only a single URL per app is
// allowed to be registered"), so a webhook kept at the former URL would
// deliver issue bodies there for as long as it was renewed, and refuse
// every registration at the new one. The webhooks of the connection's
// channels there, and the app's other webhooks at that URL on the site
// (another connection's), are deleted; the channels are left out of the
// answer, so the engine registers them again at the service's URL. A
// webhook at a URL none of the connection's own webhooks had (another
// deployment sharing the OAuth app) is left alone.
func TestRenewMovesWebhooksOffAFormerURL(t *testing.T) {
	h := newHarness(t, jirasandbox.Options{WebhookTTL: time.Hour}, `["LPR", "MKT"]`)
	ctx := context.Background()
	w := h.prov.Connector.(connectors.Watcher)
	r := h.prov.Connector.(connectors.ChannelRenewer)
	former := "https://old-host.example/api/v1/webhooks/jira"
	current := h.prov.Config.WebhookURL("jira")
	require.NotEqual(t, former, current)
	chans, err := w.Watch(ctx, connectors.WatchRequest{Connection: h.conn, HTTP: h.client(), CallbackURL: former,
		Targets: []string{"LPR"}, Now: time.Now()})
	require.NoError(t, err)
	require.Len(t, chans, 1)
	// Another user's connection to the same site (another tenant's, say),
	// registered at the former URL too.
	ts, err := h.sb.IssueToken(jirasandbox.SecondUser)
	require.NoError(t, err)
	other := h.conn
	other.ID, other.TenantID = "conn-2", "tenant-2"
	otherHTTP := connectors.NewRegistry(h.prov).HTTPClient(h.prov, other.Account.ID, ts.AccessToken)
	otherChans, err := w.Watch(ctx, connectors.WatchRequest{Connection: other, HTTP: otherHTTP, CallbackURL: former,
		Targets: []string{"MKT"}, Now: time.Now()})
	require.NoError(t, err)
	require.Len(t, otherChans, 1)
	_, err = w.Watch(ctx, connectors.WatchRequest{Connection: h.conn, HTTP: h.client(), CallbackURL: current,
		Targets: []string{"MKT"}, Now: time.Now()})
	require.ErrorIs(t, err, connectors.ErrInvalidConfig, "Jira refuses a second URL while the former one has webhooks")

	renewed, err := r.RenewWatch(ctx, connectors.RenewWatchRequest{Connection: h.conn, HTTP: h.client(), Channels: chans, Now: time.Now()})
	require.NoError(t, err)
	require.Empty(t, renewed, "a webhook delivering to %s is not renewed: the service's URL is %s", former, current)
	require.Empty(t, h.sb.Webhooks(jirasandbox.SiteID), "every webhook of the app at the former URL is deleted")

	// The engine registers the channel again, at the service's URL; the
	// other connection's renewal finds its webhook gone and does the same.
	chans, err = w.Watch(ctx, connectors.WatchRequest{Connection: h.conn, HTTP: h.client(), CallbackURL: current,
		Targets: []string{"LPR"}, Now: time.Now()})
	require.NoError(t, err)
	require.Len(t, chans, 1)
	renewed, err = r.RenewWatch(ctx, connectors.RenewWatchRequest{Connection: other, HTTP: otherHTTP, Channels: otherChans, Now: time.Now()})
	require.NoError(t, err)
	require.Empty(t, renewed)
	otherChans, err = w.Watch(ctx, connectors.WatchRequest{Connection: other, HTTP: otherHTTP, CallbackURL: current,
		Targets: []string{"MKT"}, Now: time.Now()})
	require.NoError(t, err)
	require.Len(t, otherChans, 1)
	hooks := h.sb.Webhooks(jirasandbox.SiteID)
	require.Len(t, hooks, 2)
	for _, hk := range hooks {
		require.Equal(t, current, hk.URL, "the site lists only the service's URL")
	}
	// Webhooks at the service's URL are renewed in place, as before.
	renewed, err = r.RenewWatch(ctx, connectors.RenewWatchRequest{Connection: h.conn, HTTP: h.client(), Channels: chans, Now: time.Now()})
	require.NoError(t, err)
	require.Len(t, renewed, 1)
	require.Equal(t, chans[0].ID, renewed[0].ID)
	require.Len(t, h.sb.Webhooks(jirasandbox.SiteID), 2)

	// A site whose only webhooks are at a URL no webhook of this
	// connection had: another deployment's, sharing the OAuth app. The
	// connection's own webhook expired; the other deployment's are not
	// its to delete (Jira then refuses this deployment's registration,
	// and the connection polls, as before).
	h.sb.ExpireWebhooks()
	stack := "https://other-stack.example/api/v1/webhooks/jira"
	_, err = w.Watch(ctx, connectors.WatchRequest{Connection: other, HTTP: otherHTTP, CallbackURL: stack,
		Targets: []string{"MKT"}, Now: time.Now()})
	require.NoError(t, err)
	renewed, err = r.RenewWatch(ctx, connectors.RenewWatchRequest{Connection: h.conn, HTTP: h.client(), Channels: chans, Now: time.Now()})
	require.NoError(t, err)
	require.Empty(t, renewed, "the connection's own webhook expired")
	hooks = h.sb.Webhooks(jirasandbox.SiteID)
	require.Len(t, hooks, 1)
	require.Equal(t, stack, hooks[0].URL, "another deployment's webhook is left alone")
}

// A renewal whose DELETE of the webhooks at a former URL fails still
// extends the connection's webhooks at the service's URL: the cleanup is
// best effort (connectors.RenewCleanupError names the channels it was
// about, which the engine leaves as they are), and the next renewal tries
// it again. A failed refresh still fails the renewal. (The failed DELETE
// failed the whole renewal: the current webhooks were not extended, and
// expired while it kept failing.)
func TestRenewExtendsCurrentWebhooksWhenTheFormerURLsDeleteFails(t *testing.T) {
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	h := newHarness(t, jirasandbox.Options{WebhookTTL: time.Hour, Options: sandbox.Options{Now: now}}, `["LPR", "MKT"]`)
	former := "https://old-host.example/api/v1/webhooks/jira"
	// Jira, in front of the sandbox: the webhook of formerID listed at the
	// former URL (the sandbox's one-URL rule keeps both of a site's
	// webhooks at one URL), and DELETE or refresh answering 503 on demand.
	var formerID atomic.Int64
	var failDelete, failRefresh atomic.Bool
	var pmu sync.Mutex
	var deleted, refreshed [][]int64
	inner := h.sb
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hooks := strings.HasSuffix(r.URL.Path, "/rest/api/3/webhook")
		switch {
		case r.Method == http.MethodGet && hooks:
			rec := httptest.NewRecorder()
			inner.ServeHTTP(rec, r)
			var page map[string]any
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
			for _, v := range page["values"].([]any) {
				if int64(v.(map[string]any)["id"].(float64)) == formerID.Load() {
					v.(map[string]any)["url"] = former
				}
			}
			w.Header().Set("Content-Type", "application/json")
			require.NoError(t, json.NewEncoder(w).Encode(page))
			return
		case r.Method == http.MethodDelete && hooks, r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/rest/api/3/webhook/refresh"):
			body, _ := io.ReadAll(r.Body)
			var in struct {
				WebhookIDs []int64 `json:"webhookIds"`
			}
			require.NoError(t, json.Unmarshal(body, &in))
			pmu.Lock()
			fail := failRefresh.Load()
			if r.Method == http.MethodDelete {
				deleted, fail = append(deleted, in.WebhookIDs), failDelete.Load()
			} else {
				refreshed = append(refreshed, in.WebhookIDs)
			}
			pmu.Unlock()
			if fail {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(`{"errorMessages":["Service unavailable"],"errors":{}}`))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	h.url = proxy.URL
	h.prov = provider(t, inner, proxy.URL, "")
	ctx := context.Background()
	w := h.prov.Connector.(connectors.Watcher)
	r := h.prov.Connector.(connectors.ChannelRenewer)
	chans, err := w.Watch(ctx, connectors.WatchRequest{Connection: h.conn, HTTP: h.client(), CallbackURL: h.prov.Config.WebhookURL("jira"),
		Now: now()})
	require.NoError(t, err)
	require.Len(t, chans, 2)
	_, lpr, err := splitID(chans[0].ID)
	require.NoError(t, err)
	_, mkt, err := splitID(chans[1].ID)
	require.NoError(t, err)
	formerID.Store(mkt)
	expiry := func(id int64) time.Time {
		for _, hk := range h.sb.Webhooks(jirasandbox.SiteID) {
			if hk.ID == id {
				return hk.Expires
			}
		}
		return time.Time{}
	}
	registered := expiry(lpr)

	advance(10 * time.Minute)
	failDelete.Store(true)
	renewed, err := r.RenewWatch(ctx, connectors.RenewWatchRequest{Connection: h.conn, HTTP: h.client(), Channels: chans, Now: now()})
	var cleanup *connectors.RenewCleanupError
	require.ErrorAs(t, err, &cleanup, "the failed DELETE is reported beside the renewal, not instead of it")
	require.ErrorIs(t, err, connectors.ErrTransient)
	require.Equal(t, []string{chans[1].ID}, cleanup.Held, "the channel at the former URL is held for the next renewal")
	require.Equal(t, [][]int64{{mkt}}, deleted, "the webhooks at the former URL were asked to be deleted")
	require.Equal(t, [][]int64{{lpr}}, refreshed, "the webhook at the service's URL is refreshed, and only it")
	require.Len(t, renewed, 1)
	require.Equal(t, chans[0].ID, renewed[0].ID)
	require.WithinDuration(t, now().Add(time.Hour), renewed[0].Expires, time.Second)
	require.True(t, expiry(lpr).After(registered), "extended at Jira")
	require.Equal(t, "hook:acme-pr.atlassian.net/"+strconv.FormatInt(lpr, 10), renewed[0].RouteKey)
	require.False(t, expiry(mkt).IsZero(), "the webhook at the former URL is still there: its DELETE failed")

	// A refresh that fails fails the renewal, though the cleanup failed
	// too: the renewal's own failure.
	failRefresh.Store(true)
	renewed, err = r.RenewWatch(ctx, connectors.RenewWatchRequest{Connection: h.conn, HTTP: h.client(), Channels: chans, Now: now()})
	require.ErrorIs(t, err, connectors.ErrTransient)
	require.False(t, errors.As(err, &cleanup), "a failed refresh is not a failed cleanup")
	require.Empty(t, renewed)

	// The next renewal tries the DELETE again; the channel is then left
	// out, and the engine registers it again at the service's URL.
	advance(10 * time.Minute)
	failDelete.Store(false)
	failRefresh.Store(false)
	renewed, err = r.RenewWatch(ctx, connectors.RenewWatchRequest{Connection: h.conn, HTTP: h.client(), Channels: chans, Now: now()})
	require.NoError(t, err)
	require.Len(t, renewed, 1)
	require.Equal(t, chans[0].ID, renewed[0].ID)
	require.True(t, expiry(mkt).IsZero(), "deleted at the next attempt")
	require.Equal(t, [][]int64{{mkt}, {mkt}, {mkt}}, deleted)

	// A failed cleanup with nothing to refresh: the channel is held all
	// the same, and no refresh is asked for.
	formerID.Store(lpr)
	failDelete.Store(true)
	calls := len(refreshed)
	renewed, err = r.RenewWatch(ctx, connectors.RenewWatchRequest{Connection: h.conn, HTTP: h.client(), Channels: chans[:1], Now: now()})
	require.ErrorAs(t, err, &cleanup)
	require.Equal(t, []string{chans[0].ID}, cleanup.Held)
	require.Empty(t, renewed)
	require.Len(t, refreshed, calls)
}

// splitID reads a channel id, "<cloud id>/<webhook id>".
func splitID(id string) (string, int64, error) {
	cloud, raw, _ := strings.Cut(id, "/")
	n, err := strconv.ParseInt(raw, 10, 64)
	return cloud, n, err
}
