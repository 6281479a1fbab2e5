package github

import (
	"net/http"
	"net/url"
	"testing"

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

func signed(body, sig string) *connectors.WebhookRequest {
	h := http.Header{}
	if sig != "" {
		h.Set("X-Hub-Signature-256", sig)
	}
	return &connectors.WebhookRequest{Header: h, Body: []byte(body)}
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

func TestParseWebhookUnknownEventIsIgnored(t *testing.T) {
	h := http.Header{}
	h.Set("X-GitHub-Event", "issues")
	h.Set("X-GitHub-Delivery", "d-2")
	d, err := connectorWithSecret(t, "s").ParseWebhook(&connectors.WebhookRequest{Header: h,
		Body: []byte(`{"action":"opened","issue":{"id":1},"repository":{"id":1296269,"full_name":"Octo-Org/Hello-World"}}`)})
	require.NoError(t, err)
	require.Equal(t, "issues.opened", d.Event)
	require.Equal(t, []string{"repo:octo-org/hello-world"}, d.RouteKeys)
	require.Empty(t, d.Signals)
	require.False(t, d.Notify)
}
