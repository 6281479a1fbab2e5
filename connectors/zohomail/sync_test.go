package zohomail

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

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
