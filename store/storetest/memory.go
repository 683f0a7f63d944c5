package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelreg/modelreg/store"
)

// Memory is an in-memory store.Store for tests: it keeps nothing across
// processes and starts no goroutine (so it works inside testing/synctest
// bubbles). It passes the conformance suite, so tests that use it see the
// same behaviour as with the durable stores.
//
// Memory is also a store.Feed, and Replica returns another Memory on the
// same data, as a second process would open a shared database: tests of
// several replicas use one Memory per replica.
type Memory struct {
	*memoryData
	closed bool // guarded by mu
}

// memoryData is what the replicas of a Memory share.
type memoryData struct {
	mu       sync.Mutex
	now      func() time.Time
	watchers map[*memoryWatcher]bool
	tenants  map[string]time.Time
	models   map[string]map[string]store.Model
	tokens   map[string]store.Token
	settings map[string][]byte
	lastRev  map[string]int64 // the last revision given in each live scope
	// revFloor is where a scope without a lastRev entry starts: the
	// largest last revision of the tenants deleted.
	revFloor int64
}

var (
	_ store.Store = (*Memory)(nil)
	_ store.Feed  = (*Memory)(nil)
)

// NewMemory returns an empty in-memory store that stamps times with now
// (time.Now when nil).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{memoryData: &memoryData{now: now, tenants: map[string]time.Time{}, models: map[string]map[string]store.Model{},
		tokens: map[string]store.Token{}, settings: map[string][]byte{}, watchers: map[*memoryWatcher]bool{}}}
}

// Replica returns another Memory on m's data: what is written through one
// is read through the other, and the Watch of one reports the changes
// made through the other. Closing one leaves the other open.
func (m *Memory) Replica() *Memory { return &Memory{memoryData: m.memoryData} }

// memoryWatcher is one call of Watch: the changes not yet reported.
type memoryWatcher struct {
	origin  *Memory
	pending []store.Change
	wake    chan struct{} // capacity 1: a change is pending
}

// notify reports c, made through m, to the watchers of the other Memory
// values. The caller holds mu.
func (m *Memory) notify(c store.Change) {
	for w := range m.watchers {
		if w.origin == m {
			continue
		}
		w.pending = append(w.pending, c)
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// Watch implements store.Feed. It returns store.ErrClosed once m is
// closed, and at once if m is closed when it is called.
func (m *Memory) Watch(ctx context.Context, fn func(store.Change)) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	w := &memoryWatcher{origin: m, wake: make(chan struct{}, 1)}
	m.watchers[w] = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.watchers, w)
		m.mu.Unlock()
	}()
	fn(store.Change{Kind: store.Resync})
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.wake:
		}
		m.mu.Lock()
		batch, closed := w.pending, m.closed
		w.pending = nil
		m.mu.Unlock()
		for _, c := range batch {
			fn(c)
		}
		if closed {
			return store.ErrClosed
		}
	}
}

func (m *Memory) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return store.ErrClosed
	}
	return nil
}

func (m *Memory) ensureTenant(id string) bool {
	if _, ok := m.tenants[id]; ok {
		return false
	}
	m.tenants[id] = m.now().UTC()
	return true
}

func (m *Memory) tenant(id string) store.Tenant {
	n := 0
	for _, t := range m.tokens {
		if t.Tenant == id {
			n++
		}
	}
	return store.Tenant{ID: id, Created: m.tenants[id], Models: len(m.models[id]), Tokens: n}
}

// CreateTenant implements store.Store.
func (m *Memory) CreateTenant(ctx context.Context, id string) (bool, error) {
	if id == store.Global {
		return false, fmt.Errorf("%w: empty tenant id", store.ErrInvalid)
	}
	if err := m.lock(ctx); err != nil {
		return false, err
	}
	defer m.mu.Unlock()
	return m.ensureTenant(id), nil
}

// Tenant implements store.Store.
func (m *Memory) Tenant(ctx context.Context, id string) (store.Tenant, error) {
	if err := m.lock(ctx); err != nil {
		return store.Tenant{}, err
	}
	defer m.mu.Unlock()
	if _, ok := m.tenants[id]; !ok {
		return store.Tenant{}, fmt.Errorf("tenant %q: %w", id, store.ErrNotFound)
	}
	return m.tenant(id), nil
}

// Tenants implements store.Store.
func (m *Memory) Tenants(ctx context.Context, after string, limit int) ([]store.Tenant, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var ids []string
	for id := range m.tenants {
		if id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if limit > 0 && len(ids) > limit {
		ids = ids[:limit]
	}
	var out []store.Tenant
	for _, id := range ids {
		out = append(out, m.tenant(id))
	}
	return out, nil
}

// DeleteTenant implements store.Store.
func (m *Memory) DeleteTenant(ctx context.Context, id string) (store.Purge, error) {
	if id == store.Global {
		return store.Purge{}, fmt.Errorf("%w: empty tenant id", store.ErrInvalid)
	}
	if err := m.lock(ctx); err != nil {
		return store.Purge{}, err
	}
	defer m.mu.Unlock()
	if _, ok := m.tenants[id]; !ok {
		return store.Purge{}, fmt.Errorf("tenant %q: %w", id, store.ErrNotFound)
	}
	p := store.Purge{Models: len(m.models[id])}
	for tid, t := range m.tokens {
		if t.Tenant == id {
			delete(m.tokens, tid)
			p.Tokens++
		}
	}
	delete(m.models, id)
	delete(m.tenants, id)
	if last, ok := m.lastRev[id]; ok {
		m.revFloor = max(m.revFloor, last)
		delete(m.lastRev, id)
	}
	m.notify(store.Change{Kind: store.TenantDeleted, Scope: id})
	return p, nil
}

// checkToken checks cond.Token (see store.Condition). The caller holds mu.
func (m *Memory) checkToken(scope string, cond store.Condition) error {
	if cond.Token == "" || scope == store.Global {
		return nil
	}
	if t, ok := m.tokens[cond.Token]; !ok || t.Tenant != scope {
		return fmt.Errorf("token %q of tenant %q: %w", cond.Token, scope, store.ErrNoToken)
	}
	return nil
}

// PutModel implements store.Store.
func (m *Memory) PutModel(ctx context.Context, md store.Model, cond store.Condition) (store.Model, bool, error) {
	if md.Name == "" {
		return store.Model{}, false, fmt.Errorf("%w: empty model name", store.ErrInvalid)
	}
	if err := m.lock(ctx); err != nil {
		return store.Model{}, false, err
	}
	defer m.mu.Unlock()
	if err := m.checkToken(md.Scope, cond); err != nil {
		return store.Model{}, false, err
	}
	if _, ok := m.tenants[md.Scope]; cond.TenantMustExist && md.Scope != store.Global && !ok {
		return store.Model{}, false, fmt.Errorf("tenant %q: %w", md.Scope, store.ErrNotFound)
	}
	old, exists := m.models[md.Scope][md.Name]
	if err := cond.Check(md.Name, exists, old.Revision); err != nil {
		return store.Model{}, false, err
	}
	if md.Scope != store.Global {
		m.ensureTenant(md.Scope)
	}
	now := m.now().UTC()
	md.Definition = slices.Clone(md.Definition)
	if md.Definition == nil {
		md.Definition = []byte{}
	}
	if m.lastRev == nil {
		m.lastRev = make(map[string]int64)
	}
	last, ok := m.lastRev[md.Scope]
	if !ok {
		last = m.revFloor
	}
	md.Revision = store.NextRevision(last, now)
	m.lastRev[md.Scope] = md.Revision
	md.Created, md.Updated = now, now
	if exists {
		md.Created = old.Created
	}
	if m.models[md.Scope] == nil {
		m.models[md.Scope] = map[string]store.Model{}
	}
	m.models[md.Scope][md.Name] = md
	m.notify(store.Change{Kind: store.ModelChanged, Scope: md.Scope, Key: md.Name})
	md.Definition = slices.Clone(md.Definition) // the caller's, not the stored bytes
	return md, !exists, nil
}

// Model implements store.Store.
func (m *Memory) Model(ctx context.Context, scope, name string) (store.Model, error) {
	if err := m.lock(ctx); err != nil {
		return store.Model{}, err
	}
	defer m.mu.Unlock()
	md, ok := m.models[scope][name]
	if !ok {
		return store.Model{}, fmt.Errorf("model %q: %w", name, store.ErrNotFound)
	}
	md.Definition = slices.Clone(md.Definition)
	return md, nil
}

// Models implements store.Store.
func (m *Memory) Models(ctx context.Context, scope string) ([]store.Model, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []store.Model
	for _, md := range m.models[scope] {
		md.Definition = slices.Clone(md.Definition)
		out = append(out, md)
	}
	slices.SortFunc(out, func(a, b store.Model) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// DeleteModel implements store.Store.
func (m *Memory) DeleteModel(ctx context.Context, scope, name string, cond store.Condition) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if err := m.checkToken(scope, cond); err != nil {
		return err
	}
	md, ok := m.models[scope][name]
	if err := cond.Check(name, ok, md.Revision); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("model %q: %w", name, store.ErrNotFound)
	}
	delete(m.models[scope], name)
	m.notify(store.Change{Kind: store.ModelChanged, Scope: scope, Key: name})
	return nil
}

// PutToken implements store.Store.
func (m *Memory) PutToken(ctx context.Context, t store.Token) (store.Token, error) {
	if t.ID == "" || t.Tenant == store.Global {
		return store.Token{}, fmt.Errorf("%w: token needs an id and a tenant", store.ErrInvalid)
	}
	if err := m.lock(ctx); err != nil {
		return store.Token{}, err
	}
	defer m.mu.Unlock()
	if _, dup := m.tokens[t.ID]; dup {
		return store.Token{}, fmt.Errorf("token %q exists", t.ID)
	}
	m.ensureTenant(t.Tenant)
	t.Created = m.now().UTC()
	m.tokens[t.ID] = t
	return t, nil
}

// Token implements store.Store.
func (m *Memory) Token(ctx context.Context, id string) (store.Token, error) {
	if err := m.lock(ctx); err != nil {
		return store.Token{}, err
	}
	defer m.mu.Unlock()
	t, ok := m.tokens[id]
	if !ok {
		return store.Token{}, fmt.Errorf("token: %w", store.ErrNotFound)
	}
	return t, nil
}

// Tokens implements store.Store.
func (m *Memory) Tokens(ctx context.Context, tenant string) ([]store.Token, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []store.Token
	for _, t := range m.tokens {
		if t.Tenant == tenant {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b store.Token) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// DeleteToken implements store.Store.
func (m *Memory) DeleteToken(ctx context.Context, tenant, id string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if t, ok := m.tokens[id]; !ok || t.Tenant != tenant {
		return fmt.Errorf("token %q of tenant %q: %w", id, tenant, store.ErrNotFound)
	}
	delete(m.tokens, id)
	m.notify(store.Change{Kind: store.TokenDeleted, Scope: tenant, Key: id})
	return nil
}

// Setting implements store.Store.
func (m *Memory) Setting(ctx context.Context, key string) ([]byte, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	v, ok := m.settings[key]
	if !ok {
		return nil, fmt.Errorf("setting %q: %w", key, store.ErrNotFound)
	}
	return slices.Clone(v), nil
}

// PutSetting implements store.Store.
func (m *Memory) PutSetting(ctx context.Context, key string, value []byte) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	m.settings[key] = slices.Clone(value)
	m.notify(store.Change{Kind: store.SettingChanged, Key: key})
	return nil
}

// DeleteSetting implements store.Store.
func (m *Memory) DeleteSetting(ctx context.Context, key string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	delete(m.settings, key)
	m.notify(store.Change{Kind: store.SettingChanged, Key: key})
	return nil
}

// Ping implements store.Store.
func (m *Memory) Ping(ctx context.Context) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	m.mu.Unlock()
	return nil
}

// Close implements store.Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return store.ErrClosed
	}
	m.closed = true
	for w := range m.watchers {
		if w.origin == m {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
	return nil
}
