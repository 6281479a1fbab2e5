package drivesandbox_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/sandbox"
	drivesandbox "github.com/poblysh/poblysh/sandbox/googledrive"
)

type fixture struct {
	sb  *drivesandbox.Server
	url string
	tok string
}

func setup(t *testing.T) *fixture {
	sb := drivesandbox.New(drivesandbox.Options{Seed: true})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	return &fixture{sb: sb, url: srv.URL, tok: sb.AccessToken("")}
}

func (f *fixture) get(t *testing.T, path string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.url+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+f.tok)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// TestChangeFeed: page tokens are positions in the change log; a file
// changed several times is listed once, with its latest state; a token the
// fake never issued is 400; the last page carries newStartPageToken.
func TestChangeFeed(t *testing.T) {
	f := setup(t)
	_, st := f.get(t, "/drive/v3/changes/startPageToken")
	start := st["startPageToken"].(string)
	ctx := context.Background()
	file, _, err := f.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Draft", Parent: drivesandbox.PressFolderID}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	for range 3 {
		_, err := f.sb.EditFile(ctx, file["id"].(string), "", sandbox.DeliveryOptions{})
		require.NoError(t, err)
	}
	_, err = f.sb.RenameFile(ctx, drivesandbox.TrackerID, "Tracker", sandbox.DeliveryOptions{})
	require.NoError(t, err)
	code, page := f.get(t, "/drive/v3/changes?pageSize=1&pageToken="+start)
	require.Equal(t, http.StatusOK, code)
	changes := page["changes"].([]any)
	require.Len(t, changes, 1)
	require.Equal(t, file["id"], changes[0].(map[string]any)["fileId"])
	require.NotEmpty(t, page["nextPageToken"])
	require.Nil(t, page["newStartPageToken"])
	_, page = f.get(t, "/drive/v3/changes?pageSize=10&pageToken="+page["nextPageToken"].(string))
	require.Len(t, page["changes"].([]any), 1, "the rename")
	require.NotEmpty(t, page["newStartPageToken"])
	code, _ = f.get(t, "/drive/v3/changes?pageToken=abc")
	require.Equal(t, http.StatusBadRequest, code)
	code, _ = f.get(t, "/drive/v3/changes?pageToken="+start+"&driveId="+drivesandbox.CommsDriveID)
	require.Equal(t, http.StatusForbidden, code, "driveId needs supportsAllDrives=true")
	code, _ = f.get(t, "/drive/v3/changes?pageToken="+start+"&driveId="+drivesandbox.CommsDriveID+"&supportsAllDrives=true")
	require.Equal(t, http.StatusOK, code)
}

// TestSharedDriveChangesAreInTheDriveLog: "Each shared drive has its own
// change log", and "certain changes are only reflected in the shared drive
// change log and never in the user's change log". The fake logs every
// change of a shared drive item in the drive's log only, so a client that
// reads a shared drive folder from the user's log misses its changes, as
// it may with Drive.
func TestSharedDriveChangesAreInTheDriveLog(t *testing.T) {
	f := setup(t)
	_, st := f.get(t, "/drive/v3/changes/startPageToken")
	start := st["startPageToken"].(string)
	brief, _, err := f.sb.CreateFile(context.Background(), drivesandbox.FileInput{Name: "Q&A", Parent: drivesandbox.BriefsFolderID}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	ids := func(page map[string]any) []any {
		var out []any
		for _, c := range page["changes"].([]any) {
			out = append(out, c.(map[string]any)["fileId"])
		}
		return out
	}
	code, user := f.get(t, "/drive/v3/changes?pageToken="+start+"&includeItemsFromAllDrives=true&supportsAllDrives=true")
	require.Equal(t, http.StatusOK, code)
	require.Empty(t, ids(user), "the user's log, even with includeItemsFromAllDrives")
	code, drive := f.get(t, "/drive/v3/changes?pageToken="+start+"&driveId="+drivesandbox.CommsDriveID+"&includeItemsFromAllDrives=true&supportsAllDrives=true")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []any{brief["id"]}, ids(drive), "the drive's log")
}

// TestNonMemberOfASharedDrive: a user given a folder on a shared drive
// without being a member reads the folder and what is in it, finds it with
// corpora=user ("files owned by or shared to the user") and its changes in
// the user's own log ("If a non-member is granted file access to individual
// items in a shared drive, changes to those items are tracked in the user
// change log"), but not the drive itself: corpora=drive answers 403
// teamDriveMembershipRequired ("a user attempts to access a shared drive in
// which they're not a member", Resolve errors).
func TestNonMemberOfASharedDrive(t *testing.T) {
	f := setup(t)
	ctx, opt := context.Background(), sandbox.DeliveryOptions{}
	f.sb.AddDrive("0APartners", "Partners", "bob@example.com")
	launch, _, err := f.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Launch", MimeType: drivesandbox.MimeFolder, Parent: "0APartners"}, opt)
	require.NoError(t, err)
	folder := launch["id"].(string)
	plan, _, err := f.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Plan", Parent: folder}, opt)
	require.NoError(t, err)
	other, _, err := f.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Budget", Parent: "0APartners"}, opt)
	require.NoError(t, err)
	code, _ := f.get(t, "/drive/v3/files/"+folder+"?supportsAllDrives=true")
	require.Equal(t, http.StatusNotFound, code, "not shared yet")
	_, err = f.sb.ShareFile(ctx, folder, drivesandbox.Permission{Type: "user", Role: "reader", EmailAddress: f.sb.User()}, opt)
	require.NoError(t, err)
	_, st := f.get(t, "/drive/v3/changes/startPageToken")
	start := st["startPageToken"].(string)

	code, got := f.get(t, "/drive/v3/files/"+folder+"?supportsAllDrives=true")
	require.Equal(t, http.StatusOK, code, "the folder shared with the user")
	require.Equal(t, "0APartners", got["driveId"])
	code, _ = f.get(t, "/drive/v3/files/0APartners?supportsAllDrives=true")
	require.Equal(t, http.StatusNotFound, code, "the drive is not the user's")
	code, _ = f.get(t, "/drive/v3/files/"+other["id"].(string)+"?supportsAllDrives=true")
	require.Equal(t, http.StatusNotFound, code, "nor its other items")

	list := "/drive/v3/files?q='" + folder + "'+in+parents&includeItemsFromAllDrives=true&supportsAllDrives=true"
	code, page := f.get(t, list+"&corpora=user")
	require.Equal(t, http.StatusOK, code)
	require.Len(t, page["files"].([]any), 1)
	require.Equal(t, plan["id"], page["files"].([]any)[0].(map[string]any)["id"], "the user's corpus holds what is shared with the user")
	code, page = f.get(t, list+"&corpora=drive&driveId=0APartners")
	require.Equal(t, http.StatusForbidden, code)
	require.Equal(t, "teamDriveMembershipRequired", page["error"].(map[string]any)["errors"].([]any)[0].(map[string]any)["reason"])
	code, _ = f.get(t, list+"&corpora=drive&driveId=0ANoSuchDrive")
	require.Equal(t, http.StatusNotFound, code, "a drive that does not exist")

	_, err = f.sb.EditFile(ctx, plan["id"].(string), "bob@example.com", opt)
	require.NoError(t, err)
	_, err = f.sb.EditFile(ctx, other["id"].(string), "bob@example.com", opt)
	require.NoError(t, err)
	code, feed := f.get(t, "/drive/v3/changes?pageToken="+start+"&includeItemsFromAllDrives=true&supportsAllDrives=true")
	require.Equal(t, http.StatusOK, code)
	require.Len(t, feed["changes"].([]any), 1, "the edit of the shared file, in the user's log")
	require.Equal(t, plan["id"], feed["changes"].([]any)[0].(map[string]any)["fileId"])

	f.tok = f.sb.AccessToken("bob@example.com")
	code, page = f.get(t, list+"&corpora=user")
	require.Equal(t, http.StatusOK, code)
	require.Empty(t, page["files"], "a member finds the drive's items in its corpus, not the user's")
	code, _ = f.get(t, list+"&corpora=drive&driveId=0APartners")
	require.Equal(t, http.StatusOK, code)
}

func TestFilesListAndGet(t *testing.T) {
	f := setup(t)
	code, list := f.get(t, "/drive/v3/files?q='"+drivesandbox.PressFolderID+"'+in+parents+and+trashed+%3D+false&orderBy=modifiedTime+desc")
	require.Equal(t, http.StatusOK, code)
	var names []string
	for _, x := range list["files"].([]any) {
		names = append(names, x.(map[string]any)["name"].(string))
	}
	require.Equal(t, []string{"Fact sheet", "Media list", "Company boilerplate", "Releases"}, names, "children of Press, newest first")
	_, err := f.sb.EditFile(context.Background(), drivesandbox.BoilerplateID, "", sandbox.DeliveryOptions{})
	require.NoError(t, err)
	code, list = f.get(t, "/drive/v3/files?q='"+drivesandbox.PressFolderID+"'+in+parents&orderBy=createdTime")
	require.Equal(t, http.StatusOK, code)
	names = nil
	for _, x := range list["files"].([]any) {
		names = append(names, x.(map[string]any)["name"].(string))
	}
	require.Equal(t, []string{"Releases", "Company boilerplate", "Media list", "Fact sheet"}, names, "oldest first, whatever was edited since")
	code, _ = f.get(t, "/drive/v3/files?orderBy=starred")
	require.Equal(t, http.StatusBadRequest, code, "a sort key the sandbox does not honour is refused, not ignored")
	code, _ = f.get(t, "/drive/v3/files?q=fullText+contains+'x'")
	require.Equal(t, http.StatusBadRequest, code)
	code, root := f.get(t, "/drive/v3/files/root")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, f.sb.RootID(""), root["id"])
	code, _ = f.get(t, "/drive/v3/files/"+drivesandbox.EmbargoBriefID)
	require.Equal(t, http.StatusNotFound, code, "shared drive items need supportsAllDrives=true")
	code, brief := f.get(t, "/drive/v3/files/"+drivesandbox.EmbargoBriefID+"?supportsAllDrives=true")
	require.Equal(t, http.StatusOK, code)
	require.Nil(t, brief["permissions"], "never returned for shared drive items")
	f.tok = f.sb.AccessToken("mallory@example.com")
	code, _ = f.get(t, "/drive/v3/files/"+drivesandbox.PressFolderID)
	require.Equal(t, http.StatusNotFound, code, "someone else's folder")
}

// A shortcut links to a file or folder ("Shortcuts are files that link to
// other files or folders on Google Drive"): its shortcutDetails name the
// target and the target's MIME type, it has no size, and its name is the
// target's unless given. Creating one needs a target; nothing else has one.
func TestShortcut(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	none := sandbox.DeliveryOptions{}
	sc, _, err := f.sb.CreateFile(ctx, drivesandbox.FileInput{MimeType: drivesandbox.MimeShortcut, Target: drivesandbox.ArchiveFolderID,
		Parent: drivesandbox.PressFolderID}, none)
	require.NoError(t, err)
	code, got := f.get(t, "/drive/v3/files/"+sc["id"].(string))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "Archive", got["name"])
	require.Equal(t, drivesandbox.MimeShortcut, got["mimeType"])
	require.Equal(t, map[string]any{"targetId": drivesandbox.ArchiveFolderID, "targetMimeType": drivesandbox.MimeFolder}, got["shortcutDetails"])
	require.NotContains(t, got, "size")
	code, target := f.get(t, "/drive/v3/files/"+drivesandbox.ArchiveFolderID)
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, target, "shortcutDetails")

	_, _, err = f.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Broken", MimeType: drivesandbox.MimeShortcut, Parent: drivesandbox.PressFolderID}, none)
	require.ErrorIs(t, err, drivesandbox.ErrInvalid)
	_, _, err = f.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Doc", Target: drivesandbox.ReleaseDocID, Parent: drivesandbox.PressFolderID}, none)
	require.ErrorIs(t, err, drivesandbox.ErrInvalid)
}

func TestRegisteredWithUniformOptions(t *testing.T) {
	fake, err := sandbox.New("google-drive", sandbox.Options{ClientID: "cid", ClientSecret: "cs", Seed: true})
	require.NoError(t, err)
	env := fake.Env("http://127.0.0.1:9104")
	require.Equal(t, "cid", env["POBLYSH_GOOGLE_DRIVE_CLIENT_ID"])
	require.Equal(t, "http://127.0.0.1:9104/drive/v3/", env["POBLYSH_GOOGLE_DRIVE_API_URL"])
	require.NotNil(t, fake.(*drivesandbox.Server).File(drivesandbox.PressFolderID))
}
