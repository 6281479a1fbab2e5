package webhook

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	_ "github.com/poblysh/poblysh/connectors/github"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/sandbox"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// BenchmarkIntakeLayers splits BenchmarkWebhookIntake (cmd/poblysh) into
// layers, each on its own deliveries, at 16 concurrent callers on two
// cores, without HTTP:
//
//	go test ./webhook -run '^$' -bench IntakeLayers -cpu 2 -count 3
//
//	raw      the delivery's two inserts as the service stores the rows
//	         (the record with the raw body, the Signal with the body as its
//	         raw jsonb and the connector's normalized payload), on a raw pgx
//	         pool as the schema owner: BEGIN, two inserts, COMMIT; the
//	         end-to-end benchmark's "as stored" baseline
//	statements  the service's statements for a delivery in its four round
//	         trips (BEGIN, scope and signals lock, and routes in one
//	         pipeline; record; Signals with their aliases; COMMIT:
//	         db.SystemSignalsSQL, LookupRoutesSQL, RecordWebhookStatement,
//	         InsertSignalsStatement), the same SQL and arguments, sent with
//	         pgx on the service's pool as the application role
//	commit   the service's transaction for an already verified and parsed
//	         delivery (Intake.commit): those statements through pgx's
//	         pipeline, database/sql and sqlx, the intake's routing and
//	         storing code, and the
//	         announcement of the stored Signals after commit
//	Receive  verify, parse and commit: the webhook handler minus HTTP
//
// The deliveries are signed GitHub App pushes of one commit built by the
// GitHub sandbox, as in the end-to-end benchmark (about 8 KB each).
func BenchmarkIntakeLayers(b *testing.B) {
	ctx := context.Background()
	e := newLayers(b)
	accepted := func(out *Outcome) error {
		if out.Status != Accepted || out.Signals != 1 {
			return fmt.Errorf("delivery %s: %s, %d Signals", out.DeliveryID, out.Status, out.Signals)
		}
		return nil
	}
	var rawRuns atomic.Int64
	b.Run("raw", func(b *testing.B) {
		row := e.first.batch.Rows[0]
		tag := rawRuns.Add(1)
		e.run(b, func(i int) error {
			return pgx.BeginFunc(ctx, e.owner, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `INSERT INTO webhook_events (provider, delivery_id, event, status, tenant_ids, connection_ids, signals, raw_body)
					VALUES ('raw', $1, 'push', 'accepted', ARRAY[$2::uuid], ARRAY[$3::uuid], 1, $4) ON CONFLICT DO NOTHING`,
					fmt.Sprintf("%d-%d", tag, i), e.tenant, e.conn, e.first.body); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `INSERT INTO signals (tenant_id, connection_id, source, kind, occurred_at, dedupe_key, payload, raw)
					VALUES ($1, $2, 'raw', $3, now(), $4, $5::jsonb, $6::jsonb) ON CONFLICT DO NOTHING`,
					e.tenant, e.conn, row.Kind, fmt.Sprintf("raw:%d-%d", tag, i), string(row.Payload), string(row.Raw))
				return err
			})
		})
	})
	b.Run("statements", func(b *testing.B) {
		ds := e.parsed(b, b.N)
		e.run(b, func(i int) error {
			d := ds[i]
			conn, err := e.in.DB.Pool.Acquire(ctx)
			if err != nil {
				return err
			}
			defer conn.Release() // inside a transaction (an error), the pool drops it
			// One round trip opens the transaction: BEGIN, scope and
			// signals lock, routes (db.WithSystemRoutes).
			batch := &pgx.Batch{}
			batch.Queue("BEGIN")
			batch.Queue(db.SystemSignalsSQL)
			batch.Queue(db.LookupRoutesSQL, "github", d.RouteKeys)
			br := conn.SendBatch(ctx, batch)
			routes := 0
			if _, err = br.Exec(); err == nil {
				if _, err = br.Exec(); err == nil {
					var rows pgx.Rows
					if rows, err = br.Query(); err == nil {
						for rows.Next() {
							routes++
						}
						rows.Close()
						err = rows.Err()
					}
				}
			}
			if cerr := br.Close(); err == nil {
				err = cerr
			}
			if err != nil || routes != 1 {
				return fmt.Errorf("%d routes: %v", routes, err)
			}
			var id, kind, key string
			q, args := db.RecordWebhookStatement(db.WebhookEvent{Provider: "github", DeliveryID: d.DeliveryID, Event: d.Event,
				Status: Accepted, TenantIDs: []string{e.tenant}, ConnectionIDs: []string{e.conn}, Signals: 1,
				RawBody: d.body, BodyHash: bodyHash(nil, d.body)})
			if err := conn.QueryRow(ctx, q, args...).Scan(&id); err != nil {
				return err
			}
			q, args = db.InsertSignalsStatement(e.tenant, e.conn, "github", d.batch.Rows)
			if err := conn.QueryRow(ctx, q, args...).Scan(&id, &kind, &key); err != nil {
				return err
			}
			_, err = conn.Exec(ctx, "COMMIT")
			return err
		})
	})
	b.Run("commit", func(b *testing.B) {
		ds := e.parsed(b, b.N)
		e.run(b, func(i int) error {
			out, _, err := e.in.commit(ctx, "github", ds[i])
			if err != nil {
				return err
			}
			return accepted(out)
		})
	})
	b.Run("Receive", func(b *testing.B) {
		reqs := e.requests(b, b.N)
		e.run(b, func(i int) error {
			out, err := e.in.Receive(ctx, e.p, reqs[i])
			if err != nil {
				return err
			}
			return accepted(out)
		})
	})
}

// layers is the intake over a fresh schema with one GitHub connection
// routed for the sandbox's seeded repository, and the sandbox that signs
// its deliveries.
type layers struct {
	in           *Intake
	p            *connectors.Provider
	gh           *githubsandbox.Server
	secret       string // the App's webhook secret
	db           *db.DB
	schema       string // the schema db works in
	tenant, conn string
	owner        *pgxpool.Pool
	// first is a parsed delivery of the kind every layer stores.
	first *delivery
}

func newLayers(b testing.TB) *layers {
	ctx := context.Background()
	s := dbtest.NewSchema(b)
	secret := sandbox.RandomString(32)
	f, err := sandbox.New("github", sandbox.Options{Seed: true, WebhookSecret: secret, Faults: []string{githubsandbox.FaultGitHubApp}})
	require.NoError(b, err)
	e := &layers{gh: f.(*githubsandbox.Server), secret: secret, db: s.DB, schema: s.Name}
	env := e.gh.Env("http://127.0.0.1:1")
	reg, err := connectors.Build(connectors.Registered(), func(k string) string { return env[k] }, "http://127.0.0.1:1", false)
	require.NoError(b, err)
	var ok bool
	e.p, ok = reg.Get("github")
	require.True(b, ok)
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	e.in = &Intake{DB: s.DB, KeyRing: dbtest.KeyRing(b), Nudger: &nudges{}, Log: log}
	e.first = e.parsed(b, 1)[0]
	require.Len(b, e.first.batch.Rows, 1)
	e.tenant, e.conn = dbtest.Seed(b, s.DB, "bench", "github", "octo-org")
	require.NoError(b, s.DB.WithTenant(ctx, e.tenant, func(tx *db.Tx) error {
		return tx.RebuildRoutes(ctx, e.conn, "github", e.first.RouteKeys, nil)
	}))
	e.owner, err = pgxpool.New(ctx, s.OwnerURL)
	require.NoError(b, err)
	b.Cleanup(e.owner.Close)
	return e
}

// requests builds n fresh signed pushes of one commit (before the timer).
func (e *layers) requests(b testing.TB, n int) []*connectors.WebhookRequest {
	return e.pushes(b, n, githubsandbox.PushInput{Commits: 1})
}

// pushes builds n fresh signed pushes of in.
func (e *layers) pushes(b testing.TB, n int, in githubsandbox.PushInput) []*connectors.WebhookRequest {
	out := make([]*connectors.WebhookRequest, n)
	for i := range out {
		act, err := e.gh.Push(githubsandbox.SeedRepo, in)
		require.NoError(b, err)
		d := e.gh.AppDelivery(act.Events[0])
		out[i] = &connectors.WebhookRequest{Header: d.Header, Body: d.Body, Now: time.Now()}
	}
	return out
}

// parsed is requests, verified and parsed.
func (e *layers) parsed(b testing.TB, n int) []*delivery {
	out := make([]*delivery, n)
	for i, r := range e.requests(b, n) {
		var err error
		out[i], err = e.in.verify(context.Background(), e.p, r)
		require.NoError(b, err)
	}
	return out
}

// run calls one(i) for i in [0, b.N) from 16 goroutines, timed.
func (e *layers) run(b *testing.B, one func(i int) error) {
	b.SetParallelism(8)
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := one(int(next.Add(1) - 1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
