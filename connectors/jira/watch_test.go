package jira_test

import (
	"context"
	"encoding/json"
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
