package sandbox

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is an injected failure. The next Count matching API requests answer
// it instead of the real response.
type Fault struct {
	// Status is the HTTP status to answer (429, 500, 503, 403...).
	Status int `json:"status"`
	// RetryAfter sets a Retry-After header (seconds) when > 0.
	RetryAfter int `json:"retry_after,omitempty"`
	// Headers are extra response headers (x-ratelimit-remaining: 0...).
	Headers map[string]string `json:"headers,omitempty"`
	// Body is the response body; providers fill a realistic default.
	Body string `json:"body,omitempty"`
	// ContentType overrides the response's Content-Type (garbage: an HTML
	// page or text served with 200).
	ContentType string `json:"content_type,omitempty"`
	// EmptyBody answers no body at all (Body and the default are ignored).
	EmptyBody bool `json:"empty_body,omitempty"`
	// Delay holds the response this long before answering (timeouts);
	// with Status 0 the real response follows (a slow provider).
	Delay Duration `json:"delay,omitempty"`
	// Count is how many requests the fault applies to (default 1).
	Count int `json:"count,omitempty"`
	// PathPrefix limits the fault to paths starting with it.
	PathPrefix string `json:"path_prefix,omitempty"`
	// After lets this many matching requests through before the fault applies.
	After int `json:"after,omitempty"`
	// Drop serves the request for real, then closes the connection without
	// answering: the provider acted and the client never learns it (a lost
	// response). Status is ignored.
	Drop bool `json:"drop,omitempty"`
}

// Duration is a time.Duration that reads "2s" or seconds as a number in JSON.
type Duration time.Duration

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		*d = Duration(f * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// Faults is a queue of injected failures applied by Middleware.
type Faults struct {
	mu    sync.Mutex
	queue []*Fault
	// Hits counts requests answered with a fault.
	Hits int
	// DefaultBody builds a provider-shaped error body for a status when the
	// fault has none.
	DefaultBody func(status int) (contentType, body string)
}

// Add queues a fault.
func (f *Faults) Add(ft Fault) {
	if ft.Count <= 0 {
		ft.Count = 1
	}
	f.mu.Lock()
	f.queue = append(f.queue, &ft)
	f.mu.Unlock()
}

// HitCount is Hits, read under the queue's lock (while requests are served).
func (f *Faults) HitCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Hits
}

// Clear removes every queued fault.
func (f *Faults) Clear() {
	f.mu.Lock()
	f.queue = nil
	f.mu.Unlock()
}

func (f *Faults) take(path string) *Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, ft := range f.queue {
		if ft.PathPrefix != "" && !strings.HasPrefix(path, ft.PathPrefix) {
			continue
		}
		if ft.After > 0 {
			ft.After--
			return nil
		}
		ft.Count--
		if ft.Count <= 0 {
			f.queue = append(f.queue[:i], f.queue[i+1:]...)
		}
		f.Hits++
		c := *ft
		return &c
	}
	return nil
}

// Middleware answers matching requests with queued faults; requests under
// /_sandbox/ are never faulted.
func (f *Faults) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/_sandbox/") {
			next.ServeHTTP(w, r)
			return
		}
		ft := f.take(r.URL.Path)
		if ft == nil {
			next.ServeHTTP(w, r)
			return
		}
		if ft.Drop {
			next.ServeHTTP(httptest.NewRecorder(), r)
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					_ = conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler) // HTTP/2: abort the stream instead
		}
		if ft.Delay > 0 {
			select {
			case <-time.After(time.Duration(ft.Delay)):
			case <-r.Context().Done():
				return
			}
			if ft.Status == 0 {
				next.ServeHTTP(w, r)
				return
			}
		}
		for k, v := range ft.Headers {
			w.Header().Set(k, v)
		}
		if ft.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(ft.RetryAfter))
		}
		ctype, body := "application/json", ft.Body
		if body == "" && !ft.EmptyBody && f.DefaultBody != nil {
			ctype, body = f.DefaultBody(ft.Status)
		}
		if body == "" && !ft.EmptyBody {
			body = `{"message":"` + http.StatusText(ft.Status) + `"}`
		}
		if ft.ContentType != "" {
			ctype = ft.ContentType
		}
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(ft.Status)
		_, _ = w.Write([]byte(body))
	})
}
