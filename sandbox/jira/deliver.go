package jirasandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/poblysh/poblysh/sandbox"
)

// outgoing is one delivery to one URL, before signing.
type outgoing struct {
	url   string
	ident string
	body  []byte
}

// event is what happened to an issue.
type event struct {
	name     string // jira:issue_created, jira:issue_updated, jira:issue_deleted
	typeName string // issue_created, issue_generic, issue_updated, issue_assigned
	actor    string
	hist     *historyState
}

// deliveriesLocked builds the deliveries of an issue event (the caller
// holds s.mu): one per URL, listing every matching webhook of the site in
// matchedWebhookIds. A webhook matches on its events, the projects of its
// JQL filter, and, for updates, its fieldIdsFilter; an app that is not
// distributed publicly delivers only the webhooks its owner registered.
func (s *Server) deliveriesLocked(st *siteState, is *issueState, ev event) []outgoing {
	byURL := map[string][]int64{}
	var urls []string
	for _, h := range st.webhooks {
		if !h.Expires.After(s.now()) || !slices.Contains(h.Events, ev.name) {
			continue
		}
		if len(h.Projects) > 0 && !slices.Contains(h.Projects, is.Project) {
			continue
		}
		if ev.name == "jira:issue_updated" && len(h.FieldIDs) > 0 && ev.hist != nil {
			hit := false
			for _, it := range ev.hist.Items {
				hit = hit || slices.Contains(h.FieldIDs, it.FieldID)
			}
			if !hit {
				continue
			}
		}
		if s.private && h.Owner != DefaultUser {
			continue
		}
		if _, ok := byURL[h.URL]; !ok {
			urls = append(urls, h.URL)
		}
		byURL[h.URL] = append(byURL[h.URL], h.ID)
	}
	v2 := s.v2(st)
	var out []outgoing
	for _, u := range urls {
		body := map[string]any{
			"timestamp":             s.now().UnixMilli(),
			"webhookEvent":          ev.name,
			"issue_event_type_name": ev.typeName,
			"user":                  v2.user(ev.actor),
			"issue":                 v2.issue(is, nil, false),
			"matchedWebhookIds":     byURL[u],
		}
		if ev.hist != nil {
			h := v2.history(*ev.hist)
			body["changelog"] = map[string]any{"id": h["id"], "items": h["items"]}
		}
		raw, _ := json.Marshal(body)
		st.nextDelivery++
		out = append(out, outgoing{url: u, ident: strconv.Itoa(st.nextDelivery) + "-" + strconv.FormatInt(s.now().UnixMilli(), 10), body: raw})
	}
	return out
}

// Sign returns a delivery JWT as Jira's dynamic webhooks of OAuth 2.0 apps
// carry it: HS256 with the client secret, valid for a few minutes.
func (s *Server) Sign(now time.Time) string {
	claims := jwt.MapClaims{"iss": "jira", "iat": now.Unix(), "exp": now.Add(3 * time.Minute).Unix()}
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(s.opts.ClientSecret))
	return tok
}

// headers are a delivery's headers for attempt n (0: the first).
func (s *Server) headers(o outgoing, retry int) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("User-Agent", "Atlassian Webhook HTTP Client")
	h.Set("Authorization", "Bearer "+s.Sign(s.now()))
	h.Set("X-Atlassian-Webhook-Identifier", o.ident)
	h.Set("X-Atlassian-Webhook-Flow", "Primary")
	if retry > 0 {
		h.Set("X-Atlassian-Webhook-Retry", strconv.Itoa(retry))
	}
	return h
}

// retryable are the answers Jira retries (and connection failures).
func retryable(status int) bool {
	return status == 408 || status == 409 || status == 425 || status == 429 || status >= 500
}

// send delivers each outgoing (copies times at once, or held for
// /_sandbox/flush) to the shared webhook target when one is set, else to
// the URL the webhooks were registered with, retrying like Jira with the
// same identifier and a fresh JWT.
func (s *Server) send(ctx context.Context, outs []outgoing, opt sandbox.DeliveryOptions) []sandbox.Result {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	var results []sandbox.Result
	for _, o := range outs {
		target := s.Deliverer.Target()
		if target == "" {
			target = o.url
		}
		if opt.Hold {
			s.Deliverer.SetTarget(target)
			s.Deliverer.Send(ctx, sandbox.Delivery{Header: s.headers(o, 0), Body: o.body}, opt)
			continue
		}
		n := max(opt.Copies, 1)
		out := make([]sandbox.Result, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out[i] = s.post(ctx, target, o)
			}()
		}
		wg.Wait()
		results = append(results, out...)
	}
	return results
}

func (s *Server) post(ctx context.Context, target string, o outgoing) sandbox.Result {
	client := &http.Client{Timeout: 15 * time.Second}
	var res sandbox.Result
	for attempt := 0; attempt <= s.opts.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(100 * time.Millisecond << (attempt - 1)):
			case <-ctx.Done():
				return sandbox.Result{Err: ctx.Err()}
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(o.body))
		if err != nil {
			return sandbox.Result{Err: err}
		}
		req.Header = s.headers(o, attempt)
		resp, err := client.Do(req)
		if err != nil {
			res = sandbox.Result{Err: err}
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		res = sandbox.Result{Status: resp.StatusCode, Body: string(b)}
		if !retryable(resp.StatusCode) {
			return res
		}
	}
	return res
}
