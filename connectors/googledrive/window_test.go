package googledrive_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	drivesandbox "github.com/poblysh/poblysh/sandbox/googledrive"
)

// told lists "kind key occurred" of the Signals about one file, in order.
func told(sigs []connectors.Signal, id string) []string {
	var out []string
	for _, s := range sigs {
		if s.Payload.Subject.ID == id {
			out = append(out, fmt.Sprintf("%s %s %s", s.Kind, s.DedupeKey, s.OccurredAt.UTC().Format(time.TimeOnly)))
		}
	}
	return out
}

// A new file's edit window opens at its creation, whichever path first
// reads it: the change feed (Drive keeps one entry per file, so the first
// read may come long after the creation), a backfill, or a walk that
// started before the file was created. Typing within 10 minutes of the
// creation belongs to document.created; an edit 10 minutes or more after
// it is document.updated and opens its own window. Every path tells the
// same Drive state the same way, and the autosaves the feed reads next
// fall in the same windows.
func TestNewFileEditWindowOpensAtCreation(t *testing.T) {
	type signal struct {
		kind string
		at   time.Duration // after the creation
	}
	for _, tc := range []struct {
		name  string
		edits []time.Duration // after the creation, each read a minute later
		want  []signal
	}{{
		name:  "typed for 4 minutes",
		edits: []time.Duration{4 * time.Minute, 9 * time.Minute, 12 * time.Minute},
		want:  []signal{{"document.created", 0}, {"document.updated", 12 * time.Minute}},
	}, {
		name:  "typed for an hour before the first read",
		edits: []time.Duration{time.Hour, time.Hour + 5*time.Minute, time.Hour + 12*time.Minute},
		want:  []signal{{"document.created", 0}, {"document.updated", time.Hour}, {"document.updated", time.Hour + 12*time.Minute}},
	}, {
		name:  "edited exactly 10 minutes after",
		edits: []time.Duration{10 * time.Minute, 19 * time.Minute},
		want:  []signal{{"document.created", 0}, {"document.updated", 10 * time.Minute}},
	}} {
		for _, path := range []string{"change feed", "backfill", "walk"} {
			t.Run(tc.name+"/"+path, func(t *testing.T) {
				clk := newClock()
				h := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now}, pressConfig, nil)
				var cursor json.RawMessage
				switch path {
				case "change feed":
					_, cursor = h.drainAt(t, "changes", nil, clk.now())
				case "walk":
					cursor = h.page(t, "changes", nil, clk.now()).Next // the start page token taken, Press still to list
				}
				clk.advance(time.Minute)
				created := clk.now()
				ctx := context.Background()
				f, _, err := h.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Embargo notice", Parent: drivesandbox.PressFolderID}, none)
				require.NoError(t, err)
				id := f["id"].(string)

				var sigs []connectors.Signal
				for _, at := range tc.edits {
					clk.advance(created.Add(at).Sub(clk.now()))
					_, err := h.sb.EditFile(ctx, id, "", none)
					require.NoError(t, err)
					clk.advance(time.Minute)
					h.tok = h.sb.AccessToken("")
					var more []connectors.Signal
					more, cursor = h.drainAt(t, "changes", cursor, clk.now()) // the first read is the path's
					sigs = append(sigs, more...)
				}
				var want []string
				for _, w := range tc.want {
					key := "file:" + id + ":created"
					if w.kind == "document.updated" {
						key = "file:" + id + ":updated:" + itoa(bucket(created.Add(w.at)))
					}
					want = append(want, fmt.Sprintf("%s %s %s", w.kind, key, created.Add(w.at).Format(time.TimeOnly)))
				}
				require.Equal(t, want, told(sigs, id))
			})
		}
	}
}

// An edit a backfill tells opens the file's window, as one the change feed
// tells does: an autosave 4 minutes later (across a 10-minute bucket
// boundary) makes no second document.updated. The backfill's older edits
// (days ago) keep no window in the cursor: they hold no later edit.
func TestBackfilledEditOpensItsWindow(t *testing.T) {
	clk := newClock() // 09:01
	h := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now}, pressConfig, nil)
	ctx := context.Background()
	clk.advance(7 * time.Minute) // 09:08
	edited := clk.now()
	_, err := h.sb.EditFile(ctx, drivesandbox.TrackerID, "", none)
	require.NoError(t, err)
	sigs, cursor := h.drainAt(t, "changes", nil, clk.now())
	require.Equal(t, []string{"document.updated file:" + drivesandbox.TrackerID + ":updated:" + itoa(bucket(edited)) + " 09:08:00"},
		told(sigs, drivesandbox.TrackerID), "a 60-day-old file edited just before the backfill")
	require.Contains(t, kindsAndKeys(sigs), "file:"+drivesandbox.ReleaseDocID+":updated:"+itoa(bucket(clk.now().Add(-48*time.Hour))))
	backfilled := cursor

	clk.advance(4 * time.Minute) // 09:12, 4 minutes after the edit told
	_, err = h.sb.EditFile(ctx, drivesandbox.TrackerID, "", none)
	require.NoError(t, err)
	h.tok = h.sb.AccessToken("")
	more, cursor := h.drainAt(t, "changes", cursor, clk.now())
	require.Empty(t, told(more, drivesandbox.TrackerID), "an autosave 4 minutes after the edit the backfill told")
	var cur struct {
		Edits map[string]int64 `json:"edits"`
	}
	require.NoError(t, json.Unmarshal(backfilled, &cur))
	require.Equal(t, map[string]int64{drivesandbox.TrackerID: edited.UnixMilli()}, cur.Edits,
		"the windows of the edits told: the release's, two days old, holds nothing")

	clk.advance(7 * time.Minute) // 09:19: 11 minutes after it
	_, err = h.sb.EditFile(ctx, drivesandbox.TrackerID, "", none)
	require.NoError(t, err)
	more, _ = h.drainAt(t, "changes", cursor, clk.now())
	require.Equal(t, []string{"document.updated file:" + drivesandbox.TrackerID + ":updated:" + itoa(bucket(clk.now())) + " 09:19:00"},
		told(more, drivesandbox.TrackerID), "past the window, an edit opens the next")
}
