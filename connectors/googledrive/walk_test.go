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

// page reads one page of a stream with the engine's clock at now.
func (h *harness) page(t *testing.T, stream string, cursor json.RawMessage, now time.Time) *connectors.Page {
	t.Helper()
	p, err := h.prov.Connector.(connectors.Syncer).FetchPage(context.Background(), connectors.PageRequest{
		Connection: h.conn, Stream: stream, Cursor: cursor, HTTP: h.client(), Now: now,
	})
	require.NoError(t, err)
	return p
}

// of lists "kind title" of the Signals about one file, in order.
func of(sigs []connectors.Signal, id string) []string {
	var out []string
	for _, s := range sigs {
		if s.Payload.Subject.ID == id {
			out = append(out, s.Kind+" "+s.Payload.Title)
		}
	}
	return out
}

// The first listing of a folder takes several pages, and an edit between
// them must not move a file out of the part still to be read: the walk
// lists in createdTime order, which edits leave alone. Listed by
// modifiedTime, an edited file jumped to the front (read already), was
// never listed, and its edit then read as a move in.
func TestEditsDuringTheWalkAreEdits(t *testing.T) {
	clk := newClock()
	h := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now, PageSize: 2}, pressConfig, nil)
	p := h.page(t, "changes", nil, clk.now()) // the start page token, the roots
	p = h.page(t, "changes", p.Next, clk.now())
	require.NotEmpty(t, p.Items, "Press's first page")
	sigs := p.Signals

	clk.advance(time.Minute)
	ctx := context.Background()
	for _, id := range []string{drivesandbox.BoilerplateID, drivesandbox.FactSheetID} {
		_, err := h.sb.EditFile(ctx, id, "grace@example.com", none)
		require.NoError(t, err)
	}
	clk.advance(time.Minute)
	rest, _ := h.drainAt(t, "changes", p.Next, clk.now())
	sigs = append(sigs, rest...)
	require.Equal(t, []string{"document.updated Document edited: Company boilerplate"}, of(sigs, drivesandbox.BoilerplateID),
		"a 90-day-old file edited during the walk")
	require.Equal(t, []string{"document.created Document created: Fact sheet", "document.updated Document edited: Fact sheet"},
		of(sigs, drivesandbox.FactSheetID), "created within the backfill window, then edited during the walk")
}

// A file created while the walk runs is listed by it (createdTime order
// puts it last) and is created once; its first minutes of typing belong to
// its creation, as for a file the change feed brings.
func TestFileCreatedDuringTheWalkIsCreatedOnce(t *testing.T) {
	clk := newClock()
	h := newHarness(t, drivesandbox.Options{Seed: true, Now: clk.now, PageSize: 2}, pressConfig, nil)
	p := h.page(t, "changes", nil, clk.now())
	p = h.page(t, "changes", p.Next, clk.now())

	clk.advance(time.Minute)
	created := clk.now()
	ctx := context.Background()
	f, _, err := h.sb.CreateFile(ctx, drivesandbox.FileInput{Name: "Embargo notice", Parent: drivesandbox.PressFolderID}, none)
	require.NoError(t, err)
	id := f["id"].(string)
	clk.advance(2 * time.Minute)
	_, err = h.sb.EditFile(ctx, id, "", none)
	require.NoError(t, err)
	sigs, cur := h.drainAt(t, "changes", p.Next, clk.now())

	clk.advance(3 * time.Minute)
	_, err = h.sb.EditFile(ctx, id, "", none)
	require.NoError(t, err)
	h.tok = h.sb.AccessToken("")
	more, _ := h.drainAt(t, "changes", cur, clk.now())
	sigs = append(sigs, more...)
	require.Equal(t, []string{"document.created Document created: Embargo notice"}, of(sigs, id))
	for _, s := range sigs {
		if s.Payload.Subject.ID == id {
			require.Equal(t, "new", s.Payload.Attributes["reason"])
			require.Equal(t, created, s.OccurredAt.UTC())
		}
	}
}
