package googledrive_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	drivesandbox "github.com/poblysh/poblysh/sandbox/googledrive"
)

// page reads one page of a stream with the engine's clock at now.
func (h *harness) page(t *testing.T, stream string, cursor json.RawMessage, now time.Time) *connectors.Page {
	t.Helper()
	p, err := h.prov.Connector.(connectors.Syncer).FetchPage(context.Background(), connectors.PageRequest{
		Connection: h.conn, Stream: stream, Cursor: cursor, HTTP: h.client(), Now: now,
	})
	require.NoError(t, err)
	return p
}

// of lists "kind title" of the Signals about one file, in order.
func of(sigs []connectors.Signal, id string) []string {
	var out []string
	for _, s := range sigs {
		if s.Payload.Subject.ID == id {
			out = append(out, s.Kind+" "+s.Payload.Title)
		}
	}
	return out
}

// The first listing of a folder takes several pages, and an edit between
// them must not move a file out of the part still to be read: the walk
// lists in createdTime order, which edits leave alone. Listed by
// modifiedTime, an edited file jumped to the front (read already), was
// never listed, and its edit then read as a move in.
func TestEditsDuringTheWalkAreEdits(t *testing.T) {
	clk := newClock()
	h := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now, PageSize: 2}, pressConfig, nil)
	p := h.page(t, "changes", nil, clk.now()) // the start page token, the roots
	p = h.page(t, "changes", p.Next, clk.now())
	require.NotEmpty(t, p.Items, "Press's first page")
	sigs := p.Signals

	clk.advance(time.Minute)
	ctx := context.Background()
	for _, id := range []string{drivesandbox.BoilerplateID, drivesandbox.FactSheetID} {
		_, err := h.sb.EditFile(ctx, id, "grace@example.com", none)
		require.NoError(t, err)
	}
	clk.advance(time.Minute)
	rest, _ := h.drainAt(t, "changes", p.Next, clk.now())
	sigs = append(sigs, rest...)
	require.Equal(t, []string{"document.updated Document edited: Company boilerplate"}, of(sigs, drivesandbox.BoilerplateID),
		"a 90-day-old file edited during the walk")
	require.Equal(t, []string{"document.created Document created: Fact sheet", "document.updated Document edited: Fact sheet"},
		of(sigs, drivesandbox.FactSheetID), "created within the backfill window, then edited during the walk")
}

// A file created while the walk runs is listed by it (createdTime order
// puts it last) and is created once; its first minutes of typing belong to
// its creation, as for a file the change feed brings.
func TestFileCreatedDuringTheWalkIsCreatedOnce(t *testing.T) {
	clk := newClock()
	h := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now, PageSize: 2}, pressConfig, nil)
	p := h.page(t, "changes", nil, clk.now())
	p = h.page(t, "changes", p.Next, clk.now())

	clk.advance(time.Minute)
	created := clk.now()
	ctx := context.Background()
	f, _, err := h.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Embargo notice", Parent: drivesandbox.PressFolderID}, none)
	require.NoError(t, err)
	id := f["id"].(string)
	clk.advance(2 * time.Minute)
	_, err = h.sb.EditFile(ctx, id, "", none)
	require.NoError(t, err)
	sigs, cur := h.drainAt(t, "changes", p.Next, clk.now())

	clk.advance(3 * time.Minute)
	_, err = h.sb.EditFile(ctx, id, "", none)
	require.NoError(t, err)
	h.tok = h.sb.AccessToken("")
	more, _ := h.drainAt(t, "changes", cur, clk.now())
	sigs = append(sigs, more...)
	require.Equal(t, []string{"document.created Document created: Embargo notice"}, of(sigs, id))
	for _, s := range sigs {
		if s.Payload.Subject.ID == id {
			require.Equal(t, "new", s.Payload.Attributes["reason"])
			require.Equal(t, created, s.OccurredAt.UTC())
		}
	}
}

// A tracked file trashed after the stream took its start page token, before
// the walk reached its folder, is not listed (the walk lists trashed =
// false) and its change then names a file the stream never saw: it is
// document.trashed, since it was in the tracked folders when the stream
// started. A file created and trashed meanwhile was never announced and
// stays silent.
func TestTrashDuringTheWalkIsTrashed(t *testing.T) {
	for _, tc := range []struct {
		name string
		old  bool // the cursor as the code before the stream's start was kept wrote it
	}{{name: "cursor"}, {name: "older cursor mid-walk", old: true}} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			h := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now, PageSize: 2}, pressConfig, nil)
			p := h.page(t, "changes", nil, clk.now()) // start page token taken, Press to list
			next := p.Next
			if tc.old {
				var cur map[string]any
				require.NoError(t, json.Unmarshal(next, &cur))
				require.Equal(t, "walk", cur["phase"])
				delete(cur, "started")
				next = must(json.Marshal(cur))
			}

			clk.advance(time.Minute)
			trashed := clk.now()
			ctx := context.Background()
			_, err := h.sb.TrashFile(ctx, drivesandbox.LogoID, "", none) // in Press/Releases
			require.NoError(t, err)
			f, _, err := h.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Scratch", Parent: drivesandbox.ReleasesFolderID}, none)
			require.NoError(t, err)
			_, err = h.sb.TrashFile(ctx, f["id"].(string), "", none)
			require.NoError(t, err)

			clk.advance(time.Minute)
			sigs, cur := h.drainAt(t, "changes", next, clk.now())
			require.Equal(t, []string{"document.trashed Document trashed: logo.png"}, of(sigs, drivesandbox.LogoID))
			for _, s := range sigs {
				if s.Kind == "document.trashed" {
					require.Equal(t, trashed, s.OccurredAt.UTC())
					require.Equal(t, []string{"Press", "Releases"}, s.Payload.Attributes["folder_path"])
				}
			}
			require.Empty(t, of(sigs, f["id"].(string)), "created and trashed before anyone saw it")
			require.NotContains(t, string(cur), `"started"`, "the stream's start is dropped once the feed has been read past the walk")

			clk.advance(time.Hour)
			h.tok = h.sb.AccessToken("")
			_, err = h.sb.RenameFile(ctx, drivesandbox.LogoID, "logo-old.png", none)
			require.NoError(t, err)
			again, _ := h.drainAt(t, "changes", cur, clk.now())
			require.Empty(t, again, "trashed once")
		})
	}
}

// On a shared drive the trash time is the file's own trashedTime: a file
// in the trash before the stream started that changes while the walk runs
// was not trashed then.
func TestTrashDuringTheWalkOfASharedDrive(t *testing.T) {
	clk := newClock()
	h := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now}, pressConfig, nil)
	ctx := context.Background()
	_, err := h.sb.TrashFile(ctx, drivesandbox.CommsPlanID, "", none)
	require.NoError(t, err)
	clk.advance(time.Minute)
	stream := "drive:" + drivesandbox.CommsDriveID
	p := h.page(t, stream, nil, clk.now())
	clk.advance(time.Minute)
	trashed := clk.now()
	_, err = h.sb.TrashFile(ctx, drivesandbox.EmbargoBriefID, "", none)
	require.NoError(t, err)
	_, err = h.sb.RenameFile(ctx, drivesandbox.CommsPlanID, "Comms plan (old)", none)
	require.NoError(t, err)
	clk.advance(time.Minute)
	sigs, _ := h.drainAt(t, stream, p.Next, clk.now())
	require.Equal(t, []string{"document.trashed Document trashed: Embargo brief"}, of(sigs, drivesandbox.EmbargoBriefID))
	require.Len(t, sigs, 1, "the brief was not listed: it was in the trash")
	require.Equal(t, trashed, sigs[0].OccurredAt.UTC())
	require.Equal(t, "file:"+drivesandbox.EmbargoBriefID+":trashed:"+itoa(trashed.UnixMilli()), sigs[0].DedupeKey)
}
