package connectortest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// AnswerField rewrites one top-level field of the JSON answers to requests
// whose path ends with PathSuffix (a 200 only): dropped when Value is nil,
// replaced otherwise. It stands for a provider answer that leaves out an
// optional field, or gives it a value the sandbox does not (a Google
// watch answer without `expiration`, say).
type AnswerField struct {
	Base       http.RoundTripper
	PathSuffix string
	Field      string
	Value      any
}

func (a AnswerField) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := a.Base.RoundTrip(r)
	if err != nil || !strings.HasSuffix(r.URL.Path, a.PathSuffix) || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if a.Value == nil {
		delete(m, a.Field)
	} else {
		m[a.Field] = a.Value
	}
	if b, err = json.Marshal(m); err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// WatchExpiration is AnswerField for the "expiration" of a Google watch
// answer (…/watch): dropped when ms is empty, replaced otherwise.
func WatchExpiration(base http.RoundTripper, ms string) AnswerField {
	a := AnswerField{Base: base, PathSuffix: "/watch", Field: "expiration"}
	if ms != "" {
		a.Value = ms
	}
	return a
}

// WatchExpiryCase is one watch answer's expiration (Answer, for
// WatchExpiration) and the channel expiry it must give (Want).
type WatchExpiryCase struct {
	Name   string
	Answer string
	Want   time.Time
}

// WatchExpiryCases are the cases of a Google watch asked to last ttl from
// now: the channel ends at the earlier of what was asked and what Google
// answers, and an answer without an expiration (optional in Google's
// Channel resource) is not a channel that never expires.
func WatchExpiryCases(now time.Time, ttl time.Duration) []WatchExpiryCase {
	asked := now.Add(ttl).UTC()
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	earlier := now.Add(ttl / 3)
	return []WatchExpiryCase{
		{"no expiration in the answer", "", asked},
		{"a later expiration than asked", ms(now.Add(7 * 24 * time.Hour)), asked},
		{"an earlier expiration than asked", ms(earlier), time.UnixMilli(earlier.UnixMilli()).UTC()},
	}
}
