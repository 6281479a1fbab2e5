package db_test

import (
	"testing"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

type fixture struct {
	tenant string
	conn   string
}

func newFixture(t *testing.T, d *db.DB, provider, account string) fixture {
	t.Helper()
	var f fixture
	f.tenant, f.conn = dbtest.Seed(t, d, "tenant "+account, provider, account)
	return f
}
