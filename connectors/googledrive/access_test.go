package googledrive_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
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

// A folder on a shared drive is refused in folders: the user's change log,
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
