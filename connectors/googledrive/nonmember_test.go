package googledrive_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/sandbox"
	drivesandbox "github.com/poblysh/poblysh/sandbox/googledrive"
)

// A folder on a shared drive the user is not a member of is tracked
// (TestSharedDriveFolderOfANonMemberIsTracked), but Drive refuses to list
// it in the drive's corpus: corpora=drive&driveId=… answers 403
// teamDriveMembershipRequired ("This error occurs when a user attempts to
// access a shared drive in which they're not a member", Resolve errors).
// The walk lists it again in the user's corpus, which holds what is shared
// with the user, and its subfolders there from the start; the folder was
// dropped as gone before, with no backfill, every later edit of a file
// that was in it all along a move in, and a trash no Signal. Any other 403
// is still a folder that went away.
func TestNonMemberFolderIsListedInTheUserCorpus(t *testing.T) {
	for _, tc := range []struct {
		reason string
		lists  []string
		sigs   map[string]string
	}{
		{reason: "teamDriveMembershipRequired",
			lists: []string{"1SharedFolder drive", "1SharedFolder user", "1SubFolder user"},
			sigs: map[string]string{
				"file:1OldDoc:updated:1748772000000": "document.updated",
				"file:1SubDoc:created":               "document.created",
			}},
		{reason: "insufficientFilePermissions",
			lists: []string{"1SharedFolder drive"},
			sigs:  map[string]string{}},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			var lists []string
			feed := `{"newStartPageToken":"8","changes":[]}`
			p := stubProvider(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json; charset=UTF-8")
				q := r.URL.Query()
				switch r.URL.Path {
				case "/drive/v3/changes/startPageToken":
					_, _ = w.Write([]byte(`{"startPageToken":"7"}`))
				case "/drive/v3/files/1SharedFolder":
					_, _ = w.Write([]byte(`{"id":"1SharedFolder","name":"Launch","mimeType":"application/vnd.google-apps.folder","parents":["0ADrive"],"driveId":"0ADrive"}`))
				case "/drive/v3/files":
					folder, _, _ := strings.Cut(strings.TrimPrefix(q.Get("q"), "'"), "'")
					lists = append(lists, folder+" "+q.Get("corpora"))
					reason := tc.reason
					if folder != "1SharedFolder" {
						reason = "teamDriveMembershipRequired"
					}
					switch {
					case q.Get("corpora") == "drive":
						w.WriteHeader(http.StatusForbidden)
						_, _ = w.Write([]byte(`{"error":{"errors":[{"domain":"global","reason":"` + reason + `","message":"Refused."}],"code":403,"message":"Refused."}}`))
					case folder == "1SharedFolder":
						_, _ = w.Write([]byte(`{"files":[` +
							`{"id":"1OldDoc","name":"Plan","mimeType":"application/vnd.google-apps.document","parents":["1SharedFolder"],"driveId":"0ADrive","createdTime":"2025-01-01T00:00:00Z","modifiedTime":"2025-06-01T10:00:00Z"},` +
							`{"id":"1SubFolder","name":"Drafts","mimeType":"application/vnd.google-apps.folder","parents":["1SharedFolder"],"driveId":"0ADrive","createdTime":"2025-01-01T00:00:00Z","modifiedTime":"2025-01-01T00:00:00Z"}]}`))
					default:
						_, _ = w.Write([]byte(`{"files":[{"id":"1SubDoc","name":"Draft","mimeType":"application/vnd.google-apps.document","parents":["1SubFolder"],"driveId":"0ADrive","createdTime":"2025-06-03T00:00:00Z","modifiedTime":"2025-06-03T00:00:00Z"}]}`))
					}
				case "/drive/v3/changes":
					_, _ = w.Write([]byte(feed))
				default:
					http.NotFound(w, r)
				}
			})
			conn := connectors.Connection{ID: "c", TenantID: "t", Config: json.RawMessage(`{"folders":["1SharedFolder"],"shared_drives":[]}`)}
			hc := connectors.NewRegistry(p).HTTPClient(p, "acct", "tok")
			now := time.Date(2025, 6, 5, 9, 0, 0, 0, time.UTC)
			drain := func(cursor json.RawMessage, now time.Time) ([]connectors.Signal, json.RawMessage) {
				var sigs []connectors.Signal
				for range 20 {
					pg, err := p.Connector.(connectors.Syncer).FetchPage(context.Background(), connectors.PageRequest{
						Connection: conn, Stream: "changes", Cursor: cursor, HTTP: hc, Now: now})
					require.NoError(t, err)
					sigs = append(sigs, pg.Signals...)
					cursor = pg.Next
					if pg.Done {
						return sigs, cursor
					}
				}
				t.Fatal("stream did not finish")
				return nil, nil
			}
			sigs, cursor := drain(nil, now)
			require.Equal(t, tc.lists, lists, "listings (folder corpora)")
			require.Equal(t, tc.sigs, kindsAndKeys(sigs), "the backfill")
			if len(tc.sigs) == 0 {
				return
			}
			var cur struct {
				Walk []any `json:"walk"`
			}
			require.NoError(t, json.Unmarshal(cursor, &cur))
			require.Empty(t, cur.Walk)

			// An edit of a file that was in the folder all along, and a
			// trash of one in its subfolder.
			feed = `{"newStartPageToken":"9","changes":[` +
				`{"changeType":"file","time":"2025-06-05T10:00:00Z","fileId":"1OldDoc","file":{"id":"1OldDoc","name":"Plan","mimeType":"application/vnd.google-apps.document","parents":["1SharedFolder"],"driveId":"0ADrive","createdTime":"2025-01-01T00:00:00Z","modifiedTime":"2025-06-05T10:00:00Z"}},` +
				`{"changeType":"file","time":"2025-06-05T10:05:00Z","fileId":"1SubDoc","file":{"id":"1SubDoc","name":"Draft","mimeType":"application/vnd.google-apps.document","parents":["1SubFolder"],"driveId":"0ADrive","createdTime":"2025-06-03T00:00:00Z","modifiedTime":"2025-06-03T00:00:00Z","trashed":true,"explicitlyTrashed":true,"trashedTime":"2025-06-05T10:05:00Z"}}]}`
			sigs, _ = drain(cursor, now.Add(2*time.Hour))
			require.Equal(t, map[string]string{
				"file:1OldDoc:updated:1749117600000": "document.updated",
				"file:1SubDoc:trashed:1749117900000": "document.trashed",
			}, kindsAndKeys(sigs))
		})
	}
}

// The same against the sandbox, which refuses a non-member the drive's
// corpus as Drive does: a folder given to the user on a shared drive of
// which the user is not a member is proved, backfilled with its subfolder,
// and its later edits and trashes (in the user's change log) are edits and
// trashes.
func TestNonMemberFolderThroughTheSandbox(t *testing.T) {
	clk := newClock()
	const drive, launch, drafts = "0APartners", "1Launch", "1Drafts"
	h := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now}, `{"folders":["`+launch+`"]}`, nil)
	ctx, opt, day := context.Background(), sandbox.DeliveryOptions{}, 24*time.Hour
	h.sb.AddDrive(drive, "Partners", "bob@example.com")
	mk := func(in drivesandbox.FileInput) string {
		t.Helper()
		f, _, err := h.sb.CreateFile(ctx, in, opt)
		require.NoError(t, err)
		return f["id"].(string)
	}
	mk(drivesandbox.FileInput{ID: launch, Name: "Launch", MimeType: drivesandbox.MimeFolder, Parent: drive, Age: 100 * day})
	mk(drivesandbox.FileInput{ID: drafts, Name: "Drafts", MimeType: drivesandbox.MimeFolder, Parent: launch, Age: 100 * day})
	budget := mk(drivesandbox.FileInput{Name: "Budget", Parent: launch, Age: 90 * day})
	plan := mk(drivesandbox.FileInput{Name: "Plan", Parent: launch, Age: 2 * day})
	draft := mk(drivesandbox.FileInput{Name: "Draft", Parent: drafts, Age: day})
	mk(drivesandbox.FileInput{Name: "Elsewhere", Parent: drive, Age: day})
	_, err := h.sb.ShareFile(ctx, launch, drivesandbox.Permission{Type: "user", Role: "writer", EmailAddress: h.sb.User()}, opt)
	require.NoError(t, err)

	report, err := h.prov.Connector.(connectors.AccessProver).ProveAccess(ctx, connectors.AccessRequest{Connection: h.conn, HTTP: h.client()})
	require.NoError(t, err)
	require.Empty(t, report.Denied, "a non-member's folder is tracked")

	sigs, cursor := h.drainAt(t, "changes", nil, clk.now())
	require.Equal(t, map[string]string{
		"file:" + plan + ":created":  "document.created",
		"file:" + draft + ":created": "document.created",
	}, kindsAndKeys(sigs), "the backfill of the folder and its subfolder")

	clk.advance(20 * time.Minute)
	_, err = h.sb.EditFile(ctx, budget, "bob@example.com", opt)
	require.NoError(t, err)
	_, err = h.sb.TrashFile(ctx, draft, "bob@example.com", opt)
	require.NoError(t, err)
	sigs, _ = h.drainAt(t, "changes", cursor, clk.now())
	require.Equal(t, []string{"document.updated Document edited: Budget"}, of(sigs, budget), "an edit of a file that was in the folder all along")
	require.Equal(t, []string{"document.trashed Document trashed: Draft"}, of(sigs, draft))
	require.Len(t, sigs, 2)
}
