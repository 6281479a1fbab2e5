package zohocliq

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	zohosandbox "github.com/poblysh/poblysh/sandbox/zoho"
)

// Zoho's own bot handler samples (testdata/zcatalyst_*.json, copied from
// npm zcatalyst-cli 1.25.3; testdata/README.md) are of the organisation
// 123456456, whose user 123456 is Scott Fisher.
const (
	sampleOrg  = "123456456"
	sampleUser = "123456"
)

// sampleEnv is hookEnv with the connection in the samples' organisation,
// so their calls verify on its URL.
func sampleEnv(t *testing.T) (*Connector, connectors.Connection, *zohosandbox.Server) {
	t.Helper()
	c, conn, sb := hookEnv(t, nil)
	conn.Account.Metadata[metaOrgID] = sampleOrg
	return c, conn, sb
}

// editJSON decodes body (numbers kept as written), lets edit change it and
// encodes it again.
func editJSON(t *testing.T, body []byte, edit func(call map[string]any)) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var call map[string]any
	require.NoError(t, dec.Decode(&call))
	edit(call)
	out, err := json.Marshal(call)
	require.NoError(t, err)
	return out
}

// obj is the object at path in a decoded call.
func obj(call map[string]any, path ...string) map[string]any {
	m := call
	for _, k := range path {
		m = m[k].(map[string]any)
	}
	return m
}

// parseSigned verifies and parses body sent to conn's bot URL.
func parseSigned(t *testing.T, c *Connector, conn connectors.Connection, sb *zohosandbox.Server, body []byte) *connectors.WebhookDelivery {
	t.Helper()
	req := signed(sb, body, c.ConnectionWebhookURL(conn))
	require.NoError(t, c.VerifyWebhook(req))
	d, err := c.ParseWebhook(req)
	require.NoError(t, err)
	return d
}

// Zoho's mention sample names the sender by first_name and last_name
// only (no name): the actor is "Scott Fisher". The name was dropped.
func TestMentionZohoSample(t *testing.T) {
	t.Parallel()
	c, conn, sb := sampleEnv(t)
	const chat = "CT_1256246524399772951_1741337"
	body := fixture(t, "zcatalyst_mention_handler.json")
	for name, b := range map[string][]byte{
		"as Zoho sends it": body,
		// A sender with its id only: the name comes from params.user, the
		// same user.
		"sender by id only": editJSON(t, body, func(call map[string]any) {
			obj(call, "params", "message")["sender"] = map[string]any{"id": sampleUser}
		}),
	} {
		d := parseSigned(t, c, conn, sb, b)
		require.Equal(t, []string{"mentions:" + testTenant + ":60040386526"}, d.RouteKeys, name)
		require.Len(t, d.Signals, 1, name)
		s := d.Signals[0]
		require.NoError(t, connectors.ValidateSignal(Spec, s))
		require.Equal(t, connectors.Actor{ID: sampleUser, Name: "Scott Fisher"}, s.Payload.Actor, name)
		require.Equal(t, "mention:"+chat+":1493707283711_"+sampleUser, s.DedupeKey, name)
		require.Equal(t, time.UnixMilli(1493707283711).UTC(), s.OccurredAt.UTC(), name)
		require.Equal(t, []string{"b-1775998000015152705"}, s.Payload.Attributes["mentioned_users"], name)
		require.Equal(t, "Mentioned in #Catalyst: Hi", s.Payload.Title, name)
	}
}
