package googlecalendar_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/googlecalendar"
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
)

// tokenAs authorizes as another sandbox user with the connector's scopes.
func tokenAs(t *testing.T, sb *gcalsandbox.Server, user string) string {
	t.Helper()
	q := url.Values{"client_id": {sb.ClientID()}, "redirect_uri": {"http://localhost/callback"}, "response_type": {"code"},
		"scope": {strings.Join(googlecalendar.Scopes, " ")}, "login": {user}}
	rec := httptest.NewRecorder()
	sb.Base.OAuth.Authorize(rec, httptest.NewRequest(http.MethodGet, "/o/oauth2/v2/auth?"+q.Encode(), nil))
	loc, err := url.Parse(rec.Header().Get("Location"))
	require.NoError(t, err)
	ts, err := sb.Base.OAuth.Exchange(sb.ClientID(), loc.Query().Get("code"), "http://localhost/callback", "")
	require.NoError(t, err)
	return ts.AccessToken
}

func TestProveAccess(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true}, nil)
	prover := h.prov.Connector.(connectors.AccessProver)
	const mallory = "mallory@example.com"
	cfg := json.RawMessage(`{"calendars":["primary","` + gcalsandbox.TeamCalendarID + `","` + gcalsandbox.DefaultUser + `"]}`)
	prove := func(tok string, only ...string) *connectors.AccessReport {
		conn := h.conn
		conn.Config = cfg
		hc := connectors.NewRegistry(h.prov).HTTPClient(h.prov, "acct", tok)
		report, err := prover.ProveAccess(context.Background(), connectors.AccessRequest{Connection: conn, HTTP: hc, Only: only})
		require.NoError(t, err)
		return report
	}

	// h.tok carries calendar.events.readonly only (the sandbox refuses
	// calendars.get with it, as Google does): the proof needs no more.
	owner := prove(h.tok)
	require.Empty(t, owner.Denied)
	require.Equal(t, []connectors.Resource{
		{Ref: "primary", Name: gcalsandbox.DefaultUser},
		{Ref: gcalsandbox.TeamCalendarID, ID: gcalsandbox.TeamCalendarID, Name: "Press team"},
		{Ref: gcalsandbox.DefaultUser, ID: gcalsandbox.DefaultUser, Name: gcalsandbox.DefaultUser},
	}, owner.Granted, "no route keys: deliveries come on the connection's own watch channels")

	other := prove(tokenAs(t, h.sb, mallory))
	require.Len(t, other.Granted, 1, "mallory's own primary calendar")
	require.Equal(t, []string{gcalsandbox.TeamCalendarID, gcalsandbox.DefaultUser}, other.DeniedRefs())
	for _, d := range other.Denied {
		require.ErrorIs(t, d.Err, connectors.ErrNotFound, "Google answers 404 for a calendar the user cannot see")
	}
	require.NoError(t, h.sb.Share(gcalsandbox.TeamCalendarID, mallory, true))
	shared := prove(tokenAs(t, h.sb, mallory), gcalsandbox.TeamCalendarID)
	require.Equal(t, []string{gcalsandbox.TeamCalendarID}, []string{shared.Granted[0].Ref})
	require.Empty(t, shared.Denied, "Only restricts the proof")
}

func TestStreamResource(t *testing.T) {
	c := newHarness(t, gcalsandbox.Options{}, nil).prov.Connector.(connectors.ResourceStreams)
	for stream, want := range map[string]string{
		"events:primary": "primary", "events:" + gcalsandbox.TeamCalendarID: gcalsandbox.TeamCalendarID, "events:": "", "history:C1": "",
	} {
		ref, ok := c.StreamResource(stream)
		require.Equal(t, want, ref, stream)
		require.Equal(t, want != "", ok, stream)
	}
}
