package googledrive_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	drivesandbox "github.com/poblysh/poblysh/sandbox/googledrive"
)

// A folder created inside Press (never outside) since the last drain, a
// file X in it, a file Y in it, then the folder renamed, then Y edited; the
// drain reads X, the folder, Y. X's placement reads the folder live, so the
// folder's rename is walked as a move in: Y, created since the watermark,
// is new at its creation, not "moved in" at the rename.
func TestLiveFolderRenamedKeepsItsNewFilesNew(t *testing.T) {
	clk := newClock()
	h := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now, PageSize: 1}, pressConfig, nil)
	ctx := context.Background()
	clk.advance(time.Minute)
	_, cur := h.drainAt(t, "changes", nil, clk.now())

	clk.advance(time.Hour)
	folder, _, err := h.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Q3", MimeType: drivesandbox.MimeFolder, Parent: drivesandbox.PressFolderID}, none)
	require.NoError(t, err)
	fid := folder["id"].(string)
	clk.advance(time.Minute)
	_, _, err = h.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "X", Parent: fid}, none)
	require.NoError(t, err)
	clk.advance(time.Minute)
	y, _, err := h.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Y", Parent: fid}, none)
	require.NoError(t, err)
	yCreated := clk.now()
	clk.advance(time.Minute)
	_, err = h.sb.RenameFile(ctx, fid, "Q3 launch", none)
	require.NoError(t, err)
	clk.advance(time.Minute)
	_, err = h.sb.EditFile(ctx, y["id"].(string), "", none)
	require.NoError(t, err)
	clk.advance(time.Minute)
	h.tok = h.sb.AccessToken("")
	sigs, _ := h.drainAt(t, "changes", cur, clk.now())
	created := 0
	for _, s := range sigs {
		if s.Payload.Subject.ID == y["id"].(string) && s.Kind == "document.created" {
			require.Equal(t, "new", s.Payload.Attributes["reason"], "Y was created in a folder that was always tracked")
			require.Equal(t, yCreated, s.OccurredAt.UTC())
			created++
		}
	}
	require.Equal(t, 1, created, "Y is created once: %v", of(sigs, y["id"].(string)))
}
