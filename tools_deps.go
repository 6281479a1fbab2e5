//go:build deps

package poblysh

// Modules the service uses before code imports them; keeps go mod tidy stable
// while packages are built in parallel. Removed once every import is real.
import (
	_ "github.com/go-openapi/loads"
	_ "github.com/go-openapi/runtime/server-middleware/docui"
	_ "github.com/gorilla/mux"
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/jmoiron/sqlx"
	_ "github.com/sirupsen/logrus"
	_ "go.temporal.io/sdk/client"
	_ "go.temporal.io/sdk/testsuite"
	_ "go.temporal.io/sdk/worker"
	_ "github.com/google/uuid"
	_ "github.com/go-openapi/strfmt"
	_ "github.com/go-openapi/runtime/client"
	_ "github.com/go-openapi/validate"
)
