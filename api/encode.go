package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sirupsen/logrus"

	"github.com/poblysh/poblysh"
)

// statusOf is the one table from domain error codes to HTTP statuses.
var statusOf = map[string]int{
	poblysh.EINVALID:       http.StatusBadRequest,
	poblysh.EUNAUTHORIZED:  http.StatusUnauthorized,
	poblysh.ENOTFOUND:      http.StatusNotFound,
	poblysh.EMETHOD:        http.StatusMethodNotAllowed,
	poblysh.ECONFLICT:      http.StatusConflict,
	poblysh.ETOOLARGE:      http.StatusRequestEntityTooLarge,
	poblysh.EMEDIATYPE:     http.StatusUnsupportedMediaType,
	poblysh.EVALIDATION:    http.StatusUnprocessableEntity,
	poblysh.EINVALIDCONFIG: http.StatusUnprocessableEntity,
	poblysh.EBADGATEWAY:    http.StatusBadGateway,
	poblysh.EUNAVAILABLE:   http.StatusServiceUnavailable,
	poblysh.EINTERNAL:      http.StatusInternalServerError,
}

type errorBody struct {
	Code      string            `json:"code"`
	Message   string            `json:"message"`
	Details   map[string]string `json:"details"`
	RequestID string            `json:"request_id"`
}

// writeError answers with the error shape. Internal errors are logged with
// the request id and answered without internals; a 401 carries its
// challenge (bearerChallenge unless the handler set one).
func writeError(w http.ResponseWriter, r *http.Request, log *logrus.Logger, err error) {
	code := poblysh.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		code, status = poblysh.EINTERNAL, http.StatusInternalServerError
	}
	body := errorBody{Code: code, Message: poblysh.ErrorMessage(err), RequestID: requestIDOf(r)}
	var pe *poblysh.Error
	if errors.As(err, &pe) && len(pe.Details) > 0 {
		body.Details = pe.Details
	}
	fields := logrus.Fields{"request_id": body.RequestID, "status": status, "code": code}
	switch {
	case status >= 500:
		log.WithFields(fields).WithError(err).Error("request failed")
	case status == http.StatusUnauthorized:
		log.WithFields(fields).Debug(body.Message)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	if status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", bearerChallenge) // unless the handler named another
	}
	writeJSON(w, status, map[string]any{"error": body})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func tooLarge(limit int64) error {
	return &poblysh.Error{Code: poblysh.ETOOLARGE, Message: fmt.Sprintf("request body is larger than %d bytes", limit)}
}

// decodeJSON reads a JSON body under a size limit into dst. An empty body
// is allowed when optional (dst keeps its zero value). It enforces the JSON
// content type (415), the size limit (413), a single JSON object with no
// unknown fields and no key given twice (400 with details), and fields of
// the right JSON type (422 naming the field).
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, dst any, optional bool) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(limit)
	}
	if err != nil {
		return poblysh.Invalid("could not read the request body", nil)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		if optional {
			return nil
		}
		return poblysh.Invalid("a JSON body is required", nil)
	}
	if ct := r.Header.Get("Content-Type"); ct != "" || len(body) > 0 {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &poblysh.Error{Code: poblysh.EMEDIATYPE, Message: "Content-Type must be application/json"}
		}
	}
	if bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
		if optional {
			return nil // as no body
		}
		return poblysh.Invalid("request body is not valid JSON for this operation", map[string]string{"body": "the body must be a JSON object"})
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	// A field of the wrong JSON type is well-formed JSON that breaks the
	// schema (422): said once the body is known to be well-formed, so the
	// 400s come first (the decoder has read the whole object by then).
	wrongType, err := fieldTypeError(dec.Decode(dst))
	if err != nil {
		return poblysh.Invalid("request body is not valid JSON for this operation", map[string]string{"body": jsonProblem(err)})
	}
	// Anything after the object (dec.More alone misses a stray ']' or '}').
	if len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
		return poblysh.Invalid("request body must hold a single JSON object", nil)
	}
	if problem := keyProblem(body, dst); problem != "" {
		return poblysh.Invalid("request body is not valid JSON for this operation", map[string]string{"body": problem})
	}
	if escapedNUL(body) {
		return poblysh.Invalid("request body holds a NUL character", map[string]string{"body": "strings must not contain NUL characters (\\u0000)"})
	}
	return wrongType
}

// fieldTypeError splits a decode error: a field of the wrong JSON type
// becomes the 422 naming the field (wrongType); anything else (malformed
// JSON, an unknown field, a body that is not an object) is returned as err.
func fieldTypeError(decodeErr error) (wrongType, err error) {
	var ute *json.UnmarshalTypeError
	if !errors.As(decodeErr, &ute) || ute.Field == "" {
		return nil, decodeErr
	}
	return &poblysh.Error{Code: poblysh.EVALIDATION, Message: "request body failed validation",
		Details: map[string]string{ute.Field: "must be " + jsonType(ute.Type)}}, nil
}

// keyProblem walks the keys of the object body (already decoded into dst
// without error) for what encoding/json accepts and the spec does not: a
// top-level key that names one of dst's fields only case-insensitively
// ("MODE" for "mode"), and a key given twice in one object, at any depth
// (the decoder keeps the last value, so {"name":"x","name":"y"} meant "y"
// to the server whatever the client meant). It returns the problem, or ""
// when there is none. Only the admin and config bodies come here, all
// small (MaxBodyBytes); webhooks and the feed do not.
func keyProblem(body []byte, dst any) string {
	names := fieldNames(dst)
	dec := json.NewDecoder(bytes.NewReader(body))
	var stack []*jsonFrame
	for {
		tok, err := dec.Token()
		if err != nil {
			return "" // the end (the syntax was checked by the decode)
		}
		var top *jsonFrame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if k, ok := tok.(string); ok && top != nil && top.object && top.wantKey {
			if top.keys[k] {
				return fmt.Sprintf("key %q is given more than once", top.child(k))
			}
			if len(stack) == 1 && names != nil && !names[k] {
				return fmt.Sprintf("unknown field %q", k)
			}
			top.keys[k], top.key, top.wantKey = true, k, false
			continue
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			path := ""
			if top != nil {
				path = top.child(top.key)
			}
			f := &jsonFrame{path: path, object: tok == json.Delim('{')}
			if f.object {
				f.keys, f.wantKey = map[string]bool{}, true
			}
			stack = append(stack, f)
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return ""
			}
			top = stack[len(stack)-1]
		}
		top.valueDone()
	}
}

// fieldNames are the JSON names of dst's fields (nil when dst is not a
// struct).
func fieldNames(dst any) map[string]bool {
	t := reflect.TypeOf(dst)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	names := map[string]bool{}
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if tag == "" {
			tag = t.Field(i).Name
		}
		names[tag] = true
	}
	return names
}

// jsonFrame is an object or array keyProblem is inside.
type jsonFrame struct {
	path    string // "" for the body itself
	object  bool
	keys    map[string]bool
	key     string // the object's current key
	wantKey bool
	index   int // the array's current element
}

// child names the current member: config.repos, config.repos[2].
func (f *jsonFrame) child(key string) string {
	if !f.object {
		return fmt.Sprintf("%s[%d]", f.path, f.index)
	}
	if f.path == "" {
		return key
	}
	return f.path + "." + key
}

// valueDone moves past a member's value.
func (f *jsonFrame) valueDone() {
	if f.object {
		f.wantKey = true
	} else {
		f.index++
	}
}

func jsonProblem(err error) string {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		if ute.Field == "" {
			return "the body must be a JSON object"
		}
		return fmt.Sprintf("field %q must be %s", ute.Field, jsonType(ute.Type))
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown field " + strings.TrimPrefix(msg, "json: unknown field ")
	}
	return msg
}

// jsonType names the JSON type a Go type decodes from, so errors never show
// Go type names.
func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "of another JSON type"
}

var uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func isUUID(s string) bool { return uuidRe.MatchString(s) }

// query reads and validates query parameters, collecting every problem.
type query struct {
	r        *http.Request
	values   url.Values // parsed once
	problems map[string]string
}

func newQuery(r *http.Request) *query {
	return &query{r: r, values: r.URL.Query(), problems: map[string]string{}}
}

// value reads a parameter with a form (a pattern, enum, format or type in
// swagger.yml); ok is false when it is absent or its value is empty. An
// empty value (`kind=`) is given, and outside every such form: it is a
// problem, never read as the parameter's absence, which would answer a
// wider query than the one asked (every kind, every connection).
func (q *query) value(name string) (v string, ok bool) {
	vs, given := q.values[name]
	if !given || len(vs) == 0 {
		return "", false
	}
	if vs[0] == "" {
		q.problems[name] = "must not be empty"
		return "", false
	}
	return vs[0], true
}

// str reads a text parameter of at most max characters (as the spec's
// maxLength and the name rules count them, not bytes). Postgres cannot
// compare text with a NUL or invalid UTF-8 in it (the statement fails), so
// such a value is the client's mistake, said as one.
func (q *query) str(name string, max int) string {
	v := q.values.Get(name)
	switch {
	case len(v) > max && utf8.RuneCountInString(v) > max:
		q.problems[name] = fmt.Sprintf("must be at most %d characters", max)
	case !isText(v):
		q.problems[name] = notText
	}
	return v
}

// Query values with a pattern in swagger.yml (providerQuery, the signal
// filters): a value outside it names nothing that exists, so it is a
// mistake to report, not an empty list.
var (
	providerRe = regexp.MustCompile(`^[a-z][a-z0-9-]{1,31}$`)
	kindRe     = regexp.MustCompile(`^[a-z][a-z_]*\.[a-z][a-z_]*$`)
)

// matching reads a parameter that must match re when given; example shows
// the form in the problem.
func (q *query) matching(name string, re *regexp.Regexp, example string) string {
	if _, ok := q.value(name); !ok {
		return ""
	}
	v := q.str(name, 64)
	if _, bad := q.problems[name]; !bad && !re.MatchString(v) {
		q.problems[name] = "must look like " + example
	}
	return v
}

// notText is the problem of a string that is not text Postgres can hold.
const notText = "must be UTF-8 text without NUL characters"

// isText reports whether s is valid UTF-8 without a NUL.
func isText(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// escapedNUL reports whether the JSON document body (already decoded
// without error) holds a NUL in a string: the escape \u0000, with an odd
// number of backslashes before the u, since an escaped backslash before
// "u0000" is text. encoding/json decodes it into the Go string, and
// Postgres refuses text and jsonb holding it.
func escapedNUL(body []byte) bool {
	for i := 0; ; {
		k := bytes.Index(body[i:], []byte(`u0000`))
		if k < 0 {
			return false
		}
		at := i + k
		n := 0
		for j := at - 1; j >= 0 && body[j] == '\\'; j-- {
			n++
		}
		if n%2 == 1 {
			return true
		}
		i = at + 1
	}
}

func (q *query) enum(name string, allowed ...string) string {
	v, ok := q.value(name)
	if !ok {
		return ""
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	q.problems[name] = "must be one of " + strings.Join(allowed, ", ")
	return ""
}

func (q *query) uuid(name string) string {
	v, ok := q.value(name)
	if ok && !isUUID(v) {
		q.problems[name] = "must be a UUID"
	}
	return v
}

// time is a time bound of a query (since, until): the first microsecond
// at or after the date-time given (boundMicro).
func (q *query) time(name string) *time.Time {
	t := q.givenTime(name)
	if t == nil {
		return nil
	}
	b := boundMicro(*t)
	return &b
}

// timeRange is the since and until of a time query (time), with until
// after since as given: a range within one microsecond (since
// …00.0000001Z, until …00.0000002Z) is valid and holds nothing.
func (q *query) timeRange() (since, until *time.Time) {
	s, u := q.givenTime("since"), q.givenTime("until")
	if s != nil && u != nil && !u.After(*s) {
		q.problems["until"] = "must be after since"
	}
	if s != nil {
		b := boundMicro(*s)
		since = &b
	}
	if u != nil {
		b := boundMicro(*u)
		until = &b
	}
	return since, until
}

// givenTime is the date-time given as name, to the nanosecond.
func (q *query) givenTime(name string) *time.Time {
	v, ok := q.value(name)
	if !ok {
		return nil
	}
	t, ok := parseRFC3339(v)
	if !ok {
		q.problems[name] = "must be an RFC 3339 date-time, e.g. 2026-01-02T15:04:05Z"
		return nil
	}
	return &t
}

// parseRFC3339 parses an RFC 3339 date-time (section 5.6), which
// time.Parse takes only in part:
//   - "T" and "Z" may be lower case (the section's note): time.Parse
//     refused 2026-01-02t15:04:05z;
//   - a leap second (second 60) is the instant after the minute's 59th
//     second, as Postgres takes it: 23:59:60Z is the next day's 00:00:00Z
//     (the time is a bound of a range, and nothing is stored during a leap
//     second, which Go and Postgres times cannot hold); only where a leap
//     second can be, the last minute of a month in UTC (section 5.7),
//     with the offset given;
//   - a numeric offset is at most 23:59 (rfc3339Offset), where time.Parse
//     also takes +24:00 and +12:60.
func parseRFC3339(v string) (time.Time, bool) {
	b := []byte(v)
	if len(b) > 10 && b[10] == 't' {
		b[10] = 'T'
	}
	if n := len(b); n > 0 && b[n-1] == 'z' {
		b[n-1] = 'Z'
	}
	// The seconds are at [17:19] (YYYY-MM-DDThh:mm:ss): the layout has
	// no other form.
	leap := len(b) > 19 && b[16] == ':' && b[17] == '6' && b[18] == '0'
	if leap {
		b[17], b[18] = '5', '9'
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil || !rfc3339Offset(v) {
		return time.Time{}, false
	}
	if leap {
		if u := t.UTC(); u.Hour() != 23 || u.Minute() != 59 || u.AddDate(0, 0, 1).Day() != 1 {
			return time.Time{}, false
		}
		t = t.Add(time.Second)
	}
	return t, true
}

// boundMicro rounds a query's time bound up to the next microsecond.
// Stored times (occurred_at, created_at) are microseconds, and pgx drops
// a bound's nanoseconds as it sends it, which moved since and until
// before the time given: since=T+500ns listed what happened at T, and
// until=T+500ns left it out. For a time s stored in microseconds,
// s >= t and s < t hold exactly when they hold for t rounded up, so both
// ends of since <= timestamp < until keep their meaning.
func boundMicro(t time.Time) time.Time {
	if r := t.Truncate(time.Microsecond); !r.Equal(t) {
		return r.Add(time.Microsecond)
	}
	return t
}

// offsetRe is a numeric zone offset at the end of a date-time.
var offsetRe = regexp.MustCompile(`[+-]([0-9]{2}):([0-9]{2})$`)

// rfc3339Offset reports whether v's zone offset, when numeric, is one RFC
// 3339 allows (hours 00–23, minutes 00–59): time.Parse also takes +24:00
// and +12:60.
func rfc3339Offset(v string) bool {
	m := offsetRe.FindStringSubmatch(v)
	return m == nil || (m[1] <= "23" && m[2] <= "59")
}

func (q *query) limit() int {
	v, ok := q.value("limit")
	if !ok {
		return 100
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		q.problems["limit"] = "must be an integer between 1 and 1000"
		return 100
	}
	return n
}

func (q *query) boolean(name string) bool {
	v, ok := q.value(name)
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		q.problems[name] = "must be true or false"
	}
	return b
}

func (q *query) err() error {
	if len(q.problems) == 0 {
		return nil
	}
	return poblysh.Invalid("invalid query parameters", q.problems)
}

// clip makes s valid UTF-8 of at most n bytes, to quote client input.
func clip(s string, n int) string {
	if s = strings.ToValidUTF8(s, ""); len(s) > n {
		return s[:n]
	}
	return s
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func rfc3339p(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := rfc3339(*t)
	return &s
}
