package db_test

import (
	"context"
	"net"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// The feed's own sessions (the announcer's, the listener's) are dialled
// so that the kernel gives up on a server that stopped answering without
// closing the connection: keepalive from 10 s idle, every 5 s, three
// probes; 25 s for unacknowledged data (TCP_USER_TIMEOUT). pgx's default
// dialer left that to Go's keepalive (15 s, then 9 probes 15 s apart) and
// to the kernel's retransmissions (about 15 minutes). A Unix socket, which
// has no such options, still dials.
func TestFeedSessionsNoticeASilentServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	dial := db.FeedDialForTest(s.DB)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	c, err := dial(ctx, "tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	raw, err := c.(syscall.Conn).SyscallConn()
	require.NoError(t, err)
	got := map[string]int{}
	require.NoError(t, raw.Control(func(fd uintptr) {
		for name, opt := range map[string][2]int{
			"SO_KEEPALIVE":     {unix.SOL_SOCKET, unix.SO_KEEPALIVE},
			"TCP_KEEPIDLE":     {unix.IPPROTO_TCP, unix.TCP_KEEPIDLE},
			"TCP_KEEPINTVL":    {unix.IPPROTO_TCP, unix.TCP_KEEPINTVL},
			"TCP_KEEPCNT":      {unix.IPPROTO_TCP, unix.TCP_KEEPCNT},
			"TCP_USER_TIMEOUT": {unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT},
		} {
			v, err := unix.GetsockoptInt(int(fd), opt[0], opt[1])
			require.NoError(t, err, name)
			got[name] = v
		}
	}))
	require.Equal(t, map[string]int{"SO_KEEPALIVE": 1, "TCP_KEEPIDLE": 10, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 3, "TCP_USER_TIMEOUT": 25000}, got)

	sock := filepath.Join(t.TempDir(), ".s.PGSQL.5432")
	uln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	t.Cleanup(func() { _ = uln.Close() })
	uc, err := dial(ctx, "unix", sock)
	require.NoError(t, err, "a Unix socket dials without TCP options")
	_ = uc.Close()
}
