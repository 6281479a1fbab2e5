package github

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/ingest"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// store is a tenant's Signals table: what the engine stores of the
// connector's Signals, by their dedupe and alias keys.
type store struct {
	s            *dbtest.Schema
	tenant, conn string
}

func newStore(t *testing.T) *store {
	t.Helper()
	s := dbtest.NewSchema(t)
	tenant, conn := dbtest.Seed(t, s.DB, t.Name(), Spec.Name, "583231")
	return &store{s: s, tenant: tenant, conn: conn}
}

// put stores sigs as the engine does and returns how many were new.
func (st *store) put(t *testing.T, sigs []connectors.Signal) int {
	t.Helper()
	ctx := context.Background()
	rows, err := ingest.Rows(sigs)
	require.NoError(t, err)
	var out db.Stored
	require.NoError(t, st.s.DB.WithTenantSignals(ctx, st.tenant, func(tx *db.Tx) error {
		out, err = tx.InsertSignals(ctx, st.conn, Spec.Name, rows)
		return err
	}))
	return len(out.Kinds)
}

// pushed stores the Signals of a sandbox push's delivery.
func (st *store) pushed(t *testing.T, h *harness, a *githubsandbox.Activity) int {
	t.Helper()
	d, err := h.connector().ParseWebhook(webhookRequest(h.srv.AppDelivery(a.Events[0])))
	require.NoError(t, err)
	return st.put(t, d.Signals)
}

// TestBackfillAfterDefaultBranchRenameStoresNothingNew: a backfill keys a
// commit by the default branch's name (commit:<repo>:refs/heads/<branch>:
// <sha>), like a push to that branch. Once the branch is renamed (main to
// trunk), a backfill reads the same commits under the new name: until
// 2026-12-07 every one was stored again. Commits that reached the default
// branch also claim a key without its name (commit:<repo>:HEAD:<sha>),
// which the backfill matches: the history, and a commit pushed before the
// rename, are stored once; a commit pushed after it is new. A switch to
// another branch (develop, pushed to before it became the default) agrees
// too: its pushes are keyed by its name, the history it shares by HEAD.
func TestBackfillAfterDefaultBranchRenameStoresNothingNew(t *testing.T) {
	t.Parallel()
	h := newHarness(t, githubsandbox.Options{}, nil)
	st := newStore(t)
	repo := githubsandbox.SeedRepo

	sigs, _, _ := h.drain(t, seedCommitsStream, nil)
	require.Equal(t, githubsandbox.SeedCommitSignals, st.put(t, sigs))
	before, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 2})
	require.NoError(t, err)
	require.Equal(t, 1, st.pushed(t, h, before))

	_, err = h.srv.RenameBranch(repo, "main", "trunk")
	require.NoError(t, err)
	sigs, cur, _ := h.drain(t, seedCommitsStream, nil)
	require.Len(t, keysOf(sigs), githubsandbox.SeedCommits+2)
	require.Equal(t, []string{"commit:1296269:refs/heads/trunk:" + sigs[0].Payload.Subject.ID}, sigs[0].AliasKeys)
	d, err := h.connector().ParseWebhook(webhookRequest(h.srv.AppDelivery(before.Events[0])))
	require.NoError(t, err)
	require.Contains(t, keysOf(sigs), d.Signals[0].DedupeKey, "the push and the backfill agree by the unique key")
	require.Zero(t, st.put(t, sigs), "a backfill after the rename stores nothing new")

	after, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 1})
	require.NoError(t, err)
	require.Equal(t, 1, st.pushed(t, h, after))
	sigs, _, _ = h.drain(t, seedCommitsStream, cur)
	require.Len(t, keysOf(sigs), 1)
	require.Zero(t, st.put(t, sigs), "the push to the renamed branch and its poll agree")

	develop, err := h.srv.Push(repo, githubsandbox.PushInput{Branch: "develop", Commits: 3})
	require.NoError(t, err)
	require.Equal(t, 1, st.pushed(t, h, develop))
	_, err = h.srv.SetDefaultBranch(repo, "develop")
	require.NoError(t, err)
	sigs, _, _ = h.drain(t, seedCommitsStream, nil)
	require.Len(t, keysOf(sigs), githubsandbox.SeedCommits+2+1+3)
	require.Zero(t, st.put(t, sigs), "a backfill after a switch stores nothing new either")
}

// TestHeadPushedAgainAfterARollbackIsStored: main is rolled back (a force
// push to the commit before its head), then its head is pushed again. The
// second push carries the head with distinct false ("distinct from any
// that have been pushed before": it was) and is a happening of its own:
// it is keyed by the move, push:<repo>:<ref>:<before>..<after>, not by the
// head commit, whose key the first push holds (until 2026-12-07 it was
// dropped as that push's duplicate). It still claims the commit's keys,
// so a redelivery, and the commits sync, store nothing more.
func TestHeadPushedAgainAfterARollbackIsStored(t *testing.T) {
	t.Parallel()
	h := newHarness(t, githubsandbox.Options{}, nil)
	st := newStore(t)
	repo := githubsandbox.SeedRepo
	sigs, cur, _ := h.drain(t, seedCommitsStream, nil)
	require.Equal(t, githubsandbox.SeedCommitSignals, st.put(t, sigs))

	first, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 1})
	require.NoError(t, err)
	require.Equal(t, 1, st.pushed(t, h, first))
	keep, err := h.srv.Push(repo, githubsandbox.PushInput{Branch: "keep", Commits: 0})
	require.NoError(t, err)
	require.Equal(t, 1, st.pushed(t, h, keep))
	rollback, err := h.srv.Push(repo, githubsandbox.PushInput{Forced: true, Commits: 0})
	require.NoError(t, err)
	require.Equal(t, 1, st.pushed(t, h, rollback))
	again, err := h.srv.Push(repo, githubsandbox.PushInput{From: "keep"})
	require.NoError(t, err)
	require.Equal(t, first.Object["after"], again.Object["after"], "the same head")

	require.Equal(t, 1, st.pushed(t, h, again), "the head pushed again is a push of its own")
	require.Zero(t, st.pushed(t, h, again), "its redelivery is a duplicate")
	sigs, _, _ = h.drain(t, seedCommitsStream, cur)
	require.Len(t, keysOf(sigs), 1)
	require.Zero(t, st.put(t, sigs), "the commits sync agrees with the pushes")
}
