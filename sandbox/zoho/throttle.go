package zohosandbox

import (
	"net/http"
	"sync"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// defaultThresholds are Zoho's calls per minute per user before a lock
// (Cliq REST docs: get messages 15, mentions 30, chats and channels 20–30).
// Zoho Mail publishes no numbers; the fake does not throttle it unless told.
var defaultThresholds = map[string]int{"messages": 15, "mentions": 30, "channels": 30, "users": 30}

// throttle counts calls per (user, API) per minute. Past the threshold the
// pair is locked for the lock period, and, as Zoho is reported to do, every
// call made during the lock starts the lock again.
type throttle struct {
	mu        sync.Mutex
	now       func() time.Time
	lock      time.Duration
	threshold map[string]int
	window    map[string][]time.Time
	until     map[string]time.Time
	// DuringLock counts calls received while locked (each one extended it).
	DuringLock int
	// Locks counts locks started.
	Locks int
}

func newThrottle(now func() time.Time, lock time.Duration, override map[string]int) *throttle {
	th := map[string]int{}
	for k, v := range defaultThresholds {
		th[k] = v
	}
	for k, v := range override {
		th[k] = v
	}
	return &throttle{now: now, lock: lock, threshold: th, window: map[string][]time.Time{}, until: map[string]time.Time{}}
}

// allow records one call and reports whether it may proceed.
func (t *throttle) allow(user, api string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := user + "|" + api
	now := t.now()
	if u, ok := t.until[key]; ok && now.Before(u) {
		t.DuringLock++
		t.until[key] = now.Add(t.lock)
		return false
	}
	max := t.threshold[api]
	if max <= 0 {
		return true
	}
	kept := t.window[key][:0]
	for _, c := range t.window[key] {
		if now.Sub(c) < time.Minute {
			kept = append(kept, c)
		}
	}
	if len(kept) >= max {
		t.window[key] = nil
		t.until[key] = now.Add(t.lock)
		t.Locks++
		return false
	}
	t.window[key] = append(kept, now)
	return true
}

// Lock locks an API for a user now, as if it had been over its threshold.
func (t *throttle) Lock(user, api string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.until[user+"|"+api] = t.now().Add(t.lock)
	t.Locks++
}

// ThrottleStats reports locks started and calls received during locks.
func (s *Server) ThrottleStats() (locks, duringLock int) {
	s.limits.mu.Lock()
	defer s.limits.mu.Unlock()
	return s.limits.Locks, s.limits.DuringLock
}

// Throttle locks a Cliq API ("messages", "mentions", "channels") for a user.
func (s *Server) Throttle(user, api string) { s.limits.Lock(user, api) }

// throttled answers a locked call the way Cliq does: HTTP 400 with code
// request_limit_exceeded.
func throttled(w http.ResponseWriter) {
	sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{
		"code": "request_limit_exceeded", "message": "You have exceeded the URL throttle limits.",
	})
}
