package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/modelreg/modelreg"
	"github.com/modelreg/modelreg/definition"
	"github.com/modelreg/modelreg/document"
	"github.com/modelreg/modelreg/store"
)

// ---- helpers ------------------------------------------------------------

// authorize authenticates the request's bearer token.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) (principal, error) {
	tok, ok := bearer(r)
	if !ok {
		return principal{}, problem(ProblemUnauthorized, "send a token: Authorization: Bearer <token>")
	}
	p, err := s.auth.authenticate(r.Context(), tok)
	if errors.Is(err, errBadToken) {
		return principal{}, problem(ProblemUnauthorized, "invalid token")
	}
	if err != nil {
		return principal{}, s.storeError(err)
	}
	if !p.admin {
		if rec, ok := w.(*statusRecorder); ok && rec.tenant == "" {
			sh, ok := s.tenantLim.acquire(p.tenant)
			if !ok {
				s.m.rejected.WithLabelValues("tenant_share").Inc()
				pr := problem(ProblemTooManyRequests, "too many requests of this tenant in flight; retry later")
				pr.retryAfter = 1
				return principal{}, pr
			}
			rec.tenant, rec.tenantLim, rec.share = p.tenant, s.tenantLim, sh
			// A request without a body has all it needs to compute now;
			// one with a body waits for it first (see readBodyInto).
			if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodDelete {
				if err := s.startRunning(w, r); err != nil {
					return principal{}, err
				}
			}
		}
	}
	return p, nil
}

func (s *Server) requireAdmin(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authorize(w, r)
	if err != nil {
		return err
	}
	if !p.admin {
		return problem(ProblemForbidden, "this operation needs the admin token")
	}
	return nil
}

// scopeOf returns the scope a request addresses: a tenant id (checked
// against the principal) or store.Global for /v1/global routes.
func (s *Server) scopeOf(r *http.Request, p principal) (string, error) {
	if strings.HasPrefix(r.URL.Path, "/v1/global/") {
		return store.Global, nil
	}
	return s.tenantAccess(r, p)
}

// scopeCtx returns a context that selects scope in the registry.
func scopeCtx(ctx context.Context, scope string) context.Context {
	if scope == store.Global {
		return ctx
	}
	return modelreg.WithTenant(ctx, scope)
}

// acquireScope returns the read-locked state of scope, loading a tenant if
// needed; release it with s.releaseScope.
func (s *Server) acquireScope(ctx context.Context, scope string) (*tenantState, error) {
	if scope == store.Global {
		return s.global, nil
	}
	t, err := s.acquire(ctx, scope)
	if errors.Is(err, errNoTenant) {
		return nil, tenantNotFound(scope)
	}
	if err != nil {
		return nil, s.storeError(err)
	}
	return t, nil
}

func (s *Server) releaseScope(t *tenantState) {
	if t != s.global {
		s.release(t)
	}
}

// authorizeScope authenticates r and resolves the scope it addresses.
func (s *Server) authorizeScope(w http.ResponseWriter, r *http.Request) (principal, string, error) {
	return s.authorizeWith(w, r, s.scopeOf)
}

// authorizeTenant authenticates r and checks its access to the tenant the
// URL names.
func (s *Server) authorizeTenant(w http.ResponseWriter, r *http.Request) (principal, string, error) {
	return s.authorizeWith(w, r, s.tenantAccess)
}

// authorizeWith authenticates r, then resolves what it addresses with
// resolve (which checks the principal's access).
func (s *Server) authorizeWith(w http.ResponseWriter, r *http.Request, resolve func(*http.Request, principal) (string, error)) (principal, string, error) {
	p, err := s.authorize(w, r)
	if err != nil {
		return principal{}, "", err
	}
	id, err := resolve(r, p)
	if err != nil {
		return principal{}, "", err
	}
	return p, id, nil
}

// adminTenant is authorizeTenant for an admin-only operation; doing names
// it in the forbidden problem ("<doing> needs the admin token").
func (s *Server) adminTenant(w http.ResponseWriter, r *http.Request, doing string) (string, error) {
	p, id, err := s.authorizeTenant(w, r)
	if err != nil {
		return "", err
	}
	if !p.admin {
		return "", problem(ProblemForbidden, "%s needs the admin token", doing)
	}
	return id, nil
}

// pinnedScope is a scope held resident (read-locked) while a handler reads
// it. A handler defers release and also calls it once its response is
// ready but before writing it: a tenant is let go of before the response
// is written, so a slow client cannot hold up its unloading. release is
// idempotent.
type pinnedScope struct {
	s    *Server
	t    *tenantState
	ctx  context.Context // selects the scope in the registry
	held bool
}

// pinScope acquires scope (loading a tenant if needed) for a read by p;
// see pinnedScope. It rechecks p's token once the scope is pinned.
func (s *Server) pinScope(ctx context.Context, p principal, scope string) (pinnedScope, error) {
	t, err := s.acquireScope(ctx, scope)
	if err != nil {
		return pinnedScope{}, err
	}
	if err := s.recheck(ctx, p); err != nil {
		s.releaseScope(t)
		return pinnedScope{}, err
	}
	return pinnedScope{s: s, t: t, ctx: scopeCtx(ctx, scope), held: true}, nil
}

// recheck refuses, as authorize would, a tenant token revoked since the
// request was authorized (see authenticator.recheck).
func (s *Server) recheck(ctx context.Context, p principal) error {
	err := s.auth.recheck(ctx, p)
	if errors.Is(err, errBadToken) {
		return problem(ProblemUnauthorized, "invalid token")
	}
	if err != nil {
		return s.storeError(err)
	}
	return nil
}

// release lets go of the scope; calls after the first do nothing.
func (ps *pinnedScope) release() {
	if ps.held {
		ps.held = false
		ps.s.releaseScope(ps.t)
	}
}

// lockScope locks scope for a write and returns its state, loading a
// tenant if needed. A missing tenant is a tenantNotFound problem, unless
// create is set: then the state is new (isNew) and not resident, and the
// caller publishes it once the tenant was created (see loadLocked).
// Writes to a scope are serialised under the scope's own lock (see
// scopeLocks), so the store and the registry see them in the same order;
// other scopes' writes do not wait for it. The caller must call unlock once
// done, and before it writes its answer (a client slow to read it must not
// keep the lock, which the tenant's loads, its other writes and the
// janitor need); unlock may be called again. On error nothing is held. It
// rechecks p's token once the lock is held.
func (s *Server) lockScope(ctx context.Context, p principal, scope string, create bool) (state *tenantState, isNew bool, unlock func(), err error) {
	if scope == store.Global {
		s.globalMu.Lock()
		if err := s.recheck(ctx, p); err != nil {
			s.globalMu.Unlock()
			return nil, false, nil, err
		}
		return s.global, false, sync.OnceFunc(s.globalMu.Unlock), nil
	}
	l := s.locks.lock(scope)
	held := false
	defer func() {
		if held {
			return
		}
		if v := recover(); v != nil {
			// A panic in the load (the handler's recovery answers 500):
			// what the read cut short defined goes, as in load.
			if s.resident.get(scope) == nil {
				s.reg.CleanupTenant(context.WithoutCancel(ctx), scope)
			}
			l.unlock()
			panic(v)
		}
		l.unlock()
	}()
	state, isNew, err = s.loadLocked(ctx, scope, create, true)
	if errors.Is(err, errNoTenant) {
		return nil, false, nil, tenantNotFound(scope)
	}
	if err != nil {
		return nil, false, nil, s.storeError(err)
	}
	if err := s.recheck(ctx, p); err != nil {
		return nil, false, nil, err
	}
	state.active.Store(true) // a write is activity
	s.touch(state)
	held = true
	return state, isNew, sync.OnceFunc(l.unlock), nil
}

// storeError turns a store (or load) error into a problem.
func (s *Server) storeError(err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		p := problem(ProblemUnavailable, "request canceled or timed out")
		p.cause = err
		return p
	case errors.Is(err, store.ErrClosed):
		p := problem(ProblemUnavailable, "the server is shutting down")
		p.cause = err
		return p
	case errors.Is(err, store.ErrBusy):
		p := problem(ProblemUnavailable, "the store is busy or out of space; nothing was written")
		p.cause = err
		return p
	case errors.Is(err, errLoadPanicked):
		p := problem(ProblemInternal, "internal error")
		p.cause = err
		return p
	case errors.Is(err, store.ErrUnavailable):
		// Not busy: it will not serve again until something changes
		// (see store.ErrUnavailable).
		p := problem(ProblemUnavailable, "the store is unavailable (its database file was replaced or removed, or its database refuses this server); nothing was written")
		p.cause = err
		return p
	}
	p := problem(ProblemInternal, "storage error")
	p.cause = err
	return p
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The newline goes with the body when there is room for it or the body
	// is small; a large body is written as it is, then its newline, rather
	// than copied whole into a larger array for the one byte.
	if len(b) < cap(b) || len(b) <= smallBody {
		w.Write(append(b, '\n'))
	} else if _, err := w.Write(b); err == nil {
		w.Write(newline)
	}
	// A write error means the client went away: nothing more to say.
	return nil
}

// smallBody is the size up to which a body is copied to append its
// newline (see writeJSON).
const smallBody = 4 << 10

var newline = []byte{'\n'}

// definitionProblem maps a definition parse error to a problem.
func definitionProblem(err error) *Problem {
	var de *definition.Error
	if !errors.As(err, &de) {
		return problem(ProblemInvalidDefinition, "%v", err)
	}
	var p *Problem
	switch {
	case errors.Is(err, definition.ErrSyntax):
		p = problem(ProblemMalformedJSON, "%s", de.Error())
	case errors.Is(err, definition.ErrTooLarge):
		p = problem(ProblemTooLarge, "%s", de.Error())
	default:
		p = problem(ProblemInvalidDefinition, "%s", de.Error())
	}
	p.Path = de.Path
	p.cause = err
	return p
}

// registryProblem maps a registry error to a problem.
func registryProblem(err error) *Problem {
	var qe *modelreg.QuotaError
	switch {
	case errors.As(err, &qe):
		p := problem(ProblemQuotaExceeded, "%s quota exceeded: %d > %d", qe.Quota, qe.Value, qe.Limit)
		p.Quota = qe.Quota.String()
		p.cause = err
		return p
	case errors.Is(err, modelreg.ErrInvalidTenant), errors.Is(err, modelreg.ErrGlobalScope):
		return problem(ProblemInvalidTenantID, "%s", tenantIDReason(err))
	case errors.Is(err, modelreg.ErrInvalidDefinition):
		return problem(ProblemInvalidDefinition, "%v", err)
	}
	p := problem(ProblemInternal, "registry error")
	p.cause = err
	return p
}

// ---- responses ----------------------------------------------------------

// modelJSON is a named or anonymous model in responses.
type modelJSON struct {
	Name        string          `json:"name,omitempty"`
	ID          string          `json:"id,omitempty"` // anonymous models
	Anonymous   bool            `json:"anonymous,omitempty"`
	Scope       string          `json:"scope"` // "tenant" or "global"
	Tenant      string          `json:"tenant,omitempty"`
	Fingerprint string          `json:"fingerprint"`
	Revision    int64           `json:"revision,omitempty"`
	Created     *time.Time      `json:"created,omitempty"`
	Updated     *time.Time      `json:"updated,omitempty"`
	Refs        []string        `json:"refs"`
	Definition  json.RawMessage `json:"definition,omitempty"`
	Properties  json.RawMessage `json:"properties,omitempty"` // anonymous models
	Canonical   json.RawMessage `json:"canonical"`
}

// modelResponse describes m; meta is its stored metadata (see metaOf),
// unused for an anonymous model.
func (s *Server) modelResponse(m *modelreg.Model, meta modelMeta, full bool) (modelJSON, error) {
	return s.describe(m, meta, full, m.Canonical())
}

// describe is modelResponse with m's canonical form given: the response
// holds canonical, not a copy.
func (s *Server) describe(m *modelreg.Model, meta modelMeta, full bool, canonical []byte) (modelJSON, error) {
	out := modelJSON{
		Name:        m.Name(),
		Scope:       "global",
		Tenant:      m.Tenant(),
		Fingerprint: m.Fingerprint().String(),
		Refs:        m.Refs(),
		Canonical:   json.RawMessage(canonical),
	}
	if out.Refs == nil {
		out.Refs = []string{}
	}
	if m.Tenant() != "" {
		out.Scope = "tenant"
	}
	if m.Anonymous() {
		out.Name, out.ID, out.Anonymous = "", m.ID(), true
		props, err := m.Object().MarshalJSON()
		if err != nil {
			return out, err
		}
		out.Properties = props
		return out, nil
	}
	if meta.revision > 0 {
		out.Revision = meta.revision
		c, u := meta.created, meta.updated
		out.Created, out.Updated = &c, &u
	}
	if full {
		def, err := m.Definition().MarshalJSON()
		if err != nil {
			return out, err
		}
		out.Definition = def
	}
	return out, nil
}

// etag is the ETag of revision rev of a model of scope: "<rev>" for a
// tenant's model, "g<rev>" for a global one. Each scope counts its own
// revisions, and a tenant URL serves the global model of its name until
// the tenant has its own: the g keeps the two from ever having one ETag,
// so an If-Match taken from the global model never matches the tenant's.
func etag(scope string, rev int64) string {
	if scope == store.Global {
		return `"g` + strconv.FormatInt(rev, 10) + `"`
	}
	return `"` + strconv.FormatInt(rev, 10) + `"`
}

// ---- operational --------------------------------------------------------

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.draining.Load() {
		return problem(ProblemUnavailable, "shutting down")
	}
	if s.feedStop != nil && !s.feedReady.Load() {
		return problem(ProblemUnavailable, "not watching the store's changes (yet)")
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	t0 := time.Now()
	err := s.st.Ping(ctx)
	s.m.observeStore("ping", t0)
	if err != nil {
		p := problem(ProblemUnavailable, "store unavailable")
		p.cause = err
		return p
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// ---- models -------------------------------------------------------------

func (s *Server) putModel(w http.ResponseWriter, r *http.Request) error {
	p, scope, err := s.authorizeScope(w, r)
	if err != nil {
		return err
	}
	if scope == store.Global && !p.admin {
		return problem(ProblemForbidden, "writing global models needs the admin token")
	}
	name, err := s.modelName(r)
	if err != nil {
		return err
	}
	cond, err := condition(r, scope)
	if err != nil {
		return err
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	// The body may leave the name out: the URL gives it. It is stored as
	// sent, and loaded with its row's name.
	def, err := definition.ParseNamed(body, name, s.cfg.Limits)
	if err != nil {
		return definitionProblem(err)
	}
	if def.Name != name {
		return problem(ProblemNameMismatch, "the definition is named %q but the URL names %q", def.Name, name)
	}
	ctx := r.Context()

	// Only the admin creates tenants. A tenant token implies its tenant
	// exists, unless the tenant was deleted after the token was checked:
	// then this write must not bring it back.
	state, isNew, unlock, err := s.lockScope(ctx, p, scope, p.admin)
	if err != nil {
		return err
	}
	defer unlock()
	// Refuse what the registry would refuse (a quota) before touching
	// the store. Writes to the scope are serialised, so the Define below
	// agrees unless the policy changed meanwhile; that is caught after
	// the store write, and undone.
	sctx := scopeCtx(context.WithoutCancel(ctx), scope)
	if err := s.reg.CheckDefine(sctx, def); err != nil {
		return registryProblem(err)
	}

	// The previous stored version, to restore if the registry refuses
	// the new one after it was stored.
	t0 := time.Now()
	prev, err := s.st.Model(ctx, scope, name)
	s.m.observeStore("model", t0)
	hadPrev := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return s.storeError(err)
	}
	size, prevSize := int64(len(body)), int64(len(prev.Definition))
	if err := s.storedQuota(state, scope, size, prevSize); err != nil {
		return err
	}

	// 1. Durable first. A tenant's token writes only while the store
	// has it, so never once it was revoked, or its tenant deleted (which
	// the write must not create again), through another replica that
	// this one has not heard from yet: the store refuses, as this
	// replica would have, had it known.
	s.tokenCondition(p, &cond)
	t0 = time.Now()
	stored, created, err := s.st.PutModel(ctx, store.Model{Scope: scope, Name: name, Definition: body, Fingerprint: def.Object.Fingerprint().String()}, cond)
	s.m.observeStore("put_model", t0)
	if errors.Is(err, store.ErrPrecondition) {
		return preconditionFailed(scope, err)
	}
	if err := s.tokenRefused(p, err, true); err != nil {
		return err
	}
	if err != nil {
		s.writeFailed(ctx, scope, name, err)
		return s.storeError(err)
	}
	// 2. Then memory, with its metadata (see tenantState.meta). Only a
	// policy changed since CheckDefine can refuse it here.
	meta := modelMeta{revision: stored.Revision, created: stored.Created, updated: stored.Updated, size: size}
	state.metaMu.Lock()
	m, err := s.reg.Define(sctx, def)
	if err == nil {
		state.meta[name] = meta
		state.storedBytes += size - prevSize
		state.clearUnreadable(name)
	}
	state.metaMu.Unlock()
	if err != nil {
		s.undoPut(ctx, state, isNew, prev, hadPrev, stored)
		return registryProblem(err)
	}
	s.dropValidators(state, name)
	if isNew {
		s.publish(ctx, state)
	}

	resp, err := s.modelResponse(m, meta, true)
	if err != nil {
		return err
	}
	unlock() // before writing: a client slow to read must not hold the lock
	w.Header().Set("ETag", etag(scope, stored.Revision))
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", r.URL.EscapedPath())
	}
	return writeJSON(w, status, resp)
}

// tokenCondition makes a write by p's tenant token conditional on the
// token in the store (see store.Condition.Token): the store refuses it
// once the token is revoked, or its tenant deleted, through another
// replica, whether or not this one has heard of it.
func (s *Server) tokenCondition(p principal, cond *store.Condition) {
	if !p.admin {
		cond.Token = p.tokenID
		cond.TenantMustExist = true
	}
}

// tokenRefused returns the answer to a write whose token the store
// refused (err from a write made with tokenCondition), or nil: the token
// is forgotten here too, as the feed will have it. For a put, any
// ErrNotFound is the token's or its tenant's (TenantMustExist).
func (s *Server) tokenRefused(p principal, err error, put bool) error {
	if p.admin || !errors.Is(err, store.ErrNoToken) && !(put && errors.Is(err, store.ErrNotFound)) {
		return nil
	}
	s.auth.revoke(p.tokenID)
	return problem(ProblemUnauthorized, "invalid token")
}

// storedQuota refuses a write to scope of a definition of size bytes, in
// place of one of prevSize bytes (0 for none), that would take the
// tenant's stored definitions over its bytes quota. The registry counts
// the canonical form and kept settings of what it holds; the store holds
// the definitions as sent, whose white space, escapes and keys the
// registry does not keep cost it nothing, so the quota bounds both: the
// disk a tenant fills, and the memory its load reads that into. As with
// the registry's count, a tenant over the quota (lowered since) may still
// replace a definition with one no larger. The global scope has no quota.
func (s *Server) storedQuota(state *tenantState, scope string, size, prevSize int64) error {
	if scope == store.Global {
		return nil
	}
	limit := s.reg.Policy(scope).MaxBytes
	if limit <= 0 || size <= prevSize {
		return nil
	}
	state.metaMu.RLock()
	total := state.storedBytes - prevSize + size
	state.metaMu.RUnlock()
	if total <= limit {
		return nil
	}
	p := problem(ProblemQuotaExceeded, "%s quota exceeded: the tenant's definitions, as stored (as sent), would take %d bytes > %d",
		modelreg.QuotaBytes, total, limit)
	p.Quota = modelreg.QuotaBytes.String()
	return p
}

// undoPut undoes the store write of a PUT that the registry refused after
// it: it deletes the model, or the tenant if the PUT created it (its
// lock, which the caller holds, keeps tokens from being issued meanwhile),
// or restores the previous definition prev, whose new revision it records
// in state's metadata (the registry still holds prev's model).
func (s *Server) undoPut(ctx context.Context, state *tenantState, isNew bool, prev store.Model, hadPrev bool, stored store.Model) {
	ctx = context.WithoutCancel(ctx)
	var err error
	t0 := time.Now()
	switch {
	case isNew:
		_, err = s.st.DeleteTenant(ctx, stored.Scope)
		s.m.observeStore("delete_tenant", t0)
	case hadPrev:
		var back store.Model
		back, _, err = s.st.PutModel(ctx, prev, store.Condition{Revisions: []int64{stored.Revision}})
		s.m.observeStore("put_model", t0)
		if err == nil {
			state.metaMu.Lock()
			state.meta[prev.Name] = modelMeta{revision: back.Revision, created: back.Created, updated: back.Updated, size: int64(len(prev.Definition))}
			state.metaMu.Unlock()
		}
	default:
		err = s.st.DeleteModel(ctx, stored.Scope, stored.Name, store.Condition{Revisions: []int64{stored.Revision}})
		s.m.observeStore("delete_model", t0)
	}
	if err != nil {
		// The store keeps the definition the registry refused, which
		// memory lacks: read the scope again, as the other replicas do,
		// so that every replica skips it alike.
		s.log.Error("could not undo a stored definition the registry refused; it is skipped, as at a load",
			"scope", stored.Scope, "model", stored.Name, "err", err)
		s.forget(ctx, stored.Scope, stored.Name)
	}
}

// modelName returns the {name} of a request's path, or an
// invalid-model-name problem: no model can have that name.
func (s *Server) modelName(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if !definition.ValidModelName(name, s.cfg.Limits) {
		maxLen := s.cfg.Limits.MaxNameLen
		if maxLen <= 0 {
			maxLen = definition.DefaultLimits().MaxNameLen
		}
		return "", problem(ProblemInvalidModelName, "invalid model name %q: 1 to %d bytes, an ASCII letter or '_' followed by letters, digits, '_' or '-'", name, maxLen)
	}
	return name, nil
}

// condition reads the preconditions of a PUT or DELETE (RFC 9110 §13.1):
// If-None-Match: * (the model must not exist yet), and If-Match, either *
// (the model must exist) or a list of entity tags compared strongly (the
// model must exist at a revision one of them names). This API's ETags are
// strong and exactly "<revision>", so a weak tag, or one it never gives
// (such as "007"), names no revision: a list of only those is never met,
// which the store finds in its turn (a 412 only if nothing else refuses
// the request first: RFC 9110 §13.2.1).
func condition(r *http.Request, scope string) (store.Condition, error) {
	var c store.Condition
	if v := headerList(r, "If-None-Match"); v != "" {
		for e := range strings.SplitSeq(v, ",") {
			switch e = strings.TrimSpace(e); e {
			case "*":
				c.MustNotExist = true
			case "": // an empty list element
			default:
				return c, problem(ProblemInvalidRequest, `If-None-Match supports only "*"`)
			}
		}
	}
	v := headerList(r, "If-Match")
	if v == "" {
		return c, nil
	}
	if v == "*" {
		c.MustExist = true
		return c, nil
	}
	tags, ok := parseETags(v)
	if !ok {
		return c, problem(ProblemInvalidRequest, `If-Match must be "*" or a list of entity tags, such as the ETag "<revision>" of a model`)
	}
	// Not nil, even if no tag names a revision: the store then finds the
	// condition unmet, in its turn (after what would refuse the request
	// anyway: RFC 9110 §13.2.1).
	c.Revisions = make([]int64, 0, len(tags))
	for _, t := range tags {
		if rev, ok := revisionTag(scope, t); ok {
			c.Revisions = append(c.Revisions, rev)
		}
	}
	return c, nil
}

// preconditionFailed is the 412 problem of a store write refused by its
// condition: it tells the model's state, not the store's words.
func preconditionFailed(scope string, err error) *Problem {
	var pe *store.PreconditionError
	p := problem(ProblemPreconditionFailed, "the model's state does not meet If-Match / If-None-Match")
	if errors.As(err, &pe) {
		if pe.Exists {
			p = problem(ProblemPreconditionFailed, "model %q exists, at revision %d (ETag %s); If-Match / If-None-Match not met", pe.Name, pe.Revision, etag(scope, pe.Revision))
		} else {
			p = problem(ProblemPreconditionFailed, "model %q does not exist; If-Match not met", pe.Name)
		}
	}
	p.cause = err
	return p
}

// headerList returns the values of the header key joined as one list
// (RFC 9110 §5.3), without surrounding white space.
func headerList(r *http.Request, key string) string {
	vs := r.Header.Values(key)
	if len(vs) == 1 {
		return strings.TrimSpace(vs[0])
	}
	return strings.TrimSpace(strings.Join(vs, ","))
}

// parseETags splits a list of entity tags (RFC 9110 §8.8.3: [W/]"opaque"
// separated by commas and optional white space; empty elements are
// ignored, so the list may have none). It returns the tags as written,
// and false if v is not such a list.
func parseETags(v string) ([]string, bool) {
	var tags []string
	for v != "" {
		v = strings.TrimLeft(v, " \t")
		if v == "" {
			break
		}
		if v[0] == ',' {
			v = v[1:]
			continue
		}
		start := v
		v = strings.TrimPrefix(v, "W/")
		if v == "" || v[0] != '"' {
			return nil, false
		}
		end := strings.IndexByte(v[1:], '"')
		if end < 0 {
			return nil, false
		}
		for _, b := range []byte(v[1 : 1+end]) {
			if b < 0x21 || b == 0x7f { // etagc: %x21 / %x23-7E / obs-text
				return nil, false
			}
		}
		v = v[end+2:]
		tags = append(tags, start[:len(start)-len(v)])
		v = strings.TrimLeft(v, " \t")
		if v != "" && v[0] != ',' {
			return nil, false
		}
	}
	return tags, true
}

// revisionTag returns the revision a strong entity tag of this API names
// for a model of scope, as etag writes it: "<revision>" for a tenant's,
// "g<revision>" for a global one, in decimal, without sign or leading zero.
func revisionTag(scope, tag string) (int64, bool) {
	if len(tag) < 3 || tag[0] != '"' {
		return 0, false
	}
	digits := tag[1 : len(tag)-1]
	if scope == store.Global {
		var ok bool
		if digits, ok = strings.CutPrefix(digits, "g"); !ok {
			return 0, false
		}
	}
	rev, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || rev <= 0 || strconv.FormatInt(rev, 10) != digits {
		return 0, false
	}
	return rev, true
}

func (s *Server) getModel(w http.ResponseWriter, r *http.Request) error {
	p, scope, err := s.authorizeScope(w, r)
	if err != nil {
		return err
	}
	name, err := s.modelName(r)
	if err != nil {
		return err
	}
	ps, err := s.pinScope(r.Context(), p, scope)
	if err != nil {
		return err
	}
	defer ps.release()
	unlock := s.rlockMeta(ps.t)
	m, ok := s.reg.FindByName(ps.ctx, name)
	ok = ok && !s.shadowed(ps.t, m, true)
	var resp modelJSON
	if ok {
		resp, err = s.modelResponse(m, s.metaOf(ps.t, m), true)
	}
	unlock()
	if !ok {
		return s.missing(ps.t, name)
	}
	if err != nil {
		return err
	}
	ps.release() // before writing: see pinnedScope
	if resp.Revision > 0 {
		w.Header().Set("ETag", etag(m.Tenant(), resp.Revision))
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) error {
	p, scope, err := s.authorizeScope(w, r)
	if err != nil {
		return err
	}
	ps, err := s.pinScope(r.Context(), p, scope)
	if err != nil {
		return err
	}
	defer ps.release()
	models := s.listed(ps.t, ps.ctx)
	ps.release() // before writing: see pinnedScope
	return s.writeList(w, r, models)
}

// listedModel is a model of a list with its stored metadata as of the
// listing.
type listedModel struct {
	m    *modelreg.Model
	meta modelMeta
}

// listed returns the models of the scope pinned as t (and selected by
// ctx) that its list shows. Models are immutable, so the list can be
// described and written once the scope is let go of.
func (s *Server) listed(t *tenantState, ctx context.Context) []listedModel {
	unlock := s.rlockMeta(t)
	defer unlock()
	models := s.reg.Models(ctx)
	out := make([]listedModel, 0, len(models))
	for _, m := range models {
		if !s.shadowed(t, m, true) {
			out = append(out, listedModel{m, s.metaOf(t, m)})
		}
	}
	return out
}

// writeList writes the answer of a list, {"models": [model, …]} without
// definitions, exactly as json.Marshal would write it, but one model at a
// time: a model's canonical form and its JSON are written in buffers
// reused from one model to the next and sent once they hold listChunk
// bytes, so that an answer takes the memory of its largest model, not of
// all of them (a tenant of 64 models of 1 MB canonical forms took 300 MB
// per request when the answer was built whole).
//
// An error before the answer's first byte is sent is returned, and
// becomes a problem; after it, the answer cannot become one any more: the
// handler then returns an answerCut, and the connection is cut (see
// serveRoute), so the client sees an incomplete answer, never a complete
// one that is wrong.
func (s *Server) writeList(w http.ResponseWriter, r *http.Request, models []listedModel) error {
	var (
		buf     = bytes.NewBuffer(make([]byte, 0, 4<<10))
		enc     = json.NewEncoder(buf)
		canon   []byte
		started bool
		failed  bool // a write failed: the client went away
		cut     error
	)
	// The models are described and encoded in the tenant's turn (see
	// startRunning), which the request gives back while each chunk is
	// written and takes again for the next: the turn bounds what a
	// tenant computes, and a client slow to read holds none.
	rec, _ := w.(*statusRecorder)
	send := func(last bool) {
		if !started {
			started = true
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK) // gives back the turn
		} else if rec != nil {
			rec.stopRunning()
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			failed = true
		}
		buf.Reset()
		if !last && !failed {
			if err := s.startRunning(w, r); err != nil {
				// The client went away waiting for the turn, but the
				// connection may still be written to: the answer must
				// not end as if it were complete.
				cut = &answerCut{err}
			}
		}
	}
	buf.WriteString(`{"models":[`)
	for i, l := range models {
		if i > 0 {
			buf.WriteByte(',')
		}
		canon = appendCanonical(canon[:0], l.m)
		mj, err := s.describe(l.m, l.meta, false, canon)
		if err == nil {
			// Encode writes what Marshal returns (HTML-escaped, the
			// canonical form compacted as Marshal does a RawMessage),
			// then a newline, which a list has only at its end.
			if err = enc.Encode(mj); err == nil {
				buf.Truncate(buf.Len() - 1)
			}
		}
		if err != nil {
			if started {
				return &answerCut{err}
			}
			return err
		}
		if buf.Len() >= listChunk {
			if send(false); cut != nil {
				return cut
			} else if failed {
				return nil
			}
		}
	}
	buf.WriteString("]}\n")
	if !started {
		// The whole answer is at hand: its length can be said.
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	}
	send(true)
	return nil
}

// listChunk is how much of a list's answer is gathered before it is sent.
const listChunk = 32 << 10

// appendCanonical appends m's canonical form to dst, as m.Canonical
// returns it, without allocating when dst has room.
func appendCanonical(dst []byte, m *modelreg.Model) []byte {
	if m.Anonymous() {
		return append(dst, m.Canonical()...)
	}
	return m.Object().AppendCanonical(dst)
}

func (s *Server) deleteModel(w http.ResponseWriter, r *http.Request) error {
	p, scope, err := s.authorizeScope(w, r)
	if err != nil {
		return err
	}
	if scope == store.Global && !p.admin {
		return problem(ProblemForbidden, "deleting global models needs the admin token")
	}
	name, err := s.modelName(r)
	if err != nil {
		return err
	}
	cond, err := condition(r, scope)
	if err != nil {
		return err
	}
	ctx := r.Context()
	state, _, unlock, err := s.lockScope(ctx, p, scope, false)
	if err != nil {
		return err
	}
	defer unlock()
	s.tokenCondition(p, &cond)
	t0 := time.Now()
	err = s.st.DeleteModel(ctx, scope, name, cond)
	s.m.observeStore("delete_model", t0)
	if err := s.tokenRefused(p, err, false); err != nil {
		return err
	}
	if errors.Is(err, store.ErrNotFound) {
		return problem(ProblemModelNotFound, "model %q not found", name)
	}
	if errors.Is(err, store.ErrPrecondition) {
		return preconditionFailed(scope, err)
	}
	if err != nil {
		s.writeFailed(ctx, scope, name, err)
		return s.storeError(err)
	}
	state.metaMu.Lock()
	_, err = s.reg.RemoveModel(scopeCtx(context.WithoutCancel(ctx), scope), name)
	if err == nil {
		state.forgetModel(name)
	}
	state.metaMu.Unlock()
	if err != nil {
		return registryProblem(err)
	}
	s.dropValidators(state, name)
	unlock()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- lookup and validation ----------------------------------------------

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) error {
	p, scope, err := s.authorizeScope(w, r)
	if err != nil {
		return err
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	raw, base, err := lookupProperties(body, s.cfg.Limits)
	if err != nil {
		return err
	}
	props, err := definition.ParseProperties(raw, s.cfg.Limits)
	if err != nil {
		// Paths and positions are relative to the body, as a
		// definition's are: the properties map is its "properties".
		pr := definitionProblem(err)
		var de *definition.Error
		if errors.As(err, &de) && de.Offset >= 0 {
			pr.Detail = strings.Replace(pr.Detail, position(de.Line, de.Column, int(de.Offset)), bodyPosition(body, base+int(de.Offset)), 1)
		}
		if pr.Path != "" {
			sep := "."
			if pr.Path[0] == '[' {
				sep = "" // a quoted name: properties["a b"]
			}
			if strings.HasPrefix(pr.Detail, pr.Path) {
				pr.Detail = "properties" + sep + pr.Detail
			}
			pr.Path = "properties" + sep + pr.Path
		}
		return pr
	}
	ps, err := s.pinScope(r.Context(), p, scope)
	if err != nil {
		return err
	}
	defer ps.release()
	unlock := s.rlockMeta(ps.t)
	m, ok := s.reg.FindByStructure(ps.ctx, props)
	if ok && s.shadowed(ps.t, m, true) {
		unlock()
		return s.missing(ps.t, m.Name())
	}
	var resp modelJSON
	if ok {
		resp, err = s.modelResponse(m, s.metaOf(ps.t, m), true)
	}
	unlock()
	if !ok {
		return problem(ProblemNoMatch, "no model has this structure")
	}
	if err != nil {
		return err
	}
	ps.release() // before writing: see pinnedScope
	return writeJSON(w, http.StatusOK, resp)
}

// lookupProperties returns the properties of a lookup's body, which must
// be {"properties": {...}}: one key, spelled exactly so, once (a
// definition's rules; encoding/json would take "PROPERTIES", or the last
// of two). They are body[base:].
func lookupProperties(body []byte, limits definition.Limits) (props json.RawMessage, base int, err error) {
	malformed := func(err error) error {
		if len(bytes.TrimSpace(body)) == 0 {
			return problem(ProblemMalformedJSON, "empty body")
		}
		// The definition parser's scanner says where, as for a PUT, and
		// refuses what it refuses there: invalid UTF-8, or nesting deeper
		// than the server's limit (encoding/json's own is 10,000 levels).
		// Its paths read the body as a properties map whose one property
		// is "properties": they are the body's paths.
		limits.MaxBytes = len(body) + 1
		if _, perr := definition.ParseProperties(body, limits); errors.Is(perr, definition.ErrSyntax) || errors.Is(perr, definition.ErrTooDeep) {
			return definitionProblem(perr)
		}
		return problem(ProblemMalformedJSON, "%v", err)
	}
	if !utf8.Valid(body) {
		// encoding/json would read invalid UTF-8 as U+FFFD.
		return nil, 0, malformed(errors.New("invalid UTF-8"))
	}
	shape := func() error { return problem(ProblemInvalidRequest, `the body must be {"properties": {...}}`) }
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil, 0, malformed(err)
	}
	if tok != json.Delim('{') {
		return nil, 0, shape()
	}
	for dec.More() {
		if tok, err = dec.Token(); err != nil {
			return nil, 0, malformed(err)
		}
		switch key, _ := tok.(string); {
		case key != "properties":
			return nil, 0, problem(ProblemInvalidRequest, `unknown key %q: the body must be {"properties": {...}}`, key)
		case props != nil:
			return nil, 0, problem(ProblemInvalidRequest, `duplicate key "properties"`)
		}
		if err := dec.Decode(&props); err != nil {
			return nil, 0, malformed(err)
		}
		base = int(dec.InputOffset()) - len(props)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, 0, malformed(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, 0, malformed(errors.New("unexpected data after the JSON object"))
	}
	if len(props) == 0 || string(props) == "null" {
		return nil, 0, shape()
	}
	return props, base, nil
}

// position is how a parse error states where it is; bodyPosition is the
// same for byte off of body.
func position(line, col, off int) string {
	return "at line " + strconv.Itoa(line) + ", column " + strconv.Itoa(col) + " (byte " + strconv.Itoa(off) + ")"
}

func bodyPosition(body []byte, off int) string {
	before := body[:min(off, len(body))]
	line := 1 + bytes.Count(before, []byte{'\n'})
	return position(line, len(before)-bytes.LastIndexByte(before, '\n'), off)
}

func (s *Server) validate(w http.ResponseWriter, r *http.Request) error {
	p, scope, err := s.authorizeScope(w, r)
	if err != nil {
		return err
	}
	name, err := s.modelName(r)
	if err != nil {
		return err
	}
	in := s.getBuf()
	defer s.putBuf(in)
	body, err := s.readBodyInto(w, r, (*in)[:0])
	if err != nil {
		return err
	}
	*in = body
	ps, err := s.pinScope(r.Context(), p, scope)
	if err != nil {
		return err
	}
	defer ps.release()
	m, ok := s.reg.FindByName(ps.ctx, name)
	if !ok || s.shadowed(ps.t, m, false) {
		return s.missing(ps.t, name)
	}
	v, err := s.validator(ps.t, scope, m)
	if err != nil {
		pr := problem(ProblemInternal, "model %q cannot validate documents: %v", name, err)
		pr.cause = err
		return pr
	}
	outp := s.getBuf()
	defer s.putBuf(outp)
	out := append((*outp)[:0], `{"document":`...)
	out, err = v.AppendValidate(out, body)
	*outp = out
	if err != nil {
		var ve *document.ValidationError
		if !errors.As(err, &ve) {
			return err
		}
		pr := problem(ProblemValidationFailed, "%d violation(s)", len(ve.Violations))
		if ve.Truncated {
			pr.Detail += " (more not reported)"
			pr.Truncated = true
		}
		pr.Violations = make([]Violation, len(ve.Violations))
		for i, vi := range ve.Violations {
			pr.Violations[i] = Violation{Path: vi.Path, Code: string(vi.Code), Message: vi.Message}
		}
		return pr
	}
	out = append(out, '}', '\n')
	*outp = out
	ps.release() // before writing: see pinnedScope
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(out))}
	w.WriteHeader(http.StatusOK)
	w.Write(out)
	return nil
}

// getBuf returns a pooled byte buffer; putBuf gives it back (buffers that
// grew large are dropped, so the pool never pins much memory).
func (s *Server) getBuf() *[]byte {
	if b, ok := s.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 4096)
	return &b
}

func (s *Server) putBuf(b *[]byte) {
	if cap(*b) > 256<<10 {
		return
	}
	*b = (*b)[:0]
	s.bufs.Put(b)
}

// validator returns the cached validator of model m as seen from scope
// (references resolve in the scope's tenant, then in the global scope).
//
// A validator is cached only while its model is the one the scope finds
// by its name: a write that replaces or removes a model drops its
// validator after it changed the registry (see Server.dropValidators),
// and a validator built meanwhile for the model it replaced is not
// cached, so that the cache never keeps a model the registry let go of.
func (s *Server) validator(t *tenantState, scope string, m *modelreg.Model) (*document.Validator, error) {
	t.vmu.RLock()
	c, ok := t.validators[m.Name()]
	t.vmu.RUnlock()
	if ok && c.m == m {
		return c.v, nil
	}
	ctx := scopeCtx(context.Background(), scope)
	v, err := document.New(m.Object(), s.resolver(t, ctx), document.WithLimits(s.cfg.DocumentLimits))
	if err != nil {
		return nil, err
	}
	t.vmu.Lock()
	if cur, ok := s.reg.FindByName(ctx, m.Name()); ok && cur == m {
		if t.validators == nil {
			t.validators = make(map[string]cachedValidator)
		}
		t.validators[m.Name()] = cachedValidator{m: m, v: v}
	}
	t.vmu.Unlock()
	return v, nil
}

func (s *Server) schema(w http.ResponseWriter, r *http.Request) error {
	p, scope, err := s.authorizeScope(w, r)
	if err != nil {
		return err
	}
	name, err := s.modelName(r)
	if err != nil {
		return err
	}
	ps, err := s.pinScope(r.Context(), p, scope)
	if err != nil {
		return err
	}
	defer ps.release()
	if m, ok := s.reg.FindByName(ps.ctx, name); !ok || s.shadowed(ps.t, m, false) {
		return s.missing(ps.t, name)
	}
	b, err := document.NamedSchema(name, s.resolver(ps.t, ps.ctx))
	if err != nil {
		var me *document.ModelError
		if errors.As(err, &me) && me.Code == document.CodeUnresolvedRef {
			pr := problem(ProblemUnresolvedRef, "%s", me.Msg)
			pr.Path = me.Path
			return pr
		}
		return err
	}
	ps.release() // before writing: see pinnedScope
	w.Header().Set("Content-Type", "application/schema+json")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	return nil
}

// ---- tenants ------------------------------------------------------------

// cleanupJSON is the report of DELETE /v1/tenants/{tenant}: the registry
// cleanup report (the names users of the old registry monitor; duration in
// milliseconds), plus what was purged from the store.
type cleanupJSON struct {
	Tenant           string   `json:"tenant"`
	ModelsRemoved    int      `json:"modelsRemoved"`
	MappingsRemoved  int      `json:"mappingsRemoved"`
	CleanedModels    []string `json:"cleanedModels"`
	Duration         float64  `json:"duration"`
	AnonymousRemoved int      `json:"anonymousRemoved"`
	StoredModels     int      `json:"storedModelsRemoved"`
	TokensRevoked    int      `json:"tokensRevoked"`
	TotalDuration    float64  `json:"totalDuration"`
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func (s *Server) deleteTenant(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	id, err := s.adminTenant(w, r, "deleting a tenant")
	if err != nil {
		return err
	}
	ctx := r.Context()
	// Under the tenant's lock, so that no write, load or token issue of
	// the same id runs meanwhile: a write that creates the tenant again
	// comes after the deletion, whole.
	l := s.locks.lock(id)
	unlock := sync.OnceFunc(l.unlock) // called before writing the answer
	defer unlock()
	// Load it, so the report counts its models whether or not it was
	// resident; one that was not is not made resident (which could unload
	// another tenant), and is dropped below under the same lock.
	t, _, err := s.loadLocked(ctx, id, false, false)
	if errors.Is(err, errNoTenant) {
		return tenantNotFound(id)
	} else if err != nil {
		return s.storeError(err)
	}
	bg := context.WithoutCancel(ctx)
	t0 := time.Now()
	purge, err := s.st.DeleteTenant(ctx, id)
	s.m.observeStore("delete_tenant", t0)
	if err != nil {
		mayBeGone := writeMayHaveCommitted(err) // see writeFailed
		if mayBeGone {
			s.auth.purgeTenant(id)
		}
		if s.resident.get(id) != t || mayBeGone { // loaded for the report only, or maybe deleted
			t.mu.Lock()
			s.unloadHeld(bg, t, unloadEvict)
		}
		if errors.Is(err, store.ErrNotFound) {
			return tenantNotFound(id)
		}
		return s.storeError(err)
	}
	s.auth.purgeTenant(id)
	t.mu.Lock() // waits for the requests using it
	rep, err := s.unloadHeld(bg, t, unloadDelete)
	if err != nil {
		return registryProblem(err)
	}
	unlock()
	out := cleanupJSON{
		Tenant:           id,
		ModelsRemoved:    rep.ModelsRemoved,
		MappingsRemoved:  rep.MappingsRemoved,
		CleanedModels:    rep.CleanedModels,
		Duration:         ms(rep.Duration),
		AnonymousRemoved: rep.AnonymousRemoved,
		StoredModels:     purge.Models,
		TokensRevoked:    purge.Tokens,
		TotalDuration:    ms(time.Since(start)),
	}
	if out.CleanedModels == nil {
		out.CleanedModels = []string{}
	}
	slices.Sort(out.CleanedModels)
	s.log.Info("tenant deleted", "tenant", id, "models", purge.Models, "tokens", purge.Tokens)
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) evictTenant(w http.ResponseWriter, r *http.Request) error {
	id, err := s.adminTenant(w, r, "evicting a tenant")
	if err != nil {
		return err
	}
	ctx := r.Context()
	l := s.locks.lock(id)
	unlock := sync.OnceFunc(l.unlock) // called before writing the answer
	defer unlock()
	rep, evicted, err := s.unloadLocked(context.WithoutCancel(ctx), id, unloadEvict)
	if err != nil {
		return registryProblem(err)
	}
	if !evicted {
		t0 := time.Now()
		_, err := s.st.Tenant(ctx, id)
		s.m.observeStore("tenant", t0)
		if errors.Is(err, store.ErrNotFound) {
			return tenantNotFound(id)
		} else if err != nil {
			return s.storeError(err)
		}
	}
	unlock()
	return writeJSON(w, http.StatusOK, struct {
		Tenant        string  `json:"tenant"`
		Evicted       bool    `json:"evicted"`
		ModelsRemoved int     `json:"modelsRemoved"`
		Duration      float64 `json:"duration"`
	}{id, evicted, rep.ModelsRemoved, ms(rep.Duration)})
}

// tenantStatsJSON describes one tenant: what the store holds and, when it
// is resident, what memory holds.
type tenantStatsJSON struct {
	Tenant   string            `json:"tenant"`
	Created  time.Time         `json:"created"`
	Models   int               `json:"models"`
	Tokens   int               `json:"tokens"`
	Resident bool              `json:"resident"`
	Memory   *tenantMemoryJSON `json:"memory,omitempty"`
}

type tenantMemoryJSON struct {
	Models          int       `json:"models"`
	Anonymous       int       `json:"anonymous"`
	DefinitionBytes int64     `json:"definitionBytes"`
	ApproxBytes     int64     `json:"approxBytes"`
	LastActive      time.Time `json:"lastActive"`
}

func (s *Server) tenantStats(w http.ResponseWriter, r *http.Request) error {
	p, id, err := s.authorizeTenant(w, r)
	if err != nil {
		return err
	}
	t0 := time.Now()
	st, err := s.st.Tenant(r.Context(), id)
	s.m.observeStore("tenant", t0)
	if errors.Is(err, store.ErrNotFound) {
		return tenantNotFound(id)
	}
	if err != nil {
		return s.storeError(err)
	}
	out := tenantStatsJSON{Tenant: id, Created: st.Created, Models: st.Models, Tokens: st.Tokens}
	if t := s.resident.get(id); t != nil {
		// Under t's read lock, so that the idle sweep, which re-checks
		// under the write lock, sees the mark or the time it became.
		t.mu.RLock()
		if !t.dead {
			out.Resident = true
			t.takeMark(s.now)
			mem := &tenantMemoryJSON{LastActive: time.Unix(0, t.lastActive.Load()).UTC()}
			if ts, ok := s.reg.TenantStats(id); ok {
				mem.Models, mem.Anonymous = ts.Models, ts.Anonymous
				mem.DefinitionBytes, mem.ApproxBytes = ts.DefinitionBytes, ts.ApproxBytes
			}
			out.Memory = mem
		}
		t.mu.RUnlock()
	}
	// Read first, recheck after: a tenant deleted and created again
	// since the token was checked is not shown to the old one's token.
	if err := s.recheck(r.Context(), p); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) error {
	id, err := s.adminTenant(w, r, "issuing tokens")
	if err != nil {
		return err
	}
	tok, rec := newTenantToken(id)
	// Under the tenant's lock, as writes are: a PUT that created the
	// tenant and must undo it then deletes no token (see undoPut).
	l := s.locks.lock(id)
	t0 := time.Now()
	rec, err = s.st.PutToken(r.Context(), rec)
	s.m.observeStore("put_token", t0)
	l.unlock() // before writing the answer
	if err != nil {
		return s.storeError(err)
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusCreated, struct {
		Token   string    `json:"token"`
		ID      string    `json:"id"`
		Tenant  string    `json:"tenant"`
		Created time.Time `json:"created"`
	}{tok, rec.ID, id, rec.Created})
}

// tokenJSON is a tenant token as the token list shows it: never the token
// or its hash.
type tokenJSON struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	id, err := s.adminTenant(w, r, "listing tokens")
	if err != nil {
		return err
	}
	ctx := r.Context()
	t0 := time.Now()
	_, err = s.st.Tenant(ctx, id)
	s.m.observeStore("tenant", t0)
	if errors.Is(err, store.ErrNotFound) {
		return tenantNotFound(id)
	}
	if err != nil {
		return s.storeError(err)
	}
	t0 = time.Now()
	toks, err := s.st.Tokens(ctx, id)
	s.m.observeStore("tokens", t0)
	if err != nil {
		return s.storeError(err)
	}
	out := struct {
		Tenant string      `json:"tenant"`
		Tokens []tokenJSON `json:"tokens"`
	}{id, make([]tokenJSON, 0, len(toks))}
	for _, t := range toks {
		out.Tokens = append(out.Tokens, tokenJSON{t.ID, t.Created})
	}
	return writeJSON(w, http.StatusOK, out)
}

// revokeToken deletes one of a tenant's tokens: from the store, then from
// the token cache, which also makes the requests under way that were
// authorized with it check it again before they act (see
// authenticator.recheck): they get 401.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id, err := s.adminTenant(w, r, "revoking tokens")
	if err != nil {
		return err
	}
	tokenID := r.PathValue("id")
	l := s.locks.lock(id) // as issueToken
	t0 := time.Now()
	err = s.st.DeleteToken(r.Context(), id, tokenID)
	s.m.observeStore("delete_token", t0)
	if err == nil || writeMayHaveCommitted(err) { // see writeFailed
		s.auth.revoke(tokenID)
	}
	l.unlock()
	if errors.Is(err, store.ErrNotFound) {
		// An unknown tenant is not found as a tenant, as when listing its
		// tokens: the store's answer does not tell the two apart.
		t0 = time.Now()
		_, terr := s.st.Tenant(r.Context(), id)
		s.m.observeStore("tenant", t0)
		if errors.Is(terr, store.ErrNotFound) {
			return tenantNotFound(id)
		}
		return problem(ProblemTokenNotFound, "tenant %q has no token %q", id, tokenID)
	}
	if err != nil {
		return s.storeError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listTenants(w http.ResponseWriter, r *http.Request) error {
	if err := s.requireAdmin(w, r); err != nil {
		return err
	}
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return problem(ProblemInvalidRequest, "limit must be 1 to 1000")
		}
		limit = n
	}
	t0 := time.Now()
	list, err := s.st.Tenants(r.Context(), q.Get("after"), limit)
	s.m.observeStore("tenants", t0)
	if err != nil {
		return s.storeError(err)
	}
	type tenantJSON struct {
		Tenant   string    `json:"tenant"`
		Created  time.Time `json:"created"`
		Models   int       `json:"models"`
		Tokens   int       `json:"tokens"`
		Resident bool      `json:"resident"`
	}
	out := struct {
		Tenants []tenantJSON `json:"tenants"`
		Next    string       `json:"next,omitempty"`
	}{Tenants: make([]tenantJSON, 0, len(list))}
	for _, t := range list {
		out.Tenants = append(out.Tenants, tenantJSON{t.ID, t.Created, t.Models, t.Tokens, s.resident.get(t.ID) != nil})
	}
	if len(list) == limit {
		out.Next = "/v1/tenants?after=" + url.QueryEscape(list[len(list)-1].ID) + "&limit=" + strconv.Itoa(limit)
	}
	return writeJSON(w, http.StatusOK, out)
}

// statsJSON is the body of GET /v1/stats.
type statsJSON struct {
	Registry struct {
		Gauges   map[string]int64  `json:"gauges"`
		Counters map[string]uint64 `json:"counters"`
	} `json:"registry"`
	Server struct {
		ResidentTenants int64 `json:"residentTenants"`
		CachedTokens    int   `json:"cachedTokens"`
		InFlight        int   `json:"inFlight"`
	} `json:"server"`
}

func (s *Server) globalStats(w http.ResponseWriter, r *http.Request) error {
	if err := s.requireAdmin(w, r); err != nil {
		return err
	}
	var out statsJSON
	out.Registry.Gauges, out.Registry.Counters = registryFigures(s.reg.Stats())
	out.Server.ResidentTenants = s.resident.count.Load()
	out.Server.CachedTokens = s.auth.cached()
	out.Server.InFlight = len(s.lim.slots)
	return writeJSON(w, http.StatusOK, out)
}

// registryFigures names the registry's gauges and counters for JSON and
// metrics.
func registryFigures(st modelreg.Stats) (map[string]int64, map[string]uint64) {
	g, c := st.Gauges, st.Counters
	return map[string]int64{
			"tenants":         int64(g.Tenants),
			"globalModels":    int64(g.GlobalModels),
			"globalAnonymous": int64(g.GlobalAnonymous),
			"globalBytes":     g.GlobalBytes,
			"tenantModels":    int64(g.TenantModels),
			"tenantAnonymous": int64(g.TenantAnonymous),
			"tenantBytes":     g.TenantBytes,
		}, map[string]uint64{
			"tenantsCreated":    c.TenantsCreated,
			"registrations":     c.Registrations,
			"replacements":      c.Replacements,
			"anonymousCreated":  c.AnonymousCreated,
			"reuses":            c.Reuses,
			"anonymousReleased": c.AnonymousReleased,
			"removals":          c.Removals,
			"cleanups":          c.Cleanups,
			"evictions":         c.Evictions,
		}
}
