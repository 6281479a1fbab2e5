package db_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// stuckPostgres listens like a Postgres behind a stuck proxy: it accepts
// connections and never answers, or (handshake) completes the start-up as
// a server that trusts everyone, then never answers a query.
func stuckPostgres(t *testing.T, handshake bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() { close(done); _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if handshake {
					b := pgproto3.NewBackend(c, c)
					for {
						msg, err := b.ReceiveStartupMessage()
						if err != nil {
							return
						}
						if _, ok := msg.(*pgproto3.SSLRequest); ok {
							if _, err := c.Write([]byte("N")); err != nil {
								return
							}
							continue
						}
						if _, ok := msg.(*pgproto3.StartupMessage); !ok {
							return // a cancel request: ignored
						}
						break
					}
					b.Send(&pgproto3.AuthenticationOk{})
					b.Send(&pgproto3.ParameterStatus{Name: "server_version", Value: "17.0"})
					b.Send(&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{0, 0, 0, 1}})
					b.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
					if err := b.Flush(); err != nil {
						return
					}
				}
				<-done
			}()
		}
	}()
	return ln.Addr().String()
}

// TestOpenGivesUpOnASilentServer: Open against a Postgres that accepts
// TCP but never answers (a stuck proxy) used to hang for good, with
// nothing logged: pgx sets no connect timeout of its own, and the checks
// ran on the caller's context.
func TestOpenGivesUpOnASilentServer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, query string
		handshake   bool
		timeout     time.Duration
		want        string
	}{
		{"silent from the start", "", false, time.Second, "did not answer within 1s (connecting and checking the role)"},
		{"silent after the start-up", "", true, time.Second, "did not answer within 1s (connecting and checking the role)"},
		{"the URL's connect_timeout", "&connect_timeout=1", false, 5 * time.Second, "did not answer within 1s (connect_timeout)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := stuckPostgres(t, tc.handshake)
			url := fmt.Sprintf("postgres://app:hunter2@%s/poblysh?sslmode=disable%s", addr, tc.query)
			type result struct {
				d   *db.DB
				err error
			}
			out := make(chan result, 1)
			start := time.Now()
			go func() {
				d, err := db.Open(context.Background(), url, db.Options{Role: "poblysh_app", Timeout: tc.timeout})
				out <- result{d, err}
			}()
			select {
			case r := <-out:
				require.Nil(t, r.d)
				require.Error(t, r.err)
				msg := r.err.Error()
				require.Contains(t, msg, addr, "names the server")
				require.Contains(t, msg, tc.want)
				t.Log(msg)
				require.NotContains(t, msg, "hunter2")
				require.Less(t, time.Since(start), 4*time.Second)
			case <-time.After(10 * time.Second):
				t.Fatal("db.Open did not return within 10s")
			}
		})
	}
}

// TestOpenSetsAConnectTimeout: every connection of the pool (and the feed's
// listener) gives up on a server that does not answer, unless the URL says
// how long to wait.
func TestOpenSetsAConnectTimeout(t *testing.T) {
	t.Parallel()
	s := dbtest.NewSchema(t) // the URL sets none
	require.Equal(t, 10*time.Second, s.DB.Pool.Config().ConnConfig.ConnectTimeout)

	d, err := db.Open(context.Background(), dbtest.URL(t)+"&connect_timeout=3", db.Options{Role: "poblysh_app", Schema: s.Name})
	require.NoError(t, err)
	require.Equal(t, 3*time.Second, d.Pool.Config().ConnConfig.ConnectTimeout)
	d.Close()
	// An explicit 0 (wait for good) is the operator's choice, kept.
	d, err = db.Open(context.Background(), dbtest.URL(t)+"&connect_timeout=0", db.Options{Role: "poblysh_app", Schema: s.Name})
	require.NoError(t, err)
	require.Zero(t, d.Pool.Config().ConnConfig.ConnectTimeout)
	d.Close()

	// The role check still refuses a role that bypasses row-level security.
	_, err = db.Open(context.Background(), dbtest.URL(t), db.Options{})
	require.EqualError(t, err, "db: the application role bypasses row-level security (superuser or BYPASSRLS); set POBLYSH_DB_ROLE to a restricted role such as poblysh_app")
}

// poblysh migrate gives up on a Postgres that never answers, as Open does
// (it set no connect timeout and hung for good).
func TestMigrateGivesUpOnASilentServer(t *testing.T) {
	t.Parallel()
	addr := stuckPostgres(t, false)
	out := make(chan error, 1)
	go func() {
		_, err := db.Migrate(context.Background(), fmt.Sprintf("postgres://app:hunter2@%s/poblysh?sslmode=disable", addr), "")
		out <- err
	}()
	select {
	case err := <-out:
		require.Error(t, err)
		require.NotContains(t, err.Error(), "hunter2")
	case <-time.After(30 * time.Second):
		t.Fatal("db.Migrate did not return within 30s")
	}
}
