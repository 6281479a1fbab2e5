package github

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	gh "github.com/google/go-github/v89/github"
)

// GitHub pages a list by page number, by an opaque cursor (after/before,
// cursor) or by since, and names the next page's URL in the answer's Link
// header (rel="next"): "each paginated endpoint will use the page,
// before/after, or since query parameters … In all cases, you can use the
// URLs in the link header to fetch additional pages" (Using pagination in
// the REST API). A list that starts by page numbers can switch to a
// cursor part way (large lists: a page number past the point is answered
// 422 "Pagination with the page parameter is not supported for large
// datasets, please use cursor based pagination (after/before)"), so the
// connector never builds a page's address itself: it requests what the
// last answer linked. go-github's Response.NextPage reads the page number
// only (0 for an after= link, which ended a pass after its first page).

// nextLink returns the query of the answer's Link rel="next" URL, without
// per_page (a pass keeps its own), encoded; "" on the last page. The
// path is not kept: GitHub links a repository's lists under
// /repositories/{id}/…, and the connector reads them under the name the
// repository has now (the same list), on the configured API root.
func nextLink(h http.Header) string {
	for _, v := range h.Values("Link") {
		for rest := v; ; {
			i := strings.IndexByte(rest, '<')
			if i < 0 {
				break
			}
			j := strings.IndexByte(rest[i:], '>')
			if j < 0 {
				break
			}
			target := rest[i+1 : i+j]
			rest = rest[i+j+1:]
			params := rest
			if k := strings.IndexByte(rest, '<'); k >= 0 {
				params = rest[:k]
			}
			if !relNext(params) {
				continue
			}
			u, err := url.Parse(target)
			if err != nil {
				continue
			}
			q := u.Query()
			q.Del("per_page")
			if len(q) == 0 {
				continue
			}
			return q.Encode()
		}
	}
	return ""
}

// relNext reports whether a link's parameters (`; rel="next"`, up to the
// next link) name it next; rel may list several relations.
func relNext(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
			continue
		}
		v = strings.Trim(strings.TrimSpace(strings.TrimRight(strings.TrimSpace(v), ",")), `"`)
		for _, rel := range strings.Fields(v) {
			if strings.EqualFold(rel, "next") {
				return true
			}
		}
	}
	return false
}

// pageQuery is the query of a list page's request: base (the list's own
// parameters), per_page, and link, the next-page query the page before
// linked (nextLink), whose parameters win; without one (the first page, or
// a cursor stored before links were kept), page (when above 1).
func pageQuery(base url.Values, perPage int, link string, page int) (url.Values, error) {
	q := url.Values{}
	for k, v := range base {
		q[k] = v
	}
	if link != "" {
		lq, err := url.ParseQuery(link)
		if err != nil {
			return nil, fmt.Errorf("next page %q: %v", link, err)
		}
		for k, v := range lq {
			q[k] = v
		}
	} else if page > 1 {
		q.Set("page", strconv.Itoa(page))
	}
	q.Set("per_page", strconv.Itoa(perPage))
	return q, nil
}

// linkedPage is the page number a next-page query names (its page
// parameter), or the one after current when it names a cursor.
func linkedPage(link string, current int) int {
	if q, err := url.ParseQuery(link); err == nil {
		if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 0 {
			return n
		}
	}
	return max(current, 1) + 1
}

// eachPage reads every page of a list (GET path, 100 a page), following
// each answer's Link rel="next", and hands each page to visit until it
// answers true (found) or the list ends. A link that names the page just
// read ends the list (no loop on a misbehaving answer).
func eachPage[T any](ctx context.Context, client *gh.Client, path string, visit func(T) bool) error {
	link := ""
	for {
		q, err := pageQuery(nil, 100, link, 1)
		if err != nil {
			return err
		}
		req, err := client.NewRequest(ctx, http.MethodGet, path+"?"+q.Encode(), nil)
		if err != nil {
			return fmt.Errorf("build request: %w", err)
		}
		var page T
		resp, err := client.Do(req, &page)
		if err != nil {
			return err
		}
		if visit(page) {
			return nil
		}
		next := nextLink(resp.Header)
		if next == "" || next == link {
			return nil
		}
		link = next
	}
}
