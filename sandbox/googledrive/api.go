package drivesandbox

import (
	"crypto/sha256"
	"encoding/base32"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/poblysh/poblysh/sandbox"
	googlesandbox "github.com/poblysh/poblysh/sandbox/google"
)

// maxPageSize is the largest pageSize Drive accepts.
const maxPageSize = 1000

func (s *Server) grant(w http.ResponseWriter, r *http.Request) (sandbox.Grant, bool) {
	return s.OAuth.Grant(w, r, ReadScopes)
}

func invalid(w http.ResponseWriter, msg string) {
	googlesandbox.WriteError(w, http.StatusBadRequest, "invalid", msg)
}

// pageSize reads pageSize (default 100, at most 1000), capped by the
// fake's PageSize option.
func (s *Server) pageSize(w http.ResponseWriter, r *http.Request) (int, bool) {
	n := 100
	if v := r.URL.Query().Get("pageSize"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > maxPageSize {
			invalid(w, "Invalid value for pageSize: "+v)
			return 0, false
		}
	}
	if s.opts.PageSize > 0 && n > s.opts.PageSize {
		n = s.opts.PageSize
	}
	return n, true
}

// driveParam checks a driveId parameter: it needs supportsAllDrives=true
// and a drive the user is a member of (404 otherwise, like Drive; see
// listFiles for a non-member's corpora=drive).
func (s *Server) driveParam(w http.ResponseWriter, r *http.Request, user string) (string, bool) {
	q := r.URL.Query()
	id := q.Get("driveId")
	if id == "" {
		return "", true
	}
	if q.Get("supportsAllDrives") != "true" {
		googlesandbox.WriteError(w, http.StatusForbidden, "teamDriveIdRequiresTeamDriveSupport",
			"The driveId parameter requires supportsAllDrives=true.")
		return "", false
	}
	s.mu.Lock()
	d := s.drives[id]
	ok := d != nil && d.members[user]
	s.mu.Unlock()
	if !ok {
		googlesandbox.WriteError(w, http.StatusNotFound, "notFound", "Shared drive not found: "+id)
		return "", false
	}
	return id, true
}

// startPageToken is changes.getStartPageToken: the position after the
// newest change. Page tokens do not expire.
func (s *Server) startPageToken(w http.ResponseWriter, r *http.Request) {
	g, ok := s.grant(w, r)
	if !ok {
		return
	}
	if _, ok := s.driveParam(w, r, g.UserID); !ok {
		return
	}
	s.mu.Lock()
	tok := strconv.FormatInt(s.seq+1, 10)
	s.mu.Unlock()
	sandbox.WriteJSON(w, http.StatusOK, map[string]string{"kind": "drive#startPageToken", "startPageToken": tok})
}

// listChanges is changes.list: the changes from pageToken on that the
// feed sees (a shared drive's with driveId, else the user's own, My Drive
// items only: see seesLocked), one
// entry per file with its latest state, in change order; nextPageToken
// while more remain, newStartPageToken on the last page.
func (s *Server) listChanges(w http.ResponseWriter, r *http.Request) {
	g, ok := s.grant(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if q.Get("pageToken") == "" {
		googlesandbox.WriteError(w, http.StatusBadRequest, "required", "Required parameter: pageToken")
		return
	}
	drive, ok := s.driveParam(w, r, g.UserID)
	if !ok {
		return
	}
	size, ok := s.pageSize(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	from, err := strconv.ParseInt(q.Get("pageToken"), 10, 64)
	if err != nil || from < 1 || from > s.seq+1 {
		googlesandbox.WriteError(w, http.StatusBadRequest, "invalid", "Invalid Value")
		return
	}
	latest := map[string]int{}
	var picked []entry
	for _, e := range s.log {
		if e.seq < from || !s.seesLocked(g.UserID, e, drive) {
			continue
		}
		if i, dup := latest[e.fileID]; dup {
			picked[i].seq = -1 // superseded by this later entry
		}
		latest[e.fileID] = len(picked)
		picked = append(picked, e)
	}
	picked = slices.DeleteFunc(picked, func(e entry) bool { return e.seq < 0 })
	out := map[string]any{"kind": "drive#changeList"}
	if len(picked) > size {
		out["nextPageToken"] = strconv.FormatInt(picked[size].seq, 10)
		picked = picked[:size]
	} else {
		out["newStartPageToken"] = strconv.FormatInt(s.seq+1, 10)
	}
	changes := make([]map[string]any, 0, len(picked))
	for _, e := range picked {
		f := s.files[e.fileID]
		c := map[string]any{"kind": "drive#change", "type": "file", "changeType": "file", "time": rfc3339(e.at), "fileId": e.fileID}
		if e.driveID != "" {
			c["driveId"] = e.driveID
		}
		if e.removed || !s.canReadLocked(g.UserID, f) {
			c["removed"] = true
		} else {
			c["removed"] = false
			c["file"] = s.wireLocked(f, g.UserID)
		}
		changes = append(changes, c)
	}
	out["changes"] = changes
	sandbox.WriteJSON(w, http.StatusOK, out)
}

// seesLocked reports whether a feed lists a change: a shared drive's feed
// its items; the user's feed My Drive items the user sees, and shared
// drive items shared with the user as a non-member (readersLocked). "Each
// shared drive has its own change log", and "certain changes are only
// reflected in the shared drive change log and never in the user's change
// log" (Retrieve changes): the fake logs every change of a shared drive
// item in its drive's log only, as far as the drive's members go,
// includeItemsFromAllDrives or not, so a member who reads shared drive
// items from the user's log misses them here as it may with Drive.
func (s *Server) seesLocked(user string, e entry, drive string) bool {
	if drive != "" {
		return e.driveID == drive
	}
	return slices.Contains(e.users, user)
}

// getFile is files.get. "root" is the user's My Drive; shared drive items
// are found only with supportsAllDrives=true.
func (s *Server) getFile(w http.ResponseWriter, r *http.Request) {
	g, ok := s.grant(w, r)
	if !ok {
		return
	}
	id := r.PathValue("fileId")
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "root" {
		id = s.ensureRootLocked(g.UserID).id
	}
	f := s.files[id]
	if f != nil && f.driveID != "" && r.URL.Query().Get("supportsAllDrives") != "true" {
		f = nil
	}
	if !s.canReadLocked(g.UserID, f) {
		googlesandbox.WriteError(w, http.StatusNotFound, "notFound", "File not found: "+id+".")
		return
	}
	sandbox.WriteJSON(w, http.StatusOK, s.wireLocked(f, g.UserID))
}

// queryTerm is one condition of a files.list q.
var queryTerm = regexp.MustCompile(`^(?:'([^']+)' in parents|(trashed)\s*=\s*(true|false)|(modifiedTime|createdTime)\s*(>=|<=|>|<|=)\s*'([^']+)'|(mimeType|name)\s*(=|!=)\s*'([^']*)')$`)

// filter is a parsed files.list q.
type filter func(f *dfile) bool

func parseQuery(q string) (filter, bool) {
	var conds []filter
	for _, part := range regexp.MustCompile(`(?i)\s+and\s+`).Split(strings.TrimSpace(q), -1) {
		if part == "" {
			continue
		}
		m := queryTerm.FindStringSubmatch(strings.TrimSpace(part))
		switch {
		case m == nil:
			return nil, false
		case m[1] != "":
			parent := m[1]
			conds = append(conds, func(f *dfile) bool { return f.parent == parent })
		case m[2] != "":
			want := m[3] == "true"
			conds = append(conds, func(f *dfile) bool { return f.trashed == want })
		case m[4] != "":
			t, err := time.Parse(time.RFC3339Nano, m[6])
			if err != nil {
				if t, err = time.Parse("2006-01-02T15:04:05", m[6]); err != nil {
					return nil, false
				}
			}
			field, op := m[4], m[5]
			conds = append(conds, func(f *dfile) bool {
				v := f.modified
				if field == "createdTime" {
					v = f.created
				}
				switch op {
				case ">":
					return v.After(t)
				case ">=":
					return !v.Before(t)
				case "<":
					return v.Before(t)
				case "<=":
					return !v.After(t)
				}
				return v.Equal(t)
			})
		default:
			field, op, val := m[7], m[8], m[9]
			conds = append(conds, func(f *dfile) bool {
				v := f.mime
				if field == "name" {
					v = f.name
				}
				return (v == val) == (op == "=")
			})
		}
	}
	return func(f *dfile) bool {
		for _, c := range conds {
			if !c(f) {
				return false
			}
		}
		return true
	}, true
}

// listFiles is files.list over a corpus (user: My Drive items the user
// sees, and with includeItemsFromAllDrives the shared drive items shared
// with the user as a non-member; drive: one shared drive, with driveId;
// allDrives: both), filtered by q and ordered by orderBy (parseOrder). A
// non-member's corpora=drive is 403 teamDriveMembershipRequired ("This
// error occurs when a user attempts to access a shared drive in which
// they're not a member", Resolve errors), whatever the user was given in
// the drive.
func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) {
	g, ok := s.grant(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	match, ok := parseQuery(q.Get("q"))
	if !ok {
		invalid(w, "Invalid Value")
		return
	}
	size, ok := s.pageSize(w, r)
	if !ok {
		return
	}
	corpora := q.Get("corpora")
	drive := ""
	switch corpora {
	case "", "user", "allDrives":
	case "drive":
		if q.Get("driveId") == "" || q.Get("includeItemsFromAllDrives") != "true" {
			invalid(w, "The driveId parameter and includeItemsFromAllDrives=true are required with corpora=drive.")
			return
		}
		s.mu.Lock()
		d := s.drives[q.Get("driveId")]
		member := s.memberLocked(g.UserID, q.Get("driveId"))
		s.mu.Unlock()
		if d != nil && !member && q.Get("supportsAllDrives") == "true" {
			googlesandbox.WriteError(w, http.StatusForbidden, "teamDriveMembershipRequired",
				"The attempted action requires shared drive membership.")
			return
		}
		if drive, ok = s.driveParam(w, r, g.UserID); !ok {
			return
		}
	default:
		invalid(w, "Invalid value for corpora: "+corpora)
		return
	}
	allDrives := q.Get("includeItemsFromAllDrives") == "true" && q.Get("supportsAllDrives") == "true"
	s.mu.Lock()
	defer s.mu.Unlock()
	var hits []*dfile
	incomplete := false
	for _, f := range s.files {
		if f.parent == "" || !s.canReadLocked(g.UserID, f) || !match(f) {
			continue // roots are not listed
		}
		switch {
		case drive != "" && f.driveID != drive,
			drive == "" && f.driveID != "" && !allDrives,
			drive == "" && f.driveID != "" && corpora != "allDrives" && s.memberLocked(g.UserID, f.driveID):
			continue
		case corpora == "allDrives" && f.driveID != "" && s.opts.IncompleteAllDrives:
			incomplete = true
			continue
		}
		hits = append(hits, f)
	}
	key, desc := parseOrder(q.Get("orderBy"))
	if key == nil {
		invalid(w, "orderBy="+q.Get("orderBy")+" is not supported by the sandbox")
		return
	}
	slices.SortFunc(hits, func(a, b *dfile) int {
		c := key(a, b)
		if desc {
			c = -c
		}
		if c == 0 {
			c = strings.Compare(a.id, b.id)
		}
		return c
	})
	offset := 0
	if tok := q.Get("pageToken"); tok != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "~!!~"))
		if err != nil || n < 0 || n > len(hits) {
			invalid(w, "Invalid Value")
			return
		}
		offset = n
	}
	hits = hits[offset:]
	out := map[string]any{"kind": "drive#fileList", "incompleteSearch": incomplete}
	if len(hits) > size {
		out["nextPageToken"] = "~!!~" + strconv.Itoa(offset+size)
		hits = hits[:size]
	}
	files := make([]map[string]any, 0, len(hits))
	for _, f := range hits {
		files = append(files, s.wireLocked(f, g.UserID))
	}
	out["files"] = files
	sandbox.WriteJSON(w, http.StatusOK, out)
}

// parseOrder reads orderBy: one of Drive's sort keys createdTime,
// modifiedTime or name ("" is name), ascending unless followed by desc.
// Another key, or a list of keys, is nil.
func parseOrder(orderBy string) (key func(a, b *dfile) int, desc bool) {
	name, dir, _ := strings.Cut(strings.TrimSpace(orderBy), " ")
	switch strings.TrimSpace(dir) {
	case "", "asc":
	case "desc":
		desc = true
	default:
		return nil, false
	}
	switch name {
	case "createdTime":
		return func(a, b *dfile) int { return a.created.Compare(b.created) }, desc
	case "modifiedTime":
		return func(a, b *dfile) int { return a.modified.Compare(b.modified) }, desc
	case "", "name":
		return func(a, b *dfile) int { return strings.Compare(a.name, b.name) }, desc
	}
	return nil, false
}

// feedResourceID is the stable resourceId of a change feed.
func feedResourceID(key string) string {
	sum := sha256.Sum256([]byte("changes:" + key))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:17]))
}

// watch is changes.watch on the user's feed (or a shared drive's, with
// driveId): pageToken is required, like Drive.
func (s *Server) watch(w http.ResponseWriter, r *http.Request) {
	g, ok := s.grant(w, r)
	if !ok {
		return
	}
	tok := r.URL.Query().Get("pageToken")
	if tok == "" {
		googlesandbox.WriteError(w, http.StatusBadRequest, "required", "Required parameter: pageToken")
		return
	}
	drive, ok := s.driveParam(w, r, g.UserID)
	if !ok {
		return
	}
	key := userKey(g.UserID)
	if drive != "" {
		key = driveKey(drive)
	}
	uri := googlesandbox.RequestBase(r) + "/drive/v3/changes?alt=json&pageToken=" + tok
	s.chans.Watch(w, r, g, key, feedResourceID(key), uri)
}

// stopChannel is channels.stop.
func (s *Server) stopChannel(w http.ResponseWriter, r *http.Request) {
	g, ok := s.grant(w, r)
	if !ok {
		return
	}
	s.chans.Stop(w, r, g)
}
