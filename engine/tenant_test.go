package engine

import (
	"context"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// refusesStarts is a Temporal that refuses to start any workflow.
type refusesStarts struct{ client.Client }

func (refusesStarts) ExecuteWorkflow(context.Context, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	return nil, serviceerror.NewUnavailable("connection refused")
}

// DeleteTenant says whether it committed the revocation of the tenant's
// keys, also when it then fails, so that the API empties its key caches
// only then: a tenant not found revoked nothing; a deletion whose workflow
// Temporal would not start had revoked the keys with its mark (they stay
// revoked); asked again, the deletion revokes nothing more.
func TestDeleteTenantSaysWhetherItRevokedTheKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	tenant, _ := dbtest.Seed(t, s.DB, "doomed", "fake", "acct")
	e := &Engine{Client: refusesStarts{}, DB: s.DB, Registry: connectors.NewRegistry(), TaskQueue: "doomed", Namespace: "default", Log: logrus.New()}

	_, revoked, err := e.DeleteTenant(ctx, "11111111-1111-4111-8111-111111111111")
	require.Equal(t, poblysh.ENOTFOUND, poblysh.ErrorCode(err), "%v", err)
	require.False(t, revoked, "no tenant, nothing revoked")

	_, revoked, err = e.DeleteTenant(ctx, tenant)
	require.Equal(t, poblysh.EUNAVAILABLE, poblysh.ErrorCode(err), "%v", err)
	require.True(t, revoked, "the mark committed the keys' revocation before the start failed")
	var keys, live int
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE revoked_at IS NULL) FROM api_keys WHERE tenant_id = $1`, tenant).Scan(&keys, &live)
	}))
	require.NotZero(t, keys)
	require.Zero(t, live, "the keys stay revoked")

	_, revoked, err = e.DeleteTenant(ctx, tenant)
	require.Equal(t, poblysh.EUNAVAILABLE, poblysh.ErrorCode(err), "%v", err)
	require.False(t, revoked, "asked again: the keys were revoked before")
}
