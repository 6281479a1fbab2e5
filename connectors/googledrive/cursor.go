package googledrive

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"time"

	"github.com/poblysh/poblysh/connectors"
)

// Bounds of the state a cursor carries. At the bounds a cursor is about
// 10000×16 + 2000×16 bytes of members and grants (≈ 256 KB base64) plus the
// folder cache (≈ 100 bytes a folder): comfortably one jsonb row, rewritten
// with every page.
const (
	// maxMembers bounds the tracked files a cursor remembers. Past it the
	// stream runs in overflow mode (see Cursor.Overflow).
	maxMembers = 10000
	// maxShares bounds the remembered domain grants (a public grant is a
	// bit of its member, bounded by maxMembers): past it the least recently
	// seen is evicted.
	maxShares = 2000
	// maxFolders bounds the ancestry cache; evicted folders are read again
	// with files.get when a change needs them.
	maxCachedFolders = 5000
	// maxEdits bounds the open edit windows (files edited in the last hour).
	maxEdits = 2000
)

// Phases of a stream.
const (
	phaseStart   = ""        // nothing read yet: take a start page token, resolve the roots
	phaseWalk    = "walk"    // listing the tracked folders (backfill and membership)
	phaseChanges = "changes" // reading the change feed
)

// Cursor is the stored position of a Drive stream and the per-connection
// state its change feed needs, stored in the same transaction as the
// Signals it produced:
//
//	{"v":1}                                         start: nothing read yet
//	{"v":1,"phase":"walk","page_token":"1234",      listing tracked folders; the change
//	 "walk":[{"folder":"1Xy…","page_token":"…"}],    feed resumes from page_token after
//	 "cutoff":1746057600, "roots":["0AD…"],          (started: when page_token was taken;
//	 "tracked":["root"],                             tracked: the config's folders)
//	 "seen":1746057600000, "started":1746057600000,
//	 "folders":{"1Xy…":{"n":"Press","p":"0AD…"}},
//	 "members":"<base64>", "grants":"<base64>"}
//	{"v":1,"phase":"changes","page_token":"1301",  at rest (or mid-drain): the next
//	 "seen":1746100000000, "edits":{"1Qe…":1746099…}, changes.list page token
//	 …}                                              (mid-drain, since: seen when the
//	                                                 drain began)
//
// The ancestry cache (folders) maps folder id → name and parent, so a change
// is placed in or out of the tracked folders without a call per change, and
// moves are seen as they arrive: a changed folder's entry is rewritten, so
// its whole subtree moves with it. members holds, per tracked file, a hash
// of its id, its last modifiedTime, whether it is trashed and whether it
// was seen public (an "anyone" grant): a file that appears in the tracked
// folders without being a member was created, moved or copied in; a member
// whose modifiedTime moved was edited. grants holds (file, domain grant)
// hash pairs already seen, least recently seen first, so only new grants
// make document.shared; a member's grants are forgotten with it. shares
// holds what cursors written before grants kept ((file, grant) hashes that
// cannot be told apart by file): each is still known, moves to members or
// grants when seen, and is evicted first. edits holds the open 10-minute
// edit window of files edited in the last hour.
type Cursor struct {
	V         int               `json:"v"`
	Phase     string            `json:"phase,omitempty"`
	PageToken string            `json:"page_token,omitempty"`
	Walk      []walkItem        `json:"walk,omitempty"`
	Cutoff    int64             `json:"cutoff,omitempty"`
	Roots     []string          `json:"roots,omitempty"`
	MyDrive   string            `json:"my_drive,omitempty"` // the id "root" resolved to
	Folders   map[string]folder `json:"folders,omitempty"`
	Members   string            `json:"members,omitempty"`
	Grants    string            `json:"grants,omitempty"`
	Shares    string            `json:"shares,omitempty"` // cursors written before grants
	// Tracked are the config's folders (refs, "root" as such) the roots
	// were resolved from (the user's feed only). A PATCH replaces the
	// config and keeps the cursor: a page that finds the config's folders
	// changed drops the roots taken out and adds those put in (see
	// followConfig). Absent (cursors written before it was kept): the
	// roots, My Drive as "root".
	Tracked []string `json:"tracked,omitempty"`
	// Overflow is set once the tracked files outgrew maxMembers: members is
	// then incomplete, and a file that is not a member counts as created
	// only when its createdTime is after the drain's watermark (see
	// watermark), as edited when its modifiedTime is (moves in are not told
	// apart from old files then).
	Overflow bool `json:"overflow,omitempty"`
	// Seen is the time (unix ms) of the newest change read.
	Seen int64 `json:"seen,omitempty"`
	// Since is Seen as it was when the drain of the feed under way began
	// (its first changes.list page), kept until newStartPageToken ends it:
	// a file created after it is new, on whichever page of the drain it
	// comes. Drive keeps one entry per file, at its latest change, so a
	// file created since the last drain and changed again comes after
	// other files' later changes, past which Seen has moved. 0 between
	// drains (and in cursors written before it was kept: a drain under
	// way takes Seen when its next page is read).
	Since int64 `json:"since,omitempty"`
	// Started is the time (unix ms) the stream took its start page token,
	// kept until the feed has been read to its end after the first walk:
	// the changes made in between (before the walk reached a file's
	// folder) are read then, and a file trashed among them was never
	// listed. 0 once they have been read, and in a cursor that was past
	// its walk when started was added.
	Started int64            `json:"started,omitempty"`
	Edits   map[string]int64 `json:"edits,omitempty"`

	members map[uint64]uint64
	grants  []grantPair
	legacy  map[uint64]bool
}

// watermark is the time (unix ms) a file must be created after to be new:
// where the drain under way started, or Seen between drains.
func (c *Cursor) watermark() int64 {
	if c.Since > 0 {
		return c.Since
	}
	return c.Seen
}

// grantPair is a remembered domain grant: hashes of the file's id and of
// the grant's key.
type grantPair struct{ file, grant uint64 }

// walkItem is a folder (or a whole shared drive) still to be listed.
type walkItem struct {
	Folder string `json:"folder,omitempty"`
	Drive  string `json:"drive,omitempty"`
	// Corpus is where Folder lies: "user" (My Drive, or shared with the
	// user) or "drive:<id>" (a shared drive). A listing searches that
	// corpus alone: corpora=allDrives may answer incompleteSearch for a
	// user of many shared drives, leaving files out ("clients narrow their
	// query by choosing a different corpus such as 'user' or 'drive'",
	// FileList). "" (cursors written before) searches allDrives. A folder
	// on a shared drive the user is not a member of is queued with its
	// drive's corpus, which Drive refuses to a non-member (403
	// teamDriveMembershipRequired): it is then listed from its start in
	// "user", and its subfolders are queued there.
	Corpus    string `json:"corpus,omitempty"`
	PageToken string `json:"page_token,omitempty"`
	// MovedIn lists a folder that entered the tracked set: its files that
	// are not members yet are document.created (moved in).
	MovedIn bool `json:"moved_in,omitempty"`
	// MovedAt is the time (unix ms) of the change that moved the folder in:
	// its files were moved in then, however many pages or passes later the
	// listing runs. 0 (items written before it was kept) is the pass's time.
	MovedAt int64 `json:"moved_at,omitempty"`
	// Cutoff (unix s) lists a folder put into the config after the first
	// walk as a first connect lists it: its files created or modified
	// after Cutoff are the backfill, and files that are members already
	// (tracked through another root) are skipped. 0: the stream's Cutoff.
	Cutoff int64 `json:"cutoff,omitempty"`
	// Forget lists a folder that left the tracked set (moved out, or taken
	// out of the config): its files that are no longer under a root are
	// forgotten, so one that comes back is moved in.
	Forget bool `json:"forget,omitempty"`
}

// movedAt is when the files of a moved-in item were moved in: the change's
// time, or the pass's (now) for an item that does not carry it.
func (it walkItem) movedAt(now time.Time) time.Time {
	if it.MovedAt == 0 {
		return now
	}
	return time.UnixMilli(it.MovedAt).UTC()
}

// moveMillis is the time (unix ms) that keys the move in of the item's
// files: the change's time, or, for an item that does not carry it, the
// cursor's seen (the newest change read when the walk began, which the
// move came before), which every page of the walk, and a page read again,
// takes from the cursor it is given, as the pass's time is not.
func (it walkItem) moveMillis(cur *Cursor) int64 {
	if it.MovedAt != 0 {
		return it.MovedAt
	}
	return cur.Seen
}

// folder is an ancestry cache entry. Out marks a folder known to lie
// outside every tracked root (or not visible), so it is not read again.
// Live marks a folder read with files.get during the drain under way, to
// place a change of something in it: the entry is where the folder is now,
// which may be past a move of its own still to be read in the drain.
// Cleared when its own change is read or the drain ends.
type folder struct {
	Name   string `json:"n,omitempty"`
	Parent string `json:"p,omitempty"`
	Out    bool   `json:"o,omitempty"`
	Live   bool   `json:"l,omitempty"`
}

// cursorVersion is the format of Cursor; another version is read as expired.
const cursorVersion = 1

// decodeCursor reads a stored cursor; nil, "" and null are the start. A
// cursor that does not decode is treated as expired so the engine resyncs.
func decodeCursor(raw json.RawMessage) (*Cursor, error) {
	c := &Cursor{V: cursorVersion}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		if err := json.Unmarshal(raw, c); err != nil || c.V != cursorVersion {
			return nil, fmt.Errorf("google-drive: %w: stored cursor does not decode", connectors.ErrCursorExpired)
		}
	}
	var err error
	if c.members, err = unpackMembers(c.Members); err != nil {
		return nil, fmt.Errorf("google-drive: %w: stored members do not decode", connectors.ErrCursorExpired)
	}
	if c.grants, err = unpackGrants(c.Grants); err != nil {
		return nil, fmt.Errorf("google-drive: %w: stored grants do not decode", connectors.ErrCursorExpired)
	}
	if c.legacy, err = unpackSet(c.Shares); err != nil {
		return nil, fmt.Errorf("google-drive: %w: stored shares do not decode", connectors.ErrCursorExpired)
	}
	if c.Phase == phaseWalk && len(c.Walk) > 0 && c.Started == 0 {
		c.Started = c.Seen // written before started was kept: seen holds the start until the walk ends
	}
	if c.Folders == nil {
		c.Folders = map[string]folder{}
	}
	if c.Edits == nil {
		c.Edits = map[string]int64{}
	}
	return c, nil
}

// encode packs the state and renders the cursor.
func (c *Cursor) encode() json.RawMessage {
	c.Members = packMembers(c.members)
	c.Grants = packGrants(c.grants)
	c.Shares = packSet(c.legacy)
	c.trimFolders()
	b, _ := json.Marshal(c) // maps, strings and numbers: cannot fail
	return b
}

// trimFolders keeps the ancestry cache within maxCachedFolders, dropping
// folders outside the tracked roots first; the roots are always kept.
func (c *Cursor) trimFolders() {
	if len(c.Folders) <= maxCachedFolders {
		return
	}
	ids := make([]string, 0, len(c.Folders))
	for id := range c.Folders {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { // outside first, then by id: deterministic
		oa, ob := c.Folders[a].Out, c.Folders[b].Out
		switch {
		case oa && !ob:
			return -1
		case ob && !oa:
			return 1
		}
		return bytes.Compare([]byte(a), []byte(b))
	})
	for _, id := range ids {
		if len(c.Folders) <= maxCachedFolders {
			return
		}
		if !slices.Contains(c.Roots, id) {
			delete(c.Folders, id)
		}
	}
}

// member is what a cursor remembers of a tracked file.
type member struct {
	modified int64 // modifiedTime, unix ms
	trashed  bool
}

// publicBit marks a member seen with an "anyone" grant; below it a member's
// value is modified<<1 | trashed.
const publicBit = 1 << 63

// grantAnyone is the key of a public grant, remembered in its member.
const grantAnyone = "anyone"

func idHash(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// member returns the remembered state of a file.
func (c *Cursor) member(id string) (member, bool) {
	v, ok := c.members[idHash(id)]
	v &^= publicBit
	return member{modified: int64(v >> 1), trashed: v&1 == 1}, ok
}

// remember records a tracked file, keeping whether it was seen public;
// past maxMembers the cursor overflows and remembers no new file.
func (c *Cursor) remember(id string, m member) {
	k := idHash(id)
	old, ok := c.members[k]
	if !ok && len(c.members) >= maxMembers {
		c.Overflow = true
		return
	}
	v := uint64(max(m.modified, 0))<<1 | old&publicBit
	if m.trashed {
		v |= 1
	}
	c.members[k] = v
}

// forget drops a file that left the tracked folders (or was deleted), and
// the grants seen of it: should it come back, its grants are its initial
// state again.
func (c *Cursor) forget(id string) {
	k := idHash(id)
	delete(c.members, k)
	c.grants = slices.DeleteFunc(c.grants, func(g grantPair) bool { return g.file == k })
	delete(c.legacy, idHash("share", id, grantAnyone))
}

// shared reports whether a grant of a member was seen before, and records
// it. A grant is remembered while the file is a member: a file made
// public, private and public again makes one document.shared. A public
// grant is a bit of the member, so any number of public files is
// remembered; past maxShares domain grants the least recently seen is
// forgotten, and announced again should its file change later (rare: it
// takes 2,000 grants to other organisations' domains among tracked files).
// Grants of a file that is not a member (the members overflowed) are not
// kept: only a member's change can make document.shared.
func (c *Cursor) shared(id, grant string) bool {
	k := idHash(id)
	v, ok := c.members[k]
	if !ok {
		return false
	}
	lk := idHash("share", id, grant)
	seen := c.legacy[lk]
	delete(c.legacy, lk)
	if grant == grantAnyone {
		c.members[k] = v | publicBit
		return seen || v&publicBit != 0
	}
	g := grantPair{file: k, grant: idHash(grant)}
	if i := slices.Index(c.grants, g); i >= 0 {
		c.grants = append(slices.Delete(c.grants, i, i+1), g) // now the most recently seen
		return true
	}
	c.grants = append(c.grants, g)
	c.evictGrants()
	return seen
}

// evictGrants keeps the grants within maxShares: the legacy ones first
// (lowest hash first), then the least recently seen.
func (c *Cursor) evictGrants() {
	for len(c.grants)+len(c.legacy) > maxShares && len(c.legacy) > 0 {
		delete(c.legacy, slices.Min(slices.Collect(maps.Keys(c.legacy))))
	}
	if n := len(c.grants) - maxShares; n > 0 {
		c.grants = slices.Delete(c.grants, 0, n)
	}
}

// packGrants encodes grants as base64 of (file, grant) hash pairs, 16 bytes
// each, least recently seen first.
func packGrants(gs []grantPair) string {
	buf := make([]byte, 0, 16*len(gs))
	for _, g := range gs {
		buf = binary.BigEndian.AppendUint64(buf, g.file)
		buf = binary.BigEndian.AppendUint64(buf, g.grant)
	}
	return base64.StdEncoding.EncodeToString(buf)
}

func unpackGrants(s string) ([]grantPair, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b)%16 != 0 {
		return nil, fmt.Errorf("malformed grants")
	}
	out := make([]grantPair, 0, len(b)/16)
	for i := 0; i < len(b); i += 16 {
		out = append(out, grantPair{file: binary.BigEndian.Uint64(b[i:]), grant: binary.BigEndian.Uint64(b[i+8:])})
	}
	return out, nil
}

// packMembers encodes members as base64 of (hash, value) pairs, 16 bytes
// each, sorted by hash so equal states encode equally.
func packMembers(m map[uint64]uint64) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf := make([]byte, 0, 16*len(keys))
	for _, k := range keys {
		buf = binary.BigEndian.AppendUint64(buf, k)
		buf = binary.BigEndian.AppendUint64(buf, m[k])
	}
	return base64.StdEncoding.EncodeToString(buf)
}

func unpackMembers(s string) (map[uint64]uint64, error) {
	out := map[uint64]uint64{}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b)%16 != 0 {
		return nil, fmt.Errorf("malformed members")
	}
	for i := 0; i < len(b); i += 16 {
		out[binary.BigEndian.Uint64(b[i:])] = binary.BigEndian.Uint64(b[i+8:])
	}
	return out, nil
}

// packSet encodes a set of hashes as base64 of sorted 8-byte values.
func packSet(m map[uint64]bool) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf := make([]byte, 0, 8*len(keys))
	for _, k := range keys {
		buf = binary.BigEndian.AppendUint64(buf, k)
	}
	return base64.StdEncoding.EncodeToString(buf)
}

func unpackSet(s string) (map[uint64]bool, error) {
	out := map[uint64]bool{}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b)%8 != 0 {
		return nil, fmt.Errorf("malformed set")
	}
	for i := 0; i < len(b); i += 8 {
		out[binary.BigEndian.Uint64(b[i:])] = true
	}
	return out, nil
}
