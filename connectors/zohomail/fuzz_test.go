package zohomail

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/connectortest"
)

// Seeds: the config and first-page cursors of the conformance suite, an
// outgoing-webhook nudge and a handshake for its connection, plus any
// regression case under testdata/fuzz.

func FuzzWebhook(f *testing.F) { connectortest.FuzzWebhook(f, webhookEnv(f)) }

func FuzzCursor(f *testing.F) { connectortest.FuzzCursor(f, conformanceEnv(f)) }

func FuzzConfig(f *testing.F) {
	connectortest.FuzzConfig(f, conformanceEnv(f),
		`{"press":{"domains":[" NYTimes.com ","nytimes.com"],"addresses":["Jane@Freelance.example"]}}`, `{"press":{"domains":["gmail.com"]}}`, `{"folders":["x"]}`)
}

// webhookEnv is the conformance Env with the deliveries a Zoho Mail
// outgoing webhook sends to its connection's URL. The URL's token, not a
// signature over the body, authenticates them.
func webhookEnv(t testing.TB) *connectortest.Env {
	env := conformanceEnv(t)
	u, err := url.Parse(env.Provider.Connector.(*Connector).ConnectionWebhookURL(env.Connection))
	require.NoError(t, err)
	require.NotEmpty(t, u.Query(), "the sandbox config sets a webhook secret")
	nudge := &connectors.WebhookRequest{Header: http.Header{"Content-Type": {"application/json"}}, Query: u.Query(),
		Body: []byte(`{"messageId":1711540357880100001,"folderId":"7325431000000008012","subject":"Hi","fromAddress":"a@b.example"}`)}
	handshake := &connectors.WebhookRequest{Header: http.Header{"X-Hook-Secret": {"zoho-handshake"}}, Query: u.Query()}
	env.Webhooks = []connectortest.WebhookCase{
		{Name: "nudge", Request: nudge, WantNotify: true},
		{Name: "handshake", Request: handshake, WantReply: true},
	}
	env.BodyUnsigned = true
	return env
}
