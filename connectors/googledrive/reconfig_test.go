package googledrive_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	drivesandbox "github.com/poblysh/poblysh/sandbox/googledrive"
)

// reconfigure stores a new config as PATCH does (validated; the stream's
// cursor is kept and an incremental sync asked).
func (i *incremental) reconfigure(t *testing.T, config string) {
	t.Helper()
	cfg, err := i.prov.Connector.(connectors.ConfigValidator).ValidateConfig([]byte(config))
	require.NoError(t, err)
	i.conn.Config = cfg
}

// A PATCH replaces the whole config and keeps the stream's cursor: the
// stream follows the config's folders from its next page. A folder taken
// out makes no more Signals, and its files are no longer members (one
// moved into a tracked folder later is moved in); a folder put in is
// listed as a first connect lists it (files created within backfill_days
// are created, older ones are only members), and followed from then on.
// A cursor written before it kept the config's folders follows too.
func TestReconfiguredFoldersAreFollowed(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(map[bool]string{false: "cursor", true: "legacy cursor"}[legacy], func(t *testing.T) {
			i := newIncremental(t, `{"folders":["`+drivesandbox.PressFolderID+`"]}`)
			if legacy {
				var c map[string]any
				require.NoError(t, json.Unmarshal(i.cursor, &c))
				require.Contains(t, c, "tracked")
				delete(c, "tracked")
				i.cursor = must(json.Marshal(c))
			}
			ctx := context.Background()
			i.clk.advance(time.Hour)
			// Created while Archive was not tracked, two days old.
			early, _, err := i.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Draft pitch", Parent: drivesandbox.ArchiveFolderID, Age: 48 * time.Hour}, none)
			require.NoError(t, err)
			require.Empty(t, i.sync(t))

			i.reconfigure(t, `{"folders":["`+drivesandbox.ArchiveFolderID+`"]}`)
			i.clk.advance(time.Hour)
			press, _, err := i.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Untracked now", Parent: drivesandbox.PressFolderID}, none)
			require.NoError(t, err)
			archive, _, err := i.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Tracked now", Parent: drivesandbox.ArchiveFolderID}, none)
			require.NoError(t, err)
			_, err = i.sb.EditFile(ctx, drivesandbox.TrackerID, "grace@example.com", none)
			require.NoError(t, err)
			i.clk.advance(time.Minute)
			sigs := i.sync(t)
			require.Empty(t, of(sigs, press["id"].(string)), "Press is no longer configured")
			require.Empty(t, of(sigs, drivesandbox.TrackerID), "nor its members")
			require.Equal(t, map[string]string{
				"file:" + archive["id"].(string) + ":created": "document.created",
				"file:" + early["id"].(string) + ":created":   "document.created",
			}, kindsAndKeys(sigs), "Archive is listed as a first connect would; its 400-day-old pitch is a member only")

			i.clk.advance(time.Hour)
			_, err = i.sb.MoveFile(ctx, drivesandbox.MediaListID, drivesandbox.ArchiveFolderID, none)
			require.NoError(t, err)
			_, err = i.sb.EditFile(ctx, drivesandbox.OldPitchID, "", none)
			require.NoError(t, err)
			i.clk.advance(time.Minute)
			sigs = i.sync(t)
			require.Equal(t, []string{"document.created Document moved in: Media list"}, of(sigs, drivesandbox.MediaListID),
				"Press's files were forgotten with it")
			require.Equal(t, []string{"document.updated Document edited: 2023 pitch"}, of(sigs, drivesandbox.OldPitchID))
			require.Len(t, sigs, 2)
		})
	}
}

// Taking out a folder that lies inside another tracked folder keeps its
// files: they are still tracked through the other.
func TestReconfiguredNestedFolderStaysTracked(t *testing.T) {
	i := newIncremental(t, `{"folders":["`+drivesandbox.PressFolderID+`","`+drivesandbox.ReleasesFolderID+`"]}`)
	i.reconfigure(t, `{"folders":["`+drivesandbox.PressFolderID+`"]}`)
	ctx := context.Background()
	i.clk.advance(time.Hour)
	_, err := i.sb.EditFile(ctx, drivesandbox.TrackerID, "grace@example.com", none)
	require.NoError(t, err)
	f, _, err := i.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Q4 release", Parent: drivesandbox.YearFolderID}, none)
	require.NoError(t, err)
	i.clk.advance(time.Minute)
	sigs := i.sync(t)
	require.Equal(t, []string{"document.updated Document edited: Coverage tracker"}, of(sigs, drivesandbox.TrackerID))
	require.Equal(t, []string{"document.created Document created: Q4 release"}, of(sigs, f["id"].(string)))
	require.Equal(t, []string{"Press", "Releases", "2025"}, sigs[len(sigs)-1].Payload.Attributes["folder_path"])
}

// Taking out a folder drops the listings queued under it that the ancestry
// cache places there, without a files.get per queued folder: one whose
// entry was evicted (past maxCachedFolders) is kept, and placed when the
// walk reaches it. 2,000 of them cost one page no more calls than any
// other (they were 2,000 files.get, 3m20s at 10 requests a second, past
// the sync page's deadline: the stream stalled).
func TestUntrackDoesNotReadEveryQueuedFolder(t *testing.T) {
	gets := 0
	p := stubProvider(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		switch {
		case r.URL.Path == "/drive/v3/files/Gone":
			gets++
			_, _ = w.Write([]byte(`{"id":"Gone","name":"Gone","mimeType":"application/vnd.google-apps.folder"}`))
		case strings.HasPrefix(r.URL.Path, "/drive/v3/files/"):
			gets++
			_, _ = w.Write([]byte(`{"id":"` + strings.TrimPrefix(r.URL.Path, "/drive/v3/files/") +
				`","name":"Sub","mimeType":"application/vnd.google-apps.folder","parents":["Gone"]}`))
		case r.URL.Path == "/drive/v3/files":
			_, _ = w.Write([]byte(`{"files":[]}`))
		default:
			http.NotFound(w, r)
		}
	})
	walk := []map[string]any{{"folder": "UnderGone", "corpus": "user"}, {"folder": "UnderKeep", "corpus": "user"}}
	for n := range 2000 {
		walk = append(walk, map[string]any{"folder": fmt.Sprintf("Evicted%04d", n), "corpus": "user"})
	}
	cursor := must(json.Marshal(map[string]any{
		"v": 1, "phase": "changes", "page_token": "9", "seen": 1749113800000,
		"roots": []string{"Keep", "Gone"}, "tracked": []string{"Keep", "Gone"}, "walk": walk,
		"folders": map[string]any{"Keep": map[string]any{"n": "Keep"}, "Gone": map[string]any{"n": "Gone"},
			"UnderGone": map[string]any{"n": "A", "p": "Gone"}, "UnderKeep": map[string]any{"n": "B", "p": "Keep"}},
	}))
	page, err := p.Connector.(connectors.Syncer).FetchPage(context.Background(), connectors.PageRequest{
		Connection: connectors.Connection{Config: json.RawMessage(`{"folders":["Keep"]}`)},
		Stream:     "changes", Cursor: cursor, Now: time.Date(2025, 6, 5, 10, 0, 0, 0, time.UTC),
		HTTP: connectors.NewRegistry(p).HTTPClient(p, "acct", "tok"),
	})
	require.NoError(t, err)
	require.LessOrEqual(t, gets, 2, "the taken out folder is read again; the queued folders are not")
	var next struct {
		Roots []string `json:"roots"`
		Walk  []struct {
			Folder string `json:"folder"`
			Forget bool   `json:"forget"`
		} `json:"walk"`
	}
	require.NoError(t, json.Unmarshal(page.Next, &next))
	require.Equal(t, []string{"Keep"}, next.Roots)
	require.Len(t, next.Walk, 2001, "UnderGone dropped, UnderKeep listed; the evicted ones kept, then Gone to forget")
	require.Equal(t, "Evicted0000", next.Walk[0].Folder)
	require.Equal(t, "Gone", next.Walk[2000].Folder)
	require.True(t, next.Walk[2000].Forget)
}

// A queued folder whose cache entry was evicted is placed when the walk
// reaches it: one under a folder taken out is dropped, not listed.
func TestEvictedQueuedFolderOutsideIsNotListed(t *testing.T) {
	var lists int
	p := stubProvider(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		switch r.URL.Path {
		case "/drive/v3/files/Evicted":
			_, _ = w.Write([]byte(`{"id":"Evicted","name":"Sub","mimeType":"application/vnd.google-apps.folder","parents":["Gone"]}`))
		case "/drive/v3/files":
			lists++
			_, _ = w.Write([]byte(`{"files":[]}`))
		default:
			http.NotFound(w, r)
		}
	})
	cursor := must(json.Marshal(map[string]any{
		"v": 1, "phase": "changes", "page_token": "9", "seen": 1749113800000,
		"roots": []string{"Keep"}, "tracked": []string{"Keep"},
		"walk":    []map[string]any{{"folder": "Evicted", "corpus": "user"}},
		"folders": map[string]any{"Keep": map[string]any{"n": "Keep"}, "Gone": map[string]any{"n": "Gone", "o": true}},
	}))
	page, err := p.Connector.(connectors.Syncer).FetchPage(context.Background(), connectors.PageRequest{
		Connection: connectors.Connection{Config: json.RawMessage(`{"folders":["Keep"]}`)},
		Stream:     "changes", Cursor: cursor, Now: time.Date(2025, 6, 5, 10, 0, 0, 0, time.UTC),
		HTTP: connectors.NewRegistry(p).HTTPClient(p, "acct", "tok"),
	})
	require.NoError(t, err)
	require.Zero(t, lists, "a folder outside the roots is not listed")
	var next struct {
		Walk []any `json:"walk"`
	}
	require.NoError(t, json.Unmarshal(page.Next, &next))
	require.Empty(t, next.Walk)
}
