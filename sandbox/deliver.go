package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Delivery is one webhook or push notification, fully formed: the provider
// fake computes signatures and headers before handing it over.
type Delivery struct {
	Header http.Header
	Body   []byte
}

// DeliveryOptions shape how a delivery is sent.
type DeliveryOptions struct {
	// Copies sends the same delivery this many times concurrently (default 1),
	// as a provider's retry racing its first attempt would.
	Copies int `json:"copies,omitempty"`
	// Hold queues the delivery instead of sending it; Flush sends held
	// deliveries newest first (out of order).
	Hold bool `json:"hold,omitempty"`
}

// Result is the outcome of one delivery attempt.
type Result struct {
	Status int
	Body   string
	Err    error
}

// Deliverer posts deliveries to the service under test and records results.
// Like the real providers, it retries 5xx and connection failures a few
// times with backoff (Retries; 0 means no retry, GitHub's behaviour).
type Deliverer struct {
	Client  *http.Client
	Retries int
	Backoff time.Duration
	// OnResult, when set, is called with each copy's outcome and how long
	// it took, once it is known (a held delivery's when it is flushed): a
	// provider fake's delivery log.
	OnResult func(del Delivery, res Result, took time.Duration)

	mu      sync.Mutex
	target  string
	held    []Delivery
	results []Result
}

// SetTarget sets where deliveries go (the service's webhook URL).
func (d *Deliverer) SetTarget(url string) {
	d.mu.Lock()
	d.target = url
	d.mu.Unlock()
}

// Target returns the current target URL.
func (d *Deliverer) Target() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.target
}

// Send delivers (or holds) one delivery and returns the results of every copy.
func (d *Deliverer) Send(ctx context.Context, del Delivery, opt DeliveryOptions) []Result {
	if opt.Hold {
		d.mu.Lock()
		d.held = append(d.held, del)
		d.mu.Unlock()
		return nil
	}
	n := opt.Copies
	if n <= 0 {
		n = 1
	}
	out := make([]Result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			out[i] = d.post(ctx, del)
			if d.OnResult != nil {
				d.OnResult(del, out[i], time.Since(start))
			}
		}()
	}
	wg.Wait()
	d.mu.Lock()
	d.results = append(d.results, out...)
	d.mu.Unlock()
	return out
}

// Flush sends every held delivery, newest first, and returns their results.
func (d *Deliverer) Flush(ctx context.Context) []Result {
	d.mu.Lock()
	held := d.held
	d.held = nil
	d.mu.Unlock()
	var out []Result
	for i := len(held) - 1; i >= 0; i-- {
		out = append(out, d.Send(ctx, held[i], DeliveryOptions{})...)
	}
	return out
}

// Results returns every recorded result.
func (d *Deliverer) Results() []Result {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Result(nil), d.results...)
}

func (d *Deliverer) post(ctx context.Context, del Delivery) Result {
	target := d.Target()
	if target == "" {
		return Result{Err: fmt.Errorf("sandbox: no webhook target configured")}
	}
	client := d.Client
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	backoff := d.Backoff
	if backoff <= 0 {
		backoff = 200 * time.Millisecond
	}
	var res Result
	for attempt := 0; attempt <= d.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(backoff << (attempt - 1)):
			case <-ctx.Done():
				return Result{Err: ctx.Err()}
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(del.Body))
		if err != nil {
			return Result{Err: err}
		}
		for k, vs := range del.Header {
			req.Header[k] = append([]string(nil), vs...)
		}
		resp, err := client.Do(req)
		if err != nil {
			res = Result{Err: err}
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		res = Result{Status: resp.StatusCode, Body: string(b)}
		if resp.StatusCode < 500 {
			return res
		}
	}
	return res
}
