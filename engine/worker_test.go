package engine

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/poblysh/poblysh/db"
)

// pollersOf is a Temporal client whose task queue is polled by the given
// identities, each seen just now.
type pollersOf struct {
	client.Client
	identities []string
}

func (p pollersOf) DescribeTaskQueue(context.Context, string, enumspb.TaskQueueType) (*workflowservice.DescribeTaskQueueResponse, error) {
	resp := &workflowservice.DescribeTaskQueueResponse{}
	for _, id := range p.identities {
		resp.Pollers = append(resp.Pollers, &taskqueuepb.PollerInfo{Identity: id, LastAccessTime: timestamppb.New(time.Now())})
	}
	return resp, nil
}

// The task queue check tells databases apart by their own id, not by the
// address they are reached at: a worker on another database reached the
// same way (a Unix socket, 127.0.0.1:5432 on two hosts, one container
// address in two compose projects: the same address form) used to be
// taken for a worker of this one. A worker of an earlier version reports
// only the address form: during a rolling upgrade it is taken for one of
// this database when that form is this database's, and it takes the new
// workers for its own (their identity ends with the same form).
func TestCheckTaskQueueTellsDatabasesByTheirID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ours := db.Identity{Database: "aaaaaaaaaaaa", Address: "111111111111"}
	check := func(pollers ...string) error {
		return CheckTaskQueue(ctx, pollersOf{identities: pollers}, "q", ours, false)
	}
	self := WorkerIdentity(ours)
	require.Regexp(t, `^[0-9]+@.+@dbid=aaaaaaaaaaaa@db=111111111111$`, self)

	require.NoError(t, check(), "nobody polls")
	require.NoError(t, check("1@host-a@dbid=aaaaaaaaaaaa@db=111111111111", "2@host-b@dbid=aaaaaaaaaaaa@db=222222222222"),
		"workers of this database, however they reach it")
	require.ErrorContains(t, check("1@host-a@dbid=bbbbbbbbbbbb@db=111111111111"),
		`task queue "q" is already polled by 1@host-a@dbid=bbbbbbbbbbbb@db=111111111111, on another database`,
		"another database behind the same address")
	require.NoError(t, check("3@host-c@db=111111111111"), "an earlier version's worker on this address (a rolling upgrade)")
	require.ErrorContains(t, check("3@host-c@db=222222222222"), "already polled by 3@host-c@db=222222222222")
	require.ErrorContains(t, check("4@host-d"), "already polled by 4@host-d", "no database named")
	require.NoError(t, CheckTaskQueue(ctx, pollersOf{identities: []string{"4@host-d"}}, "q", ours, true), "told to join")

	// An earlier version's worker reads the address form at the end of the
	// identity (its check's expression), and finds its own.
	earlier := regexp.MustCompile(`@db=([0-9a-f]+)$`).FindStringSubmatch(self)
	require.Equal(t, []string{"@db=111111111111", "111111111111"}, earlier)
}
