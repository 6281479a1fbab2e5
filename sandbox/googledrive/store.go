package drivesandbox

import (
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Drive MIME types the fake knows by name.
const (
	MimeFolder = "application/vnd.google-apps.folder"
	MimeDoc    = "application/vnd.google-apps.document"
	MimeSheet  = "application/vnd.google-apps.spreadsheet"
	// MimeShortcut is a shortcut: a file that links to another file or
	// folder (FileInput.Target), with shortcutDetails and no size.
	MimeShortcut = "application/vnd.google-apps.shortcut"
)

// Permission is a sharing grant of a file.
type Permission struct {
	ID                 string `json:"id"`
	Type               string `json:"type"` // user, group, domain, anyone
	Role               string `json:"role"` // reader, commenter, writer, owner
	EmailAddress       string `json:"emailAddress,omitempty"`
	Domain             string `json:"domain,omitempty"`
	AllowFileDiscovery bool   `json:"allowFileDiscovery,omitempty"`
}

// dfile is a stored file or folder.
type dfile struct {
	id, name, mime string
	parent         string // "" for a root
	driveID        string // shared drive, "" in a My Drive
	owner          string // My Drive owner (user email)
	created        time.Time
	modified       time.Time
	version        int64
	size           int64 // -1: none (folders)
	trashed        bool
	explicitly     bool
	trashedTime    time.Time
	trasher        string // email of the user who trashed it
	modifier       string // email of the last modifying user
	perms          []Permission
	deleted        bool
	// target and targetMime are a shortcut's shortcutDetails: the file it
	// links to, and that file's MIME type when the shortcut was created.
	target, targetMime string
}

// sharedDrive is a shared drive and its members.
type sharedDrive struct {
	id, name string
	members  map[string]bool
}

// entry is one record of the change log.
type entry struct {
	seq     int64
	fileID  string
	driveID string // set for shared drive items and drive-level changes
	kind    string // "file" or "drive"
	at      time.Time
	removed bool
	// users are the users whose own feed sees the change (My Drive items).
	users []string
}

// newID returns a Drive-like id (33 characters) derived from seed, so
// seeded ids are stable.
func newID(prefix, seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return prefix + strings.NewReplacer("+", "x", "/", "y").Replace(base64.RawStdEncoding.EncodeToString(sum[:]))[:33-len(prefix)]
}

// rootID is the id of a user's My Drive root folder.
func rootID(user string) string { return newID("0A", "root:"+strings.ToLower(user)) }

// ensureRootLocked returns a user's My Drive root, creating it.
func (s *Server) ensureRootLocked(user string) *dfile {
	id := rootID(user)
	if f, ok := s.files[id]; ok {
		return f
	}
	f := &dfile{id: id, name: "My Drive", mime: MimeFolder, owner: user, created: s.now(), modified: s.now(), size: -1}
	s.files[id] = f
	return f
}

// canReadLocked reports whether user sees f: a shared drive item to the
// drive's members, a My Drive item to its owner, and either to users it
// (or a folder above it) is shared with (a shared drive item to a
// non-member, as Drive allows).
func (s *Server) canReadLocked(user string, f *dfile) bool {
	if f == nil || f.deleted {
		return false
	}
	if s.memberLocked(user, f.driveID) {
		return true
	}
	for cur, depth := f, 0; cur != nil && depth < 100; depth++ {
		if cur.owner == user && cur.driveID == "" { // a shared drive owns its items
			return true
		}
		for _, p := range cur.perms {
			if p.Type == "user" && strings.EqualFold(p.EmailAddress, user) {
				return true
			}
		}
		cur = s.files[cur.parent]
	}
	return false
}

// memberLocked reports whether user is a member of the shared drive id.
func (s *Server) memberLocked(user, id string) bool {
	d := s.drives[id]
	return d != nil && d.members[user]
}

// readersLocked lists the users whose own change feed sees f: a My Drive
// item's owner and the users it (or a folder above it) is shared with; a
// shared drive item's non-members it is shared with ("If a non-member is
// granted file access to individual items in a shared drive, changes to
// those items are tracked in the user change log", Identify which change
// log to track). Its members read it from the drive's log.
func (s *Server) readersLocked(f *dfile) []string {
	var out []string
	seen := map[string]bool{}
	for cur, depth := f, 0; cur != nil && depth < 100; depth++ {
		for _, u := range append([]string{myDriveOwner(cur)}, userPerms(cur)...) {
			if u != "" && !seen[u] && !s.memberLocked(u, f.driveID) {
				seen[u] = true
				out = append(out, u)
			}
		}
		cur = s.files[cur.parent]
	}
	slices.Sort(out)
	return out
}

// myDriveOwner is the owner of a My Drive item ("" for a shared drive's,
// which the drive owns, though one moved there keeps its former owner).
func myDriveOwner(f *dfile) string {
	if f.driveID != "" {
		return ""
	}
	return f.owner
}

func userPerms(f *dfile) []string {
	var out []string
	for _, p := range f.perms {
		if p.Type == "user" {
			out = append(out, strings.ToLower(p.EmailAddress))
		}
	}
	return out
}

// logLocked appends f's change to the change log and returns the
// notification keys of the feeds that see it.
func (s *Server) logLocked(f *dfile, removed bool) []string {
	s.seq++
	e := entry{seq: s.seq, fileID: f.id, driveID: f.driveID, kind: "file", at: s.now(), removed: removed, users: s.readersLocked(f)}
	s.log = append(s.log, e)
	keys := make([]string, 0, len(e.users)+1)
	if f.driveID != "" {
		keys = append(keys, driveKey(f.driveID))
	}
	for _, u := range e.users {
		keys = append(keys, userKey(u))
	}
	return keys
}

// userKey and driveKey name the channels of a user's and a shared drive's
// change feed.
func userKey(user string) string { return "user:" + strings.ToLower(user) }
func driveKey(id string) string  { return "drive:" + id }

// touchLocked stamps a modification of f by user: a new modifiedTime and
// version.
func (s *Server) touchLocked(f *dfile, user string) {
	s.version++
	f.version = s.version
	f.modified = s.now()
	f.modifier = user
}

// wire renders f as the Drive API's File resource for user. Permissions
// are shown to users who may share the file and never for shared drive
// items, like Drive.
func (s *Server) wireLocked(f *dfile, user string) map[string]any {
	out := map[string]any{
		"kind": "drive#file", "id": f.id, "name": f.name, "mimeType": f.mime,
		"createdTime": rfc3339(f.created), "modifiedTime": rfc3339(f.modified),
		"version": strconv.FormatInt(f.version, 10), "trashed": f.trashed, "explicitlyTrashed": f.explicitly,
		"starred": false, "viewedByMe": f.owner == user, "shared": len(f.perms) > 0,
		"webViewLink": webViewLink(f), "iconLink": "https://drive-thirdparty.googleusercontent.com/16/type/" + f.mime,
		"ownedByMe": f.owner == user && f.driveID == "",
	}
	if f.parent != "" {
		out["parents"] = []string{f.parent}
	}
	if f.mime == MimeShortcut {
		out["shortcutDetails"] = map[string]any{"targetId": f.target, "targetMimeType": f.targetMime}
	}
	if f.size >= 0 {
		out["size"] = strconv.FormatInt(f.size, 10)
	}
	if f.driveID != "" {
		out["driveId"] = f.driveID
		if f.trashed {
			out["trashedTime"] = rfc3339(f.trashedTime)
		}
		if f.trashed && f.explicitly && f.trasher != "" {
			out["trashingUser"] = wireUser(f.trasher, user) // "only populated for items in shared drives"
		}
	}
	if m := f.modifier; m != "" {
		out["lastModifyingUser"] = wireUser(m, user)
	}
	if f.driveID == "" && f.owner == user {
		perms := []map[string]any{{"kind": "drive#permission", "id": permissionID(f.owner), "type": "user", "role": "owner",
			"emailAddress": f.owner, "displayName": displayName(f.owner)}}
		for _, p := range f.perms {
			m := map[string]any{"kind": "drive#permission", "id": p.ID, "type": p.Type, "role": p.Role}
			if p.EmailAddress != "" {
				m["emailAddress"] = p.EmailAddress
			}
			if p.Domain != "" {
				m["domain"] = p.Domain
			}
			if p.Type == "anyone" || p.Type == "domain" {
				m["allowFileDiscovery"] = p.AllowFileDiscovery
			}
			perms = append(perms, m)
		}
		out["permissions"] = perms
	}
	return out
}

// wireUser renders a user (by email) as the API's User resource for user.
func wireUser(email, user string) map[string]any {
	return map[string]any{"kind": "drive#user", "displayName": displayName(email), "emailAddress": email,
		"permissionId": permissionID(email), "me": email == user, "photoLink": "https://lh3.googleusercontent.com/a/default-user=s64"}
}

func webViewLink(f *dfile) string {
	switch f.mime {
	case MimeFolder:
		return "https://drive.google.com/drive/folders/" + f.id
	case MimeDoc:
		return "https://docs.google.com/document/d/" + f.id + "/edit?usp=drivesdk"
	case MimeSheet:
		return "https://docs.google.com/spreadsheets/d/" + f.id + "/edit?usp=drivesdk"
	}
	return "https://drive.google.com/file/d/" + f.id + "/view?usp=drivesdk"
}

// displayName is a sandbox user's name: "ada@example.com" → "Ada".
func displayName(email string) string {
	local, _, _ := strings.Cut(email, "@")
	local = strings.ReplaceAll(local, ".", " ")
	if local == "" {
		return email
	}
	return strings.ToUpper(local[:1]) + local[1:]
}

// permissionID is a stable permission id of a user, digits like Drive's.
func permissionID(email string) string {
	sum := sha256.Sum256([]byte("perm:" + strings.ToLower(email)))
	var n uint64
	for _, b := range sum[:8] {
		n = n<<8 | uint64(b)
	}
	return strconv.FormatUint(n, 10)
}

func rfc3339(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
