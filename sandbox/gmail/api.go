package gmailsandbox

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/poblysh/poblysh/sandbox"
	googlesandbox "github.com/poblysh/poblysh/sandbox/google"
)

const metadataScope = "https://www.googleapis.com/auth/gmail.metadata"

// user authenticates a call and resolves its userId ("me" or an address
// of the token's own account; another mailbox is 403, as delegation is not
// modelled).
func (s *Server) user(w http.ResponseWriter, r *http.Request) (sandbox.Grant, *mailbox, bool) {
	g, ok := s.OAuth.Grant(w, r, ReadScopes)
	if !ok {
		return g, nil, false
	}
	if id := r.PathValue("userId"); id != "me" && s.OAuth.Account(id) != s.OAuth.Account(g.UserID) {
		googlesandbox.WriteError(w, http.StatusForbidden, "forbidden", "Delegation denied for "+g.UserID)
		return g, nil, false
	}
	s.mu.Lock()
	b := s.boxLocked(g.UserID)
	s.mu.Unlock()
	return g, b, true
}

// metadataOnly reports whether the grant reads with gmail.metadata, which
// Gmail enforces even when a wider scope was granted too.
func metadataOnly(g sandbox.Grant) bool { return slices.Contains(g.Scopes, metadataScope) }

func notFound(w http.ResponseWriter) {
	googlesandbox.WriteError(w, http.StatusNotFound, "notFound", "Requested entity was not found.")
}

// maxResults reads maxResults (default 100, at most 500), capped by the
// fake's PageSize.
func (s *Server) maxResults(w http.ResponseWriter, r *http.Request) (int, bool) {
	n := 100
	if v := r.URL.Query().Get("maxResults"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			googlesandbox.WriteError(w, http.StatusBadRequest, "invalidArgument", "Invalid maxResults")
			return 0, false
		}
		n = min(n, 500)
	}
	if s.opts.PageSize > 0 {
		n = min(n, s.opts.PageSize)
	}
	return n, true
}

func (s *Server) profile(w http.ResponseWriter, r *http.Request) {
	_, b, ok := s.user(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	threads := map[string]bool{}
	for _, m := range b.messages {
		threads[m.threadID] = true
	}
	out := map[string]any{"emailAddress": b.user, "messagesTotal": len(b.messages), "threadsTotal": len(threads),
		"historyId": strconv.FormatUint(b.historyID, 10)}
	s.mu.Unlock()
	sandbox.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) getLabel(w http.ResponseWriter, r *http.Request) {
	_, b, ok := s.user(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	l := b.labels[r.PathValue("id")]
	s.mu.Unlock()
	if l == nil {
		notFound(w)
		return
	}
	out := map[string]any{"id": l.id, "name": l.name, "type": l.kind}
	if l.kind == "user" {
		out["messageListVisibility"], out["labelListVisibility"] = "show", "labelShow"
	}
	sandbox.WriteJSON(w, http.StatusOK, out)
}

// sortedLocked returns the mailbox's messages, newest first (Gmail lists
// by internalDate).
func (b *mailbox) sortedLocked() []*gmsg {
	out := make([]*gmsg, 0, len(b.messages))
	for _, m := range b.messages {
		out = append(out, m)
	}
	slices.SortFunc(out, func(x, y *gmsg) int {
		if c := y.internal.Compare(x.internal); c != 0 {
			return c
		}
		return strings.Compare(y.id, x.id)
	})
	return out
}

// listMessages is messages.list: ids of the messages carrying every
// labelIds label, newest first, without SPAM and TRASH. q is refused under
// gmail.metadata, like Gmail.
func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) {
	g, b, ok := s.user(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if q.Get("q") != "" && metadataOnly(g) {
		googlesandbox.WriteError(w, http.StatusForbidden, "forbidden", "Metadata scope does not support 'q' parameter")
		return
	}
	size, ok := s.maxResults(w, r)
	if !ok {
		return
	}
	want := q["labelIds"]
	spamTrash := q.Get("includeSpamTrash") == "true"
	s.mu.Lock()
	defer s.mu.Unlock()
	var hits []*gmsg
	for _, m := range b.sortedLocked() {
		if !spamTrash && (slices.Contains(m.labels, "SPAM") || slices.Contains(m.labels, "TRASH")) {
			continue
		}
		all := true
		for _, l := range want {
			all = all && slices.Contains(m.labels, l)
		}
		if all {
			hits = append(hits, m)
		}
	}
	offset, ok := pageOffset(w, q.Get("pageToken"), len(hits))
	if !ok {
		return
	}
	hits = hits[offset:]
	out := map[string]any{"resultSizeEstimate": len(hits)}
	if len(hits) > size {
		out["nextPageToken"] = pageToken(offset + size)
		hits = hits[:size]
	}
	refs := make([]map[string]any, 0, len(hits))
	for _, m := range hits {
		refs = append(refs, m.ref(false))
	}
	if len(refs) > 0 {
		out["messages"] = refs
	}
	sandbox.WriteJSON(w, http.StatusOK, out)
}

// pageToken and pageOffset make opaque list page tokens (Gmail's are long
// decimal strings).
func pageToken(offset int) string { return strconv.Itoa(10_000_000_000 + offset) }

func pageOffset(w http.ResponseWriter, tok string, n int) (int, bool) {
	if tok == "" {
		return 0, true
	}
	v, err := strconv.Atoi(tok)
	if err != nil || v < 10_000_000_000 || v-10_000_000_000 > n {
		googlesandbox.WriteError(w, http.StatusBadRequest, "invalidArgument", "Invalid pageToken")
		return 0, false
	}
	return v - 10_000_000_000, true
}

// format reads messages.get's format: full and raw are refused under
// gmail.metadata, like Gmail.
func format(w http.ResponseWriter, r *http.Request, g sandbox.Grant) (string, bool) {
	f := strings.ToLower(r.URL.Query().Get("format"))
	if f == "" {
		f = "full"
	}
	switch f {
	case "minimal", "metadata":
	case "full", "raw":
		if metadataOnly(g) {
			googlesandbox.WriteError(w, http.StatusForbidden, "forbidden", "Metadata scope doesn't allow format "+strings.ToUpper(f))
			return "", false
		}
	default:
		googlesandbox.WriteError(w, http.StatusBadRequest, "invalidArgument", "Invalid format: "+f)
		return "", false
	}
	return f, true
}

func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) {
	g, b, ok := s.user(w, r)
	if !ok {
		return
	}
	f, ok := format(w, r, g)
	if !ok {
		return
	}
	s.mu.Lock()
	m := b.messages[r.PathValue("id")]
	var out map[string]any
	if m != nil {
		out = m.wire(f, r.URL.Query()["metadataHeaders"])
	}
	s.mu.Unlock()
	if m == nil {
		notFound(w)
		return
	}
	sandbox.WriteJSON(w, http.StatusOK, out)
}

// getThread is threads.get: the thread's messages, oldest first.
func (s *Server) getThread(w http.ResponseWriter, r *http.Request) {
	g, b, ok := s.user(w, r)
	if !ok {
		return
	}
	f, ok := format(w, r, g)
	if !ok {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	var msgs []map[string]any
	var hid uint64
	sorted := b.sortedLocked()
	slices.Reverse(sorted)
	for _, m := range sorted {
		if m.threadID == id {
			msgs = append(msgs, m.wire(f, r.URL.Query()["metadataHeaders"]))
			hid = max(hid, m.historyID)
		}
	}
	s.mu.Unlock()
	if len(msgs) == 0 {
		notFound(w)
		return
	}
	sandbox.WriteJSON(w, http.StatusOK, map[string]any{"id": id, "historyId": strconv.FormatUint(hid, 10), "messages": msgs})
}

// listHistory is history.list: the records after startHistoryId of the
// asked types, touching labelId when given (the message had it when it was
// added, or the change added or removed it: the labels at the time of the
// record, while the records' message labelIds are today's, see labelsOf);
// 404 for a start id older than the history Gmail still keeps
// (ExpireHistory).
func (s *Server) listHistory(w http.ResponseWriter, r *http.Request) {
	_, b, ok := s.user(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	start, err := strconv.ParseUint(q.Get("startHistoryId"), 10, 64)
	if err != nil {
		googlesandbox.WriteError(w, http.StatusBadRequest, "invalidArgument", "Invalid startHistoryId")
		return
	}
	size, ok := s.maxResults(w, r)
	if !ok {
		return
	}
	types := q["historyTypes"]
	lbl := q.Get("labelId")
	s.mu.Lock()
	defer s.mu.Unlock()
	if start < b.minHistory || start > b.historyID {
		notFound(w)
		return
	}
	var recs []hrec
	for _, h := range b.history {
		if h.id <= start || (len(types) > 0 && !slices.Contains(types, h.kind)) || (lbl != "" && !slices.Contains(h.labels, lbl)) {
			continue
		}
		recs = append(recs, h)
	}
	offset, ok := pageOffset(w, q.Get("pageToken"), len(recs))
	if !ok {
		return
	}
	recs = recs[offset:]
	out := map[string]any{"historyId": strconv.FormatUint(b.historyID, 10)}
	if len(recs) > size {
		out["nextPageToken"] = pageToken(offset + size)
		recs = recs[:size]
	}
	var list []map[string]any
	for _, h := range recs {
		m := b.messages[h.msgID]
		ref := map[string]any{"id": h.msgID, "threadId": threadOf(m, h.msgID)}
		full := map[string]any{"id": h.msgID, "threadId": threadOf(m, h.msgID), "labelIds": labelsOf(m, h)}
		rec := map[string]any{"id": strconv.FormatUint(h.id, 10), "messages": []map[string]any{ref}}
		switch h.kind {
		case "messageAdded":
			rec["messagesAdded"] = []map[string]any{{"message": full}}
		case "labelAdded":
			rec["labelsAdded"] = []map[string]any{{"message": full, "labelIds": slices.Clone(h.labels)}}
		default:
			rec["labelsRemoved"] = []map[string]any{{"message": full, "labelIds": slices.Clone(h.labels)}}
		}
		list = append(list, rec)
	}
	if len(list) > 0 {
		out["history"] = list
	}
	sandbox.WriteJSON(w, http.StatusOK, out)
}

func threadOf(m *gmsg, id string) string {
	if m == nil {
		return id
	}
	return m.threadID
}

// labelsOf is a history record message's labelIds: the message's current
// labels (Gmail shows them; readers of labelsAdded must use its own
// labelIds), or the record's when the message is gone.
func labelsOf(m *gmsg, h hrec) []string {
	if m == nil {
		return slices.Clone(h.labels)
	}
	return slices.Clone(m.labels)
}

// topicName is the shape users.watch accepts.
var topicName = regexp.MustCompile(`^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/topics/[A-Za-z][A-Za-z0-9._~%+-]{2,254}$`)

// watch is users.watch: it (re)registers the mailbox's single watch for
// seven days and answers the current history id and the expiration.
func (s *Server) watch(w http.ResponseWriter, r *http.Request) {
	_, b, ok := s.user(w, r)
	if !ok {
		return
	}
	var body struct {
		TopicName           string   `json:"topicName"`
		LabelIDs            []string `json:"labelIds"`
		LabelFilterBehavior string   `json:"labelFilterBehavior"`
		LabelFilterAction   string   `json:"labelFilterAction"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		googlesandbox.WriteError(w, http.StatusBadRequest, "invalidArgument", "Invalid JSON payload received.")
		return
	}
	if !topicName.MatchString(body.TopicName) {
		googlesandbox.WriteError(w, http.StatusBadRequest, "invalidArgument", "Invalid topicName does not match projects/SOME-PROJECT/topics/SOME-TOPIC")
		return
	}
	behavior := strings.ToLower(body.LabelFilterBehavior)
	if behavior == "" {
		behavior = strings.ToLower(body.LabelFilterAction)
	}
	s.mu.Lock()
	exp := s.now().Add(WatchTTL).Truncate(time.Millisecond)
	b.watch = &watchState{topic: body.TopicName, labels: body.LabelIDs, exclude: behavior == "exclude", expires: exp, historyID: b.historyID}
	b.watchCalls++
	hid := b.historyID
	s.mu.Unlock()
	sandbox.WriteJSON(w, http.StatusOK, map[string]string{"historyId": strconv.FormatUint(hid, 10), "expiration": strconv.FormatInt(exp.UnixMilli(), 10)})
}

// stop is users.stop: no more pushes for the mailbox.
func (s *Server) stop(w http.ResponseWriter, r *http.Request) {
	_, b, ok := s.user(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	b.watch = nil
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
