package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
)

// maxTenantName is the longest tenant name, in characters (swagger.yml
// TenantCreateRequest.name); deleteTenant's confirm repeats a name.
const maxTenantName = 200

func handleTenantCreate(log *logrus.Logger, d *db.DB, limit int64) http.Handler {
	type request struct {
		Name string `json:"name"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if err := decodeJSON(w, r, limit, &req, false); err != nil {
			writeError(w, r, log, err)
			return
		}
		req.Name = strings.TrimSpace(req.Name)
		if n := utf8.RuneCountInString(req.Name); n < 1 || n > maxTenantName {
			writeError(w, r, log, &poblysh.Error{Code: poblysh.EVALIDATION, Message: "name is required",
				Details: map[string]string{"name": fmt.Sprintf("must be 1 to %d characters", maxTenantName)}})
			return
		}
		var t *db.Tenant
		var key string
		err := d.WithSystem(r.Context(), func(tx *db.Tx) (err error) {
			t, _, key, err = tx.CreateTenant(r.Context(), req.Name)
			return err
		})
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		log.WithFields(logrus.Fields{"request_id": requestIDOf(r), "tenant_id": t.ID}).Info("tenant created")
		writeJSON(w, http.StatusCreated, map[string]any{"id": t.ID, "name": t.Name, "api_key": key, "created_at": rfc3339(t.CreatedAt)})
	})
}

type apiKeyJSON struct {
	ID         string  `json:"id"`
	TenantID   string  `json:"tenant_id"`
	Name       string  `json:"name"`
	Prefix     string  `json:"prefix"`
	CreatedAt  string  `json:"created_at"`
	LastUsedAt *string `json:"last_used_at"`
	RevokedAt  *string `json:"revoked_at"`
	APIKey     string  `json:"api_key,omitempty"`
}

func apiKeyView(k *db.APIKey) apiKeyJSON {
	return apiKeyJSON{ID: k.ID, TenantID: k.TenantID, Name: k.Name, Prefix: k.Prefix, CreatedAt: rfc3339(k.CreatedAt),
		LastUsedAt: rfc3339p(k.LastUsedAt), RevokedAt: rfc3339p(k.RevokedAt)}
}

// keyTenant is the tenant an API-key operation acts on: the caller's own, or
// for the admin key the tenant_id it names.
func keyTenant(d *db.DB, r *http.Request, requested string) (string, error) {
	p := principalOf(r)
	if !p.admin {
		if requested != "" && !strings.EqualFold(requested, p.tenantID) {
			return "", poblysh.NotFound("tenant")
		}
		return p.tenantID, nil
	}
	if requested == "" {
		return "", &poblysh.Error{Code: poblysh.EVALIDATION, Message: "tenant_id is required with the admin key",
			Details: map[string]string{"tenant_id": "required"}}
	}
	if !isUUID(requested) {
		return "", poblysh.NotFound("tenant")
	}
	err := d.WithSystem(r.Context(), func(tx *db.Tx) error {
		_, err := tx.FindTenant(r.Context(), requested)
		return err
	})
	return requested, err
}

func handleAPIKeyList(d *db.DB) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := newQuery(r)
		tenantReq := q.uuid("tenant_id")
		page := db.Page{Cursor: q.boundCursor(512), Limit: q.limit()}
		if err := q.err(); err != nil {
			writeError(w, r, logOf(r), err)
			return
		}
		tenantID, err := keyTenant(d, r, tenantReq)
		if err != nil {
			writeError(w, r, logOf(r), err)
			return
		}
		var keys []db.APIKey
		var next string
		err = d.WithTenant(r.Context(), tenantID, func(tx *db.Tx) (err error) {
			keys, next, err = tx.ListAPIKeys(r.Context(), page)
			return err
		})
		if err != nil {
			writeError(w, r, logOf(r), err)
			return
		}
		out := make([]apiKeyJSON, 0, len(keys))
		for i := range keys {
			out = append(out, apiKeyView(&keys[i]))
		}
		writeJSON(w, http.StatusOK, map[string]any{"api_keys": out, "next_cursor": nullable(bindCursor(r, next))})
	})
}

func handleAPIKeyCreate(d *db.DB, limit int64) http.Handler {
	type request struct {
		Name string `json:"name"`
		// Absent or null: the caller's tenant (required with the admin
		// key); a given "" is not a UUID, not the caller's tenant.
		TenantID *string `json:"tenant_id"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if err := decodeJSON(w, r, limit, &req, true); err != nil {
			writeError(w, r, logOf(r), err)
			return
		}
		if utf8.RuneCountInString(req.Name) > 200 {
			writeError(w, r, logOf(r), &poblysh.Error{Code: poblysh.EVALIDATION, Message: "name is too long",
				Details: map[string]string{"name": "must be at most 200 characters"}})
			return
		}
		requested := ""
		if req.TenantID != nil {
			if !isUUID(*req.TenantID) {
				writeError(w, r, logOf(r), &poblysh.Error{Code: poblysh.EVALIDATION, Message: "tenant_id is not a UUID",
					Details: map[string]string{"tenant_id": "must be a UUID"}})
				return
			}
			requested = *req.TenantID
		}
		tenantID, err := keyTenant(d, r, requested)
		if err != nil {
			writeError(w, r, logOf(r), err)
			return
		}
		var k *db.APIKey
		var secret string
		err = d.WithTenant(r.Context(), tenantID, func(tx *db.Tx) (err error) {
			// A tenant whose deletion has begun gets no new key: the
			// deletion revokes the keys it finds once, and a key made
			// after that would stay valid until the tenant is gone.
			if err := tx.HoldTenant(r.Context()); err != nil {
				if errors.Is(err, db.ErrTenantDeleting) {
					return poblysh.NotFound("tenant")
				}
				return err
			}
			k, secret, err = tx.CreateAPIKey(r.Context(), strings.TrimSpace(req.Name))
			return err
		})
		if err != nil {
			writeError(w, r, logOf(r), err)
			return
		}
		v := apiKeyView(k)
		v.APIKey = secret
		writeJSON(w, http.StatusCreated, v)
	})
}

// revoked follows a revocation that committed (a key's, or a tenant
// deletion's, which revokes the tenant's keys), before the answer: this
// process forgets its cached keys at once, and the answer waits, at most
// 2 s, until this process's listener has received the revocation's
// notification (KeyCache.Revoked). The other replicas' listeners were sent
// it at the same commit, so a client's next call, whichever replica takes
// it, does not normally outrun it. A wait that ended without it is logged;
// the revocation stands either way.
func revoked(r *http.Request, keys KeyCache) {
	if keys == nil {
		return
	}
	if err := keys.Revoked(r.Context()); err != nil {
		logOf(r).WithFields(logrus.Fields{"request_id": requestIDOf(r)}).WithError(err).
			Warn("revocation answered before this process's listener received its notification: other replicas may accept the revoked keys until theirs arrives")
	}
}

func handleAPIKeyRevoke(d *db.DB, keys KeyCache) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := mux.Vars(r)["id"]
		if !isUUID(id) {
			writeError(w, r, logOf(r), poblysh.NotFound("api key"))
			return
		}
		run := d.WithSystem
		if p := principalOf(r); !p.admin {
			run = func(ctx contextT, fn func(*db.Tx) error) error { return d.WithTenant(ctx, p.tenantID, fn) }
		}
		if err := run(r.Context(), func(tx *db.Tx) error { return tx.RevokeAPIKey(r.Context(), id) }); err != nil {
			writeError(w, r, logOf(r), err)
			return
		}
		revoked(r, keys)
		w.WriteHeader(http.StatusNoContent)
	})
}
