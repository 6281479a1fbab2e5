package googledrive_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/googledrive"
	drivesandbox "github.com/poblysh/poblysh/sandbox/googledrive"
)

func TestProveAccess(t *testing.T) {
	h := newHarness(t, drivesandbox.Options{Seed: true}, pressConfig, nil)
	prover := h.prov.Connector.(connectors.AccessProver)
	prove := func(tok, config string, only ...string) *connectors.AccessReport {
		conn := h.conn
		conn.Config = json.RawMessage(config)
		hc := connectors.NewRegistry(h.prov).HTTPClient(h.prov, "acct", tok)
		report, err := prover.ProveAccess(context.Background(), connectors.AccessRequest{Connection: conn, HTTP: hc, Only: only})
		require.NoError(t, err)
		return report
	}
	owner := prove(h.tok, `{"folders":["root","`+drivesandbox.ReleasesFolderID+`"],"shared_drives":["`+drivesandbox.CommsDriveID+`"]}`)
	require.Empty(t, owner.Denied)
	require.Equal(t, []connectors.Resource{
		{Ref: "my-drive", Name: "My Drive"},
		{Ref: "root", ID: h.sb.RootID(""), Name: "My Drive"},
		{Ref: drivesandbox.ReleasesFolderID, ID: drivesandbox.ReleasesFolderID, Name: "Releases"},
		{Ref: drivesandbox.CommsDriveID, ID: drivesandbox.CommsDriveID, Name: "Comms"},
	}, owner.Granted, "no route keys: deliveries come on the connection's own channels")

	// Another user sees neither Ada's folder nor her shared drive.
	mallory := h.sb.AccessToken("mallory@example.com")
	other := prove(mallory, pressConfig)
	require.Equal(t, []string{drivesandbox.PressFolderID, drivesandbox.CommsDriveID}, other.DeniedRefs())
	for _, d := range other.Denied {
		require.ErrorIs(t, d.Err, connectors.ErrNotFound)
	}
	require.Equal(t, "my-drive", other.Granted[0].Ref, "her own change feed")

	// A file is not a folder; a folder is not a shared drive; Only restricts.
	wrong := prove(h.tok, `{"folders":["`+drivesandbox.LogoID+`"],"shared_drives":["`+drivesandbox.BriefsFolderID+`"]}`)
	require.Equal(t, []string{drivesandbox.LogoID, drivesandbox.BriefsFolderID}, wrong.DeniedRefs())
	require.Equal(t, "not a folder", wrong.Denied[0].Reason)
	require.Equal(t, "not a shared drive", wrong.Denied[1].Reason)
	only := prove(mallory, pressConfig, "my-drive")
	require.Len(t, only.Granted, 1)
	require.Empty(t, only.Denied)
}

// A folder on a shared drive of a member is refused in folders: the user's change log,
// which folders are read from, misses changes that Drive logs in the
// drive's own log only ("certain changes are only reflected in the shared
// drive change log and never in the user's change log"). The denial names
// the drive to put in shared_drives.
func TestSharedDriveFolderIsRefused(t *testing.T) {
	h := newHarness(t, drivesandbox.Options{Seed: true}, pressConfig, nil)
	conn := h.conn
	conn.Config = json.RawMessage(`{"folders":["` + drivesandbox.PressFolderID + `","` + drivesandbox.BriefsFolderID + `"]}`)
	report, err := h.prov.Connector.(connectors.AccessProver).ProveAccess(context.Background(), connectors.AccessRequest{Connection: conn, HTTP: h.client()})
	require.NoError(t, err)
	require.Equal(t, []string{drivesandbox.BriefsFolderID}, report.DeniedRefs())
	require.Equal(t, "on the shared drive "+drivesandbox.CommsDriveID+": track the drive in shared_drives", report.Denied[0].Reason)
	require.ErrorIs(t, report.Denied[0].Err, connectors.ErrNotFound)
	require.Equal(t, []string{"my-drive", drivesandbox.PressFolderID}, grantedRefs(report))

	// The drive, tracked whole, is read from its own log.
	conn.Config = json.RawMessage(`{"folders":["` + drivesandbox.PressFolderID + `"],"shared_drives":["` + drivesandbox.CommsDriveID + `"]}`)
	report, err = h.prov.Connector.(connectors.AccessProver).ProveAccess(context.Background(), connectors.AccessRequest{Connection: conn, HTTP: h.client()})
	require.NoError(t, err)
	require.Empty(t, report.Denied)
}

func grantedRefs(r *connectors.AccessReport) []string {
	var out []string
	for _, g := range r.Granted {
		out = append(out, g.Ref)
	}
	return out
}

func TestStreamResource(t *testing.T) {
	c := newHarness(t, drivesandbox.Options{}, `{}`, nil).prov.Connector.(connectors.ResourceStreams)
	for stream, want := range map[string]string{"changes": "my-drive", "drive:0AGx4Lk9PqRtUk9PVA": "0AGx4Lk9PqRtUk9PVA", "drive:": "", "events:x": ""} {
		ref, ok := c.StreamResource(stream)
		require.Equal(t, want, ref, stream)
		require.Equal(t, want != "", ok, stream)
	}
}

// TestLostSharedDrive: a member removed from a shared drive gets 404 from
// its feed, which the engine turns into lost access for that drive.
func TestLostSharedDrive(t *testing.T) {
	h := newHarness(t, drivesandbox.Options{Seed: true}, pressConfig, nil)
	h.tok = h.sb.AccessToken("mallory@example.com")
	_, err := h.fetch(t, "drive:"+drivesandbox.CommsDriveID, nil)
	require.ErrorIs(t, err, connectors.ErrNotFound)
}

// stubProvider is the connector against a Drive API answered by h.
func stubProvider(t *testing.T, h http.HandlerFunc) *connectors.Provider {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg, err := connectors.LoadConfig(googledrive.Spec, func(k string) string {
		return map[string]string{"POBLYSH_GOOGLE_DRIVE_API_URL": srv.URL + "/drive/v3/"}[k]
	}, "https://poblysh.example", true)
	require.NoError(t, err)
	c, err := googledrive.Spec.New(cfg)
	require.NoError(t, err)
	return &connectors.Provider{Spec: googledrive.Spec, Config: cfg, Connector: c}
}

// A user who is not a member of a shared drive but was given a folder on
// it has that folder's changes in the user's change log ("If a non-member
// is granted file access to individual items in a shared drive, changes to
// those items are tracked in the user change log", Drive, Identify which
// change log to track), and cannot track the drive: the folder is tracked.
// Whether the user is a member is files.get of the drive's id, as a
// shared_drives entry is proved; a rate limit there is an error, not a
// non-member.
func TestSharedDriveFolderOfANonMemberIsTracked(t *testing.T) {
	driveStatus := http.StatusNotFound
	var asked []string
	p := stubProvider(t, func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path)
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		switch r.URL.Path {
		case "/drive/v3/changes/startPageToken":
			_, _ = w.Write([]byte(`{"startPageToken":"7"}`))
		case "/drive/v3/files/1SharedFolder":
			_, _ = w.Write([]byte(`{"id":"1SharedFolder","name":"Launch","mimeType":"application/vnd.google-apps.folder","parents":["0ADrive"],"driveId":"0ADrive"}`))
		case "/drive/v3/files/0ADrive":
			w.WriteHeader(driveStatus)
			_, _ = w.Write([]byte(`{"error":{"code":` + strconv.Itoa(driveStatus) + `,"message":"File not found: 0ADrive."}}`))
		default:
			http.NotFound(w, r)
		}
	})
	prove := func() (*connectors.AccessReport, error) {
		conn := connectors.Connection{Config: json.RawMessage(`{"folders":["1SharedFolder"]}`)}
		hc := connectors.NewRegistry(p).HTTPClient(p, "acct", "tok")
		return p.Connector.(connectors.AccessProver).ProveAccess(context.Background(), connectors.AccessRequest{Connection: conn, HTTP: hc})
	}
	report, err := prove()
	require.NoError(t, err)
	require.Empty(t, report.Denied)
	require.Equal(t, []connectors.Resource{{Ref: "my-drive", Name: "My Drive"}, {Ref: "1SharedFolder", ID: "1SharedFolder", Name: "Launch"}}, report.Granted)
	require.Contains(t, asked, "/drive/v3/files/0ADrive", "membership is asked of the drive")

	driveStatus = http.StatusTooManyRequests
	_, err = prove()
	require.ErrorIs(t, err, connectors.ErrRateLimited, "a rate limit is retried, not taken for a non-member")
}
