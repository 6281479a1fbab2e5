package jira_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/connectortest"
	jirasandbox "github.com/poblysh/poblysh/sandbox/jira"
)

// renamedURL is the URL an organization admin gives the sandbox's first
// site (Atlassian: the product URL can be updated up to 3 times; the old
// one redirects until Atlassian gives it to another site).
const renamedURL = "https://acme-launch.atlassian.net"

// Re-authorizing a connection whose config names its site by the URL it
// had before an admin renamed it: accessible-resources lists the same
// cloud id under the new URL, and the connection keeps its site, now
// under that URL, with the old one kept as a former URL that its config
// may still name.
func TestReauthorizeRenamedSite(t *testing.T) {
	h := newHarness(t, jirasandbox.Options{}, `["LPR"]`)
	ctx := context.Background()
	require.NoError(t, h.sb.RenameSite(jirasandbox.SiteID, renamedURL))
	chooser := h.prov.Connector.(connectors.AccountChooser)
	cfg := json.RawMessage(`{"site":"` + jirasandbox.SiteURL + `","projects":["LPR"]}`)
	reauth := connectors.IdentifyRequest{HTTP: h.client(), Config: cfg, AccountID: jirasandbox.SiteID, AccountMetadata: h.conn.Account.Metadata}
	acct, err := chooser.IdentifyFor(ctx, reauth)
	require.NoError(t, err, "the same cloud id under a new URL is the same site")
	require.Equal(t, jirasandbox.SiteID, acct.ID)
	require.Equal(t, "acme-launch.atlassian.net", acct.Name)
	require.Equal(t, renamedURL, acct.Metadata["url"])
	require.Equal(t, "acme-launch", acct.Metadata["site_name"])
	require.Equal(t, jirasandbox.SiteURL, acct.Metadata["former_urls"])

	// The config keeps naming the site by its old URL: the access proof
	// (at the callback, and at every pass) takes it as the site's.
	report, err := h.prov.Connector.(connectors.AccessProver).ProveAccess(ctx,
		connectors.AccessRequest{Connection: connectors.Connection{Account: acct, Config: cfg}, HTTP: h.client()})
	require.NoError(t, err)
	require.Empty(t, report.Denied)
	require.Len(t, report.Granted, 1)
	// ...and re-authorized once more, it still names the site.
	again, err := chooser.IdentifyFor(ctx, connectors.IdentifyRequest{HTTP: h.client(), Config: cfg, AccountID: acct.ID, AccountMetadata: acct.Metadata})
	require.NoError(t, err)
	require.Equal(t, jirasandbox.SiteURL, again.Metadata["former_urls"])

	// A URL the connection never knew its site by is not taken for it,
	// nor is the old URL for a new connection.
	other := json.RawMessage(`{"site":"https://acme-other.atlassian.net","projects":["LPR"]}`)
	_, err = chooser.IdentifyFor(ctx, connectors.IdentifyRequest{HTTP: h.client(), Config: other, AccountID: jirasandbox.SiteID,
		AccountMetadata: h.conn.Account.Metadata})
	var ce *connectors.ConfigError
	require.ErrorAs(t, err, &ce)
	_, err = chooser.IdentifyFor(ctx, connectors.IdentifyRequest{HTTP: h.client(), Config: cfg})
	require.ErrorAs(t, err, &ce)
	report, err = h.prov.Connector.(connectors.AccessProver).ProveAccess(ctx,
		connectors.AccessRequest{Connection: connectors.Connection{Account: acct, Config: other}, HTTP: h.client()})
	require.NoError(t, err)
	require.Equal(t, "site", report.Denied[0].Ref, "a config naming another site is denied")
}

// After a rename and a re-authorization (the account's url is the new
// one), the webhook channels renewed in place carry route keys naming
// the new host, the one the renamed site's deliveries name.
func TestRenewedChannelsNameTheRenamedSite(t *testing.T) {
	h := newHarness(t, jirasandbox.Options{}, `["LPR"]`)
	ctx := context.Background()
	got, chans := h.capture(t, "LPR")
	require.Equal(t, "hook:acme-pr.atlassian.net/"+jsonID(h.sb.Webhooks(jirasandbox.SiteID)[0].ID), chans[0].RouteKey)
	require.NoError(t, h.sb.RenameSite(jirasandbox.SiteID, renamedURL))
	h.conn.Account.Name, h.conn.Account.Metadata["url"] = "acme-launch.atlassian.net", renamedURL

	key, err := h.prov.Connector.(connectors.ChannelRekeyer).ChannelRouteKey(h.conn, chans[0])
	require.NoError(t, err)
	require.Equal(t, "hook:acme-launch.atlassian.net/"+jsonID(h.sb.Webhooks(jirasandbox.SiteID)[0].ID), key, "the engine sees the channel is keyed otherwise now")
	renewed, err := h.prov.Connector.(connectors.ChannelRenewer).RenewWatch(ctx,
		connectors.RenewWatchRequest{Connection: h.conn, HTTP: h.client(), Channels: chans, Now: time.Now()})
	require.NoError(t, err)
	require.Len(t, renewed, 1)
	require.Equal(t, chans[0].ID, renewed[0].ID, "renewed in place")

	_, err = h.sb.Transition(ctx, jirasandbox.SiteID, "LPR-1", "In Review", "grace", noDelivery)
	require.NoError(t, err)
	d := next(t, got)
	require.True(t, bytes.Contains(d.Body, []byte(renamedURL+"/rest/api/2/issue/")), "the delivery names the new host")
	wh := h.prov.Connector.(connectors.WebhookReceiver)
	require.NoError(t, wh.VerifyWebhook(d))
	parsed, err := wh.ParseWebhook(d)
	require.NoError(t, err)
	require.NotEmpty(t, parsed.Signals)
	require.Equal(t, []string{renewed[0].RouteKey}, parsed.RouteKeys, "the renamed site's delivery matches the renewed channel")
}

// A poll reads the connection's site among those its token reaches
// (accessible-resources, by cloud id), so after an admin renamed the
// site's URL the pass keys and links what it reads with the new host, the
// one the renamed site's deliveries name, without a re-authorization.
func TestPassReadsTheRenamedSite(t *testing.T) {
	h := newHarness(t, jirasandbox.Options{}, `["LPR"]`)
	ctx := context.Background()
	_, cur := connectortest.Drain(t, h.prov, h.conn, h.client(), "issues:LPR", nil)
	require.NoError(t, h.sb.RenameSite(jirasandbox.SiteID, renamedURL))
	ch, err := h.sb.Transition(ctx, jirasandbox.SiteID, "LPR-1", "In Review", "grace", noDelivery)
	require.NoError(t, err)

	page, err := connectortest.Fetch(t, h.prov, h.conn, h.client(), "issues:LPR", cur)
	require.NoError(t, err)
	key := fmt.Sprintf("acme-launch.atlassian.net/issue:%s:changelog:%d:status", ch.ID, ch.HistoryID)
	var sig *connectors.Signal
	for i := range page.Signals {
		if page.Signals[i].DedupeKey == key {
			sig = &page.Signals[i]
		}
	}
	require.NotNil(t, sig, "the status change is keyed with the new host, as its delivery is")
	require.Equal(t, renamedURL+"/browse/LPR-1", sig.Payload.URL)
	// The page names the account anew for the engine to store: the same
	// cloud id and token user, the new URL, the old one as a former URL.
	require.NotNil(t, page.Account)
	require.Equal(t, jirasandbox.SiteID, page.Account.ID)
	require.Equal(t, "acme-launch.atlassian.net", page.Account.Name)
	require.Equal(t, map[string]string{"url": renamedURL, "site_name": "acme-launch", "former_urls": jirasandbox.SiteURL,
		"user_id": h.conn.Account.Metadata["user_id"]}, page.Account.Metadata)
	require.Equal(t, jirasandbox.SiteURL, h.conn.Account.Metadata["url"], "the connection's own metadata is not changed")

	// Stored, the next pass reads on under it and names nothing anew.
	h.conn.Account = *page.Account
	_, err = h.sb.Transition(ctx, jirasandbox.SiteID, "LPR-1", "Done", "grace", noDelivery)
	require.NoError(t, err)
	page, err = connectortest.Fetch(t, h.prov, h.conn, h.client(), "issues:LPR", page.Next)
	require.NoError(t, err)
	require.Nil(t, page.Account)
	require.NotEmpty(t, page.Signals)
	for _, s := range page.Signals {
		require.True(t, strings.HasPrefix(s.DedupeKey, "acme-launch.atlassian.net/"), s.DedupeKey)
	}
}

// TestConnectAgainKeepsFormerURLs: a plain connect of a connection's site
// (POST /connect/jira, no connection named, so Identify knows nothing
// stored) heals that connection in place, and keeps the URLs it knew its
// site by: those a re-authorization recorded, and the URL it was stored
// under when the connect is the first to read a rename. They were dropped,
// so a config naming the site by the URL it was connected under (the one
// the connection's config named until then, accepted before the connect)
// was refused as another site's.
func TestConnectAgainKeepsFormerURLs(t *testing.T) {
	ctx := context.Background()
	old := json.RawMessage(`{"site":"` + jirasandbox.SiteURL + `","projects":["LPR"]}`)
	now := json.RawMessage(`{"site":"` + renamedURL + `","projects":["LPR"]}`)
	proves := func(h *harness, cfg json.RawMessage) []connectors.Denial {
		t.Helper()
		report, err := h.prov.Connector.(connectors.AccessProver).ProveAccess(ctx,
			connectors.AccessRequest{Connection: connectors.Connection{Account: h.conn.Account, Config: cfg}, HTTP: h.client()})
		require.NoError(t, err)
		return report.Denied
	}
	// connect is a plain connect naming the site by its URL now (the old
	// one names no site the token reaches: a plain connect is refused it).
	connect := func(h *harness) {
		t.Helper()
		fresh, err := h.prov.Connector.(connectors.AccountChooser).IdentifyFor(ctx, connectors.IdentifyRequest{HTTP: h.client(), Config: now})
		require.NoError(t, err)
		require.Equal(t, jirasandbox.SiteID, fresh.ID, "the same site: the connection heals in place")
		require.Empty(t, fresh.Metadata["former_urls"], "Identify knows no stored account")
		h.conn.Account = connectors.KeepAccount(h.prov.Connector, h.conn.Account, fresh)
		require.Equal(t, renamedURL, h.conn.Account.Metadata["url"])
		require.Equal(t, "acme-launch.atlassian.net", h.conn.Account.Name)
	}

	t.Run("after a re-authorization", func(t *testing.T) {
		h := newHarness(t, jirasandbox.Options{}, `["LPR"]`)
		require.NoError(t, h.sb.RenameSite(jirasandbox.SiteID, renamedURL))
		acct, err := h.prov.Connector.(connectors.AccountChooser).IdentifyFor(ctx, connectors.IdentifyRequest{HTTP: h.client(), Config: old,
			AccountID: jirasandbox.SiteID, AccountMetadata: h.conn.Account.Metadata})
		require.NoError(t, err)
		h.conn.Account = connectors.KeepAccount(h.prov.Connector, h.conn.Account, acct)
		require.Equal(t, jirasandbox.SiteURL, h.conn.Account.Metadata["former_urls"])
		require.Empty(t, proves(h, old), "the old URL names the site")

		connect(h)
		require.Empty(t, proves(h, old), "the old URL still names the site")
		require.Equal(t, jirasandbox.SiteURL, h.conn.Account.Metadata["former_urls"])
	})

	t.Run("the first to read the rename", func(t *testing.T) {
		h := newHarness(t, jirasandbox.Options{}, `["LPR"]`)
		require.NoError(t, h.sb.RenameSite(jirasandbox.SiteID, renamedURL))
		connect(h)
		require.Equal(t, jirasandbox.SiteURL, h.conn.Account.Metadata["former_urls"], "the URL it was stored under")
		require.Empty(t, proves(h, old), "the old URL names the site")
	})
}

// Atlassian can give a site's former URL to another site (support's
// "Transferring cloud site URL to another site": "The URL will be released
// 30 days after deletion and will then be available for use on another
// site", or moved on request by an admin of both). Re-authorizing the
// connection of the renamed site, whose config still names it by that
// URL, keeps its site: the cloud id it is bound to decides, not the site
// that has the URL now (which made the re-authorization land on another
// account, refused). A connect that is no re-authorization takes the
// URL for the site that has it now.
func TestReauthorizeSiteWhoseFormerURLWasTransferred(t *testing.T) {
	h := newHarness(t, jirasandbox.Options{}, `["LPR"]`)
	ctx := context.Background()
	require.NoError(t, h.sb.RenameSite(jirasandbox.SiteID, renamedURL))
	require.NoError(t, h.sb.RenameSite(jirasandbox.SecondSite, jirasandbox.SiteURL))
	chooser := h.prov.Connector.(connectors.AccountChooser)
	cfg := json.RawMessage(`{"site":"` + jirasandbox.SiteURL + `","projects":["LPR"]}`)

	acct, err := chooser.IdentifyFor(ctx, connectors.IdentifyRequest{HTTP: h.client(), Config: cfg,
		AccountID: jirasandbox.SiteID, AccountMetadata: h.conn.Account.Metadata})
	require.NoError(t, err)
	require.Equal(t, jirasandbox.SiteID, acct.ID, "the re-authorized connection's site, not the site at its former URL now")
	require.Equal(t, renamedURL, acct.Metadata["url"])
	require.Equal(t, jirasandbox.SiteURL, acct.Metadata["former_urls"])

	// Renamed since, and known by that URL as a former one, too.
	acct, err = chooser.IdentifyFor(ctx, connectors.IdentifyRequest{HTTP: h.client(), Config: cfg,
		AccountID: acct.ID, AccountMetadata: acct.Metadata})
	require.NoError(t, err)
	require.Equal(t, jirasandbox.SiteID, acct.ID)

	fresh, err := chooser.IdentifyFor(ctx, connectors.IdentifyRequest{HTTP: h.client(), Config: cfg})
	require.NoError(t, err)
	require.Equal(t, jirasandbox.SecondSite, fresh.ID, "a new connection names the site at that URL now")
	require.Equal(t, "acme-pr.atlassian.net", fresh.Name)
}
