package googledrive

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A cursor stored before shortcuts were skipped remembers one put in a
// tracked folder as a member (it was told as document.created). Its next
// change forgets it and tells nothing (a trash was document.trashed, an
// edit document.updated); listed again, it is no member and makes nothing.
// The file it links to, a member of its own, is left alone.
func TestShortcutRememberedByAnOlderCursorIsForgotten(t *testing.T) {
	now := time.Date(2025, 6, 5, 10, 0, 0, 0, time.UTC)
	p := sharesPass(t, nil)
	p.now = now
	p.list(t, kitFile("deck", now.Add(-time.Hour)))
	p.cur.remember("link", member{modified: now.Add(-time.Hour).UnixMilli()}) // as the earlier version listed it
	p = sharesPass(t, p.cur.encode())
	p.now = now

	link := file{ID: "link", Name: "deck.jpg", MimeType: shortcutMime, Parents: []string{"kit"},
		CreatedTime: now.Add(-time.Hour).Format(time.RFC3339), ModifiedTime: now.Format(time.RFC3339), Trashed: true}
	raw, _ := json.Marshal(link)
	require.NoError(t, p.fileChanged(&link, raw, now))
	require.Empty(t, kindsOf(p.page.Signals), "a shortcut trashed")
	_, known := p.cur.member("link")
	require.False(t, known)
	_, known = p.cur.member("deck")
	require.True(t, known, "its target is still tracked")

	link.Trashed = false
	raw, _ = json.Marshal(link)
	for _, it := range []walkItem{{Folder: "kit", MovedIn: true}, {Folder: "kit"}} {
		require.NoError(t, p.listed(&link, raw, it))
	}
	require.NoError(t, p.fileChanged(&link, raw, now))
	require.Empty(t, kindsOf(p.page.Signals), "restored, and the kit moved in again: nothing")
	_, known = p.cur.member("link")
	require.False(t, known)

	deck := kitFile("deck", now)
	raw, _ = json.Marshal(deck)
	require.NoError(t, p.fileChanged(&deck, raw, now))
	require.Equal(t, map[string]int{KindUpdated: 1}, kindsOf(p.page.Signals))
}
