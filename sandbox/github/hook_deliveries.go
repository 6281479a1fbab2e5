package githubsandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// The delivery log of repository hooks, as GitHub keeps it: every attempt
// of every event, listed newest first by
// GET /repos/{o}/{r}/hooks/{id}/deliveries (cursor pagination, per_page up
// to 100, optional redelivery filter), and redelivered by
// POST /repos/{o}/{r}/hooks/{id}/deliveries/{delivery_id}/attempts (202).
// GitHub does not retry a failed delivery by itself; a redelivery sends the
// same delivery again (same X-GitHub-Delivery GUID, body and signature
// headers) and is logged as an attempt of its own with redelivery true.

// logHookDelivery records one attempt of del to h.
func (s *Server) logHookDelivery(h *hook, repoID int64, del sandbox.Delivery, res sandbox.Result, took time.Duration) {
	guid := del.Header.Get("X-GitHub-Delivery")
	d := &hookDelivery{
		GUID: guid, Duration: took, StatusCode: res.Status, Event: del.Header.Get("X-GitHub-Event"),
		Action: deliveryAction(del), RepoID: repoID, sent: del,
	}
	if res.Err != nil {
		d.StatusCode = 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deliveryID++
	d.ID, d.DeliveredAt = 90000000000+s.deliveryID, s.now()
	if h.redelivering[guid] > 0 {
		d.Redelivery = true
		if h.redelivering[guid]--; h.redelivering[guid] == 0 {
			delete(h.redelivering, guid)
		}
	}
	h.deliveries = append(h.deliveries, d)
	if len(h.deliveries) > maxHookDeliveries {
		h.deliveries = h.deliveries[len(h.deliveries)-maxHookDeliveries:]
	}
}

// maxHookDeliveries bounds a hook's log in memory (GitHub keeps 30 days of
// it; a long soak would otherwise keep every body it sent).
const maxHookDeliveries = 1000

// deliveryAction reads the payload's action from a json or form body.
func deliveryAction(del sandbox.Delivery) string {
	body := del.Body
	if strings.HasPrefix(del.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return ""
		}
		body = []byte(q.Get("payload"))
	}
	var p struct {
		Action string `json:"action"`
	}
	_ = json.Unmarshal(body, &p)
	return p.Action
}

// status is the delivery's status text as GitHub shows it.
func (d *hookDelivery) status() string {
	switch {
	case d.StatusCode == 0:
		return "failed to connect" // the example in GitHub's hook-delivery schema
	case d.StatusCode >= 200 && d.StatusCode < 300:
		return "OK"
	}
	return "Invalid HTTP Response: " + strconv.Itoa(d.StatusCode)
}

func (d *hookDelivery) json() obj {
	var action any
	if d.Action != "" {
		action = d.Action
	}
	return obj{
		"id": d.ID, "guid": d.GUID, "delivered_at": ts(d.DeliveredAt), "redelivery": d.Redelivery,
		"duration": d.Duration.Seconds(), "status": d.status(), "status_code": d.StatusCode,
		"event": d.Event, "action": action, "installation_id": nil, "repository_id": d.RepoID,
		"throttled_at": nil,
	}
}

// listHookDeliveries serves GET /repos/{o}/{r}/hooks/{id}/deliveries.
func (s *Server) listHookDeliveries(w http.ResponseWriter, r *http.Request, sess *session) {
	id, _ := pathInt(r, "id")
	q := r.URL.Query()
	per, err := strconv.Atoi(q.Get("per_page"))
	if q.Get("per_page") == "" {
		per, err = 30, nil
	}
	if err != nil || per < 1 || per > 100 {
		s.apiError(w, sess, http.StatusBadRequest, "per_page must be between 1 and 100")
		return
	}
	var before int64 = -1 // the cursor: list from this delivery id down
	if c := q.Get("cursor"); c != "" {
		n, err := strconv.ParseInt(strings.TrimPrefix(c, "v1_"), 10, 64)
		if !strings.HasPrefix(c, "v1_") || err != nil {
			s.apiError(w, sess, http.StatusBadRequest, "Bad Request")
			return
		}
		before = n
	}
	redelivery, filter := q.Get("redelivery"), q.Has("redelivery")
	s.withRepo(w, r, sess, func(rp *repo) (int, any) {
		h := rp.hook(id)
		if h == nil || !s.mayManageHooksLocked(sess, rp, false) {
			return http.StatusNotFound, "Not Found"
		}
		out := make([]obj, 0, per)
		for i := len(h.deliveries) - 1; i >= 0; i-- {
			d := h.deliveries[i]
			if (before >= 0 && d.ID > before) || (filter && strconv.FormatBool(d.Redelivery) != redelivery) {
				continue
			}
			if len(out) == per {
				next := *r.URL
				nq := next.Query()
				nq.Set("cursor", fmt.Sprintf("v1_%d", d.ID))
				nq.Set("per_page", strconv.Itoa(per))
				next.RawQuery, next.Scheme, next.Host = nq.Encode(), scheme(r), r.Host
				w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next"`, next.String()))
				break
			}
			out = append(out, d.json())
		}
		return http.StatusOK, out
	})
}

// redeliverHookDelivery serves POST
// /repos/{o}/{r}/hooks/{id}/deliveries/{delivery_id}/attempts: 202, and
// the delivery is sent again in the background.
func (s *Server) redeliverHookDelivery(w http.ResponseWriter, r *http.Request, sess *session) {
	id, _ := pathInt(r, "id")
	did, _ := pathInt(r, "delivery_id")
	var h *hook
	var again sandbox.Delivery
	s.withRepo(w, r, sess, func(rp *repo) (int, any) {
		if h = rp.hook(id); h == nil || !s.mayManageHooksLocked(sess, rp, true) {
			return http.StatusNotFound, "Not Found"
		}
		for _, d := range h.deliveries {
			if d.ID == did {
				again = d.sent
				h.redelivering[d.GUID]++
				return http.StatusAccepted, obj{}
			}
		}
		return http.StatusNotFound, "Not Found"
	})
	if again.Header == nil {
		return
	}
	s.sendAsync(h, again)
}

// HookDeliveries returns hookID's delivery log on repository fullName,
// oldest first: GUID, event, status code and whether it was a redelivery.
func (s *Server) HookDeliveries(fullName string, hookID int64) ([]HookDeliveryRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[strings.ToLower(fullName)]
	var h *hook
	if rp != nil {
		h = rp.hook(hookID)
	}
	if h == nil {
		return nil, fmt.Errorf("hook %d on %s: %w", hookID, fullName, ErrNotFound)
	}
	out := make([]HookDeliveryRecord, len(h.deliveries))
	for i, d := range h.deliveries {
		out[i] = HookDeliveryRecord{GUID: d.GUID, Event: d.Event, StatusCode: d.StatusCode, Redelivery: d.Redelivery}
	}
	return out, nil
}

// HookDeliveryRecord is one attempt in a hook's delivery log.
type HookDeliveryRecord struct {
	GUID       string
	Event      string
	StatusCode int
	Redelivery bool
}
