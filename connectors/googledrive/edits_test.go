package googledrive

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// modifiedTime is writable: Drive for desktop, rclone and the API keep a
// file's own modification time on upload, so a file uploaded within the
// backfill window may carry an older modifiedTime. The backfill makes
// document.created for files created within backfill_days, whatever their
// modifiedTime, and no document.updated for a file modified before it was
// created.
func TestBackfillCreatedIgnoresModifiedTime(t *testing.T) {
	now := time.Date(2025, 6, 5, 10, 0, 0, 0, time.UTC)
	p := sharesPass(t, nil)
	p.now, p.cur.Phase, p.cur.Cutoff = now, phaseWalk, now.AddDate(0, 0, -30).Unix()
	f := file{ID: "upload", Name: "2019 annual report.pdf", MimeType: "application/pdf", Parents: []string{"kit"},
		CreatedTime: now.Add(-48 * time.Hour).Format(time.RFC3339), ModifiedTime: now.AddDate(-2, 0, 0).Format(time.RFC3339)}
	raw, _ := json.Marshal(f)
	require.NoError(t, p.listed(&f, raw, walkItem{Folder: "kit"}))
	require.Len(t, p.page.Signals, 1)
	s := p.page.Signals[0]
	require.Equal(t, []any{KindCreated, "file:upload:created", now.Add(-48 * time.Hour)}, []any{s.Kind, s.DedupeKey, s.OccurredAt})

	// Modified within the window, created before it: updated only.
	old := kitFile("deck", now.Add(-24*time.Hour))
	old.CreatedTime = now.AddDate(0, 0, -90).Format(time.RFC3339)
	raw, _ = json.Marshal(old)
	p.page.Signals = nil
	require.NoError(t, p.listed(&old, raw, walkItem{Folder: "kit"}))
	require.Equal(t, map[string]int{KindUpdated: 1}, kindsOf(p.page.Signals))
}

// A new revision uploaded with its (older) local modification time moves
// modifiedTime backwards: an edit all the same, at that modifiedTime. A
// change that leaves modifiedTime alone (a rename, a share) is none.
func TestRevisionWithAnOlderModifiedTimeIsAnEdit(t *testing.T) {
	now := time.Date(2025, 6, 5, 10, 0, 0, 0, time.UTC)
	p := sharesPass(t, nil)
	p.now = now
	p.list(t, kitFile("deck", now.Add(-24*time.Hour)))
	p.page.Signals = nil

	same := kitFile("deck", now.Add(-24*time.Hour))
	same.Name, same.Version = "deck (final).jpg", "8"
	raw, _ := json.Marshal(same)
	require.NoError(t, p.fileChanged(&same, raw, now))
	require.Empty(t, p.page.Signals, "renamed: metadata only")

	rev := kitFile("deck", now.Add(-36*time.Hour))
	rev.Version = "9"
	raw, _ = json.Marshal(rev)
	require.NoError(t, p.fileChanged(&rev, raw, now))
	require.Len(t, p.page.Signals, 1)
	s := p.page.Signals[0]
	require.Equal(t, []any{KindUpdated, updateKey("deck", now.Add(-36*time.Hour)), now.Add(-36 * time.Hour)}, []any{s.Kind, s.DedupeKey, s.OccurredAt})

	// Read again (a retried page), it is the same state: no second edit.
	require.NoError(t, p.fileChanged(&rev, raw, now))
	require.Len(t, p.page.Signals, 1)
}

// A modifiedTime before 1970 (it is writable) is remembered as 0: read
// again unchanged, it is no edit; a change without modifiedTime is none
// either.
func TestUnusualModifiedTimesMakeNoFalseEdits(t *testing.T) {
	now := time.Date(2025, 6, 5, 10, 0, 0, 0, time.UTC)
	p := sharesPass(t, nil)
	p.now = now
	old := kitFile("scan", time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC))
	p.list(t, old)
	p.page.Signals = nil
	raw, _ := json.Marshal(old)
	require.NoError(t, p.fileChanged(&old, raw, now))
	none := kitFile("scan", now)
	none.ModifiedTime = ""
	raw, _ = json.Marshal(none)
	require.NoError(t, p.fileChanged(&none, raw, now))
	require.Empty(t, p.page.Signals)
}
