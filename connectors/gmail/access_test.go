package gmail_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/gmail"
	gmailsandbox "github.com/poblysh/poblysh/sandbox/gmail"
)

func TestProveAccess(t *testing.T) {
	h := newHarness(t, gmailsandbox.Options{Seed: true}, `{}`, nil)
	prover := h.prov.Connector.(connectors.AccessProver)
	prove := func(tok, config string) *connectors.AccessReport {
		conn := h.conn
		conn.Config = json.RawMessage(config)
		hc := connectors.NewRegistry(h.prov).HTTPClient(h.prov, "acct", tok)
		report, err := prover.ProveAccess(context.Background(), connectors.AccessRequest{Connection: conn, HTTP: hc})
		require.NoError(t, err)
		return report
	}
	r := prove(h.tok, `{"labels":["INBOX","`+gmailsandbox.ReceiptsLabelID+`","Label_99"]}`)
	require.Equal(t, []connectors.Resource{
		{Ref: "mailbox", ID: me, Name: me, RouteKeys: []string{"mailbox:" + me}},
		{Ref: "INBOX", ID: "INBOX", Name: "INBOX"},
		{Ref: gmailsandbox.ReceiptsLabelID, ID: gmailsandbox.ReceiptsLabelID, Name: "Receipts"},
	}, r.Granted, "the mailbox's route key comes from getProfile, read with the connection's own token")
	require.Equal(t, []string{"Label_99"}, r.DeniedRefs())

	// The route key is the mailbox the token reads, never the address the
	// connection stored: a token can only route pushes of its own mailbox.
	// (The engine proves with the connection's own grant, bound to the
	// account's subject; the stored address is not compared, since a
	// Workspace admin may rename the user: TestRenamedMailboxKeepsItsPushes.)
	other := prove(h.sb.AccessToken("mallory@example.com"), `{}`)
	require.Empty(t, other.DeniedRefs())
	require.Equal(t, []string{"mailbox:mallory@example.com"}, other.Granted[0].RouteKeys)

	rs := h.prov.Connector.(connectors.ResourceStreams)
	ref, ok := rs.StreamResource("label:SENT")
	require.True(t, ok)
	require.Equal(t, "SENT", ref)
	_, ok = rs.StreamResource("changes")
	require.False(t, ok)
}

func TestValidateConfig(t *testing.T) {
	c, err := gmail.Spec.New(connectors.Config{})
	require.NoError(t, err)
	v := c.(connectors.ConfigValidator)
	for _, tc := range []struct{ in, want, bad string }{
		{in: ``, want: `{"labels":["INBOX","SENT"],"press_domains":[],"press_addresses":[]}`},
		{in: `{"labels":["inbox"," Label_7 ","INBOX"]}`, want: `{"labels":["INBOX","Label_7"],"press_domains":[],"press_addresses":[]}`},
		{in: `{"press_domains":["@NYTimes.com"," ft.com "],"press_addresses":["Jane <jane@freelance.example>"],"backfill_days":7}`,
			want: `{"labels":["INBOX","SENT"],"press_domains":["@NYTimes.com","ft.com"],"press_addresses":["Jane <jane@freelance.example>"],"backfill_days":7}`},
		{in: `{"labels":["DRAFT"]}`, bad: "labels[0]"},
		{in: `{"labels":["My label"]}`, bad: "labels[0]"},
		{in: `{"press_domains":["gmail.com"]}`, bad: "press_domains[0]"},
		{in: `{"press_domains":["ft.com","*.co.uk"]}`, bad: "press_domains[1]"},
		{in: `{"press_addresses":["not an address"]}`, bad: "press_addresses[0]"},
		{in: `{"backfill_days":366}`, bad: "backfill_days"},
		{in: `{"backfill_days":0}`, bad: "backfill_days"},
		{in: `{"backfill_days":365}`, want: `{"labels":["INBOX","SENT"],"press_domains":[],"press_addresses":[],"backfill_days":365}`},
		{in: `{"backfill_days":-1}`, bad: "backfill_days"},
		{in: `{"backfill_days":null}`, want: `{"labels":["INBOX","SENT"],"press_domains":[],"press_addresses":[]}`},
		{in: `{"label":["INBOX"]}`, bad: "config"},
	} {
		got, err := v.ValidateConfig([]byte(tc.in))
		if tc.bad != "" {
			var ce *connectors.ConfigError
			require.ErrorAs(t, err, &ce, tc.in)
			require.Contains(t, ce.Fields, tc.bad, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.JSONEq(t, tc.want, string(got), tc.in)
	}
}

func TestScopesAndSettings(t *testing.T) {
	c, err := gmail.Spec.New(connectors.Config{})
	require.NoError(t, err)
	check := c.(connectors.ScopeChecker)
	require.Empty(t, check.MissingScopes(strings.Fields("openid https://www.googleapis.com/auth/userinfo.email "+gmail.ScopeMetadata)))
	require.Equal(t, []string{gmail.ScopeMetadata}, check.MissingScopes(strings.Fields("openid https://www.googleapis.com/auth/userinfo.email")),
		"granular consent: the Gmail permission unticked")
	require.Equal(t, []string{"openid", "email", gmail.ScopeMetadata}, gmail.Spec.Scopes, "never gmail.readonly")
	for _, bad := range []map[string]string{{"PAGE_SIZE": "501"}, {"BACKFILL_DAYS": "x"}} {
		_, err := gmail.Spec.New(connectors.Config{}.WithSettings(bad))
		require.ErrorIs(t, err, connectors.ErrInvalidConfig, "%v", bad)
	}
}
