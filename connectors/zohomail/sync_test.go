package zohomail

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/connectortest"
)

// A custom folder can have the folderType of a system folder
// (get-single-folder-details.html: "path":"/MyCustomFolder",
// "folderType":"Inbox"), and be listed before it: the streams read the
// system Inbox and Sent, found by their path; a mailbox whose system
// folder has another path falls back to the folderType.
func TestFolderIDIsTheSystemFolder(t *testing.T) {
	t.Parallel()
	const folders = `[
		{"path":"/MyCustomFolder","folderType":"Inbox","folderName":"MyCustomFolder","folderId":9999000009001,"previousFolderId":9999000000317},
		{"path":"/Clients/Sent","folderType":"Sent","folderName":"Sent","folderId":"9999000009003"},
		{"path":"/Inbox","isArchived":1,"folderType":"Inbox","folderName":"Inbox","imapAccess":true,"folderId":9999000000305},
		{"path":"/Drafts","folderType":"Drafts","folderName":"Drafts","folderId":9999000000307,"previousFolderId":9999000000305},
		{"path":"/Sent","folderType":"Sent","folderName":"Sent","folderId":9999000000311,"previousFolderId":9999000000307},
		{"path":"/Archiv","folderType":"Archive","folderName":"Archiv","folderId":9999000000319}]`
	for _, tc := range []struct{ name, folders, typ, want string }{
		{"inbox after a custom folder of its type", folders, "Inbox", "9999000000305"},
		{"sent after a nested folder named Sent", folders, "Sent", "9999000000311"},
		{"no folder at the path: the folderType", `[{"path":"/Drafts","folderType":"Drafts","folderId":1},
			{"path":"/Posteingang","folderType":"Inbox","folderId":2}]`, "Inbox", "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				require.Equal(t, "/api/accounts/1/folders", r.URL.Path)
				_, _ = fmt.Fprintf(w, `{"status":{"code":200,"description":"success"},"data":%s}`, tc.folders)
			}))
			t.Cleanup(srv.Close)
			p := newProvider(t, map[string]string{"POBLYSH_ZOHO_MAIL_API_URLS": "us=" + srv.URL, "POBLYSH_ZOHO_MAIL_PACE": "60000"})
			id, err := p.Connector.(*Connector).folderID(t.Context(), connectortest.Client(p, "1", "tok"),
				connectors.Account{ID: "1", Metadata: map[string]string{"dc": "us"}}, tc.typ)
			require.NoError(t, err)
			require.Equal(t, tc.want, id)
		})
	}
}

// Zoho's List Emails leaves archived mail out unless asked
// (get-emails-list.html: includearchive, "Whether the Archived emails need
// to be included or not on the list of emails retrieved"), and archived
// mail stays in its folder (archive-options.html: "they are stored in the
// same folder"): both streams ask for it, so mail archived before a pass
// read it is read (it was never read, by backfill, pass or reconciliation).
func TestArchivedMailIsRead(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, stream := range []string{streamInbox, streamSent} {
		t.Run(stream, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var data string
				switch {
				case strings.HasSuffix(r.URL.Path, "/folders"):
					data = `[{"path":"/Inbox","folderType":"Inbox","folderId":"10"},{"path":"/Sent","folderType":"Sent","folderId":"20"}]`
				case strings.HasSuffix(r.URL.Path, "/messages/view"):
					msg := func(id string, at time.Time) string {
						return fmt.Sprintf(`{"messageId":"%s","threadId":"%s","fromAddress":"priya@zylker.eu","toAddress":"&lt;ada@zylker.eu&gt;","subject":"Q3 planning","receivedTime":"%d"}`,
							id, id, at.UnixMilli())
					}
					items := []string{msg("9001", now.Add(-time.Hour))}
					if r.URL.Query().Get("includearchive") == "true" { // archived before any pass read it
						items = append(items, msg("9000", now.Add(-2*time.Hour)))
					}
					data = "[" + strings.Join(items, ",") + "]"
				default:
					http.NotFound(w, r)
					return
				}
				_, _ = fmt.Fprintf(w, `{"status":{"code":200,"description":"success"},"data":%s}`, data)
			}))
			t.Cleanup(srv.Close)
			p := newProvider(t, map[string]string{"POBLYSH_ZOHO_MAIL_API_URLS": "us=" + srv.URL, "POBLYSH_ZOHO_MAIL_PACE": "60000"})
			conn := connectors.Connection{TenantID: testTenant, Account: connectors.Account{ID: "1",
				Metadata: map[string]string{"dc": "us", metaEmail: "ada@zylker.eu"}}}
			var keys []string
			var cur json.RawMessage
			for n := 0; ; n++ {
				require.Less(t, n, 10, "the pass ends")
				pg, err := p.Connector.(*Connector).FetchPage(t.Context(), connectors.PageRequest{Connection: conn, Stream: stream,
					Cursor: cur, HTTP: connectortest.Client(p, "1", "tok"), Now: now})
				require.NoError(t, err)
				for _, s := range pg.Signals {
					keys = append(keys, s.DedupeKey)
				}
				if cur = pg.Next; pg.Done {
					break
				}
			}
			kind := map[string]string{streamInbox: "received:", streamSent: "sent:"}[stream]
			require.ElementsMatch(t, []string{kind + "9001", "thread:9001", kind + "9000", "thread:9000"}, keys,
				"the archived message is read with the rest")
		})
	}
}
