package googledrive_test

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
	"github.com/poblysh/poblysh/connectors/googledrive"
)

// TestChangesPageFixture reads a changes.list page in the full shape Drive
// answers (testdata/changes_page.json): a document created in a tracked
// folder, a folder created outside, a file removed for good and a shared
// drive's own change.
func TestChangesPageFixture(t *testing.T) {
	p, asked := fixtureFeed(t)
	got := fetchFixturePage(t, p, json.RawMessage(fixtureCursor))
	require.True(t, got.Done)
	require.Equal(t, 4, got.Items)
	require.Contains(t, (*asked)[0], "pageToken=48190")
	require.Contains(t, (*asked)[0], "fields=nextPageToken%2CnewStartPageToken%2Cchanges%28changeType%2Ctime%2Cremoved%2CfileId%2CdriveId%2Cfile%28id%2Cname%2CmimeType%2Cparents", "fields are asked explicitly")
	require.Contains(t, (*asked)[0], "trashingUser%28displayName%2CemailAddress%2CpermissionId%2Cme%29", "who trashed a shared drive item")
	require.Contains(t, (*asked)[0], "supportsAllDrives=true")
	require.Contains(t, (*asked)[0], "includeItemsFromAllDrives=true")

	require.Len(t, got.Signals, 1, "the public document is new: created, its public grant is its initial state")
	s := got.Signals[0]
	require.NoError(t, connectors.ValidateSignal(googledrive.Spec, s))
	want := connectors.Signal{
		Kind:       "document.created",
		OccurredAt: time.Date(2025, 6, 5, 8, 57, 12, 104e6, time.UTC),
		DedupeKey:  "file:1hT4mZq8Vx2Lr9NcWb3Ks7Pd5Yf0Ge6Ju1Ao4Ei8Rw:created",
		Payload: connectors.Payload{
			Title:   "Document created: Q3 launch press release",
			URL:     "https://docs.google.com/document/d/1hT4mZq8Vx2Lr9NcWb3Ks7Pd5Yf0Ge6Ju1Ao4Ei8Rw/edit?usp=drivesdk",
			Actor:   connectors.Actor{ID: "ada@example.com", Name: "Ada Lovelace", Email: "ada@example.com"},
			Subject: connectors.Ref{Type: "file", ID: "1hT4mZq8Vx2Lr9NcWb3Ks7Pd5Yf0Ge6Ju1Ao4Ei8Rw", Name: "Q3 launch press release"},
			Context: connectors.Ref{Type: "folder", ID: "1Xy2Zw3Vu4Ts5Rq6Po7Nm8Lk9Ji0Hg1Fe", Name: "Press releases"},
			Attributes: map[string]any{
				"mime_type": "application/vnd.google-apps.document", "version": int64(7), "size": int64(1187),
				"folder_path": []string{"Press releases"}, "reason": "new",
			},
		},
	}
	raw := s.Raw
	s.Raw = nil
	require.Equal(t, want, s)
	page, err := os.ReadFile("testdata/changes_page.json")
	require.NoError(t, err)
	require.JSONEq(t, string(mustFile(t, page, 0)), string(raw), "Raw is the file exactly as Drive sent it")

	var next map[string]any
	require.NoError(t, json.Unmarshal(got.Next, &next))
	require.Equal(t, "48211", next["page_token"], "the resting cursor is newStartPageToken")
	require.Contains(t, next["folders"], "0AJmk2Xq5nWzZUk9PVA", "the folder outside was placed once, and its root remembered as outside")
}

// fixtureCursor is the cursor of a connection tracking "Press releases",
// at rest before the first page of fixtureFeed.
const fixtureCursor = `{"v":1,"phase":"changes","page_token":"48190","seen":1749113800000,"roots":["1Xy2Zw3Vu4Ts5Rq6Po7Nm8Lk9Ji0Hg1Fe"],` +
	`"folders":{"1Xy2Zw3Vu4Ts5Rq6Po7Nm8Lk9Ji0Hg1Fe":{"n":"Press releases"}}}`

// fixtureFeed is the connector against a Drive API that answers
// changes.list with the recorded pages of testdata by page token, in turn
// (changes_page.json, then the document edited and shared with a domain,
// then trashed) and files.get of My Drive. It returns the requests asked.
func fixtureFeed(t testing.TB) (*connectors.Provider, *[]string) {
	pages := map[string]string{"48190": "changes_page.json", "48211": "changes_page_edited.json", "48237": "changes_page_trashed.json"}
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path+"?"+r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		switch name, ok := pages[r.URL.Query().Get("pageToken")]; {
		case r.URL.Path == "/drive/v3/changes" && ok:
			page, err := os.ReadFile("testdata/" + name)
			require.NoError(t, err)
			_, _ = w.Write(page)
		case strings.HasPrefix(r.URL.Path, "/drive/v3/files/0AJmk2Xq5nWzZUk9PVA"):
			_, _ = w.Write([]byte(`{"id":"0AJmk2Xq5nWzZUk9PVA","name":"My Drive","mimeType":"application/vnd.google-apps.folder"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	cfg, err := connectors.LoadConfig(googledrive.Spec, func(k string) string {
		return map[string]string{"POBLYSH_GOOGLE_DRIVE_API_URL": srv.URL + "/drive/v3/"}[k]
	}, "https://poblysh.example", true)
	require.NoError(t, err)
	c, err := googledrive.Spec.New(cfg)
	require.NoError(t, err)
	return &connectors.Provider{Spec: googledrive.Spec, Config: cfg, Connector: c}, &asked
}

// fetchFixturePage reads one page of fixtureFeed's "changes" stream.
func fetchFixturePage(t testing.TB, p *connectors.Provider, cursor json.RawMessage) *connectors.Page {
	got, err := p.Connector.(connectors.Syncer).FetchPage(context.Background(), connectors.PageRequest{
		Connection: connectors.Connection{Config: json.RawMessage(`{"folders":["1Xy2Zw3Vu4Ts5Rq6Po7Nm8Lk9Ji0Hg1Fe"]}`)},
		Stream:     "changes", Cursor: cursor, Now: time.Date(2025, 6, 5, 10, 0, 0, 0, time.UTC),
		HTTP: connectors.NewRegistry(p).HTTPClient(p, "acct", "tok"),
	})
	require.NoError(t, err)
	return got
}

// catalogExamples are the Signals of fixtureFeed's pages read in turn: the
// document created, edited and shared with a domain, then trashed (the
// catalog's Google Drive examples are written from them).
func catalogExamples(t testing.TB) []connectors.Signal {
	p, _ := fixtureFeed(t)
	var out []connectors.Signal
	cursor := json.RawMessage(fixtureCursor)
	for range 3 {
		page := fetchFixturePage(t, p, cursor)
		require.True(t, page.Done)
		out = append(out, page.Signals...)
		cursor = page.Next
	}
	return out
}

func mustFile(t *testing.T, page []byte, i int) json.RawMessage {
	var p struct {
		Changes []struct {
			File json.RawMessage `json:"file"`
		} `json:"changes"`
	}
	require.NoError(t, json.Unmarshal(page, &p))
	return p.Changes[i].File
}
