package db

import (
	"fmt"
	"strconv"
	"strings"
)

// where builds a WHERE clause from only the conditions that apply, so the
// planner sees the real predicate (optional "$n = ” OR col = $n" filters
// make generic plans misjudge row counts and sort a whole tenant's rows).
type where struct {
	conds []string
	args  []any
}

// newWhere starts with the tenant condition every query carries.
func newWhere(tenantID string) *where {
	w := &where{}
	w.add("tenant_id = %s", tenantID)
	return w
}

// arg appends a parameter and returns its placeholder.
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

// add appends a condition; each %s in format takes the next value.
func (w *where) add(format string, vals ...any) {
	ph := make([]any, len(vals))
	for i, v := range vals {
		ph[i] = w.arg(v)
	}
	w.conds = append(w.conds, fmt.Sprintf(format, ph...))
}

func (w *where) sql() string { return strings.Join(w.conds, " AND ") }
