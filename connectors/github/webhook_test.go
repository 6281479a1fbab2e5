package github

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

func connectorWithSecret(t *testing.T, secret string) *Connector {
	t.Helper()
	c, err := New(connectors.Config{WebhookSecret: secret})
	require.NoError(t, err)
	return c.(*Connector)
}

// signed is an app-level (GitHub App) delivery, verified with the app's
// webhook secret.
func signed(body, sig string) *connectors.WebhookRequest {
	h := http.Header{}
	if sig != "" {
		h.Set("X-Hub-Signature-256", sig)
	}
	h.Set("X-GitHub-Hook-Installation-Target-Type", "integration")
	return &connectors.WebhookRequest{Header: h, Body: []byte(body)}
}

// hookSigned is a repository hook's delivery; the engine loads the hook's
// own secret into ChannelSecret.
func hookSigned(body, sig, hookID, channelSecret string) *connectors.WebhookRequest {
	req := signed(body, sig)
	req.Header.Set("X-GitHub-Hook-Installation-Target-Type", "repository")
	req.Header.Set("X-GitHub-Hook-ID", hookID)
	req.ChannelSecret = channelSecret
	return req
}

// TestVerifyWebhookPerHookSecret: a repository hook's delivery is verified
// with that hook's own secret only; the app secret cannot speak for it, and
// a hook the service did not create (no channel secret) is refused.
func TestVerifyWebhookPerHookSecret(t *testing.T) {
	body := `{"zen":"Design for failure."}`
	hookSig, _ := githubsandbox.Sign([]byte(body), "hook-secret")
	appSig, _ := githubsandbox.Sign([]byte(body), "app-secret")
	c := connectorWithSecret(t, "app-secret")

	id, ok := c.DeliveryChannel(hookSigned(body, hookSig, "4242", ""))
	require.True(t, ok)
	require.Equal(t, "4242", id)
	_, ok = c.DeliveryChannel(signed(body, appSig))
	require.False(t, ok, "app-level deliveries name no channel")

	require.NoError(t, c.VerifyWebhook(hookSigned(body, hookSig, "4242", "hook-secret")))
	require.ErrorIs(t, c.VerifyWebhook(hookSigned(body, appSig, "4242", "hook-secret")), connectors.ErrUnauthorized,
		"the app secret does not verify a repository hook's delivery")
	require.ErrorIs(t, c.VerifyWebhook(hookSigned(body, appSig, "4242", "")), connectors.ErrUnauthorized,
		"a hook the service did not create has no secret: refused")
	require.ErrorIs(t, c.VerifyWebhook(hookSigned(body, hookSig, "4242", "other-hook-secret")), connectors.ErrUnauthorized)
	require.NoError(t, c.VerifyWebhook(signed(body, appSig)), "app-level deliveries use the app secret")
	org := signed(body, appSig)
	org.Header.Set("X-GitHub-Hook-Installation-Target-Type", "organization")
	require.ErrorIs(t, c.VerifyWebhook(org), connectors.ErrUnauthorized, "hooks the service did not create are refused")
}

// TestVerifyWebhookGitHubVector uses the example from GitHub's
// "Validating webhook deliveries" documentation.
func TestVerifyWebhookGitHubVector(t *testing.T) {
	const good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	c := connectorWithSecret(t, "It's a Secret to Everybody")
	require.NoError(t, c.VerifyWebhook(signed("Hello, World!", good)))

	rejected := []struct {
		name string
		c    *Connector
		req  *connectors.WebhookRequest
	}{
		{"tampered body", c, signed("Hello, World?", good)},
		{"wrong secret", connectorWithSecret(t, "It's a Secret to Nobody"), signed("Hello, World!", good)},
		{"no secret configured fails closed", connectorWithSecret(t, ""), signed("Hello, World!", good)},
		{"missing header", c, signed("Hello, World!", "")},
		{"sha1 prefix", c, signed("Hello, World!", "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")},
		{"no prefix", c, signed("Hello, World!", "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")},
		{"not hex", c, signed("Hello, World!", "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")},
		{"truncated", c, signed("Hello, World!", good[:len(good)-2])},
		{"signature of another body", c, signed("Hello", good)},
	}
	for _, tc := range rejected {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.VerifyWebhook(tc.req)
			require.ErrorIs(t, err, connectors.ErrUnauthorized)
			require.NotContains(t, err.Error(), "Secret", "errors never echo the secret")
		})
	}
}

func TestVerifyWebhookSandboxSignature(t *testing.T) {
	body := []byte(`{"zen":"Keep it logically awesome."}`)
	s256, s1 := githubsandbox.Sign(body, "topsecret")
	require.Regexp(t, `^sha1=[0-9a-f]{40}$`, s1)
	c := connectorWithSecret(t, "topsecret")
	require.NoError(t, c.VerifyWebhook(signed(string(body), s256)))
	// The legacy SHA-1 header alone is not enough.
	req := signed(string(body), "")
	req.Header.Set("X-Hub-Signature", s1)
	require.ErrorIs(t, c.VerifyWebhook(req), connectors.ErrUnauthorized)
}

func TestParseWebhookFormEncoded(t *testing.T) {
	payload := fixture(t, "sandbox.pull_request.opened.json")
	body := "payload=" + url.QueryEscape(string(payload))
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("X-GitHub-Event", "pull_request")
	h.Set("X-GitHub-Delivery", "d-1")
	d, err := connectorWithSecret(t, "s").ParseWebhook(&connectors.WebhookRequest{Header: h, Body: []byte(body)})
	require.NoError(t, err)
	require.Equal(t, []string{KindPullRequestOpened}, kindsOf(d.Signals))
	require.Equal(t, "pr:1347100006:opened", d.Signals[0].DedupeKey)
	require.JSONEq(t, string(payload), string(d.Signals[0].Raw))
}

func TestParseWebhookRejectsMalformed(t *testing.T) {
	c := connectorWithSecret(t, "s")
	hdr := func(event, id string) http.Header {
		h := http.Header{}
		if event != "" {
			h.Set("X-GitHub-Event", event)
		}
		if id != "" {
			h.Set("X-GitHub-Delivery", id)
		}
		return h
	}
	for name, req := range map[string]*connectors.WebhookRequest{
		"no delivery id": {Header: hdr("push", ""), Body: []byte(`{}`)},
		"no event":       {Header: hdr("", "d-1"), Body: []byte(`{}`)},
		"not JSON":       {Header: hdr("push", "d-1"), Body: []byte(`{"ref":`)},
		"wrong types":    {Header: hdr("push", "d-1"), Body: []byte(`{"ref": 42}`)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.ParseWebhook(req)
			require.ErrorIs(t, err, errMalformed)
		})
	}
}

// TestParseWebhookDeliveryIDNamesTheHook: GitHub's X-GitHub-Delivery is
// the event's GUID, the same in every webhook's delivery of the event, so
// the delivery id is scoped by X-GitHub-Hook-ID: two repository hooks and
// the app's webhook get three ids; a redelivery keeps both headers, and
// its id.
func TestParseWebhookDeliveryIDNamesTheHook(t *testing.T) {
	const guid = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
	body := string(fixture(t, "sandbox.pull_request.opened.json"))
	ids := map[string]bool{}
	for _, hook := range []struct{ target, id string }{{"repository", "4242"}, {"repository", "4243"}, {"integration", "109948940"}} {
		req := hookSigned(body, "", hook.id, "hook-secret")
		req.Header.Set("X-GitHub-Hook-Installation-Target-Type", hook.target)
		req.Header.Set("X-GitHub-Event", "pull_request")
		req.Header.Set("X-GitHub-Delivery", guid)
		d, err := connectorWithSecret(t, "s").ParseWebhook(req)
		require.NoError(t, err)
		require.Equal(t, hook.id+"/"+guid, d.DeliveryID)
		again, err := connectorWithSecret(t, "s").ParseWebhook(req)
		require.NoError(t, err)
		require.Equal(t, d.DeliveryID, again.DeliveryID, "a redelivery")
		ids[d.DeliveryID] = true
	}
	require.Len(t, ids, 3, "one event, three deliveries")
}

func TestParseWebhookUnknownEventIsIgnored(t *testing.T) {
	h := http.Header{}
	h.Set("X-GitHub-Event", "issues")
	h.Set("X-GitHub-Delivery", "d-2")
	d, err := connectorWithSecret(t, "s").ParseWebhook(&connectors.WebhookRequest{Header: h,
		Body: []byte(`{"action":"opened","issue":{"id":1},"repository":{"id":1296269,"full_name":"Octo-Org/Hello-World"}}`)})
	require.NoError(t, err)
	require.Equal(t, "issues.opened", d.Event)
	require.Equal(t, []string{"repo:1296269"}, d.RouteKeys, "app-level deliveries route by repository id, never by name")

	h.Set("X-GitHub-Hook-Installation-Target-Type", "repository")
	h.Set("X-GitHub-Hook-ID", "4242")
	d, err = connectorWithSecret(t, "s").ParseWebhook(&connectors.WebhookRequest{Header: h,
		Body: []byte(`{"action":"opened","issue":{"id":1},"repository":{"id":1296269,"full_name":"Octo-Org/Hello-World"}}`)})
	require.NoError(t, err)
	require.Equal(t, []string{"hook:4242"}, d.RouteKeys, "a repository hook's delivery routes to the hook's connection only")
	require.Empty(t, d.Signals)
	require.False(t, d.Notify)
}

// TestParseWebhookEventAndRoute: for every delivery fixture, the event name
// (with its action) and the route come from the payload as a generic
// decode of "action" and "repository.id" reads them, whichever way
// ParseWebhook decodes the event.
func TestParseWebhookEventAndRoute(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	c := connectorWithSecret(t, "s")
	n := 0
	for _, f := range files {
		base := filepath.Base(f)
		parts := strings.Split(base, ".")
		if len(parts) < 3 || parts[1] == "rest" {
			continue
		}
		event := parts[1]
		body, err := os.ReadFile(f)
		require.NoError(t, err)
		var generic struct {
			Action     string `json:"action"`
			Repository struct {
				ID int64 `json:"id"`
			} `json:"repository"`
		}
		require.NoError(t, json.Unmarshal(body, &generic))
		for _, alsoAs := range []string{event, "issues"} { // the typed path, and the envelope path
			h := http.Header{}
			h.Set("X-GitHub-Event", alsoAs)
			h.Set("X-GitHub-Delivery", "d-"+base)
			d, err := c.ParseWebhook(&connectors.WebhookRequest{Header: h, Body: body, Now: time.Now()})
			require.NoError(t, err, base)
			want := alsoAs
			if generic.Action != "" {
				want += "." + generic.Action
			}
			require.Equal(t, want, d.Event, base)
			require.NotZero(t, generic.Repository.ID, base)
			require.Equal(t, []string{repoRouteKey(generic.Repository.ID)}, d.RouteKeys, base)
		}
		n++
	}
	require.GreaterOrEqual(t, n, 15, "push, pull_request, release and ping fixtures")
}

// TestParseWebhookAccessEvents: events after which a connection's proof of
// a repository may no longer hold nudge, without Signals, every connection
// that routes what they name: the repositories (repo:<id>), or the user
// who lost an organization or team membership or revoked the app
// (user:<id>, which each connection routes for its own account). Other
// actions of the same events are ignored as before.
func TestParseWebhookAccessEvents(t *testing.T) {
	c := connectorWithSecret(t, "s")
	tests := []struct {
		file   string
		event  string
		keys   []string
		notify bool
	}{
		{"member.removed.json", "member.removed", []string{"repo:1296270"}, true},
		{"team.removed_from_repository.json", "team.removed_from_repository", []string{"repo:1296270"}, true},
		{"repository.privatized.json", "repository.privatized", []string{"repo:1296270"}, true},
		{"repository.transferred.json", "repository.transferred", []string{"repo:1296270"}, true},
		{"repository.deleted.json", "repository.deleted", []string{"repo:1296270"}, true},
		{"installation_repositories.removed.json", "installation_repositories.removed", []string{"repo:1296270", "repo:1296271"}, true},
		{"installation.deleted.json", "installation.deleted", []string{"repo:1296270", "repo:1296271"}, true},
		{"installation.suspend.json", "installation.suspend", []string{"repo:1296270", "repo:1296271"}, true},
		{"membership.removed.json", "membership.removed", []string{"user:5001"}, true},
		{"organization.member_removed.json", "organization.member_removed", []string{"user:5001"}, true},
		{"github_app_authorization.revoked.json", "github_app_authorization.revoked", []string{"user:5001"}, true},
		// An archived repository stays readable; a collaborator added
		// gains access. Neither can end a proof.
		{"repository.archived.json", "repository.archived", []string{"repo:1296270"}, false},
		{"member.added.json", "member.added", []string{"repo:1296270"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			body := fixture(t, filepath.Join("access", tc.file))
			event, _, _ := strings.Cut(tc.event, ".")
			sig, _ := githubsandbox.Sign(body, "s")
			req := signed(string(body), sig)
			req.Header.Set("X-GitHub-Event", event)
			req.Header.Set("X-GitHub-Delivery", "d-"+tc.file)
			require.NoError(t, c.VerifyWebhook(req), "verified before it is parsed")
			d, err := c.ParseWebhook(req)
			require.NoError(t, err)
			require.Equal(t, tc.event, d.Event)
			require.Equal(t, "d-"+tc.file, d.DeliveryID)
			require.Equal(t, tc.keys, d.RouteKeys)
			require.Equal(t, tc.notify, d.Notify)
			require.Empty(t, d.Signals)
			require.Empty(t, d.Retract)

			// A repository hook's delivery speaks for the hook's
			// connection only: it nudges that connection alone.
			hook := hookSigned(string(body), "", "4242", "hook-secret")
			hook.Header.Set("X-GitHub-Event", event)
			hook.Header.Set("X-GitHub-Delivery", "h-"+tc.file)
			d, err = c.ParseWebhook(hook)
			require.NoError(t, err)
			require.Equal(t, []string{"hook:4242"}, d.RouteKeys)
			require.Equal(t, tc.notify, d.Notify)
			require.Empty(t, d.Signals)
		})
	}
}

// TestRouteKeysNameTheAccount: every connection routes its own GitHub
// user, proved by the grant, so a revoked authorization or a lost
// membership of that user reaches it.
func TestRouteKeysNameTheAccount(t *testing.T) {
	c := connectorWithSecret(t, "s")
	keys, err := c.RouteKeys(connectors.Connection{Account: connectors.Account{ID: "5001", Name: "alice"},
		Config: json.RawMessage(`{"repos":["acme/launch-plans"]}`)})
	require.NoError(t, err)
	require.Equal(t, []string{"user:5001"}, keys)
}

// TestNoSecretRefusesTheEmptyKey: a delivery signed with the empty key is
// refused when the hook it names has no secret here (a hook the service
// did not create) and when an App delivery arrives with no App webhook
// secret configured: both fail closed on the missing secret, which a
// delivery signed with a real secret never reaches.
func TestNoSecretRefusesTheEmptyKey(t *testing.T) {
	t.Parallel()
	body := `{"zen":"Design for failure."}`
	forged, _ := githubsandbox.Sign([]byte(body), "")
	require.ErrorIs(t, connectorWithSecret(t, "app-secret").VerifyWebhook(hookSigned(body, forged, "4242", "")), connectors.ErrUnauthorized,
		"a hook the service did not create (no channel secret)")
	require.ErrorIs(t, connectorWithSecret(t, "").VerifyWebhook(signed(body, forged)), connectors.ErrUnauthorized,
		"an App delivery with no App webhook secret configured")
}
