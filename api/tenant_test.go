package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/api"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/gen/client/api_keys"
	"github.com/poblysh/poblysh/gen/client/providers"
	"github.com/poblysh/poblysh/gen/client/tenants"
	"github.com/poblysh/poblysh/gen/models"
)

func TestAdminCreatesTenantWhoseKeyListsProviders(t *testing.T) {
	t.Parallel()
	e := setup(t)
	name := "Acme Communications"
	res, err := e.client.Tenants.CreateTenant(tenants.NewCreateTenantParams().WithBody(&models.TenantCreateRequest{Name: &name}),
		httptransport.BearerToken(adminKey))
	require.NoError(t, err)
	require.NoError(t, res.Payload.Validate(strfmt.Default))
	require.Equal(t, name, *res.Payload.Name)
	require.Regexp(t, `^pbk_[A-Za-z0-9_-]{8}_[A-Za-z0-9_-]{40,}$`, *res.Payload.APIKey)
	key := *res.Payload.APIKey

	// Only a hash of the key is stored.
	var rows []struct {
		Prefix string `db:"prefix"`
		Hash   []byte `db:"key_hash"`
	}
	require.NoError(t, e.schema.DB.WithSystem(context.Background(), func(tx *db.Tx) error {
		return tx.SelectContext(context.Background(), &rows, `SELECT prefix, key_hash FROM api_keys WHERE tenant_id = $1`, res.Payload.ID.String())
	}))
	require.Len(t, rows, 1)
	require.Equal(t, db.HashAPIKey(key), rows[0].Hash)
	require.True(t, strings.HasPrefix(key, rows[0].Prefix+"_"))

	// The new key lists the registry's providers with their configured flag.
	list, err := e.client.Providers.ListProviders(providers.NewListProvidersParams(), httptransport.BearerToken(key))
	require.NoError(t, err)
	require.NoError(t, list.Payload.Validate(strfmt.Default))
	require.Nil(t, list.Payload.NextCursor)
	var names []string
	for _, p := range list.Payload.Providers {
		names = append(names, *p.Name)
		want, ok := e.reg.Get(*p.Name)
		require.True(t, ok)
		require.Equal(t, want.Spec.DisplayName, *p.DisplayName)
		require.Equal(t, want.Spec.Kinds, p.SignalKinds)
		require.Equal(t, "oauth2", *p.Auth)
		require.NotEmpty(t, p.Capabilities)
		require.Equal(t, *p.Name == "fake", *p.Configured, "%s: only the fake provider has client credentials here", *p.Name)
	}
	require.Equal(t, e.reg.Names(), names, "sorted by name, every registered provider")
	require.Subset(t, names, []string{"fake", "github", "google-calendar", "slack"})
}

func TestAPIKeysAreShownOnceAndIsolatedPerTenant(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	tenantA, keyA := e.tenant("A")
	tenantB, keyB := e.tenant("B")
	authA, authB := httptransport.BearerToken(keyA), httptransport.BearerToken(keyB)

	// A creates a second key; its secret appears in that response only.
	label := "signals pipeline"
	created, err := e.client.APIKeys.CreateAPIKey(api_keys.NewCreateAPIKeyParams().WithBody(&models.APIKeyCreateRequest{Name: label}), authA)
	require.NoError(t, err)
	require.NoError(t, created.Payload.Validate(strfmt.Default))
	require.Equal(t, tenantA, created.Payload.TenantID.String())
	require.Equal(t, label, *created.Payload.Name)
	require.Nil(t, created.Payload.RevokedAt)
	keyA2 := *created.Payload.APIKey
	require.True(t, strings.HasPrefix(keyA2, *created.Payload.Prefix+"_"))
	require.NotEqual(t, keyA, keyA2)

	listA := func(key string) *models.APIKeyList {
		t.Helper()
		res, err := e.client.APIKeys.ListAPIKeys(api_keys.NewListAPIKeysParams(), httptransport.BearerToken(key))
		require.NoError(t, err)
		require.NoError(t, res.Payload.Validate(strfmt.Default))
		return res.Payload
	}
	keys := listA(keyA2)
	require.Len(t, keys.APIKeys, 2)
	for _, k := range keys.APIKeys {
		require.Equal(t, tenantA, k.TenantID.String(), "a tenant lists only its own keys")
	}
	raw := e.do(http.MethodGet, "/api/v1/api-keys", keyA, "", "")
	require.Equal(t, http.StatusOK, raw.status)
	for _, secret := range []string{keyA, keyA2, keyB} {
		require.NotContains(t, string(raw.body), secret, "a listed key never shows its secret")
	}
	require.NotContains(t, string(raw.body), `"api_key"`)
	require.NotContains(t, string(raw.body), tenantB)

	// A cannot see B's keys by naming B's tenant (404, no existence oracle).
	r := e.do(http.MethodGet, "/api/v1/api-keys?tenant_id="+tenantB, keyA, "", "")
	requireError(t, r, http.StatusNotFound, "not_found")
	require.NotContains(t, string(r.body), tenantB)
	r = e.do(http.MethodPost, "/api/v1/api-keys", keyA, "application/json", `{"tenant_id":"`+tenantB+`"}`)
	requireError(t, r, http.StatusNotFound, "not_found")

	// A cannot revoke B's key: 404, and B's key keeps working.
	bKeys, err := e.client.APIKeys.ListAPIKeys(api_keys.NewListAPIKeysParams(), authB)
	require.NoError(t, err)
	require.Len(t, bKeys.Payload.APIKeys, 1)
	bKeyID := bKeys.Payload.APIKeys[0].ID.String()
	_, err = e.client.APIKeys.RevokeAPIKey(api_keys.NewRevokeAPIKeyParams().WithID(strfmt.UUID(bKeyID)), authA)
	var nf *api_keys.RevokeAPIKeyNotFound
	require.ErrorAs(t, err, &nf)
	require.NoError(t, nf.Payload.Validate(strfmt.Default))
	require.Equal(t, "not_found", *nf.Payload.Error.Code)
	_, err = e.client.Providers.ListProviders(providers.NewListProvidersParams(), authB)
	require.NoError(t, err, "B's key survives A's attempt")
	var revokedAt *string
	require.NoError(t, e.schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &revokedAt, `SELECT revoked_at::text FROM api_keys WHERE id = $1`, bKeyID)
	}))
	require.Nil(t, revokedAt)

	// Unknown ids and non-UUIDs answer 404 as well.
	for _, id := range []string{"6f1c2a8e-4b7d-4e09-9a51-3c2d7e8f9a10", "not-a-uuid"} {
		requireError(t, e.do(http.MethodDelete, "/api/v1/api-keys/"+id, keyA, "", ""), http.StatusNotFound, "not_found")
	}

	// A revokes its second key: that key stops working at once, the first
	// keeps working, the list shows revoked_at; revoking again is 204.
	id := strfmt.UUID(created.Payload.ID.String())
	_, err = e.client.APIKeys.RevokeAPIKey(api_keys.NewRevokeAPIKeyParams().WithID(id), authA)
	require.NoError(t, err)
	requireError(t, e.do(http.MethodGet, "/api/v1/providers", keyA2, "", ""), http.StatusUnauthorized, "unauthorized")
	keys = listA(keyA)
	require.Len(t, keys.APIKeys, 2)
	revoked := 0
	for _, k := range keys.APIKeys {
		if k.ID.String() == id.String() {
			require.NotNil(t, k.RevokedAt)
			revoked++
		} else {
			require.Nil(t, k.RevokedAt)
			require.NotNil(t, k.LastUsedAt, "a used key records when")
		}
	}
	require.Equal(t, 1, revoked)
	_, err = e.client.APIKeys.RevokeAPIKey(api_keys.NewRevokeAPIKeyParams().WithID(id), authA)
	require.NoError(t, err, "revoking twice answers 204 again")

	// A key may revoke itself.
	self := listA(keyA).APIKeys
	idx := slices.IndexFunc(self, func(k *models.APIKey) bool { return k.RevokedAt == nil })
	_, err = e.client.APIKeys.RevokeAPIKey(api_keys.NewRevokeAPIKeyParams().WithID(*self[idx].ID), authA)
	require.NoError(t, err)
	requireError(t, e.do(http.MethodGet, "/api/v1/api-keys", keyA, "", ""), http.StatusUnauthorized, "unauthorized")
}

// TestOwnTenantIDInAnyCase: a tenant key may name its own tenant, and a
// UUID's case means nothing (paths take any case too).
func TestOwnTenantIDInAnyCase(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tenantA, keyA := e.tenant("Acme")
	upper := strings.ToUpper(tenantA)
	require.NotEqual(t, tenantA, upper)
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/api/v1/api-keys?tenant_id="+upper, keyA, "", "").status)
	r := e.do(http.MethodPost, "/api/v1/api-keys", keyA, "application/json", `{"name":"upper","tenant_id":"`+upper+`"}`)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	require.Contains(t, string(r.body), `"tenant_id":"`+tenantA+`"`)
}

func TestAdminManagesKeysOfAnyTenant(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tenantA, keyA := e.tenant("A")
	admin := httptransport.BearerToken(adminKey)

	tid := strfmt.UUID(tenantA)
	res, err := e.client.APIKeys.CreateAPIKey(api_keys.NewCreateAPIKeyParams().WithBody(&models.APIKeyCreateRequest{Name: "ops", TenantID: tid}), admin)
	require.NoError(t, err)
	require.NoError(t, res.Payload.Validate(strfmt.Default))
	require.Equal(t, tenantA, res.Payload.TenantID.String())
	newKey := *res.Payload.APIKey

	// The new key acts as tenant A.
	list, err := e.client.APIKeys.ListAPIKeys(api_keys.NewListAPIKeysParams(), httptransport.BearerToken(newKey))
	require.NoError(t, err)
	require.Len(t, list.Payload.APIKeys, 2)
	list, err = e.client.APIKeys.ListAPIKeys(api_keys.NewListAPIKeysParams().WithTenantID(&tid), admin)
	require.NoError(t, err)
	require.Len(t, list.Payload.APIKeys, 2)

	// The admin key must name an existing tenant.
	er := requireError(t, e.do(http.MethodPost, "/api/v1/api-keys", adminKey, "application/json", `{"name":"x"}`),
		http.StatusUnprocessableEntity, "validation_failed")
	require.Contains(t, er.Details, "tenant_id")
	requireError(t, e.do(http.MethodPost, "/api/v1/api-keys", adminKey, "application/json", `{"tenant_id":"6f1c2a8e-4b7d-4e09-9a51-3c2d7e8f9a10"}`),
		http.StatusNotFound, "not_found")

	// The admin key revokes any tenant's key.
	_, err = e.client.APIKeys.RevokeAPIKey(api_keys.NewRevokeAPIKeyParams().WithID(*res.Payload.ID), admin)
	require.NoError(t, err)
	requireError(t, e.do(http.MethodGet, "/api/v1/providers", newKey, "", ""), http.StatusUnauthorized, "unauthorized")
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/api/v1/providers", keyA, "", "").status)

	// Creating a tenant answers 201 with the documented fields only once.
	r := e.do(http.MethodPost, "/api/v1/tenants", adminKey, "application/json", `{"name":"  Globex  "}`)
	require.Equal(t, http.StatusCreated, r.status)
	var body map[string]any
	require.NoError(t, json.Unmarshal(r.body, &body))
	require.ElementsMatch(t, []string{"id", "name", "api_key", "created_at"}, keysOf(body))
	require.Equal(t, "Globex", body["name"], "names are trimmed")
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A tenant whose deletion has begun gets no new API key, from the admin
// key or its own (revoked with the mark): the deletion revokes the keys it
// finds, and a key made after that stayed valid until the tenant was gone.
func TestNoAPIKeyForATenantBeingDeleted(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	doomed, key := e.tenant("Doomed")
	require.NoError(t, e.schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		_, _, err := tx.BeginTenantDeletion(ctx, doomed, uuid.NewString(), "tenant-deletion/"+doomed)
		return err
	}))
	requireError(t, e.do(http.MethodPost, "/api/v1/api-keys", adminKey, "application/json", `{"name":"late","tenant_id":"`+doomed+`"}`),
		http.StatusNotFound, poblysh.ENOTFOUND)
	// Its own keys were revoked with the mark; the deletion's workflow,
	// revoking again, counts them as its own.
	requireError(t, e.do(http.MethodPost, "/api/v1/api-keys", key, "application/json", `{"name":"late"}`),
		http.StatusUnauthorized, poblysh.EUNAUTHORIZED)
	require.NoError(t, e.schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		n, err := tx.RevokeTenantKeys(ctx, doomed)
		require.Equal(t, 1, n)
		return err
	}))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM api_keys WHERE tenant_id = $1`, doomed), "only the tenant's first key")

	alive, _ := e.tenant("Alive")
	r := e.do(http.MethodPost, "/api/v1/api-keys", adminKey, "application/json", `{"name":"ok","tenant_id":"`+alive+`"}`)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
}

// deletingTenants stands in for the engine's tenant deletion: it answers
// a queued job and records the tenants asked for.
type deletingTenants struct{ asked []string }

func (d *deletingTenants) DeleteTenant(_ context.Context, tenantID string) (*db.Job, bool, error) {
	d.asked = append(d.asked, tenantID)
	return &db.Job{ID: uuid.NewString(), Kind: poblysh.JobTenantDeletion, Trigger: poblysh.TriggerManual, Status: poblysh.JobQueued,
		WorkflowID: "delete-tenant/" + tenantID}, true, nil
}

// Any valid name can be confirmed: a name is 1 to 200 characters, and
// confirm was capped at 400 bytes, so a name of 120 emoji (480 bytes) was
// refused with "must be at most 400 characters" and its tenant could never
// be deleted. A confirm longer than any name is refused in characters.
func TestDeleteConfirmsAnyValidName(t *testing.T) {
	t.Parallel()
	tenants := &deletingTenants{}
	e := setup(t, func(d *api.Deps) { d.Tenants = tenants })
	name := strings.Repeat("😀", 200)
	id, _ := e.tenant(name)
	r := e.do(http.MethodDelete, "/api/v1/tenants/"+id+"?confirm="+url.QueryEscape(name), adminKey, "", "")
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	require.Equal(t, []string{id}, tenants.asked)

	long := requireError(t, e.do(http.MethodDelete, "/api/v1/tenants/"+id+"?confirm="+url.QueryEscape(name+"😀"), adminKey, "", ""),
		http.StatusBadRequest, poblysh.EINVALID)
	require.Equal(t, "must be at most 200 characters", long.Details["confirm"])
	require.Equal(t, []string{id}, tenants.asked)
}
