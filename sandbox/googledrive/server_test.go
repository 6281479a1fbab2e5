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

func TestRegisteredWithUniformOptions(t *testing.T) {
	fake, err := sandbox.New("google-drive", sandbox.Options{ClientID: "cid", ClientSecret: "cs", Seed: true})
	require.NoError(t, err)
	env := fake.Env("http://127.0.0.1:9104")
	require.Equal(t, "cid", env["POBLYSH_GOOGLE_DRIVE_CLIENT_ID"])
	require.Equal(t, "http://127.0.0.1:9104/drive/v3/", env["POBLYSH_GOOGLE_DRIVE_API_URL"])
	require.NotNil(t, fake.(*drivesandbox.Server).File(drivesandbox.PressFolderID))
}
