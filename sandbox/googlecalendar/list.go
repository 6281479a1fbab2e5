package gcalsandbox

import (
	"net/http"
	"strconv"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// listEvents is events.list. Events are listed in insertion order (series
// last with Options.SeriesLast). A pass
// without syncToken lists the whole calendar (with the filters of
// listQuery); a pass with one lists every event changed after it, deleted
// ones included. nextPageToken and nextSyncToken are mutually exclusive: the
// sync token, for changes after the pass started, comes on the last page
// only. An expired sync token, or the page token of a pass started from one,
// answers 410 GONE.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	g, ok := s.grant(w, r, EventScopes)
	if !ok {
		return
	}
	lq, bad := s.parseList(r)
	if bad != "" {
		writeError(w, http.StatusBadRequest, "invalid", bad)
		return
	}
	page, fail := s.listPage(g.UserID, r.PathValue("calendarId"), lq)
	if fail != nil {
		writeError(w, fail.code, fail.reason, fail.message)
		return
	}
	sandbox.WriteJSON(w, http.StatusOK, page)
}

// apiFailure is an error answer.
type apiFailure struct {
	code            int
	reason, message string
}

var errGone = &apiFailure{http.StatusGone, "fullSyncRequired", "Sync token is no longer valid, a full sync is required."}

// listPage computes one events.list page under the lock.
func (s *Server) listPage(user, calendarID string, lq listQuery) (eventsPage, *apiFailure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.readableLocked(user, calendarID)
	if c == nil {
		return eventsPage{}, &apiFailure{http.StatusNotFound, "notFound", "Not Found"}
	}
	pass := tokenState{Kind: "p", Calendar: c.id, Since: -1, Snapshot: s.version, Epoch: s.epoch}
	if lq.syncToken != "" {
		st, err := decodeToken(lq.syncToken, "s")
		if err != nil || st.Calendar != c.id || st.Epoch != s.epoch {
			return eventsPage{}, errGone
		}
		pass.Since = st.Snapshot
	}
	if lq.pageToken != "" {
		pt, err := decodeToken(lq.pageToken, "p")
		if err != nil || pt.Calendar != c.id {
			return eventsPage{}, &apiFailure{http.StatusBadRequest, "invalid", "Invalid page token value."}
		}
		if pt.Since >= 0 && pt.Epoch != s.epoch {
			return eventsPage{}, errGone
		}
		pass = pt
	}

	page := eventsPage{
		Kind: "calendar#events", Etag: etagOf(c.updated), Summary: c.summary, Description: c.description,
		Updated: c.updated.UTC().Format(googleTime), TimeZone: c.timeZone, AccessRole: "owner",
		DefaultReminders: []Reminder{{Method: "popup", Minutes: 10}}, Items: []any{},
	}
	var last int64
	more := false
	for _, e := range s.sortedLocked(c) {
		if s.listKey(e) <= pass.After {
			continue
		}
		if pass.Since >= 0 {
			if e.version <= pass.Since {
				continue
			}
		} else if !lq.matches(e) {
			continue
		}
		if len(page.Items) == lq.max {
			more = true
			break
		}
		page.Items = append(page.Items, e.wire())
		last = s.listKey(e)
	}
	if more {
		next := pass
		next.After = last
		page.NextPageToken = encodeToken(next)
	} else {
		page.NextSyncToken = encodeToken(tokenState{Kind: "s", Calendar: c.id, Snapshot: pass.Snapshot, Epoch: s.epoch})
	}
	return page, nil
}

// etagOf is Google's etag style: a quoted number derived from a time.
func etagOf(t time.Time) string { return `"` + strconv.FormatInt(t.UnixMicro()*2, 10) + `"` }
