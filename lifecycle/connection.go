package lifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
)

// Update is a change to a connection; a zero field leaves its part alone.
type Update struct {
	// Config replaces the config (validated by the provider, then proved
	// with the connection's own token); nil or null leaves it.
	Config json.RawMessage
	// Paused is the operator's switch: pausing disables the connection
	// until it is resumed.
	Paused *bool
	// PollInterval is poll_interval_seconds as sent: absent (nil), null
	// (back to the provider's default) or a number of seconds.
	PollInterval json.RawMessage
}

// Update changes a connection's config, pause state and polling interval,
// then brings its routes, schedules and watch channels in line; a resumed
// or reconfigured connection catches up with an incremental sync. Nothing
// changes unless the whole update is valid and the new config proved.
// The change is stored with an activation mark: when Temporal cannot be
// reached to apply it, Update still answers the stored connection, and the
// worker's activation sweep applies it.
func (s *Service) Update(ctx context.Context, tenantID, id string, u Update) (*db.Connection, error) {
	c, err := s.Find(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	p, ok := s.Registry.Get(c.Provider)
	if !ok {
		return nil, poblysh.NotFound("provider")
	}
	var patch db.ConnectionPatch
	var report *connectors.AccessReport
	if len(u.Config) > 0 && string(u.Config) != "null" {
		cfg, err := validateConfig(p, u.Config)
		if err != nil {
			return nil, err
		}
		// A new config may only name what the connection's own token can
		// read; nothing changes otherwise.
		if report, err = s.proveStored(ctx, c, cfg); err != nil {
			return nil, accessError(err)
		}
		patch.Config = &cfg
	}
	patch.Paused = u.Paused
	if len(u.PollInterval) > 0 {
		if patch.PollInterval, err = pollInterval(p, u.PollInterval); err != nil {
			return nil, err
		}
	}
	// Config or pause changed: routes, channels and schedules follow;
	// resumed or reconfigured connections catch up incrementally.
	owed := db.ActivateApply
	if patch.Config != nil || (u.Paused != nil && !*u.Paused) {
		owed = db.ActivateSync
	}
	err = s.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) error {
		if c, err = tx.UpdateConnection(ctx, c.ID, patch); err != nil {
			return err
		}
		if err := tx.MarkActivation(ctx, c, owed); err != nil {
			return err
		}
		if _, ok := p.Connector.(connectors.AccessProver); ok && report != nil {
			if err := tx.ReplaceResources(ctx, c.ID, ResourceRows(report.Granted)); err != nil {
				return err
			}
		}
		if u.Paused == nil {
			return nil
		}
		ev := poblysh.HealthEvent{Kind: poblysh.EventResumed}
		if *u.Paused {
			ev.Kind = poblysh.EventPaused
		}
		_, _, err := tx.ApplyHealth(ctx, c.ID, ev)
		return err
	})
	if err != nil {
		return nil, err
	}
	if c, err = s.Find(ctx, tenantID, c.ID); err != nil {
		return nil, err
	}
	s.activateOrDefer(ctx, c)
	return c, nil
}

// MaxPollIntervalSeconds is the longest polling interval a connection may
// be given (a day, as swagger.yml says): longer, a missed push would wait
// days, and the seconds overflowed the column and the schedule's duration.
const MaxPollIntervalSeconds = 86400

// pollInterval reads poll_interval_seconds: null resets it, a number must
// be at least a minute and the provider's floor, and at most a day.
func pollInterval(p *connectors.Provider, raw json.RawMessage) (**int, error) {
	var secs *int
	if err := json.Unmarshal(raw, &secs); err != nil {
		return nil, &poblysh.Error{Code: poblysh.EVALIDATION, Message: "request body failed validation",
			Details: map[string]string{"poll_interval_seconds": "must be an integer or null"}}
	}
	if secs != nil && *secs > MaxPollIntervalSeconds {
		return nil, &poblysh.Error{Code: poblysh.EVALIDATION, Message: "polling interval too long",
			Details: map[string]string{"poll_interval_seconds": fmt.Sprintf("must be at most %d", MaxPollIntervalSeconds)}}
	}
	if minSecs := int(p.Spec.Policy.MinPollInterval.Seconds()); secs != nil && (*secs < 60 || *secs < minSecs) {
		return nil, &poblysh.Error{Code: poblysh.EVALIDATION, Message: "polling interval too short",
			Details: map[string]string{"poll_interval_seconds": fmt.Sprintf("must be at least %d", max(60, minSecs))}}
	}
	return &secs, nil
}

// Delete disconnects a connection (see Disconnect), which cancels its
// open jobs and soft-deletes it: tokens erased, routes and cursors
// removed, Signals kept unless purge. Once it has begun tearing the
// connection down, a client that stops waiting does not stop it; a delete
// that fails leaves the connection live and marked for activation. With
// purge it answers once the Signals are gone, deleted in short
// transactions after the delete (see purge). A purge
// cut short (the process stopped) leaves the deleted connection marked:
// the same delete with purge again finishes it, as the daily retention
// run does. It returns the provider-side problems met on the way.
func (s *Service) Delete(ctx context.Context, tenantID, id string, purge bool) ([]string, error) {
	return s.DeleteWith(ctx, tenantID, id, purge, nil)
}

// DeleteWith is Delete that also runs also (when not nil) in the
// transaction that deletes the row, and only when this call deletes it: a
// connection deleted already, by an earlier attempt or anyone else, is
// not found and runs nothing. A tenant's deletion counts the connection
// there, so that a retried attempt does not count it again.
func (s *Service) DeleteWith(ctx context.Context, tenantID, id string, purge bool, also func(*db.Tx) error) ([]string, error) {
	c, err := s.Find(ctx, tenantID, id)
	if poblysh.ErrorCode(err) == poblysh.ENOTFOUND && purge && canonicalID(id) {
		var pending bool
		if perr := s.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) (err error) {
			pending, err = tx.SignalPurgePending(ctx, id)
			return err
		}); perr != nil {
			return nil, perr
		}
		if pending {
			return nil, s.purge(ctx, tenantID, id)
		}
	}
	if err != nil {
		return nil, err
	}
	warnings, err := s.Disconnect(ctx, c, purge, also)
	if err != nil {
		return warnings, err
	}
	// Disconnect removed the schedule seconds ago; a call that read the
	// connection live meanwhile (a PATCH, a watch pass, a health move) may
	// have made it again. Synced now, it reads the connection deleted and
	// removes it, as every later call will: on its own clock, as the
	// delete ran.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.Workflows.SyncSchedules(sctx, tenantID, c.ID); err != nil {
		warnings = append(warnings, "could not remove the polling schedule: "+err.Error())
	}
	if !purge {
		return warnings, nil
	}
	return warnings, s.purge(ctx, tenantID, c.ID)
}

// purge deletes a deleted connection's Signals (db.DB.PurgeConnectionSignals:
// in batches, then again once the Signal writers running meanwhile have
// ended). A caller that stops waiting does not stop it; a process that
// stops does, and leaves the connection marked for the next try.
func (s *Service) purge(ctx context.Context, tenantID, id string) error {
	_, err := s.DB.PurgeConnectionSignals(context.WithoutCancel(ctx), tenantID, id, nil)
	return err
}

// DefaultSyncAnswerWithin is how long a sync of every connection of a
// provider asks their streams before it answers (Service.SyncAnswerWithin):
// each request is an update that waits for the stream's worker (about
// 70 ms, and no faster many at a time on a dev server), and a request in
// flight then may take up to 20 s more (engine.requestTimeout), so the
// answer comes well inside the route's 60 s deadline (api.Timeouts) for a
// tenant of any size.
const DefaultSyncAnswerWithin = 20 * time.Second

// SyncStarted is what a sync request started: the jobs of the connections
// it asked, and how many active connections it left to a workflow
// (Pending; each is asked whole, by StartProviderSync's workflow).
type SyncStarted struct {
	Jobs    []db.Job
	Pending int
}

// Sync starts or joins a sync of one connection of p (connectionID given),
// or of every active connection of p (connectionID nil), and returns the
// jobs. A given id that is not a UUID, "" included, and a mode other than
// incremental or backfill ("" included: the caller applies the default)
// are refused before anything starts, so neither widens the sync. An
// inactive connection is a conflict that says how to make it active again.
//
// Every connection's streams are asked a bounded number at a time, for at
// most SyncAnswerWithin: the connections not begun by then are left to a
// workflow (SyncFrom) and counted in Pending, so the answer does not wait
// on the number of streams. Asked one after the other to the end, a
// tenant of some 850 streams passed the route's deadline.
func (s *Service) Sync(ctx context.Context, tenantID string, p *connectors.Provider, connectionID *string, mode poblysh.SyncMode) (SyncStarted, error) {
	if err := syncRequestProblems(connectionID, mode); err != nil {
		return SyncStarted{}, err
	}
	var conns []db.Connection
	if connectionID != nil {
		c, err := s.Find(ctx, tenantID, *connectionID)
		if err == nil && c.Provider != p.Spec.Name {
			err = poblysh.NotFound("connection")
		}
		if err != nil {
			return SyncStarted{}, err
		}
		if !c.Active() {
			return SyncStarted{}, inactiveConflict(c)
		}
		conns = append(conns, *c)
	} else {
		var all []db.Connection
		err := s.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) (err error) {
			all, err = tx.ListProviderConnections(ctx, p.Spec.Name)
			return err
		})
		if err != nil {
			return SyncStarted{}, err
		}
		if len(all) == 0 {
			return SyncStarted{}, &poblysh.Error{Code: poblysh.ENOTFOUND, Message: "no " + p.Spec.Name + " connection to sync"}
		}
		for _, c := range all {
			if c.Active() {
				conns = append(conns, c)
			}
		}
		if len(conns) == 0 {
			return SyncStarted{}, inactiveConflict(&all[0])
		}
	}
	within := s.SyncAnswerWithin
	if within <= 0 {
		within = DefaultSyncAnswerWithin
	}
	jobs, asked, err := s.Workflows.RequestSyncsUntil(ctx, conns, mode, poblysh.TriggerManual, time.Now().Add(within), nil)
	if err != nil {
		return SyncStarted{}, err
	}
	if asked == len(conns) {
		return SyncStarted{Jobs: jobs}, nil
	}
	// The rest goes on after the last connection asked (in
	// ListProviderConnections' order, which SyncFrom pages through).
	after := ""
	if asked > 0 {
		if after, err = db.ConnectionCursor(&conns[asked-1]); err != nil {
			return SyncStarted{}, err
		}
	}
	if err := s.Workflows.StartProviderSync(ctx, tenantID, p.Spec.Name, mode, after); err != nil {
		return SyncStarted{}, err
	}
	return SyncStarted{Jobs: jobs, Pending: len(conns) - asked}, nil
}

// syncFromPage is how many connections SyncFrom reads at a time.
const syncFromPage = 100

// SyncProgress is what SyncFrom has asked since its last report: every
// connection up to the cursor After is asked (Done: every connection is,
// After is then ""), Connections of them active, their streams' Jobs, and
// Skipped, the active connections whose streams could not be listed.
type SyncProgress struct {
	After       string
	Done        bool
	Connections int
	Jobs        int
	Skipped     int
}

// SyncFrom asks every stream of the tenant's active connections of the
// provider after the cursor after ("" for all) for a manual pass in mode,
// a page of connections at a time, and reports progress as the
// connections asked grow, each connection once all its streams and every
// connection's before it were answered (RequestSyncsUntil's progress), and
// at the end of each page. It is the rest of a Sync that answered first
// (SyncStarted.Pending), run by a workflow whose activity heartbeats the
// progress: a retry goes on from the cursor progress last had, so a page
// that outlives an attempt asks its connections only once, and those
// after them too.
//
// A connection whose connector cannot list its streams (its config newly
// invalid) is skipped and logged: it failed the page, at each retry, so
// that no connection after it was asked.
func (s *Service) SyncFrom(ctx context.Context, tenantID, provider string, mode poblysh.SyncMode, after string, progress func(SyncProgress)) error {
	if !mode.Valid() {
		return &poblysh.Error{Code: poblysh.EVALIDATION, Message: "invalid sync mode " + string(mode)}
	}
	p, err := s.provider(provider)
	if err != nil {
		return err
	}
	for {
		var page []db.Connection
		var next string
		err := s.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) (err error) {
			page, next, err = tx.ProviderConnectionsPage(ctx, provider, db.Page{Cursor: after, Limit: syncFromPage})
			return err
		})
		if err != nil {
			return err
		}
		// ask are the page's connections to ask, at[i] the index in page
		// of ask[i]; skipped marks those whose streams could not be listed.
		var ask []db.Connection
		var at []int
		skipped := make([]bool, len(page))
		for i := range page {
			c := &page[i]
			if !c.Active() {
				continue
			}
			if err := streamsListed(p, c); err != nil {
				skipped[i] = true
				s.log().WithFields(logrus.Fields{"tenant_id": tenantID, "connection_id": c.ID, "provider": provider}).WithError(err).
					Warn("sync of every connection of the provider: connection skipped, its streams cannot be listed")
				continue
			}
			ask = append(ask, *c)
			at = append(at, i)
		}
		// report tells progress of the page's connections before upTo not
		// yet reported, asked the first asked of ask with their jobs.
		reported, reportedAsked, reportedJobs := 0, 0, 0
		report := func(upTo, asked, jobs int, cur string, done bool) {
			n := 0
			for i := reported; i < upTo; i++ {
				if skipped[i] {
					n++
				}
			}
			progress(SyncProgress{After: cur, Done: done, Connections: asked - reportedAsked, Jobs: jobs - reportedJobs, Skipped: n})
			reported, reportedAsked, reportedJobs = upTo, asked, jobs
		}
		var jobs []db.Job
		if len(ask) > 0 {
			jobs, _, err = s.Workflows.RequestSyncsUntil(ctx, ask, mode, poblysh.TriggerManual, time.Time{}, func(asked, jobs int) {
				// Up to the connection after the last asked one: the
				// connections between that it does not ask are done too.
				upTo := len(page)
				if asked < len(ask) {
					upTo = at[asked]
				}
				cur, err := db.ConnectionCursor(&page[upTo-1])
				if err != nil {
					return // reported at the page's end
				}
				report(upTo, asked, jobs, cur, false)
			})
			if err != nil {
				return err
			}
		}
		report(len(page), len(ask), len(jobs), next, next == "")
		if next == "" {
			return nil
		}
		after = next
	}
}

// streamsListed is the error of the connector's list of the connection's
// streams (nil: it lists them, or the provider has none to sync).
func streamsListed(p *connectors.Provider, c *db.Connection) error {
	syncer, ok := p.Connector.(connectors.Syncer)
	if !ok {
		return nil
	}
	_, err := syncer.Streams(View(c))
	return err
}

// syncRequestProblems is the validation_failed of a sync's connection id
// and mode, naming each that is wrong; nil when both are right.
func syncRequestProblems(connectionID *string, mode poblysh.SyncMode) error {
	problems := map[string]string{}
	if connectionID != nil && !canonicalID(*connectionID) {
		problems["connection_id"] = "must be a UUID"
	}
	if !mode.Valid() {
		problems["mode"] = "must be one of incremental, backfill"
	}
	if len(problems) == 0 {
		return nil
	}
	return &poblysh.Error{Code: poblysh.EVALIDATION, Message: "invalid sync request", Details: problems}
}

func inactiveConflict(c *db.Connection) error {
	msg := "connection " + c.ID + " is " + string(c.Health)
	if c.Paused {
		msg = "connection " + c.ID + " is paused; resume it with PATCH /api/v1/connections/" + c.ID
	} else if c.Health == poblysh.HealthNeedsReauth {
		msg += ": reconnect it with POST /api/v1/connections/" + c.ID + "/reconnect"
	}
	return &poblysh.Error{Code: poblysh.ECONFLICT, Message: msg}
}
