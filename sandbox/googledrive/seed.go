package drivesandbox

import "time"

// Seeded ids, stable across runs.
var (
	// PressFolderID is "Press" in the default user's My Drive, with the
	// subfolders Releases and Releases/2025.
	PressFolderID    = newID("1", "seed:press")
	ReleasesFolderID = newID("1", "seed:releases")
	YearFolderID     = newID("1", "seed:2025")
	// ArchiveFolderID is "Archive", outside Press.
	ArchiveFolderID = newID("1", "seed:archive")
	// CommsDriveID is the shared drive "Comms"; BriefsFolderID a folder in it.
	CommsDriveID   = newID("0A", "seed:comms")
	BriefsFolderID = newID("1", "seed:briefs")
	// Seeded files.
	ReleaseDocID   = newID("1", "seed:release-doc")
	MediaListID    = newID("1", "seed:media-list")
	BoilerplateID  = newID("1", "seed:boilerplate")
	TrackerID      = newID("1", "seed:tracker")
	LogoID         = newID("1", "seed:logo")
	FactSheetID    = newID("1", "seed:fact-sheet")
	NotesID        = newID("1", "seed:notes")
	OldPitchID     = newID("1", "seed:old-pitch")
	EmbargoBriefID = newID("1", "seed:embargo-brief")
	CommsPlanID    = newID("1", "seed:comms-plan")
)

// Signals a full backfill (30 days) of the seeded history yields, per
// stream of a connection tracking Press, and the Comms shared drive.
const (
	// PressSignals: the release (created and edited), the media list
	// (created), the tracker (edited), the logo (created), the fact sheet
	// (created; it is public, which a backfill does not announce).
	PressSignals = 6
	// CommsSignals: the embargo brief (created and edited).
	CommsSignals = 2
	// MyDriveSignals: Press's six plus the notes at the top of My Drive
	// (created); the archived pitch is older than the window.
	MyDriveSignals = 7
)

// seed creates the default user's folders and files and the shared drive,
// dated relative to now.
func (s *Server) seed() {
	day := 24 * time.Hour
	user := s.opts.User
	s.AddDrive(CommsDriveID, "Comms", user)
	s.mu.Lock()
	defer s.mu.Unlock()
	mk := func(id, name, mime, parent string, created, modified time.Duration, size int64) *dfile {
		f, err := s.createLocked(FileInput{ID: id, Name: name, MimeType: mime, Parent: parent, Size: size, Age: created})
		if err != nil {
			panic("drivesandbox: seed: " + err.Error())
		}
		f.modified = s.now().Add(-modified)
		return f
	}
	root := s.ensureRootLocked(user).id
	mk(PressFolderID, "Press", MimeFolder, root, 200*day, 200*day, 0)
	mk(ReleasesFolderID, "Releases", MimeFolder, PressFolderID, 150*day, 150*day, 0)
	mk(YearFolderID, "2025", MimeFolder, ReleasesFolderID, 100*day, 100*day, 0)
	mk(ArchiveFolderID, "Archive", MimeFolder, root, 300*day, 300*day, 0)
	mk(ReleaseDocID, "Q3 launch press release", MimeDoc, YearFolderID, 3*day, 2*day, 4096)
	mk(MediaListID, "Media list", MimeSheet, PressFolderID, 10*day, 10*day-30*time.Second, 8192)
	mk(BoilerplateID, "Company boilerplate", MimeDoc, PressFolderID, 90*day, 60*day, 2048)
	mk(TrackerID, "Coverage tracker", MimeSheet, ReleasesFolderID, 60*day, 5*day, 16384)
	mk(LogoID, "logo.png", "image/png", ReleasesFolderID, day, day, 48213)
	fact := mk(FactSheetID, "Fact sheet", MimeDoc, PressFolderID, 4*day, 4*day, 3072)
	fact.perms = append(fact.perms, Permission{ID: "anyoneWithLink", Type: "anyone", Role: "reader"})
	mk(NotesID, "Personal notes", MimeDoc, root, 2*day, 2*day, 1024)
	mk(OldPitchID, "2023 pitch", MimeDoc, ArchiveFolderID, 400*day, 400*day, 1024)
	mk(BriefsFolderID, "Briefs", MimeFolder, CommsDriveID, 50*day, 50*day, 0)
	mk(EmbargoBriefID, "Embargo brief", MimeDoc, BriefsFolderID, 6*day, day, 5120)
	mk(CommsPlanID, "Comms plan", MimeSheet, CommsDriveID, 40*day, 40*day, 9000)
	for _, f := range s.files {
		if f.modifier == "" && f.parent != "" {
			f.modifier = user
		}
	}
}
