package connectortest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
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
