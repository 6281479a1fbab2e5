package googledrive_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/googledrive"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/ingest"
	drivesandbox "github.com/poblysh/poblysh/sandbox/googledrive"
)

// store is a tenant's signals table, written as SyncPage writes it
// (ingest.Rows, then InsertSignals): a Signal whose key the tenant has
// stored already (signals (tenant_id, dedupe_key), the source prefixed) is
// dropped. A connector's Signal is only news if it gets past this.
type store struct {
	s            *dbtest.Schema
	tenant, conn string
}

func newStore(t *testing.T) *store {
	t.Helper()
	s := dbtest.NewSchema(t)
	tenant, conn := dbtest.Seed(t, s.DB, t.Name(), googledrive.Spec.Name, "drive-user")
	return &store{s: s, tenant: tenant, conn: conn}
}

// put stores sigs in order and returns those the store kept. Each goes in
// on its own, so the answer names them; a key taken earlier in sigs is
// dropped as it is within one page's insert.
func (st *store) put(t *testing.T, sigs []connectors.Signal) []connectors.Signal {
	t.Helper()
	ctx := context.Background()
	var kept []connectors.Signal
	require.NoError(t, st.s.DB.WithTenantSignals(ctx, st.tenant, func(tx *db.Tx) error {
		for _, s := range sigs {
			rows, err := ingest.Rows([]connectors.Signal{s})
			if err != nil {
				return err
			}
			out, err := tx.InsertSignals(ctx, st.conn, googledrive.Spec.Name, rows)
			if err != nil {
				return err
			}
			if len(out.Kinds) == 1 {
				kept = append(kept, s)
			}
		}
		return nil
	}))
	return kept
}

// A file that leaves the tracked folders and comes back is moved in again
// (document.created, reason moved_in), and that Signal is stored: a move
// in was keyed file:<id>:created, the key of the file's creation, so a file
// created (or moved in) once and moved back later was dropped as its
// duplicate. A move in is keyed by the move's time, which a pass read
// again (the engine retrying a page) derives again.
func TestFileMovedBackInIsStored(t *testing.T) {
	i := newIncremental(t, `{"folders":["`+drivesandbox.PressFolderID+`"]}`)
	st := newStore(t)
	require.Equal(t, []string{"document.created Document created: logo.png"}, of(st.put(t, i.backfill), drivesandbox.LogoID),
		"logo.png was created yesterday")
	ctx := context.Background()

	i.clk.advance(time.Hour)
	_, err := i.sb.MoveFile(ctx, drivesandbox.LogoID, "root", none)
	require.NoError(t, err)
	require.Empty(t, st.put(t, i.sync(t)), "moved out: nothing")

	i.clk.advance(24 * time.Hour)
	movedIn := i.clk.now()
	_, err = i.sb.MoveFile(ctx, drivesandbox.LogoID, drivesandbox.ReleasesFolderID, none)
	require.NoError(t, err)
	before := i.cursor
	i.clk.advance(time.Minute)
	sigs := i.sync(t)
	stored := st.put(t, sigs)
	require.Equal(t, []string{"document.created Document moved in: logo.png"}, of(stored, drivesandbox.LogoID),
		"the move back in is stored (keys: %v)", kindsAndKeys(sigs))
	require.Equal(t, "file:"+drivesandbox.LogoID+":moved_in:"+itoa(movedIn.UnixMilli()), stored[0].DedupeKey)
	require.Equal(t, movedIn, stored[0].OccurredAt.UTC())

	i.clk.advance(time.Hour)
	i.tok = i.sb.AccessToken("")
	again, _ := i.drainAt(t, "changes", before, i.clk.now())
	require.Equal(t, kindsAndKeys(sigs), kindsAndKeys(again), "the same page read again, later, derives the same keys")
	require.Empty(t, st.put(t, again))

	// Out and in once more: another move, another Signal.
	_, err = i.sb.MoveFile(ctx, drivesandbox.LogoID, "root", none)
	require.NoError(t, err)
	require.Empty(t, st.put(t, i.sync(t)))
	i.clk.advance(time.Hour)
	_, err = i.sb.MoveFile(ctx, drivesandbox.LogoID, drivesandbox.PressFolderID, none)
	require.NoError(t, err)
	require.Equal(t, []string{"document.created Document moved in: logo.png"}, of(st.put(t, i.sync(t)), drivesandbox.LogoID))
}

// A file moved from one tracked shared drive to another is moved in on the
// second drive's stream, and stored: its creation, stored by the first
// drive's stream, held the key the move in had too.
func TestFileMovedBetweenTrackedDrivesIsStored(t *testing.T) {
	const pressDriveID = "0APressDrive0000000000000000"
	clk := newClock()
	h := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now}, `{"shared_drives":["`+drivesandbox.CommsDriveID+`","`+pressDriveID+`"]}`, nil)
	h.sb.AddDrive(pressDriveID, "Press office", h.sb.User())
	st := newStore(t)
	comms, commsCur := h.drainAt(t, "drive:"+drivesandbox.CommsDriveID, nil, clk.now())
	require.Equal(t, []string{"document.created Document created: Embargo brief", "document.updated Document edited: Embargo brief"},
		of(st.put(t, comms), drivesandbox.EmbargoBriefID))
	press, pressCur := h.drainAt(t, "drive:"+pressDriveID, nil, clk.now())
	require.Empty(t, st.put(t, press))

	clk.advance(time.Hour)
	_, err := h.sb.MoveFile(context.Background(), drivesandbox.EmbargoBriefID, pressDriveID, none)
	require.NoError(t, err)
	clk.advance(time.Minute)
	h.tok = h.sb.AccessToken("")
	comms, _ = h.drainAt(t, "drive:"+drivesandbox.CommsDriveID, commsCur, clk.now())
	require.Empty(t, st.put(t, comms), "gone from Comms: nothing")
	press, _ = h.drainAt(t, "drive:"+pressDriveID, pressCur, clk.now())
	require.Equal(t, []string{"document.created Document moved in: Embargo brief"}, of(st.put(t, press), drivesandbox.EmbargoBriefID),
		"moved into the other drive (keys: %v)", kindsAndKeys(press))
}

// A file the user loses access to (Drive lists it as removed) and is given
// back is moved in when it comes back, and stored: its creation, told
// before, held the key.
func TestAccessRegainedIsStored(t *testing.T) {
	const folder, fileID = "1PressFolder", "1Brief"
	brief := `{"id":"` + fileID + `","name":"Brief","mimeType":"application/vnd.google-apps.document","parents":["` + folder + `"],` +
		`"createdTime":"2025-06-05T09:00:00Z","modifiedTime":"2025-06-05T09:00:00Z","webViewLink":"https://docs.google.com/document/d/1Brief/edit"}`
	change := func(at string, removed bool) string {
		if removed {
			return `{"kind":"drive#change","changeType":"file","time":"` + at + `","fileId":"` + fileID + `","removed":true}`
		}
		return `{"kind":"drive#change","changeType":"file","time":"` + at + `","fileId":"` + fileID + `","removed":false,"file":` + brief + `}`
	}
	// Each page of the feed by its token, ending with the next one's.
	pages := map[string]string{
		"10": change("2025-06-05T09:00:01Z", false), // created
		"11": change("2025-06-05T10:00:00Z", true),  // access lost
		"12": change("2025-06-05T11:00:00Z", false), // access given back
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.URL.Query().Get("pageToken")
		page, ok := pages[tok]
		if r.URL.Path != "/drive/v3/changes" || !ok {
			http.NotFound(w, r)
			return
		}
		next := map[string]string{"10": "11", "11": "12", "12": "13"}[tok]
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_, _ = w.Write([]byte(`{"kind":"drive#changeList","newStartPageToken":"` + next + `","changes":[` + page + `]}`))
	}))
	t.Cleanup(srv.Close)
	cfg, err := connectors.LoadConfig(googledrive.Spec, func(k string) string {
		return map[string]string{"POBLYSH_GOOGLE_DRIVE_API_URL": srv.URL + "/drive/v3/"}[k]
	}, "https://poblysh.example", true)
	require.NoError(t, err)
	c, err := googledrive.Spec.New(cfg)
	require.NoError(t, err)
	p := &connectors.Provider{Spec: googledrive.Spec, Config: cfg, Connector: c}

	st := newStore(t)
	cursor := json.RawMessage(`{"v":1,"phase":"changes","page_token":"10","seen":1749112200000,"roots":["` + folder + `"],` +
		`"tracked":["` + folder + `"],"folders":{"` + folder + `":{"n":"Press"}}}`)
	var stored []string
	for range 3 {
		page, err := c.(connectors.Syncer).FetchPage(context.Background(), connectors.PageRequest{
			Connection: connectors.Connection{Config: json.RawMessage(`{"folders":["` + folder + `"]}`)},
			Stream:     "changes", Cursor: cursor, Now: time.Date(2025, 6, 5, 12, 0, 0, 0, time.UTC),
			HTTP: connectors.NewRegistry(p).HTTPClient(p, "acct", "tok"),
		})
		require.NoError(t, err)
		for _, s := range st.put(t, page.Signals) {
			stored = append(stored, s.Payload.Attributes["reason"].(string)+" "+strings.TrimPrefix(s.DedupeKey, "file:"+fileID+":"))
		}
		cursor = page.Next
	}
	require.Equal(t, []string{"new created", "moved_in moved_in:" + itoa(time.Date(2025, 6, 5, 11, 0, 0, 0, time.UTC).UnixMilli())}, stored)
}

// A backfill after a move in (POST /sync with "mode": "backfill", a cursor
// lost) lists the file where it is now and, created within the window,
// tells it as created: the same arrival told again, which stores nothing.
// A move in claims its file's creation key for that (as an alias), since
// its own key is the move's.
func TestBackfillAfterAMoveInStoresNothingNew(t *testing.T) {
	i := newIncremental(t, `{"folders":["`+drivesandbox.PressFolderID+`"]}`)
	st := newStore(t)
	st.put(t, i.backfill)
	i.clk.advance(time.Hour)
	_, err := i.sb.MoveFile(context.Background(), drivesandbox.NotesID, drivesandbox.ReleasesFolderID, none)
	require.NoError(t, err)
	require.Equal(t, []string{"document.created Document moved in: Personal notes"}, of(st.put(t, i.sync(t)), drivesandbox.NotesID))

	i.clk.advance(time.Hour)
	i.tok = i.sb.AccessToken("")
	again, _ := i.drainAt(t, "changes", nil, i.clk.now())
	require.Equal(t, []string{"document.created Document created: Personal notes"}, of(again, drivesandbox.NotesID),
		"created two days ago, within the window")
	require.Empty(t, kindsAndKeys(st.put(t, again)), "the backfill stores nothing new")
}
