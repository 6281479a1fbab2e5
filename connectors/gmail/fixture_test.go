package gmail_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/gmail"
)

// TestHistoryPageFixture reads a history.list page and a messages.get
// (format=metadata) answer in the full shape Gmail sends
// (testdata/*.json): a message added to INBOX, a draft (never a stream's
// mail, whatever the query matched) and a label added that is not the
// stream's.
func TestHistoryPageFixture(t *testing.T) {
	page, asked := historyFixturePage(t)
	require.True(t, page.Done)
	var next struct {
		HistoryID string `json:"history_id"`
		At        int64  `json:"at"`
	}
	require.NoError(t, json.Unmarshal(page.Next, &next))
	require.Equal(t, "2435342", next.HistoryID, "at rest on the response's historyId")
	require.WithinDuration(t, time.Now(), time.UnixMilli(next.At), time.Minute, "and when it was the mailbox's")
	require.Equal(t, "/gmail/v1/users/me/history?historyTypes=messageAdded&historyTypes=labelAdded&labelId=INBOX&maxResults=100&startHistoryId=2435200", asked[0])
	require.Equal(t, "/gmail/v1/users/me/messages/1948e07b3c2d5a14?format=metadata&metadataHeaders=From&metadataHeaders=To&metadataHeaders=Cc&metadataHeaders=Subject&metadataHeaders=Date&metadataHeaders=Message-ID&metadataHeaders=In-Reply-To&metadataHeaders=List-Id&metadataHeaders=List-Unsubscribe&metadataHeaders=Precedence&metadataHeaders=Auto-Submitted&metadataHeaders=Reply-To&metadataHeaders=X-Original-From", asked[1])
	require.Len(t, asked, 3, "history, the one message of the label, and its thread for the press check")

	got := map[string]connectors.Signal{}
	for _, s := range page.Signals {
		require.NoError(t, connectors.ValidateSignal(gmail.Spec, s))
		got[s.Kind] = s
	}
	require.Len(t, got, 3)
	received := got["email.received"]
	require.Equal(t, connectors.Signal{
		Kind: "email.received", OccurredAt: time.UnixMilli(1749129164000).UTC(),
		DedupeKey: "msg:ada@example.com:1948e07b3c2d5a14:received",
		Payload: connectors.Payload{
			Title:   "Email from sam.reporter@dailytech.example: Request for comment — Northwind launch",
			URL:     "https://mail.google.com/mail/?authuser=ada%40example.com#all/1948e07b3c2d5a14",
			Actor:   connectors.Actor{ID: "sam.reporter@dailytech.example", Name: "Reporter, Sam", Email: "sam.reporter@dailytech.example"},
			Subject: connectors.Ref{Type: "message", ID: "1948e07b3c2d5a14", Name: "Request for comment — Northwind launch"},
			Context: connectors.Ref{Type: "mailbox", ID: "ada@example.com", Name: "ada@example.com"},
			Attributes: map[string]any{
				"thread_id": "1948e07b3c2d5a14", "message_id": "1948e07b3c2d5a14",
				"subject": "Request for comment — Northwind launch", "direction": "inbound",
				"from":          "sam.reporter@dailytech.example",
				"correspondent": map[string]any{"name": "Reporter, Sam", "email": "sam.reporter@dailytech.example"},
				"snippet":       "Hi Ada, I'm working on a story about the Northwind launch for Thursday's paper and would welcome your comment by 5pm ET.",
				"to_domains":    []string{"example.com"}, "cc_domains": []string{"dailytech.example"},
				"label_ids": []string{"UNREAD", "IMPORTANT", "CATEGORY_PERSONAL", "INBOX"},
			},
		},
		Raw: received.Raw,
	}, received)
	require.NotContains(t, string(received.Raw), "desk@dailytech.example")
	require.Contains(t, string(received.Raw), `"Message-ID"`)
	require.Equal(t, "thread:ada@example.com:1948e07b3c2d5a14:started", got["email.thread_started"].DedupeKey)
	pr := got["email.press_thread"]
	require.Equal(t, "thread:ada@example.com:1948e07b3c2d5a14:press", pr.DedupeKey)
	require.Equal(t, []string{"dailytech.example"}, pr.Payload.Attributes["matched"], "the tenant's own press domain")
}

// historyFixturePage is the INBOX stream's page read from a Gmail API that
// answers with the recorded history.list page and message
// (testdata/*.json), and the requests it asked.
func historyFixturePage(t testing.TB) (*connectors.Page, []string) {
	return fixturePage(t, `{"press_domains":["dailytech.example"]}`, nil)
}

// fixturePage is historyFixturePage for a connection with config, the
// recorded message first changed by edit (when not nil).
func fixturePage(t testing.TB, config string, edit func(msg string) string) (*connectors.Page, []string) {
	history, err := os.ReadFile("testdata/history_page.json")
	require.NoError(t, err)
	msg, err := os.ReadFile("testdata/message_metadata.json")
	require.NoError(t, err)
	if edit != nil {
		msg = []byte(edit(string(msg)))
	}
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path+"?"+r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		switch r.URL.Path {
		case "/gmail/v1/users/me/history":
			_, _ = w.Write(history)
		case "/gmail/v1/users/me/messages/1948e07b3c2d5a14":
			_, _ = w.Write(msg)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	cfg, err := connectors.LoadConfig(gmail.Spec, func(k string) string {
		return map[string]string{"POBLYSH_GMAIL_API_URL": srv.URL + "/"}[k]
	}, "https://poblysh.example", true)
	require.NoError(t, err)
	c, err := gmail.Spec.New(cfg)
	require.NoError(t, err)
	p := &connectors.Provider{Spec: gmail.Spec, Config: cfg, Connector: c}
	page, err := c.(connectors.Syncer).FetchPage(context.Background(), connectors.PageRequest{
		Connection: connectors.Connection{Config: json.RawMessage(config),
			Account: connectors.Account{ID: "104392847561029384756", Name: "Ada Lovelace", Metadata: map[string]string{"email": "ada@example.com"}}},
		Stream: "label:INBOX", Cursor: json.RawMessage(`{"history_id":"2435200"}`), Now: time.Now(),
		HTTP: connectors.NewRegistry(p).HTTPClient(p, "acct", "tok"),
	})
	require.NoError(t, err)
	return page, asked
}

// catalogExamples are the Signals of historyFixturePage (the catalog's
// Gmail examples are written from them).
func catalogExamples(t testing.TB) []connectors.Signal {
	page, _ := historyFixturePage(t)
	return page.Signals
}

// A From whose display name is an encoded word inside quotes, as many
// mailers write it, is stored decoded as the actor and the correspondent.
func TestQuotedEncodedSenderNameIsDecoded(t *testing.T) {
	page, _ := fixturePage(t, `{}`, func(msg string) string {
		return strings.Replace(msg, `\"Reporter, Sam\" <sam.reporter@dailytech.example>`, `\"=?UTF-8?B?UmVwb3J0ZXIsIFNhbQ==?=\" <sam.reporter@dailytech.example>`, 1)
	})
	got := map[string]connectors.Signal{}
	for _, s := range page.Signals {
		got[s.Kind] = s
	}
	want := connectors.Actor{ID: "sam.reporter@dailytech.example", Name: "Reporter, Sam", Email: "sam.reporter@dailytech.example"}
	require.Equal(t, want, got["email.received"].Payload.Actor)
	require.Contains(t, got, "email.press_thread")
	require.Equal(t, want, got["email.press_thread"].Payload.Actor)
	require.Equal(t, map[string]any{"name": "Reporter, Sam", "email": "sam.reporter@dailytech.example"}, got["email.press_thread"].Payload.Attributes["correspondent"])
}

// A Subject in a legacy charset (ISO-2022-JP, RFC 1468, the usual one of
// Japanese mail) is stored decoded, and its press cue counts: 取材依頼 is a
// strong one (the tenant has no press domains here).
func TestLegacyCharsetSubjectIsDecoded(t *testing.T) {
	page, _ := fixturePage(t, `{}`, func(msg string) string {
		return strings.Replace(msg, `=?UTF-8?Q?Request_for_comment_=E2=80=94_Northwind_launch?=`, `=?ISO-2022-JP?B?GyRCPGg6YDBNTWobKEI=?=`, 1)
	})
	got := map[string]connectors.Signal{}
	for _, s := range page.Signals {
		got[s.Kind] = s
	}
	for _, kind := range []string{"email.received", "email.thread_started", "email.press_thread"} {
		require.Contains(t, got, kind)
		require.Equal(t, "取材依頼", got[kind].Payload.Attributes["subject"], kind)
	}
	require.Equal(t, "Email from sam.reporter@dailytech.example: 取材依頼", got["email.received"].Payload.Title)
	require.Contains(t, got["email.press_thread"].Payload.Attributes["reasons"], `subject cue "取材依頼"`)
}
