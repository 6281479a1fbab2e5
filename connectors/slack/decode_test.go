package slack

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
)

// A link unfurl whose id Slack sent as a string, which slack-go (v0.35.0)
// declares an int (rusq/slackdump#492).
const stringIDAttachments = `"attachments":[{"id":"1","title":"Launch coverage","from_url":"https://www.theverge.com/launch"}]`

// TestAttachmentOfAnotherTypeFailsNoPage: a history page and a replies page
// holding a message whose attachment slack-go's types refuse are read
// whole: every message is stored, the refused one with its attachments as
// Slack sent them in Signal.Raw; so is a message event carrying one. Such
// a message failed its whole page as transient, retried for ever, and its
// event was refused.
func TestAttachmentOfAnotherTypeFailsNoPage(t *testing.T) {
	const parent, reply = "1767272300.000100", "1767272350.000100"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		switch r.URL.Path {
		case "/api/conversations.history":
			_, _ = w.Write([]byte(`{"ok":true,"has_more":false,"messages":[
{"type":"message","user":"U1","text":"fine","ts":"1767272400.000100"},
{"type":"message","user":"U2","text":"The Verge piece","ts":"` + parent + `","thread_ts":"` + parent + `","reply_count":1,"latest_reply":"` + reply + `",` + stringIDAttachments + `}]}`))
		case "/api/conversations.replies":
			_, _ = w.Write([]byte(`{"ok":true,"has_more":false,"messages":[
{"type":"message","user":"U2","text":"The Verge piece","ts":"` + parent + `","thread_ts":"` + parent + `",` + stringIDAttachments + `},
{"type":"message","user":"U1","text":"Also in Wired","ts":"` + reply + `","thread_ts":"` + parent + `",` + stringIDAttachments + `}]}`))
		default:
			_, _ = w.Write([]byte(`{"ok":true,"user":{"id":"U1","name":"a","profile":{}},"channel":{"id":"C061EG9SL","name":"press"}}`))
		}
	}))
	t.Cleanup(srv.Close)
	c := newProvider(t, map[string]string{"POBLYSH_SLACK_API_URL": srv.URL + "/api/"}).Connector.(*Connector)
	req := connectors.PageRequest{Connection: connectors.Connection{Account: connectors.Account{ID: "T024BE7LD"}},
		Stream: "history:C061EG9SL", HTTP: fastClient("xoxb-real"), Now: time.Now()}
	var sigs []connectors.Signal
	for range 3 {
		page, err := c.FetchPage(context.Background(), req)
		require.NoError(t, err)
		sigs = append(sigs, page.Signals...)
		if page.Done {
			break
		}
		req.Cursor = page.Next
	}
	keys := map[string]json.RawMessage{}
	for _, s := range sigs {
		keys[s.DedupeKey] = s.Raw
	}
	require.Len(t, keys, 3, "both history messages and the reply")
	for _, ts := range []string{parent, reply} {
		raw := keys["msg:C061EG9SL:"+ts]
		require.NotNil(t, raw, ts)
		require.Contains(t, string(raw), stringIDAttachments, "Raw keeps the attachments as Slack sent them")
	}

	// The same message as an event.
	body := strings.Replace(string(fixture(t, "events/message.json")), `"channel_type": "channel"`, `"channel_type": "channel", `+stringIDAttachments, 1)
	d, err := parseDelivery([]byte(body))
	require.NoError(t, err)
	require.Len(t, d.Signals, 1)
	require.Contains(t, string(d.Signals[0].Raw), stringIDAttachments)

	// A message refused for anything else still fails its page.
	_, err = decodeMessages([]json.RawMessage{json.RawMessage(`{"type":"message","ts":1}`)})
	require.ErrorIs(t, err, connectors.ErrTransient)
}
