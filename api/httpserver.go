package api

import (
	"context"
	"net/http"
	"time"

	"github.com/poblysh/poblysh/lifecycle"
)

// Timeouts bound the API's requests. Each route has a deadline, counted
// from when its handler starts: at the deadline the request's context ends
// (as if the client had hung up) and a request body not read yet fails
// (the connection's read deadline); the answer may be written until the
// deadline plus Grace (the write deadline), so that a request cut at its
// deadline is still answered. There is no server-wide ReadTimeout or
// WriteTimeout: they bound every route alike, and a DELETE
// /connections/{id} that ran past them finished its work while the client
// got EOF.
type Timeouts struct {
	// ReadHeader bounds reading a request's line and headers.
	ReadHeader time.Duration
	// Idle bounds a kept-alive connection's wait for its next request.
	Idle time.Duration
	// Request is the deadline of every route but those below.
	Request time.Duration
	// Feed is listSignals's: a long poll waits up to MaxFeedWait, then
	// reads its page.
	Feed time.Duration
	// Delete is deleteConnection's: the delete itself, on its own clock
	// (lifecycle.DeleteWithin), the polling schedule's removal, then the
	// purge of its Signals when asked (DeleteDeadline).
	Delete time.Duration
	// Grace is how long past its deadline a route's answer may take to be
	// written.
	Grace time.Duration
}

// DeleteDeadline is deleteConnection's deadline: lifecycle.DeleteWithin
// for the delete, then 10 minutes for the schedule's removal (at most 30
// s) and the purge of its Signals, which deletes some hundreds of
// thousands a minute; a purge of a connection's millions runs past it,
// and goes on: the same request again, while it runs, waits for it and
// answers 204 (once it has ended, 404).
const DeleteDeadline = lifecycle.DeleteWithin + 10*time.Minute

// DefaultTimeouts are the API's timeouts: 10 s for a request's headers,
// 2 minutes idle, 60 s for a route (MaxFeedWait + 15 s for the feed,
// DeleteDeadline for a connection's delete) and 15 s more to write the
// answer.
func DefaultTimeouts() Timeouts {
	return Timeouts{ReadHeader: 10 * time.Second, Idle: 2 * time.Minute, Request: 60 * time.Second,
		Feed: MaxFeedWait + 15*time.Second, Delete: DeleteDeadline, Grace: 15 * time.Second}
}

// orDefault fills the zero fields of t from DefaultTimeouts.
func (t Timeouts) orDefault() Timeouts {
	def := DefaultTimeouts()
	for _, f := range []struct{ v, d *time.Duration }{
		{&t.ReadHeader, &def.ReadHeader}, {&t.Idle, &def.Idle}, {&t.Request, &def.Request},
		{&t.Feed, &def.Feed}, {&t.Delete, &def.Delete}, {&t.Grace, &def.Grace},
	} {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	return t
}

// routeDeadline is the deadline of the route named name.
func (t Timeouts) routeDeadline(name string) time.Duration {
	switch name {
	case "listSignals":
		return t.Feed
	case "deleteConnection":
		return t.Delete
	}
	return t.Request
}

// NewHTTPServer is the API's HTTP server, as `poblysh serve` and `poblysh
// api` listen with it (its Addr left to the caller): NewServer's handler,
// bounded by d.Timeouts (zero fields take DefaultTimeouts) per route
// rather than server-wide.
func NewHTTPServer(d Deps) (*http.Server, error) {
	h, err := NewServer(d)
	if err != nil {
		return nil, err
	}
	t := d.Timeouts.orDefault()
	return &http.Server{Handler: h, ReadHeaderTimeout: t.ReadHeader, IdleTimeout: t.Idle}, nil
}

// withDeadline gives a route's request d from now (Timeouts): its context
// ends at d, its body (when it has one) must be read by then, and its
// answer written by d + grace. Writers that cannot take deadlines (a
// test's recorder) are served without.
//
// A request without a body gets no read deadline: net/http reads ahead
// on its connection in the background while the handler runs (to learn
// that the client hung up), and a deadline would end that read, and the
// context, early. The context's own deadline does that job.
func withDeadline(d, grace time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := connDeadlines(w, r, d, grace)
		ctx, cancel := context.WithDeadline(r.Context(), at)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// withConnDeadlines sets the connection's deadlines of Request for every
// request (withDeadline), routes or not (an unknown path, the spec, the
// docs): net/http keeps neither deadline from one request to the next.
func withConnDeadlines(d, grace time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		connDeadlines(w, r, d, grace)
		next.ServeHTTP(w, r)
	})
}

// connDeadlines sets the read deadline (a request with a body) at d from
// now and the write deadline at d + grace, and returns the time d is up.
func connDeadlines(w http.ResponseWriter, r *http.Request, d, grace time.Duration) time.Time {
	now := time.Now()
	rc := http.NewResponseController(w)
	if r.Body != nil && r.Body != http.NoBody {
		_ = rc.SetReadDeadline(now.Add(d))
	}
	_ = rc.SetWriteDeadline(now.Add(d + grace))
	return now.Add(d)
}
