// Package engine is the service's Temporal client: it turns "sync this
// connection", "this webhook said something changed", "refresh that token"
// into workflow starts, signals and updates with deterministic ids; keeps
// per-connection schedules in line with connection state; terminates a
// deleted connection's workflows; and reads a job's live state back from
// Temporal. Everything else reaches it through small interfaces
// (lifecycle.Workflows, activities.Orchestrator, webhook.Nudger).
package engine

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/lifecycle"
)

// Search attributes set on every workflow when the server knows them (the
// dev server is started with them; Engine.Init adds them where allowed).
var (
	TenantIDKey     = temporal.NewSearchAttributeKeyKeyword("TenantId")
	ConnectionIDKey = temporal.NewSearchAttributeKeyKeyword("ConnectionId")
	ProviderKey     = temporal.NewSearchAttributeKeyKeyword("Provider")
	SyncKindKey     = temporal.NewSearchAttributeKeyKeyword("SyncKind")
)

// Engine drives workflows. It implements activities.Orchestrator.
type Engine struct {
	Client    client.Client
	DB        *db.DB
	Registry  *connectors.Registry
	TaskQueue string
	Namespace string
	// UIURL is the Temporal Web UI base for deep links.
	UIURL string
	Log   *logrus.Logger

	// searchAttributes is set by Init, which the API may run while it
	// already serves (InitWhenReachable).
	searchAttributes atomic.Bool
	// afterApply, when set (by tests), runs between SyncSchedules applying
	// a schedule and reading the connection again.
	afterApply func()
	// sweepBatch, when set (by tests), replaces SweepJobs' batch of 500.
	sweepBatch int
	// syncRequestsAtOnce, when set (by tests), replaces RequestSyncs'
	// bound of syncRequestsAtOnce.
	syncRequestsAtOnce int
}

// The engine serves the activities, the connection lifecycle and the
// webhook intake.
var (
	_ activities.Orchestrator = (*Engine)(nil)
	_ lifecycle.Workflows     = (*Engine)(nil)
)

// Init registers the search attributes when missing (allowed on the dev
// server and self-hosted clusters); where it is not allowed, workflows run
// without them and the API still lists jobs from Postgres.
func (e *Engine) Init(ctx context.Context) {
	if err := e.initSearchAttributes(ctx); err != nil {
		e.log().WithError(err).Warn("search attributes TenantId/ConnectionId/Provider/SyncKind are unavailable; workflows start without them")
	}
}

// InitWhenReachable is Init for the API, which starts without Temporal:
// while Temporal does not answer it tries again every interval, so the
// workflows the API starts once Temporal is back carry the search
// attributes too. It returns when Temporal answered or ctx ends.
func (e *Engine) InitWhenReachable(ctx context.Context, interval time.Duration) {
	for {
		err := e.initSearchAttributes(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		if !unreachable(err) {
			e.log().WithError(err).Warn("search attributes TenantId/ConnectionId/Provider/SyncKind are unavailable; workflows start without them")
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// unreachable reports whether err says Temporal did not answer (rather
// than refused).
func unreachable(err error) bool {
	var u *serviceerror.Unavailable
	var d *serviceerror.DeadlineExceeded
	return errors.As(err, &u) || errors.As(err, &d) || errors.Is(err, context.DeadlineExceeded) ||
		status.Code(err) == codes.Unavailable || status.Code(err) == codes.DeadlineExceeded
}

// notServing reports whether err means Temporal is not serving this
// process, rather than refusing one request: it did not answer
// (unreachable, or the caller gave up), it sheds load (resource exhausted,
// but for a busy workflow, which is that workflow's alone), or it refuses
// the namespace or the credentials. Codes no Temporal frontend answers a
// nudge with (Unknown, Internal, Unimplemented, as status or as the SDK's
// service errors) and the SDK's "failed reaching server" count as not
// serving too: they are what grpc-go makes of
// an HTML error page from a proxy or load balancer whose Temporal is gone
// (HTTP 404 is Unimplemented, 500 Unknown).
func notServing(err error) bool {
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.Unknown, codes.Internal, codes.Unimplemented:
			return true
		}
	}
	// Once the client has reached Temporal, the SDK hands these back as
	// service errors (serviceerror.FromStatus): Internal, Unimplemented,
	// and for Unknown a plain error carrying grpc-go's text of the page.
	var (
		internal      *serviceerror.Internal
		unimplemented *serviceerror.Unimplemented
	)
	if errors.As(err, &internal) || errors.As(err, &unimplemented) {
		return true
	}
	for _, text := range []string{"failed reaching server", "unexpected HTTP status code received from server", "unexpected content-type"} {
		if strings.Contains(err.Error(), text) {
			return true
		}
	}
	var exhausted *serviceerror.ResourceExhausted
	if errors.As(err, &exhausted) {
		return exhausted.Cause != enumspb.RESOURCE_EXHAUSTED_CAUSE_BUSY_WORKFLOW
	}
	var (
		canceled    *serviceerror.Canceled
		nsDown      *serviceerror.NamespaceUnavailable
		nsNotActive *serviceerror.NamespaceNotActive
		nsNotFound  *serviceerror.NamespaceNotFound
		denied      *serviceerror.PermissionDenied
	)
	return unreachable(err) || errors.Is(err, context.Canceled) || errors.As(err, &canceled) ||
		errors.As(err, &nsDown) || errors.As(err, &nsNotActive) || errors.As(err, &nsNotFound) ||
		errors.As(err, &denied) || status.Code(err) == codes.Unauthenticated
}

func (e *Engine) initSearchAttributes(ctx context.Context) error {
	want := map[string]enumspb.IndexedValueType{}
	for _, k := range []temporal.SearchAttributeKeyKeyword{TenantIDKey, ConnectionIDKey, ProviderKey, SyncKindKey} {
		want[k.GetName()] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ops := e.Client.OperatorService()
	have, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: e.Namespace})
	if err == nil {
		missing := map[string]enumspb.IndexedValueType{}
		for name, typ := range want {
			if _, ok := have.GetCustomAttributes()[name]; !ok {
				missing[name] = typ
			}
		}
		if len(missing) > 0 {
			_, err = ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: e.Namespace, SearchAttributes: missing})
		}
	}
	if err != nil {
		return err
	}
	e.searchAttributes.Store(true)
	return nil
}

func (e *Engine) log() *logrus.Logger {
	if e.Log == nil {
		return logrus.StandardLogger()
	}
	return e.Log
}

func (e *Engine) startOptions(id string, t poblysh.ConnectionRef, kind string) client.StartWorkflowOptions {
	o := client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                e.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:            strings.TrimSpace(fmt.Sprintf("%s %s %s", t.Provider, kind, t.Stream)),
	}
	if e.searchAttributes.Load() {
		o.TypedSearchAttributes = temporal.NewSearchAttributes(
			TenantIDKey.ValueSet(t.TenantID), ConnectionIDKey.ValueSet(t.ConnectionID),
			ProviderKey.ValueSet(t.Provider), SyncKindKey.ValueSet(kind))
	}
	return o
}

// UILink is the Temporal Web UI page of a workflow run.
func (e *Engine) UILink(workflowID, runID string) string {
	if e.UIURL == "" {
		return ""
	}
	u := e.UIURL + "/namespaces/" + url.PathEscape(e.Namespace) + "/workflows/" + url.PathEscape(workflowID)
	if runID != "" {
		u += "/" + url.PathEscape(runID) + "/history"
	}
	return u
}

func (e *Engine) provider(name string) (*connectors.Provider, error) {
	p, ok := e.Registry.Get(name)
	if !ok {
		return nil, poblysh.NotFound("provider")
	}
	return p, nil
}

func (e *Engine) connection(ctx context.Context, tenantID, connID string) (*db.Connection, error) {
	var c *db.Connection
	err := e.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) (err error) {
		c, err = tx.FindConnection(ctx, connID)
		return err
	})
	return c, err
}

// Streams lists a connection's streams through its connector.
func (e *Engine) Streams(c *db.Connection) ([]string, error) {
	p, err := e.provider(c.Provider)
	if err != nil {
		return nil, err
	}
	s, ok := p.Connector.(connectors.Syncer)
	if !ok {
		return nil, nil
	}
	streams, err := s.Streams(lifecycle.View(c))
	if err != nil {
		return nil, &poblysh.Error{Code: poblysh.EVALIDATION, Message: "the connection's config names no streams: " + err.Error(), Err: err}
	}
	return streams, nil
}

// temporalUnavailable wraps Temporal client failures for the API (503).
func temporalUnavailable(err error) error {
	if err == nil {
		return nil
	}
	return poblysh.Unavailable("temporal", err)
}
