package googledrive_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	drivesandbox "github.com/poblysh/poblysh/sandbox/googledrive"
)

// Shortcuts are "files that link to other files or folders on Google
// Drive" (Create a shortcut to a Drive file): no document of their own,
// and not followed. A shortcut to a folder outside the tracked folders, or
// to a tracked document, put in a tracked folder makes no Signal, whether
// the change feed or a backfill reads it, and whatever happens to it; the
// target is told where it lives, as it was without the shortcut.
func TestShortcutsAreNotDocuments(t *testing.T) {
	shortcuts := func(t *testing.T, sb *drivesandbox.Server) []string {
		t.Helper()
		ctx := context.Background()
		var ids []string
		for _, target := range []string{drivesandbox.ArchiveFolderID, drivesandbox.ReleaseDocID, drivesandbox.NotesID} {
			f, _, err := sb.CreateFile(ctx, drivesandbox.FileInput{MimeType: drivesandbox.MimeShortcut, Target: target,
				Parent: drivesandbox.PressFolderID}, none)
			require.NoError(t, err)
			ids = append(ids, f["id"].(string))
		}
		return ids
	}

	t.Run("change feed", func(t *testing.T) {
		i := newIncremental(t, pressConfig)
		ctx := context.Background()
		i.clk.advance(time.Minute)
		ids := shortcuts(t, i.sb)
		sigs := i.sync(t)
		require.Empty(t, kindsAndKeys(sigs), "a shortcut to the Archive folder, to the release (tracked) and to the notes (not tracked)")

		// Renamed, moved, trashed: nothing. The release it links to is
		// still tracked: its edit is told, once, under its own id.
		i.clk.advance(time.Hour)
		_, err := i.sb.RenameFile(ctx, ids[0], "Archive (old)", none)
		require.NoError(t, err)
		_, err = i.sb.MoveFile(ctx, ids[1], drivesandbox.YearFolderID, none)
		require.NoError(t, err)
		_, err = i.sb.TrashFile(ctx, ids[2], "", none)
		require.NoError(t, err)
		_, err = i.sb.EditFile(ctx, drivesandbox.ReleaseDocID, "", none)
		require.NoError(t, err)
		sigs = i.sync(t)
		require.Equal(t, map[string]string{"file:" + drivesandbox.ReleaseDocID + ":updated:" + itoa(bucket(i.clk.now())): "document.updated"},
			kindsAndKeys(sigs))

		// Deleted for good, the shortcut takes nothing of its target along.
		i.clk.advance(time.Hour)
		_, err = i.sb.DeleteFile(ctx, ids[1], none)
		require.NoError(t, err)
		require.Empty(t, i.sync(t))
		i.clk.advance(time.Hour)
		_, err = i.sb.EditFile(ctx, drivesandbox.ReleaseDocID, "", none)
		require.NoError(t, err)
		require.Equal(t, []string{"document.updated Document edited: Q3 launch press release"}, of(i.sync(t), drivesandbox.ReleaseDocID),
			"an edit, not a creation: still a member")
	})

	t.Run("backfill", func(t *testing.T) {
		clk := newClock()
		plain := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now}, pressConfig, nil)
		want, _ := plain.drainAt(t, "changes", nil, clk.now())
		h := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now}, pressConfig, nil)
		ids := shortcuts(t, h.sb)
		sigs, _ := h.drainAt(t, "changes", nil, clk.now())
		for _, id := range ids {
			require.Empty(t, of(sigs, id))
		}
		require.Equal(t, kindsAndKeys(want), kindsAndKeys(sigs), "the Archive's files are not listed: the shortcut is not followed")
	})
}
