package googledrive_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/sandbox"
	drivesandbox "github.com/poblysh/poblysh/sandbox/googledrive"
)

// clock is a settable clock for the sandbox.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 6, 5, 9, 1, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// drainAt reads a stream to its resting cursor with the engine's clock at now.
func (h *harness) drainAt(t *testing.T, stream string, cursor json.RawMessage, now time.Time) ([]connectors.Signal, json.RawMessage) {
	t.Helper()
	var all []connectors.Signal
	for range 1000 {
		p, err := h.prov.Connector.(connectors.Syncer).FetchPage(context.Background(), connectors.PageRequest{
			Connection: h.conn, Stream: stream, Cursor: cursor, HTTP: h.client(), Now: now,
		})
		require.NoError(t, err)
		for _, s := range p.Signals {
			require.NoError(t, connectors.ValidateSignal(h.prov.Spec, s), s.DedupeKey)
		}
		all = append(all, p.Signals...)
		cursor = p.Next
		if p.Done {
			return all, cursor
		}
	}
	t.Fatal("stream did not finish")
	return nil, nil
}

func kindsAndKeys(sigs []connectors.Signal) map[string]string {
	out := map[string]string{}
	for _, s := range sigs {
		out[s.DedupeKey] = s.Kind
	}
	return out
}

func TestBackfillTracksSubfoldersWithinTheWindow(t *testing.T) {
	clk := newClock()
	h := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now, PageSize: 3}, pressConfig, nil)
	sigs, _ := h.drainAt(t, "changes", nil, clk.now())
	updated := time.UnixMilli(clk.now().Add(-48*time.Hour).UnixMilli() / 600000 * 600000).UnixMilli()
	require.Equal(t, map[string]string{
		"file:" + drivesandbox.ReleaseDocID + ":created":                                              "document.created",
		"file:" + drivesandbox.ReleaseDocID + ":updated:" + itoa(updated):                             "document.updated",
		"file:" + drivesandbox.MediaListID + ":created":                                               "document.created",
		"file:" + drivesandbox.TrackerID + ":updated:" + itoa(bucket(clk.now().Add(-5*24*time.Hour))): "document.updated",
		"file:" + drivesandbox.LogoID + ":created":                                                    "document.created",
		"file:" + drivesandbox.FactSheetID + ":created":                                               "document.created",
	}, kindsAndKeys(sigs), "files modified within 30 days, in Press and its subfolders at any depth; not the notes outside Press")

	var release connectors.Signal
	for _, s := range sigs {
		if s.DedupeKey == "file:"+drivesandbox.ReleaseDocID+":created" {
			release = s
		}
	}
	require.Equal(t, "Document created: Q3 launch press release", release.Payload.Title)
	require.Equal(t, "https://docs.google.com/document/d/"+drivesandbox.ReleaseDocID+"/edit?usp=drivesdk", release.Payload.URL)
	require.Equal(t, connectors.Actor{ID: "ada@example.com", Name: "Ada", Email: "ada@example.com"}, release.Payload.Actor)
	require.Equal(t, connectors.Ref{Type: "file", ID: drivesandbox.ReleaseDocID, Name: "Q3 launch press release"}, release.Payload.Subject)
	require.Equal(t, connectors.Ref{Type: "folder", ID: drivesandbox.YearFolderID, Name: "2025"}, release.Payload.Context)
	require.Equal(t, []string{"Press", "Releases", "2025"}, release.Payload.Attributes["folder_path"])
	require.Equal(t, "application/vnd.google-apps.document", release.Payload.Attributes["mime_type"])
	require.EqualValues(t, 4096, release.Payload.Attributes["size"])
	require.Equal(t, "new", release.Payload.Attributes["reason"])
	require.Equal(t, clk.now().Add(-72*time.Hour), release.OccurredAt.UTC())
	var raw map[string]any
	require.NoError(t, json.Unmarshal(release.Raw, &raw))
	require.Equal(t, drivesandbox.ReleaseDocID, raw["id"], "Raw is the file as Drive sent it")

	drive, _ := h.drainAt(t, "drive:"+drivesandbox.CommsDriveID, nil, clk.now())
	require.Len(t, drive, drivesandbox.CommsSignals)
	for _, s := range drive {
		require.Equal(t, drivesandbox.CommsDriveID, s.Payload.Attributes["drive_id"])
		require.Equal(t, []string{"Comms", "Briefs"}, s.Payload.Attributes["folder_path"])
	}
}

func TestBackfillWindowIsConfigurable(t *testing.T) {
	clk := newClock()
	h := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now}, `{"folders":["root"],"backfill_days":90}`, nil)
	sigs, _ := h.drainAt(t, "changes", nil, clk.now())
	keys := kindsAndKeys(sigs)
	require.Contains(t, keys, "file:"+drivesandbox.NotesID+":created", "root tracks the whole My Drive")
	require.Contains(t, keys, "file:"+drivesandbox.BoilerplateID+":updated:"+itoa(bucket(clk.now().Add(-60*24*time.Hour))), "edited 60 days ago: inside 90 days")
	require.NotContains(t, keys, "file:"+drivesandbox.OldPitchID+":created")
}

func bucket(t time.Time) int64 { return t.UnixMilli() / 600000 * 600000 }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// incremental is a harness that has finished its backfill.
type incremental struct {
	*harness
	clk    *clock
	cursor json.RawMessage
	// backfill is what the first pass yielded, for a test that stores it.
	backfill []connectors.Signal
}

func newIncremental(t *testing.T, config string) *incremental {
	clk := newClock()
	h := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now}, config, nil)
	sigs, cur := h.drainAt(t, "changes", nil, clk.now())
	return &incremental{harness: h, clk: clk, cursor: cur, backfill: sigs}
}

// sync runs an incremental pass of the changes stream.
func (i *incremental) sync(t *testing.T) []connectors.Signal {
	t.Helper()
	i.tok = i.sb.AccessToken("") // the fake's clock may have moved past the last token's hour
	sigs, cur := i.drainAt(t, "changes", i.cursor, i.clk.now())
	i.cursor = cur
	return sigs
}

var none = sandbox.DeliveryOptions{}

func TestFileCreatedInNestedSubfolder(t *testing.T) {
	i := newIncremental(t, pressConfig)
	ctx := context.Background()
	f, _, err := i.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Embargo notice", Parent: drivesandbox.YearFolderID}, none)
	require.NoError(t, err)
	_, _, err = i.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Shopping list", Parent: "root"}, none)
	require.NoError(t, err)
	sigs := i.sync(t)
	require.Len(t, sigs, 1, "the file outside Press is not tracked")
	s := sigs[0]
	require.Equal(t, "document.created", s.Kind)
	require.Equal(t, "file:"+f["id"].(string)+":created", s.DedupeKey)
	require.Equal(t, []string{"Press", "Releases", "2025"}, s.Payload.Attributes["folder_path"])
	require.Equal(t, "new", s.Payload.Attributes["reason"])

	// Its first autosaves belong to its creation; a rename is metadata only.
	i.clk.advance(30 * time.Second)
	_, err = i.sb.EditFile(ctx, f["id"].(string), "", none)
	require.NoError(t, err)
	_, err = i.sb.RenameFile(ctx, drivesandbox.TrackerID, "Coverage tracker (Q3)", none)
	require.NoError(t, err)
	require.Empty(t, i.sync(t))
	require.Empty(t, i.sync(t), "nothing new: nothing")
}

func TestMovesInAndOut(t *testing.T) {
	i := newIncremental(t, pressConfig)
	ctx := context.Background()
	i.clk.advance(time.Minute)
	// A file moved in from outside is new to the tracked set.
	_, err := i.sb.MoveFile(ctx, drivesandbox.NotesID, drivesandbox.ReleasesFolderID, none)
	require.NoError(t, err)
	sigs := i.sync(t)
	require.Equal(t, map[string]string{"file:" + drivesandbox.NotesID + ":moved_in:" + itoa(i.clk.now().UnixMilli()): "document.created"},
		kindsAndKeys(sigs), "keyed by the move")
	require.Equal(t, "moved_in", sigs[0].Payload.Attributes["reason"])
	require.Equal(t, "Document moved in: Personal notes", sigs[0].Payload.Title)
	require.Equal(t, i.clk.now(), sigs[0].OccurredAt.UTC(), "a move happens at the change's time")

	// Moved out, it is no longer followed; moved back in, it was seen before.
	_, err = i.sb.MoveFile(ctx, drivesandbox.MediaListID, "root", none)
	require.NoError(t, err)
	require.Empty(t, i.sync(t))
	i.clk.advance(time.Hour)
	_, err = i.sb.EditFile(ctx, drivesandbox.MediaListID, "", none)
	require.NoError(t, err)
	require.Empty(t, i.sync(t), "edits outside the tracked folders are not followed")

	// A folder moved in brings its subtree: its files are moved in.
	_, err = i.sb.MoveFile(ctx, drivesandbox.ArchiveFolderID, drivesandbox.PressFolderID, none)
	require.NoError(t, err)
	sigs = i.sync(t)
	require.Equal(t, map[string]string{"file:" + drivesandbox.OldPitchID + ":moved_in:" + itoa(i.clk.now().UnixMilli()): "document.created"},
		kindsAndKeys(sigs))
	require.Equal(t, []string{"Press", "Archive"}, sigs[0].Payload.Attributes["folder_path"])
	// And the cache follows it: a file created in it now is tracked.
	_, _, err = i.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "2026 pitch", Parent: drivesandbox.ArchiveFolderID}, none)
	require.NoError(t, err)
	sigs = i.sync(t)
	require.Len(t, sigs, 1)
	require.Equal(t, []string{"Press", "Archive"}, sigs[0].Payload.Attributes["folder_path"])

	// Moving the folder out again takes its files along.
	_, err = i.sb.MoveFile(ctx, drivesandbox.ArchiveFolderID, "root", none)
	require.NoError(t, err)
	require.Empty(t, i.sync(t))
	i.clk.advance(time.Hour)
	_, err = i.sb.EditFile(ctx, drivesandbox.OldPitchID, "", none)
	require.NoError(t, err)
	require.Empty(t, i.sync(t))
}

// A folder moved out of the tracked folders takes its files (and its
// subfolders' files) out: they are no longer members, so one moved back in,
// alone or with the folder, is moved in again, as a file that left alone is.
// What counts is what the store keeps: the files moved back with the folder
// were created within the backfill window, and their move in, keyed as
// their creation was, was dropped.
func TestFolderMovedOutForgetsItsFiles(t *testing.T) {
	i := newIncremental(t, `{"folders":["`+drivesandbox.PressFolderID+`"]}`)
	st := newStore(t)
	st.put(t, i.backfill)
	ctx := context.Background()
	i.clk.advance(time.Hour)
	_, err := i.sb.MoveFile(ctx, drivesandbox.ReleasesFolderID, drivesandbox.ArchiveFolderID, none)
	require.NoError(t, err)
	i.clk.advance(time.Minute)
	require.Empty(t, i.sync(t))

	i.clk.advance(24 * time.Hour)
	_, err = i.sb.MoveFile(ctx, drivesandbox.TrackerID, drivesandbox.PressFolderID, none)
	require.NoError(t, err)
	i.clk.advance(time.Minute)
	require.Equal(t, []string{"document.created Document moved in: Coverage tracker"}, of(st.put(t, i.sync(t)), drivesandbox.TrackerID),
		"it left Press with Releases a day ago")

	i.clk.advance(time.Hour)
	moved := i.clk.now()
	_, err = i.sb.MoveFile(ctx, drivesandbox.ReleasesFolderID, drivesandbox.PressFolderID, none)
	require.NoError(t, err)
	i.clk.advance(time.Minute)
	before := i.cursor
	sigs := i.sync(t)
	stored := st.put(t, sigs)
	require.Equal(t, []string{"document.created Document moved in: logo.png"}, of(stored, drivesandbox.LogoID),
		"stored (keys: %v)", kindsAndKeys(sigs))
	require.Equal(t, []string{"document.created Document moved in: Q3 launch press release"}, of(stored, drivesandbox.ReleaseDocID),
		"in Releases/2025")
	require.Len(t, stored, 2)
	for _, s := range stored {
		require.Equal(t, "file:"+s.Payload.Subject.ID+":moved_in:"+itoa(moved.UnixMilli()), s.DedupeKey, "keyed by the folder's move")
	}

	// The listing read again (a page retried) hours later: the same keys.
	i.clk.advance(3 * time.Hour)
	i.tok = i.sb.AccessToken("")
	again, _ := i.drainAt(t, "changes", before, i.clk.now())
	require.Equal(t, kindsAndKeys(sigs), kindsAndKeys(again))
	require.Empty(t, st.put(t, again))
}

// The files of a folder moved into the tracked set were moved in when the
// folder was, not when a pass got round to listing it: the next pass may run
// hours later (a long poll interval, an outage), and the listing may run
// pages or passes after the change that queued it, so the walk item in the
// cursor carries the change's time.
func TestFolderMovedInFilesHappenAtTheMove(t *testing.T) {
	i := newIncremental(t, pressConfig)
	ctx := context.Background()
	i.clk.advance(time.Minute)
	moved := i.clk.now()
	_, err := i.sb.MoveFile(ctx, drivesandbox.ArchiveFolderID, drivesandbox.PressFolderID, none)
	require.NoError(t, err)
	i.clk.advance(3 * time.Hour)
	sigs := i.sync(t)
	require.Equal(t, map[string]string{"file:" + drivesandbox.OldPitchID + ":moved_in:" + itoa(moved.UnixMilli()): "document.created"}, kindsAndKeys(sigs))
	require.Equal(t, "moved_in", sigs[0].Payload.Attributes["reason"])
	require.Equal(t, moved, sigs[0].OccurredAt.UTC(), "at the move, not at the pass %s", i.clk.now())
}

// A file created in a moved-in folder after the move, before the walk
// reached it, is a new file at its own creation, not a move-in stamped
// before it existed.
func TestFileCreatedAfterTheMoveIsNew(t *testing.T) {
	i := newIncremental(t, pressConfig)
	ctx := context.Background()
	i.clk.advance(time.Minute)
	moved := i.clk.now()
	_, err := i.sb.MoveFile(ctx, drivesandbox.ArchiveFolderID, drivesandbox.PressFolderID, none)
	require.NoError(t, err)
	i.clk.advance(time.Minute)
	i.tok = i.sb.AccessToken("")
	p, err := i.prov.Connector.(connectors.Syncer).FetchPage(ctx, connectors.PageRequest{
		Connection: i.conn, Stream: "changes", Cursor: i.cursor, HTTP: i.client(), Now: i.clk.now()})
	require.NoError(t, err)
	require.Empty(t, p.Signals, "the change page queues the folder's listing")
	i.clk.advance(3 * time.Hour)
	fresh := i.clk.now()
	_, _, err = i.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Fresh", Parent: drivesandbox.ArchiveFolderID}, none)
	require.NoError(t, err)
	i.clk.advance(time.Minute)
	i.tok = i.sb.AccessToken("")
	sigs, _ := i.drainAt(t, "changes", p.Next, i.clk.now())
	reasons := map[string]string{}
	for _, s := range sigs {
		require.Equal(t, "document.created", s.Kind)
		reasons[s.Payload.Attributes["reason"].(string)] = s.OccurredAt.UTC().Format(time.RFC3339)
	}
	require.Equal(t, map[string]string{"moved_in": moved.Format(time.RFC3339), "new": fresh.Format(time.RFC3339)}, reasons)
}

// A walk item written before it carried the move's time still lists the
// folder; its files then happen at the pass's time, the best it knows, and
// are keyed by the cursor's seen (the newest change read, the move's or a
// later one), which a page read again at another time keeps.
func TestOldMovedInWalkItemsFallBackToThePass(t *testing.T) {
	i := newIncremental(t, pressConfig)
	ctx := context.Background()
	i.clk.advance(time.Minute)
	moved := i.clk.now()
	_, err := i.sb.MoveFile(ctx, drivesandbox.ArchiveFolderID, drivesandbox.PressFolderID, none)
	require.NoError(t, err)
	i.clk.advance(3 * time.Hour)
	i.tok = i.sb.AccessToken("")
	p, err := i.prov.Connector.(connectors.Syncer).FetchPage(ctx, connectors.PageRequest{
		Connection: i.conn, Stream: "changes", Cursor: i.cursor, HTTP: i.client(), Now: i.clk.now()})
	require.NoError(t, err)
	require.Empty(t, p.Signals, "the change page queues the folder's listing")
	var cur map[string]any
	require.NoError(t, json.Unmarshal(p.Next, &cur))
	walk := cur["walk"].([]any)
	require.Len(t, walk, 1)
	item := walk[0].(map[string]any)
	require.Equal(t, true, item["moved_in"])
	require.Contains(t, item, "moved_at", "the cursor carries the move's time")
	delete(item, "moved_at") // as an older cursor wrote it
	old, err := json.Marshal(cur)
	require.NoError(t, err)
	sigs, _ := i.drainAt(t, "changes", old, i.clk.now())
	require.Equal(t, map[string]string{"file:" + drivesandbox.OldPitchID + ":moved_in:" + itoa(moved.UnixMilli()): "document.created"}, kindsAndKeys(sigs))
	require.Equal(t, i.clk.now(), sigs[0].OccurredAt.UTC())
	again, _ := i.drainAt(t, "changes", old, i.clk.now().Add(time.Minute))
	require.Equal(t, kindsAndKeys(sigs), kindsAndKeys(again), "read again a minute later")
}

// TestAutosavesCoalesce: Docs autosaves every few seconds; edits of one
// file within 10 minutes of the edit that opened its window are one
// document.updated, whatever the passes in between.
func TestAutosavesCoalesce(t *testing.T) {
	i := newIncremental(t, pressConfig)
	ctx := context.Background()
	var updates []connectors.Signal
	for range 20 {
		i.clk.advance(7 * time.Second)
		_, err := i.sb.EditFile(ctx, drivesandbox.TrackerID, "grace@example.com", none)
		require.NoError(t, err)
		updates = append(updates, i.sync(t)...) // a pass after each autosave
	}
	require.Len(t, updates, 1, "20 autosaves over 140 s make one Signal")
	u := updates[0]
	require.Equal(t, "document.updated", u.Kind)
	require.Equal(t, "Document edited: Coverage tracker", u.Payload.Title)
	require.Equal(t, "Grace", u.Payload.Actor.Name, "the last modifying user")

	// Past the window, the next edit is a new Signal.
	i.clk.advance(10 * time.Minute)
	_, err := i.sb.EditFile(ctx, drivesandbox.TrackerID, "", none)
	require.NoError(t, err)
	again := i.sync(t)
	require.Len(t, again, 1)
	require.NotEqual(t, u.DedupeKey, again[0].DedupeKey)

	// A backfill from scratch derives the key of the window the last edit
	// opened: nothing new to store.
	sigs, _ := i.drainAt(t, "changes", nil, i.clk.now())
	require.Contains(t, kindsAndKeys(sigs), again[0].DedupeKey)
}

func TestSharedPubliclyAndWithADomain(t *testing.T) {
	i := newIncremental(t, pressConfig)
	ctx := context.Background()
	i.clk.advance(time.Minute)
	_, err := i.sb.ShareFile(ctx, drivesandbox.TrackerID, drivesandbox.Permission{Type: "anyone", Role: "reader"}, none)
	require.NoError(t, err)
	sigs := i.sync(t)
	require.Len(t, sigs, 1)
	s := sigs[0]
	require.Equal(t, "document.shared", s.Kind)
	require.Equal(t, "Document shared publicly: Coverage tracker", s.Payload.Title)
	require.Equal(t, "anyone", s.Payload.Attributes["shared_with"])
	require.Equal(t, "reader", s.Payload.Attributes["role"])

	// Another grant to a user is not sharing out; a domain grant is; the
	// fact sheet was public before the connection and stays quiet.
	_, err = i.sb.ShareFile(ctx, drivesandbox.TrackerID, drivesandbox.Permission{Type: "user", Role: "writer", EmailAddress: "grace@example.com"}, none)
	require.NoError(t, err)
	require.Empty(t, i.sync(t))
	_, err = i.sb.ShareFile(ctx, drivesandbox.TrackerID, drivesandbox.Permission{Type: "domain", Role: "commenter", Domain: "Northwind.example"}, none)
	require.NoError(t, err)
	_, err = i.sb.RenameFile(ctx, drivesandbox.FactSheetID, "Fact sheet v2", none)
	require.NoError(t, err)
	sigs = i.sync(t)
	require.Len(t, sigs, 1)
	require.Equal(t, "Document shared with northwind.example: Coverage tracker", sigs[0].Payload.Title)
	require.Equal(t, "northwind.example", sigs[0].Payload.Attributes["domain"])
}

// Drive says who last edited a file's content (lastModifyingUser), never
// who shared it or moved it: sharing and moving leave lastModifyingUser
// alone. document.shared and a move in name no actor (the catalog: id and
// name empty when the provider does not say who caused it), not the last
// editor; an edit and a creation still name theirs.
func TestSharesAndMovesNameNoActor(t *testing.T) {
	i := newIncremental(t, pressConfig)
	ctx := context.Background()
	i.clk.advance(time.Hour)
	_, err := i.sb.EditFile(ctx, drivesandbox.BoilerplateID, "grace@example.com", none)
	require.NoError(t, err)
	_, err = i.sb.EditFile(ctx, drivesandbox.NotesID, "grace@example.com", none)
	require.NoError(t, err)
	i.clk.advance(time.Minute)
	sigs := i.sync(t)
	require.Len(t, sigs, 1)
	require.Equal(t, connectors.Actor{ID: "grace@example.com", Name: "Grace", Email: "grace@example.com"}, sigs[0].Payload.Actor, "her edit")

	// Ada, the owner, makes the boilerplate public and moves her notes in.
	i.clk.advance(time.Hour)
	_, err = i.sb.ShareFile(ctx, drivesandbox.BoilerplateID, drivesandbox.Permission{Type: "anyone", Role: "reader"}, none)
	require.NoError(t, err)
	_, err = i.sb.MoveFile(ctx, drivesandbox.NotesID, drivesandbox.PressFolderID, none)
	require.NoError(t, err)
	i.clk.advance(time.Minute)
	sigs = i.sync(t)
	got := map[string]connectors.Actor{}
	for _, s := range sigs {
		got[s.Kind] = s.Payload.Actor
	}
	require.Equal(t, map[string]connectors.Actor{"document.shared": {}, "document.created": {}}, got,
		"Grace only edited them; Drive does not say who shared or moved")
}

// document.shared is sharing beyond the organisation: a grant to the
// connected account's own domain ("anyone at example.com with the link",
// the commonest internal share) or to its Workspace's domain (the id
// token's hd) is not one, and is not announced; a grant to another domain
// still is.
func TestGrantsToTheOwnDomainAreNotShared(t *testing.T) {
	i := newIncremental(t, pressConfig)
	i.conn.Account.Metadata["hd"] = "acme.example"
	ctx := context.Background()
	i.clk.advance(time.Minute)
	_, own, _ := strings.Cut(i.sb.User(), "@")
	_, err := i.sb.ShareFile(ctx, drivesandbox.TrackerID, drivesandbox.Permission{Type: "domain", Role: "reader", Domain: strings.ToUpper(own)}, none)
	require.NoError(t, err)
	_, err = i.sb.ShareFile(ctx, drivesandbox.MediaListID, drivesandbox.Permission{Type: "domain", Role: "writer", Domain: "acme.example"}, none)
	require.NoError(t, err)
	require.Empty(t, kindsAndKeys(i.sync(t)), "%s and acme.example are the organisation's own", own)

	_, err = i.sb.ShareFile(ctx, drivesandbox.TrackerID, drivesandbox.Permission{Type: "domain", Role: "reader", Domain: "northwind.example"}, none)
	require.NoError(t, err)
	sigs := i.sync(t)
	require.Len(t, sigs, 1)
	require.Equal(t, "document.shared", sigs[0].Kind)
	require.Equal(t, "northwind.example", sigs[0].Payload.Attributes["domain"])
}

func TestTrashedAndDeleted(t *testing.T) {
	i := newIncremental(t, pressConfig)
	ctx := context.Background()
	i.clk.advance(time.Minute)
	_, err := i.sb.TrashFile(ctx, drivesandbox.MediaListID, "grace@example.com", none)
	require.NoError(t, err)
	sigs := i.sync(t)
	require.Len(t, sigs, 1)
	require.Equal(t, "document.trashed", sigs[0].Kind)
	// Grace trashed Ada's file. On My Drive Drive does not say who trashed
	// it (trashingUser is "only populated for items in shared drives"), and
	// the last modifying user, Ada, is not who caused it: no actor.
	require.Equal(t, connectors.Actor{}, sigs[0].Payload.Actor)
	require.Equal(t, true, sigs[0].Payload.Attributes["explicitly_trashed"])
	require.Equal(t, i.clk.now(), sigs[0].OccurredAt.UTC())
	_, err = i.sb.DeleteFile(ctx, drivesandbox.MediaListID, none)
	require.NoError(t, err)
	require.Empty(t, i.sync(t))
}

func TestCursorStateSurvivesStorageAndStaysBounded(t *testing.T) {
	i := newIncremental(t, pressConfig)
	var c map[string]any
	require.NoError(t, json.Unmarshal(i.cursor, &c))
	require.Equal(t, "changes", c["phase"])
	require.NotEmpty(t, c["page_token"])
	require.NotEmpty(t, c["members"])
	folders := c["folders"].(map[string]any)
	require.Contains(t, folders, drivesandbox.YearFolderID)
	require.Less(t, len(i.cursor), 4096, "a few folders and files: a small cursor")

	_, err := i.fetch(t, "changes", json.RawMessage(`{"v":9}`))
	require.ErrorIs(t, err, connectors.ErrCursorExpired, "an unknown cursor version resyncs")
	_, err = i.fetch(t, "changes", json.RawMessage(`{"v":1,"members":"!!"}`))
	require.ErrorIs(t, err, connectors.ErrCursorExpired)
	_, err = i.fetch(t, "changes", json.RawMessage(`{"v":1,"phase":"changes","page_token":"nonsense","roots":["`+drivesandbox.PressFolderID+`"]}`))
	require.ErrorIs(t, err, connectors.ErrCursorExpired, "a page token Drive refuses (400) resyncs")
	_, err = i.fetch(t, "events:primary", nil)
	require.ErrorIs(t, err, connectors.ErrInvalidConfig)
}

func TestRateLimitsAreRetried(t *testing.T) {
	i := newIncremental(t, pressConfig)
	i.sb.Base.Faults.Add(drivesandbox.RateLimitFault("userRateLimitExceeded", 1))
	_, err := i.fetch(t, "changes", i.cursor)
	require.ErrorIs(t, err, connectors.ErrRateLimited)
	d, ok := connectors.RetryAfter(err)
	require.True(t, ok)
	require.Zero(t, d, "Google sends no Retry-After with a 403: the engine backs off")
	require.Empty(t, i.sync(t), "the fault was consumed")
}

func TestStreams(t *testing.T) {
	h := newHarness(t, drivesandbox.Options{}, `{"shared_drives":["`+drivesandbox.CommsDriveID+`"]}`, nil)
	ss, err := h.prov.Connector.(connectors.Syncer).Streams(h.conn)
	require.NoError(t, err)
	require.Equal(t, []string{"drive:" + drivesandbox.CommsDriveID}, ss, "shared drives alone: no My Drive feed")
	h = newHarness(t, drivesandbox.Options{}, `{}`, nil)
	ss, err = h.prov.Connector.(connectors.Syncer).Streams(h.conn)
	require.NoError(t, err)
	require.Equal(t, []string{"changes"}, ss)
	require.True(t, slices.Equal([]string{"my-drive", "root"}, must(h.prov.Connector.(connectors.AccessProver).ResourceRefs(h.conn))))
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// A files.list page token Drive no longer accepts (400; they last "several
// hours") is discarded and the folder listed again from its first page, as
// Drive asks: the walk ends with the same Signals as without the refusal.
// It failed the stream as invalid config, for good, since every retry sent
// the same token.
func TestRefusedWalkPageTokenRestartsTheListing(t *testing.T) {
	clk := newClock()
	want, _ := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now, PageSize: 1}, pressConfig, nil).drainAt(t, "changes", nil, clk.now())
	require.NotEmpty(t, want)

	h := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now, PageSize: 1}, pressConfig, nil)
	var got []connectors.Signal
	var cursor json.RawMessage
	refused := false
	for range 1000 {
		var cur struct {
			Walk []struct {
				PageToken string `json:"page_token"`
			} `json:"walk"`
		}
		require.NoError(t, json.Unmarshal(orNull(cursor), &cur))
		if !refused && len(cur.Walk) > 0 && cur.Walk[0].PageToken != "" {
			refused = true
			h.sb.Base.Faults.Add(sandbox.Fault{Status: http.StatusBadRequest, PathPrefix: "/drive/v3/files",
				Body: `{"error":{"code":400,"message":"Invalid Value","errors":[{"domain":"global","reason":"invalid","message":"Invalid Value","locationType":"parameter","location":"pageToken"}]}}`})
		}
		p, err := h.prov.Connector.(connectors.Syncer).FetchPage(context.Background(), connectors.PageRequest{
			Connection: h.conn, Stream: "changes", Cursor: cursor, HTTP: h.client(), Now: clk.now()})
		require.NoError(t, err)
		got = append(got, p.Signals...)
		cursor = p.Next
		if p.Done {
			break
		}
	}
	require.True(t, refused, "the walk paged a folder")
	require.Equal(t, 1, h.sb.Base.Faults.Hits, "the refusal was served")
	require.Equal(t, kindsAndKeys(want), kindsAndKeys(got))
}

func orNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

// A tracked folder inside a shared drive is listed in its own drive's
// corpus, and one in My Drive in the user's: a search of allDrives may
// leave the shared drives' files out (incompleteSearch, for a user of many
// shared drives), and the walk then missed them without a word.
func TestFolderWalksSearchTheirOwnCorpus(t *testing.T) {
	clk := newClock()
	cfg := `{"folders": ["` + drivesandbox.PressFolderID + `", "` + drivesandbox.BriefsFolderID + `"]}`
	h := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now, PageSize: 2, IncompleteAllDrives: true}, cfg, nil)
	sigs, _ := h.drainAt(t, "changes", nil, clk.now())
	keys := kindsAndKeys(sigs)
	require.Equal(t, "document.created", keys["file:"+drivesandbox.EmbargoBriefID+":created"], "the shared drive's folder was listed: %v", keys)
	require.Equal(t, "document.created", keys["file:"+drivesandbox.ReleaseDocID+":created"], "and My Drive's")
}

// A walk item of a cursor written before corpora were chosen searches
// allDrives; when Drive says the search was incomplete, the folder's corpus
// is looked up and the folder listed there from its start.
func TestOldWalkItemsFindTheirCorpus(t *testing.T) {
	clk := newClock()
	cfg := `{"folders": ["` + drivesandbox.PressFolderID + `", "` + drivesandbox.BriefsFolderID + `"]}`
	h := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now, PageSize: 2, IncompleteAllDrives: true}, cfg, nil)
	p, err := h.prov.Connector.(connectors.Syncer).FetchPage(context.Background(), connectors.PageRequest{
		Connection: h.conn, Stream: "changes", HTTP: h.client(), Now: clk.now()})
	require.NoError(t, err)
	var cur map[string]any
	require.NoError(t, json.Unmarshal(p.Next, &cur))
	walk := cur["walk"].([]any)
	require.NotEmpty(t, walk)
	for _, w := range walk {
		delete(w.(map[string]any), "corpus") // as an older cursor wrote it
	}
	old, err := json.Marshal(cur)
	require.NoError(t, err)
	sigs, _ := h.drainAt(t, "changes", old, clk.now())
	require.Equal(t, "document.created", kindsAndKeys(append(p.Signals, sigs...))["file:"+drivesandbox.EmbargoBriefID+":created"])
}

// Drive keeps one change-log entry per file, at its latest change ("There
// can only be one entry per file ... it replaces the previous entry"): a
// file created since the last drain and edited again sits behind changes of
// other files made after its creation. Read on a later page of the drain,
// it is still new, at its creation: the watermark it is judged by is where
// the drain started, not the newest change of the pages before. In
// overflow mode (members incomplete) the creation is told the same way.
func TestFileCreatedSinceTheLastDrainIsNewOnAnyPage(t *testing.T) {
	for _, overflow := range []bool{false, true} {
		t.Run(map[bool]string{false: "members", true: "overflow"}[overflow], func(t *testing.T) {
			clk := newClock()
			h := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now, PageSize: 2}, pressConfig, nil)
			_, cur := h.drainAt(t, "changes", nil, clk.now())
			if overflow {
				var c map[string]any
				require.NoError(t, json.Unmarshal(cur, &c))
				c["overflow"] = true
				cur = must(json.Marshal(c))
			}

			ctx := context.Background()
			clk.advance(time.Minute)
			created := clk.now()
			f, _, err := h.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Embargo notice", Parent: drivesandbox.PressFolderID}, none)
			require.NoError(t, err)
			id := f["id"].(string)
			clk.advance(time.Minute)
			for _, other := range []string{drivesandbox.BoilerplateID, drivesandbox.NotesID} { // fill the first page
				_, err := h.sb.EditFile(ctx, other, "grace@example.com", none)
				require.NoError(t, err)
			}
			clk.advance(time.Minute)
			_, err = h.sb.EditFile(ctx, id, "", none) // an autosave: the file's entry moves behind the two
			require.NoError(t, err)
			clk.advance(time.Minute)

			h.tok = h.sb.AccessToken("")
			sigs, next := h.drainAt(t, "changes", cur, clk.now())
			var got []string
			for _, s := range sigs {
				if s.Payload.Subject.ID == id {
					got = append(got, s.Kind+" reason="+fmt.Sprint(s.Payload.Attributes["reason"])+" at="+s.OccurredAt.UTC().Format(time.RFC3339))
				}
			}
			require.Equal(t, []string{"document.created reason=new at=" + created.Format(time.RFC3339)}, got)
			var c map[string]any
			require.NoError(t, json.Unmarshal(next, &c))
			require.NotContains(t, c, "since", "at rest between drains, the watermark is seen")
		})
	}
}

// On a shared drive Drive names who trashed a file (trashingUser, "only
// populated for items in shared drives"); trashing leaves
// lastModifyingUser alone, so document.trashed names the trasher.
func TestSharedDriveTrashNamesTheTrasher(t *testing.T) {
	clk := newClock()
	h := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now}, pressConfig, nil)
	stream := "drive:" + drivesandbox.CommsDriveID
	_, cur := h.drainAt(t, stream, nil, clk.now())
	clk.advance(time.Minute)
	_, err := h.sb.TrashFile(context.Background(), drivesandbox.EmbargoBriefID, "grace@example.com", none)
	require.NoError(t, err)
	clk.advance(time.Minute)
	h.tok = h.sb.AccessToken("")
	sigs, _ := h.drainAt(t, stream, cur, clk.now())
	require.Len(t, sigs, 1)
	require.Equal(t, "document.trashed", sigs[0].Kind)
	require.Equal(t, connectors.Actor{ID: "grace@example.com", Name: "Grace", Email: "grace@example.com"}, sigs[0].Payload.Actor)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(sigs[0].Raw, &raw))
	require.Equal(t, "ada@example.com", raw["lastModifyingUser"].(map[string]any)["emailAddress"], "the last editor is not who trashed it")
}

// A folder outside the tracked set is moved in after one of its files was
// edited, and one drain reads both. The file's change comes first: placing
// it reads the folder with files.get, which tells where the folder is now
// (in Press), not where it was when the drain began. The folder's own
// change must still read as a move in, so the folder is listed and its
// other files are moved in too, whether its change is on the same page or
// a later one (the cursor keeps which folders were read live).
func TestFolderMovedInAfterAChildEditIsListed(t *testing.T) {
	for _, size := range []int{0, 1} {
		t.Run(map[int]string{0: "one page", 1: "a page a change"}[size], func(t *testing.T) {
			folderMovedInAfterAChildEdit(t, size)
		})
	}
}

func folderMovedInAfterAChildEdit(t *testing.T, pageSize int) {
	clk := newClock()
	h := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now, PageSize: pageSize}, pressConfig, nil)
	ctx := context.Background()
	folder, _, err := h.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Q3 launch", MimeType: drivesandbox.MimeFolder, Parent: "root", Age: 48 * time.Hour}, none)
	require.NoError(t, err)
	fid := folder["id"].(string)
	a, _, err := h.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Draft A", Parent: fid, Age: 48 * time.Hour}, none)
	require.NoError(t, err)
	b, _, err := h.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Draft B", Parent: fid, Age: 48 * time.Hour}, none)
	require.NoError(t, err)
	clk.advance(time.Minute)
	_, cur := h.drainAt(t, "changes", nil, clk.now())

	clk.advance(time.Hour)
	_, err = h.sb.EditFile(ctx, a["id"].(string), "", none) // finish the draft...
	require.NoError(t, err)
	clk.advance(time.Minute)
	moved := clk.now()
	_, err = h.sb.MoveFile(ctx, fid, drivesandbox.PressFolderID, none) // ...then file the folder into Press
	require.NoError(t, err)
	clk.advance(time.Minute)
	h.tok = h.sb.AccessToken("")
	sigs, cur := h.drainAt(t, "changes", cur, clk.now())
	require.Equal(t, []string{"document.created Document moved in: Draft A"}, of(sigs, a["id"].(string)))
	require.Equal(t, []string{"document.created Document moved in: Draft B"}, of(sigs, b["id"].(string)))
	require.Len(t, sigs, 2)
	for _, s := range sigs {
		if s.Payload.Subject.ID == b["id"].(string) {
			require.Equal(t, moved, s.OccurredAt.UTC(), "at the folder's move")
		}
	}
	var c struct {
		Folders map[string]map[string]any `json:"folders"`
	}
	require.NoError(t, json.Unmarshal(cur, &c))
	require.Equal(t, map[string]any{"n": "Q3 launch", "p": drivesandbox.PressFolderID}, c.Folders[fid], "read live only until the drain ends")

	// Both are members now: an edit of B is an edit.
	clk.advance(time.Hour)
	_, err = h.sb.EditFile(ctx, b["id"].(string), "", none)
	require.NoError(t, err)
	h.tok = h.sb.AccessToken("")
	sigs, _ = h.drainAt(t, "changes", cur, clk.now())
	require.Equal(t, []string{"document.updated Document edited: Draft B"}, of(sigs, b["id"].(string)))
}

// A first pass bounded by backfill_days that reads nothing (a folder with
// no file modified within the window) still rests on the change feed's
// start page token, taken before it listed anything: a file created after
// it is read by a pass that comes more than backfill_days later (a paused
// or needs_reauth connection, a worker outage).
func TestBackfillDaysQuietFolderKeepsItsMark(t *testing.T) {
	clk := newClock()
	h := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now}, `{"folders": ["`+drivesandbox.PressFolderID+`"], "backfill_days": 1}`, nil)
	sigs, cur := h.drainAt(t, "changes", nil, clk.now())
	require.Empty(t, sigs, "nothing in Press was modified within the last day")

	clk.advance(time.Hour)
	f, _, err := h.sb.CreateFile(context.Background(), drivesandbox.FileInput{Name: "Embargo notice", Parent: drivesandbox.YearFolderID}, none)
	require.NoError(t, err)
	clk.advance(3 * 24 * time.Hour) // the next pass comes 3 days later
	h.tok = h.sb.AccessToken("")
	sigs, _ = h.drainAt(t, "changes", cur, clk.now())
	require.Len(t, sigs, 1)
	require.Equal(t, "document.created", sigs[0].Kind)
	require.Equal(t, "file:"+f["id"].(string)+":created", sigs[0].DedupeKey)
}
