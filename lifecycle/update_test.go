package lifecycle_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/lifecycle"
)

// revokedGrant is a provider whose user removed the app: its API answers
// 401 to the stored token and its token endpoint refuses the refresh token
// (invalid_grant).
type revokedGrant struct{ spec *connectors.Spec }

func (c *revokedGrant) Spec() *connectors.Spec { return c.spec }
func (c *revokedGrant) ResourceRefs(connectors.Connection) ([]string, error) {
	return []string{"board"}, nil
}
func (c *revokedGrant) ProveAccess(context.Context, connectors.AccessRequest) (*connectors.AccessReport, error) {
	return nil, fmt.Errorf("%w: the API answered 401", connectors.ErrUnauthorized)
}
func (c *revokedGrant) Refresh(context.Context, connectors.Account, string) (*oauth2.Token, error) {
	return nil, fmt.Errorf("%w: invalid_grant: token revoked", connectors.ErrUnauthorized)
}

// A PATCH of config proves the new config with the stored token. When the
// grant was revoked, the answer is the client's 400 invalid_request whether
// or not the connection has a refresh token: the refresh the 401 asks for
// is refused too, and that refusal used to reach the API as a Temporal
// activity error (its text included), which providerError could not see
// through and answered 502 bad_gateway.
func TestUpdateWithARevokedGrantIsInvalidAlsoWhenTheRefreshIsRefused(t *testing.T) {
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "revoked", DisplayName: "Revoked"}
	reg := connectors.NewRegistry(&connectors.Provider{Spec: spec, Connector: &revokedGrant{spec: spec}})
	acts := &activities.Activities{DB: schema.DB, Registry: reg, KeyRing: kr}
	s := &lifecycle.Service{DB: schema.DB, Registry: reg, KeyRing: kr, Access: activities.AccessService{A: acts}}

	for _, refresh := range []string{"", "r1"} {
		t.Run(fmt.Sprintf("refresh token %q", refresh), func(t *testing.T) {
			tenant, connID := dbtest.Seed(t, schema.DB, "revoked-"+refresh, "revoked", "acct-"+refresh)
			exp := time.Now().Add(time.Hour)
			require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
				return tx.SaveTokens(ctx, kr, connID, db.Tokens{AccessToken: "stale", RefreshToken: refresh, TokenType: "Bearer", Expiry: &exp})
			}))
			_, err := s.Update(ctx, tenant, connID, lifecycle.Update{Config: json.RawMessage(`{"x":1}`)})
			require.Error(t, err)
			require.Equal(t, poblysh.EINVALID, poblysh.ErrorCode(err), "%v", err)
			msg := poblysh.ErrorMessage(err)
			require.Contains(t, msg, "the provider refused the authorization")
			require.NotContains(t, msg, "retryable", "no Temporal error text reaches the API")
			require.NotContains(t, msg, "(type:", "no Temporal error text reaches the API")

			c, err := s.Find(ctx, tenant, connID)
			require.NoError(t, err)
			require.JSONEq(t, `{}`, string(orEmpty(c.Config)), "the refused config is not stored")
			if refresh != "" {
				require.Equal(t, poblysh.HealthNeedsReauth, c.Health, "the refused refresh marks the connection")
			}
		})
	}
}

func orEmpty(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage(`{}`)
	}
	return b
}
