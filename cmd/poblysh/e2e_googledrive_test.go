package main

import (
	"context"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/sandbox"
	drivesandbox "github.com/poblysh/poblysh/sandbox/googledrive"
	"github.com/poblysh/poblysh/workflows"
)

// Google Drive's row: connect (drive.metadata.readonly), backfill a tracked
// folder with its subfolders and a shared drive exactly in short pages, open
// a changes.watch channel per feed, and turn bodiless notifications into
// incremental syncs: a file created three folders down, a file moved in,
// twenty autosaves that make one Signal, a file shared publicly. A change
// whose notification is held is found by the incremental sync; then the
// renewal sweep replaces the channels (new first, then the old ones stopped
// at Google) and the new channels deliver.
func init() {
	drive := func(r *providerRun) *drivesandbox.Server { return r.fake.(*drivesandbox.Server) }
	streams := []string{"changes", "drive:" + drivesandbox.CommsDriveID}
	none := sandbox.DeliveryOptions{}
	// The autosaves must fall in one 10-minute window of the fake's clock
	// for the second backfill to derive the key the live edit got: start
	// the fake's clock a few seconds into a window.
	shift := time.Until(time.Now().Truncate(10 * time.Minute).Add(5 * time.Second))
	addProviderCase(providerCase{
		provider: "google-drive",
		fake:     sandbox.Options{Faults: []string{drivesandbox.FaultShortPages}, Now: func() time.Time { return time.Now().Add(shift) }},
		config:   map[string]any{"folders": []string{drivesandbox.PressFolderID}, "shared_drives": []string{drivesandbox.CommsDriveID}},
		streams:  2, // the user's change feed and the shared drive's
		backfill: drivesandbox.PressSignals + drivesandbox.CommsSignals,
		watches:  2, // a channel per feed
		live: func(r *providerRun) {
			ctx, t := context.Background(), r.t
			// A file created three folders down.
			f, _, err := drive(r).CreateFile(ctx, drivesandbox.FileInput{Name: "Embargo notice", Parent: drivesandbox.YearFolderID}, none)
			require.NoError(t, err)
			s := r.arrive(1)[0]
			require.Equal(t, "document.created", *s.Kind)
			require.Equal(t, f["id"], *s.Payload.Subject.ID)
			require.Equal(t, []any{"Press", "Releases", "2025"}, attrs(s)["folder_path"])
			// A file moved in from outside the tracked folder.
			_, err = drive(r).MoveFile(ctx, drivesandbox.NotesID, drivesandbox.ReleasesFolderID, none)
			require.NoError(t, err)
			require.Equal(t, "moved_in", attrs(r.arrive(1)[0])["reason"])
			// Twenty autosaves, each notified: one Signal.
			for range 20 {
				_, err := drive(r).EditFile(ctx, drivesandbox.TrackerID, "grace@example.com", none)
				require.NoError(t, err)
				time.Sleep(50 * time.Millisecond)
			}
			s = r.arrive(1)[0]
			require.Equal(t, "document.updated", *s.Kind)
			require.Equal(t, "Grace", *s.Payload.Actor.Name)
			r.idle(streams...)
			require.Equal(t, r.total, r.s.count(`SELECT count(*) FROM signals`), "twenty autosaves, one Signal")
			// Shared publicly.
			_, err = drive(r).ShareFile(ctx, drivesandbox.TrackerID, drivesandbox.Permission{Type: "anyone", Role: "reader"}, none)
			require.NoError(t, err)
			s = r.arrive(1)[0]
			require.Equal(t, "document.shared", *s.Kind)
			require.Equal(t, "anyone", attrs(s)["shared_with"])
		},
		missed: func(r *providerRun) int {
			r.idle(streams...)
			_, _, err := drive(r).CreateFile(context.Background(), drivesandbox.FileInput{Name: "Brief for Thursday", Parent: drivesandbox.BriefsFolderID},
				sandbox.DeliveryOptions{Hold: true})
			require.NoError(r.t, err)
			return 1
		},
		after: func(r *providerRun) {
			t := r.t
			// Renewal: age the channels into their last day; the sweep opens
			// new channels, then stops the old ones at Google.
			old := map[string]bool{}
			for _, w := range r.s.connection(r.key, r.id).Watches {
				old[*w.ChannelID] = true
			}
			r.s.exec(`UPDATE watch_channels SET created_at = now() - interval '7 days', expires_at = now() + interval '1 hour' WHERE stopped_at IS NULL`)
			r.s.trigger(workflows.RenewalScheduleID(r.s.taskQueue))
			eventually(t, 60*time.Second, "both channels replaced", func() bool {
				w := r.s.connection(r.key, r.id).Watches
				return len(w) == 2 && !old[*w[0].ChannelID] && !old[*w[1].ChannelID]
			})
			live := 0
			for _, ch := range drive(r).Channels() {
				if old[ch.ID] {
					require.True(t, ch.Stopped, "the old channel was stopped at Google")
				} else if ch.Live {
					live++
				}
			}
			require.Equal(t, 2, live)
			// The pass rewrites the routes after it stopped the old channels:
			// wait for it to finish before a change on the new ones.
			r.s.waitJobs(r.key, r.id, "watch_renewal", 2, 60*time.Second)
			_, _, err := drive(r).CreateFile(context.Background(), drivesandbox.FileInput{Name: "After renewal", Parent: drivesandbox.PressFolderID}, none)
			require.NoError(t, err)
			r.arrive(1) // the new channel delivers
		},
	})
}
