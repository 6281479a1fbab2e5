package googledrive

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/connectortest"
)

var (
	anyone    = permission{ID: "anyoneWithLink", Type: "anyone", Role: "reader"}
	pressDom  = permission{ID: "press", Type: "domain", Domain: "press.example", Role: "reader"}
	shareBase = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
)

// sharesPass is a pass over the change feed of a cursor tracking the
// folder "kit", cursor as decoded from raw (nil: a new one).
func sharesPass(t *testing.T, raw json.RawMessage) *pass {
	t.Helper()
	cur, err := decodeCursor(raw)
	require.NoError(t, err)
	cur.Phase, cur.Roots = phaseChanges, []string{"kit"}
	cur.Folders["kit"] = folder{Name: "Press kit"}
	return &pass{cur: cur, page: &connectors.Page{}, own: []string{"acme.example"}}
}

// kitFile is a file of the kit modified at mod with perms.
func kitFile(id string, mod time.Time, perms ...permission) file {
	return file{ID: id, Name: id + ".jpg", MimeType: "image/jpeg", Parents: []string{"kit"},
		CreatedTime: shareBase.Format(time.RFC3339), ModifiedTime: mod.Format(time.RFC3339), Permissions: perms}
}

// list takes f in as a walk does: a member, its grants initial state.
func (p *pass) list(t *testing.T, f file) {
	t.Helper()
	raw, _ := json.Marshal(f)
	require.NoError(t, p.listed(&f, raw, walkItem{Folder: "kit"}))
}

// changed applies a change of f at its modifiedTime and returns the keys
// of the document.shared it made.
func (p *pass) changed(t *testing.T, f file) []string {
	t.Helper()
	before := len(p.page.Signals)
	raw, _ := json.Marshal(f)
	require.NoError(t, p.fileChanged(&f, raw, parseTime(f.ModifiedTime)))
	var keys []string
	for _, s := range p.page.Signals[before:] {
		if s.Kind == KindShared {
			keys = append(keys, s.DedupeKey)
		}
	}
	return keys
}

// A press kit shared "anyone with the link" holds more files than
// maxShares: an edit of any of them is no new grant.
func TestPublicFilesPastTheGrantBoundAreNotSharedAgain(t *testing.T) {
	t.Parallel()
	p := sharesPass(t, nil)
	for i := range maxShares + 500 {
		p.list(t, kitFile(fmt.Sprintf("photo%04d", i), shareBase, anyone))
	}
	p = sharesPass(t, p.cur.encode()) // what the next page reads
	for i, id := range []string{"photo0000", "photo2000", "photo2499", "photo2499"} {
		mod := shareBase.Add(time.Duration(i+1) * time.Hour)
		require.Empty(t, p.changed(t, kitFile(id, mod, anyone)), "%s: the grant never changed", id)
	}
	require.Equal(t, map[string]int{KindUpdated: 4}, kindsOf(p.page.Signals))
}

// Grants of files that left (deleted, moved out) are forgotten with them,
// so history alone never fills the bound: a grant made after thousands of
// shared files came and went is announced once, and never again.
func TestForgottenFilesReleaseTheirGrants(t *testing.T) {
	t.Parallel()
	p := sharesPass(t, nil)
	for i := range maxShares + 500 {
		id := fmt.Sprintf("old%04d", i)
		p.list(t, kitFile(id, shareBase, anyone, pressDom))
		if i%2 == 0 {
			require.NoError(t, p.change(change{FileID: id, Removed: true, Time: shareBase.Format(time.RFC3339)}))
		} else {
			gone := kitFile(id, shareBase, anyone, pressDom)
			gone.Parents = []string{"elsewhere"}
			p.cur.Folders["elsewhere"] = folder{Name: "Elsewhere", Out: true}
			require.Empty(t, p.changed(t, gone)) // moved out
		}
	}
	p = sharesPass(t, p.cur.encode())
	require.Empty(t, p.cur.members)
	require.Empty(t, p.cur.grants, "no grant of a file that left is kept")

	p.list(t, kitFile("brief", shareBase))
	for i := range 3 {
		mod := shareBase.Add(time.Duration(i+1) * time.Hour)
		keys := p.changed(t, kitFile("brief", mod, pressDom))
		if i == 0 {
			require.Equal(t, []string{fmt.Sprintf("file:brief:shared:domain:press.example:%d", mod.UnixMilli())}, keys)
			continue
		}
		require.Empty(t, keys, "change %d: announced once", i)
	}
}

// Past maxShares domain grants the least recently seen is evicted, not
// the new one: the file that made the new grant is not announced again,
// and a file seen recently keeps its grant. The evicted file's grant is
// announced again at its next change (the cost of a bounded memory).
func TestGrantsPastTheBoundEvictTheLeastRecentlySeen(t *testing.T) {
	t.Parallel()
	p := sharesPass(t, nil)
	for i := range maxShares {
		p.list(t, kitFile(fmt.Sprintf("doc%04d", i), shareBase, pressDom))
	}
	at := func(h int) time.Time { return shareBase.Add(time.Duration(h) * time.Hour) }
	require.Empty(t, p.changed(t, kitFile("doc0000", at(1), pressDom)), "seen again: now the most recent")
	p.list(t, kitFile("late", shareBase))
	require.Len(t, p.changed(t, kitFile("late", at(2), pressDom)), 1, "a new grant")
	p = sharesPass(t, p.cur.encode())
	require.Len(t, p.cur.grants, maxShares)

	require.Empty(t, p.changed(t, kitFile("late", at(3), pressDom)), "the new grant is remembered")
	require.Empty(t, p.changed(t, kitFile("doc0000", at(4), pressDom)), "a recently seen grant is kept")
	require.Len(t, p.changed(t, kitFile("doc0001", at(5), pressDom)), 1, "the least recently seen was evicted")
	require.Empty(t, p.changed(t, kitFile("doc0001", at(6), pressDom)), "and is remembered again")
}

// A cursor written before grants were kept per file (shares: hashes of
// file and grant) still decodes, and its grants are still known.
func TestLegacySharesAreStillKnown(t *testing.T) {
	t.Parallel()
	legacy := make([]byte, 0, 16)
	for _, g := range []string{"anyone", "domain:press.example"} {
		legacy = binary.BigEndian.AppendUint64(legacy, idHash("share", "deck", g))
	}
	members := packMembers(map[uint64]uint64{idHash("deck"): uint64(shareBase.UnixMilli()) << 1})
	raw := fmt.Sprintf(`{"v":1,"phase":"changes","page_token":"7","members":%q,"shares":%q}`,
		members, base64.StdEncoding.EncodeToString(legacy))
	p := sharesPass(t, json.RawMessage(raw))
	require.Empty(t, p.changed(t, kitFile("deck", shareBase.Add(time.Hour), anyone, pressDom)))
	require.Equal(t, []string{fmt.Sprintf("file:deck:shared:domain:other.example:%d", shareBase.Add(2*time.Hour).UnixMilli())},
		p.changed(t, kitFile("deck", shareBase.Add(2*time.Hour), anyone, pressDom,
			permission{ID: "other", Type: "domain", Domain: "other.example", Role: "reader"})))
	next := sharesPass(t, p.cur.encode())
	require.Empty(t, next.cur.legacy, "legacy grants move to the new form once seen")
	require.Empty(t, next.changed(t, kitFile("deck", shareBase.Add(3*time.Hour), anyone, pressDom)))
}

func kindsOf(sigs []connectors.Signal) map[string]int { return connectortest.CountKinds(sigs) }
