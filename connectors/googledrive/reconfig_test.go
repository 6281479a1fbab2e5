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
