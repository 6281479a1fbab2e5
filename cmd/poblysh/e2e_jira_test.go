package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/client/connections"
	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/sandbox"
	jirasandbox "github.com/poblysh/poblysh/sandbox/jira"
	"github.com/poblysh/poblysh/testenv"
)

// Jira's row: a token reaching two sites needs config.site (422 naming
// both, nothing stored); connected to one, the backfill stores the seeded
// history exactly through an hourly-quota 429 without Retry-After; the
// project webhooks are refreshed in place before they expire; a status
// change by webhook, delivered twice, is one issue.status_changed in the
// feed; an incremental sync adds only the edit whose webhook never came;
// forged JWTs (wrong key, alg none, expired) are refused with 401 and store
// nothing; webhooks that expired at Jira are registered again; a second
// site is connected by config for the same tenant, and its issues, numbered
// like the first site's, are all stored; a refresh token reused within the
// 10-minute leeway still works, and one reused after it ends in
// needs_reauth.
func init() {
	projects := []string{jirasandbox.ProjectLPR, jirasandbox.ProjectMKT}
	jira := func(r *providerRun) *jirasandbox.Server { return r.fake.(*jirasandbox.Server) }
	addProviderCase(providerCase{
		provider: "jira",
		env:      map[string]string{"POBLYSH_JIRA_PAGE_SIZE": "5", "POBLYSH_RENEWAL_INTERVAL": "1s"},
		config:   map[string]any{"site": jirasandbox.SiteURL, "projects": projects},
		streams:  2,  // one per project
		backfill: 81, // the seed of LPR and MKT within 90 days (checked in afterConnect)
		watches:  2,
		beforeConnect: func(r *providerRun) {
			sb := jira(r)
			sb.SetWebhookTTL(30 * time.Second)
			// Two sites, no choice: 422 naming both, nothing stored.
			_, probe := r.s.tenant("Probe")
			start := r.s.startConnect(probe, "jira", map[string]any{"projects": projects})
			code, body := r.s.callback(r.s.authorize(start.AuthorizationURL.String()))
			require.Equal(r.t, http.StatusUnprocessableEntity, code, body)
			require.Contains(r.t, body, "invalid_config")
			require.Contains(r.t, body, jirasandbox.SiteURL)
			require.Contains(r.t, body, jirasandbox.SecondURL)
			require.Zero(r.t, r.s.count(`SELECT count(*) FROM connections`))
			// The hourly quota runs out mid-backfill: the stream waits for the reset.
			sb.Faults.Add(func() sandbox.Fault {
				f := jirasandbox.QuotaFault(time.Now(), 2*time.Second, false)
				f.PathPrefix, f.After = "/ex/jira/"+jirasandbox.SiteID+"/rest/api/3/search/jql", 2
				return f
			}())
		},
		afterConnect: func(r *providerRun) {
			require.Equal(r.t, jirasandbox.SiteID, *r.conn.ExternalAccountID, "the account is the site")
			total := jira(r).ExpectedSignals(jirasandbox.SiteID, "LPR", 90) + jira(r).ExpectedSignals(jirasandbox.SiteID, "MKT", 90)
			require.Equal(r.t, 81, total, "sandbox seed drifted")
		},
		afterBackfill: func(r *providerRun, _ []*models.Signal) {
			require.Equal(r.t, 1, jira(r).Faults.Hits, "the quota 429 was served and waited out")
		},
		live: func(r *providerRun) {
			// Before they expire, the webhooks are refreshed in place: same
			// ids, later expiry (PUT /webhook/refresh, not new registrations).
			first := r.s.connection(r.key, r.id)
			ids, exp := watchIDs(first), *first.Watches[0].ExpiresAt
			eventually(r.t, 40*time.Second, "the webhooks refreshed", func() bool {
				c := r.s.connection(r.key, r.id)
				return slices.Equal(watchIDs(c), ids) && time.Time(*c.Watches[0].ExpiresAt).After(time.Time(exp))
			})
			// A transition arrives by webhook, twice, is stored once, and is
			// in the feed within a second.
			start := time.Now()
			ch, err := jira(r).Transition(context.Background(), jirasandbox.SiteID, "LPR-2", "In Review", "grace", sandbox.DeliveryOptions{Copies: 2})
			require.NoError(r.t, err)
			for _, d := range ch.Deliveries {
				require.Less(r.t, d.Status, 300, "answered 2xx once stored: %+v", d)
			}
			last := r.arrive(1)[0]
			require.Less(r.t, time.Since(start), time.Second, "a live status change is in the feed within a second")
			require.Equal(r.t, "issue.status_changed", *last.Kind)
			attrs, _ := last.Payload.Attributes.(map[string]any)
			require.Equal(r.t, "In Review", attrs["to_status"])
			require.Equal(r.t, "indeterminate", attrs["status_category"])
			require.Equal(r.t, jirasandbox.SiteURL+"/browse/LPR-2", *last.Payload.URL)
		},
		missed: func(r *providerRun) int {
			_, err := jira(r).Edit(context.Background(), jirasandbox.SiteID, "MKT-2", jirasandbox.EditInput{Priority: "Highest"}, sandbox.DeliveryOptions{Hold: true})
			require.NoError(r.t, err)
			return 1
		},
		after: func(r *providerRun) {
			t, s, sb, key, id := r.t, r.s, jira(r), r.key, r.id
			// Forged deliveries: refused, nothing stored or recorded.
			hooks := sb.Webhooks(jirasandbox.SiteID)
			require.Len(t, hooks, 2)
			forged := forgedDelivery(t, hooks[0].ID)
			events := s.count(`SELECT count(*) FROM webhook_events`)
			secret := s.env["POBLYSH_JIRA_CLIENT_SECRET"]
			now := time.Now()
			claims := jwt.MapClaims{"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
			wrongKey, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("guessed-secret"))
			none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
			expired, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iat": now.Add(-time.Hour).Unix(), "exp": now.Add(-time.Minute).Unix()}).SignedString([]byte(secret))
			for name, tok := range map[string]string{"wrong key": wrongKey, "alg none": none, "expired": expired} {
				resp := s.postJira(forged, "Bearer "+tok, "forged-"+strings.ReplaceAll(name, " ", "-"))
				require.Equal(t, http.StatusUnauthorized, resp, name)
			}
			require.Equal(t, events, s.count(`SELECT count(*) FROM webhook_events`), "forged deliveries are not recorded")
			require.Equal(t, r.total, s.count(`SELECT count(*) FROM signals`), "forged deliveries store nothing")

			// Webhooks expired at Jira: the renewal finds them gone and
			// registers new ones, which deliver.
			before := watchIDs(s.connection(key, id))
			sb.ExpireWebhooks()
			eventually(t, 60*time.Second, "webhooks registered again", func() bool {
				now := watchIDs(s.connection(key, id))
				return len(now) == 2 && !slices.Contains(now, before[0]) && !slices.Contains(now, before[1]) && len(sb.Webhooks(jirasandbox.SiteID)) == 2
			})
			_, err := sb.Transition(context.Background(), jirasandbox.SiteID, "LPR-3", "Done", "ada", sandbox.DeliveryOptions{})
			require.NoError(t, err)
			r.arrive(2) // the status change and the resolution, through the new webhook

			// A second site, chosen by config, for the same tenant: it
			// numbers its issues from 10001 too, and every one of its
			// happenings is stored beside the first site's.
			conn2 := s.connect(key, "jira", map[string]any{"site": jirasandbox.SecondSite, "projects": []string{jirasandbox.ProjectOPS}})
			require.Equal(t, jirasandbox.SecondSite, *conn2.ExternalAccountID)
			require.Equal(t, "acme-labs.atlassian.net", *conn2.DisplayName)
			js := s.waitJobs(key, string(*conn2.ID), "backfill", 1, 2*time.Minute)
			require.EqualValues(t, sb.ExpectedSignals(jirasandbox.SecondSite, "OPS", 90), stored(js))

			// A refresh token reused within the leeway (another refresh spent
			// it a minute ago) is still accepted.
			sb.SpendRefreshTokens(time.Minute)
			sb.OAuth.ExpireAccessTokens()
			for _, j := range s.sync(key, "jira", id, "incremental") {
				require.Equal(t, models.JobStatusSucceeded, *j.Status, deref(j.Error))
			}
			require.Equal(t, models.ConnectionHealthHealthy, *s.connection(key, id).Health)

			// Reused after the leeway: Atlassian revokes the family; re-auth needed.
			sb.SpendRefreshTokens(11 * time.Minute)
			sb.OAuth.ExpireAccessTokens()
			failed := 0
			for _, j := range s.sync(key, "jira", id, "incremental") {
				if *j.Status == models.JobStatusFailed {
					failed++
				}
			}
			require.Positive(t, failed)
			require.Equal(t, models.ConnectionHealthNeedsReauth, *s.connection(key, id).Health)
		},
	})
}

// renamedSite is the URL the renaming tests give the first site.
const renamedSite = "https://acme-launch.atlassian.net"

// jiraRenameStack connects the first site's LPR project, named by its URL
// in the config, waits for its backfill and webhook, and then renames the
// site at the sandbox as an organization admin does (acme-pr →
// acme-launch: the cloud id stays, the old URL redirects).
func jiraRenameStack(t *testing.T) (s *stack, sb *jirasandbox.Server, key, id string) {
	port := testenv.FreePort()
	fake, err := sandbox.New("jira", sandbox.Options{Seed: true, DeliverTo: fmt.Sprintf("http://127.0.0.1:%d", port),
		WebhookSecret: sandbox.RandomString(32)})
	require.NoError(t, err)
	sb = fake.(*jirasandbox.Server)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	s = newStack(t, withPort(port), withEnv(sb.Env(srv.URL)))
	_, key = s.tenant("Acme")
	conn := s.connect(key, "jira", map[string]any{"site": jirasandbox.SiteURL, "projects": []string{jirasandbox.ProjectLPR}})
	id = string(*conn.ID)
	s.waitJobs(key, id, "backfill", 1, 2*time.Minute)
	eventually(t, 30*time.Second, "the project's webhook", func() bool {
		c := s.connection(key, id)
		return *c.PushEnabled && len(c.Watches) == 1
	})
	require.NoError(t, sb.RenameSite(jirasandbox.SiteID, renamedSite))
	return s, sb, key, id
}

// reauthorizeRenamed re-authorizes the connection without a config (its
// config still names the site by its old URL): the same connection,
// healthy, named by the new host.
func reauthorizeRenamed(t *testing.T, s *stack, key, id string) {
	re, err := s.client.Connections.ReconnectConnection(connections.NewReconnectConnectionParams().WithID(strfmt.UUID(id)),
		httptransport.BearerToken(key))
	require.NoError(t, err)
	again := s.complete(s.authorize(re.Payload.AuthorizationURL.String()))
	require.Equal(t, id, string(*again.ID))
	require.Equal(t, "acme-launch.atlassian.net", *again.DisplayName)
	require.Equal(t, models.ConnectionHealthHealthy, *again.Health)
}

// deliversRenamed waits for the connection's webhook route to name the
// renamed site's host (and no longer the old one), then checks that a
// status change delivered by the renamed site is stored under that host.
func deliversRenamed(t *testing.T, s *stack, sb *jirasandbox.Server, id, issue string) {
	eventually(t, 30*time.Second, "the webhook's route to name the new host", func() bool {
		return s.count(`SELECT count(*) FROM webhook_routes WHERE connection_id = $1 AND route_key LIKE 'hook:acme-launch.atlassian.net/%'`, id) == 1 &&
			s.count(`SELECT count(*) FROM webhook_routes WHERE connection_id = $1 AND route_key LIKE 'hook:acme-pr.atlassian.net/%'`, id) == 0
	})
	ch, err := sb.Transition(context.Background(), jirasandbox.SiteID, issue, "In Review", "grace", sandbox.DeliveryOptions{})
	require.NoError(t, err)
	for _, d := range ch.Deliveries {
		require.Less(t, d.Status, 300, "%+v", d)
	}
	dedupe := fmt.Sprintf("jira:acme-launch.atlassian.net/issue:%s:changelog:%d:status", ch.ID, ch.HistoryID)
	require.Equal(t, 1, s.count(`SELECT count(*) FROM signals WHERE dedupe_key = $1`, dedupe), "the delivery is stored under the new host")
}

// TestJiraRenamedSiteReauthorized: after the site's URL is renamed,
// re-authorizing the connection without a config keeps it, though its
// config names the site by the old URL, and its webhook then routes the
// renamed site's deliveries.
func TestJiraRenamedSiteReauthorized(t *testing.T) {
	t.Parallel()
	s, sb, key, id := jiraRenameStack(t)
	reauthorizeRenamed(t, s, key, id)
	deliversRenamed(t, s, sb, id, "LPR-2")
}

// TestJiraRenamedSitePolled: after the site's URL is renamed, the next
// poll reads the new URL by the connection's cloud id (no re-authorization),
// and the connection's webhook routes the renamed site's deliveries again;
// a later re-authorization without a config keeps the connection.
func TestJiraRenamedSitePolled(t *testing.T) {
	t.Parallel()
	s, sb, key, id := jiraRenameStack(t)
	for _, j := range s.sync(key, "jira", id, "incremental") {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, deref(j.Error))
	}
	eventually(t, 30*time.Second, "the connection to name the new host", func() bool {
		return *s.connection(key, id).DisplayName == "acme-launch.atlassian.net"
	})
	deliversRenamed(t, s, sb, id, "LPR-2")
	reauthorizeRenamed(t, s, key, id)
	require.Equal(t, models.ConnectionHealthHealthy, *s.connection(key, id).Health)
}

// TestJiraRenamedSiteConnectedAgain: after the site's URL is renamed and
// the connection re-authorized (its config still naming the site by the
// old URL, kept in former_urls), a plain connect of the same site (POST
// /connect/jira naming it by its URL now) heals the same connection, and
// a PATCH of a config naming the site by the URL it was connected under is
// still taken as its site. The connect dropped former_urls, and the PATCH,
// accepted before it, was refused (422: the connection follows another
// site).
func TestJiraRenamedSiteConnectedAgain(t *testing.T) {
	t.Parallel()
	s, _, key, id := jiraRenameStack(t)
	reauthorizeRenamed(t, s, key, id)
	formerURLs := func() string {
		t.Helper()
		var former *string
		require.NoError(t, s.owner().QueryRow(context.Background(),
			`SELECT account->'metadata'->>'former_urls' FROM connections WHERE id = $1`, id).Scan(&former))
		return deref(former)
	}
	require.Equal(t, jirasandbox.SiteURL, formerURLs())
	old := map[string]any{"site": jirasandbox.SiteURL, "projects": []string{jirasandbox.ProjectLPR, jirasandbox.ProjectMKT}}
	patch := func() error {
		_, err := s.client.Connections.UpdateConnection(connections.NewUpdateConnectionParams().WithID(strfmt.UUID(id)).
			WithBody(&models.ConnectionPatch{Config: old}), httptransport.BearerToken(key))
		return err
	}
	require.NoError(t, patch(), "the config names the site by its old URL")

	again := s.connect(key, "jira", map[string]any{"site": renamedSite, "projects": []string{jirasandbox.ProjectLPR}})
	require.Equal(t, id, string(*again.ID), "the same site: healed in place")
	require.Equal(t, "acme-launch.atlassian.net", *again.DisplayName)
	require.NoError(t, patch(), "the old URL still names the connection's site")
	require.Equal(t, jirasandbox.SiteURL, formerURLs())
	require.Equal(t, models.ConnectionHealthHealthy, *s.connection(key, id).Health)
}

func watchIDs(c *models.Connection) []string {
	var out []string
	for _, w := range c.Watches {
		out = append(out, *w.ChannelID)
	}
	return out
}

// postJira posts a delivery to the service's Jira webhook URL.
func (s *stack) postJira(body []byte, auth, ident string) int {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.base+"/api/v1/webhooks/jira", bytes.NewReader(body))
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth)
	req.Header.Set("X-Atlassian-Webhook-Identifier", ident)
	resp, err := s.http.Do(req)
	require.NoError(s.t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// forgedDelivery is a well-formed status change naming a live webhook.
func forgedDelivery(t *testing.T, webhookID int64) []byte {
	site := jirasandbox.SiteURL + "/rest/api/2/"
	b, err := json.Marshal(map[string]any{
		"timestamp": time.Now().UnixMilli(), "webhookEvent": "jira:issue_updated", "issue_event_type_name": "issue_generic",
		"user": map[string]any{"self": site + "user?accountId=x", "accountId": "x", "displayName": "Mallory"},
		"issue": map[string]any{"id": "10002", "self": site + "issue/10002", "key": "LPR-2", "fields": map[string]any{
			"summary": "Forged", "project": map[string]any{"id": "10001", "key": "LPR", "name": "Launch PR"},
			"status": map[string]any{"id": "10002", "name": "Done"}, "created": "2026-01-01T00:00:00.000+0000", "updated": "2026-03-01T00:00:00.000+0000",
		}},
		"changelog":         map[string]any{"id": "999999", "items": []any{map[string]any{"field": "status", "fieldId": "status", "from": "3", "fromString": "In Progress", "to": "10002", "toString": "Done"}}},
		"matchedWebhookIds": []int64{webhookID},
	})
	require.NoError(t, err)
	return b
}
