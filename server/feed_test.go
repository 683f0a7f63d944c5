package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelreg/modelreg"
	"github.com/modelreg/modelreg/store"
	"github.com/modelreg/modelreg/store/storetest"
)

// newReplicas returns n servers on one shared in-memory store, as n
// replicas of modelreg serve on one PostgreSQL database.
func newReplicas(t *testing.T, n int) []*testServer {
	t.Helper()
	m := storetest.NewMemory(nil)
	var out []*testServer
	for i := range n {
		st := m
		if i > 0 {
			st = m.Replica()
		}
		out = append(out, newFeedServer(t, st))
	}
	return out
}

// newFeedServer returns a test server on st, one replica's store, with
// testAdmin as its admin token; its cleanup closes st.
func newFeedServer(t *testing.T, st store.Store) *testServer {
	t.Helper()
	srv := newAdminServer(t, st, Config{IdleTimeout: -1})
	ts := &testServer{t: t, srv: srv, http: httptest.NewServer(srv.Handler()), store: &countingStore{Store: st}}
	t.Cleanup(ts.close)
	return ts
}

// eventually waits until cond holds: a change made through one replica
// reaches the others after its commit, within a moment.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30 s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestReplicaSeesModelsWrittenElsewhere(t *testing.T) {
	r := newReplicas(t, 2)
	a, b := r[0], r[1]
	a.must(201, a.do("PUT", "/v1/tenants/acme/models/User", testAdmin, userDef))
	tok := a.token("acme")
	b.must(200, b.do("GET", "/v1/tenants/acme/models/User", tok, nil))
	if !b.srv.Resident("acme") {
		t.Fatal("acme is not resident on b after a read")
	}

	// A replacement through a: b unloads the tenant and reads the new
	// definition from the store.
	v2 := `{"name": "User", "properties": {"email": {"type": "string", "required": true}, "age": "number"}}`
	etag := a.must(200, a.do("PUT", "/v1/tenants/acme/models/User", tok, v2)).header.Get("ETag")
	eventually(t, "b serves the replaced model", func() bool {
		return b.do("GET", "/v1/tenants/acme/models/User", tok, nil).header.Get("ETag") == etag
	})
	b.must(200, b.do("POST", "/v1/tenants/acme/lookup", tok, `{"properties": {"email": {"type": "string", "required": true}, "age": "number"}}`))
	if p := b.do("POST", "/v1/tenants/acme/models/User/validate", tok, `{"email": "x@example.com", "age": "old"}`); p.status != 422 {
		t.Errorf("b validates with the old model: %d %s", p.status, p.body)
	}

	// A model created and one deleted through a.
	a.must(201, a.do("PUT", "/v1/tenants/acme/models/Customer", tok, customerDef))
	eventually(t, "b serves the model created through a", func() bool {
		return b.do("GET", "/v1/tenants/acme/models/Customer", tok, nil).status == 200
	})
	a.must(204, a.do("DELETE", "/v1/tenants/acme/models/Customer", tok, nil))
	eventually(t, "b forgets the model deleted through a", func() bool {
		return b.do("GET", "/v1/tenants/acme/models/Customer", tok, nil).status == 404
	})

	// b's own writes: read at once, by b and, soon after, by a.
	etag = b.must(201, b.do("PUT", "/v1/tenants/acme/models/Customer", tok, customerDef)).header.Get("ETag")
	if got := b.do("GET", "/v1/tenants/acme/models/Customer", tok, nil).header.Get("ETag"); got != etag {
		t.Errorf("b reads its own write as %q, want %q", got, etag)
	}
	eventually(t, "a serves b's write", func() bool {
		return a.do("GET", "/v1/tenants/acme/models/Customer", tok, nil).header.Get("ETag") == etag
	})
}

func TestReplicaTenantDeletedElsewhere(t *testing.T) {
	r := newReplicas(t, 2)
	a, b := r[0], r[1]
	a.must(201, a.do("PUT", "/v1/tenants/acme/models/User", testAdmin, userDef))
	tok := a.token("acme")
	b.must(200, b.do("GET", "/v1/tenants/acme/models/User", tok, nil)) // b caches the token
	a.must(200, a.do("DELETE", "/v1/tenants/acme", testAdmin, nil))
	eventually(t, "b refuses the deleted tenant's token", func() bool {
		return b.do("GET", "/v1/tenants/acme/models/User", tok, nil).status == 401
	})
	if b.srv.Resident("acme") {
		t.Error("the deleted tenant is still resident on b")
	}
	if got := b.do("GET", "/v1/tenants/acme/models/User", testAdmin, nil); got.status != 404 {
		t.Errorf("b serves a model of the deleted tenant: %d %s", got.status, got.body)
	}
}

func TestReplicaTokenRevokedElsewhere(t *testing.T) {
	r := newReplicas(t, 2)
	a, b := r[0], r[1]
	a.must(201, a.do("PUT", "/v1/tenants/acme/models/User", testAdmin, userDef))
	tok, keep := a.token("acme"), a.token("acme")
	b.must(200, b.do("GET", "/v1/tenants/acme/models/User", tok, nil))
	b.must(200, b.do("GET", "/v1/tenants/acme/models/User", keep, nil))
	id := strings.Split(strings.TrimPrefix(tok, tenantTokenPrefix), "_")[0]
	a.must(204, a.do("DELETE", "/v1/tenants/acme/tokens/"+id, testAdmin, nil))
	eventually(t, "b refuses the token revoked through a", func() bool {
		return b.do("GET", "/v1/tenants/acme/models/User", tok, nil).status == 401
	})
	b.must(200, b.do("GET", "/v1/tenants/acme/models/User", keep, nil))
}

func TestReplicaGlobalModelsWrittenElsewhere(t *testing.T) {
	r := newReplicas(t, 2)
	a, b := r[0], r[1]
	etag := a.must(201, a.do("PUT", "/v1/global/models/User", testAdmin, userDef)).header.Get("ETag")
	eventually(t, "b serves the global model written through a", func() bool {
		return b.do("GET", "/v1/global/models/User", testAdmin, nil).header.Get("ETag") == etag
	})
	// A tenant's model that uses it, validated through b.
	b.must(201, b.do("PUT", "/v1/tenants/acme/models/Customer", testAdmin, customerDef))
	doc := `{"name": "Ann", "owner": {"email": "ann@example.com", "age": 3}}`
	b.must(200, b.do("POST", "/v1/tenants/acme/models/Customer/validate", testAdmin, doc))

	strict := `{"name": "User", "strict": true, "properties": {"email": {"type": "string", "required": true}}}`
	etag = a.must(200, a.do("PUT", "/v1/global/models/User", testAdmin, strict)).header.Get("ETag")
	eventually(t, "b serves the replaced global model", func() bool {
		return b.do("GET", "/v1/global/models/User", testAdmin, nil).header.Get("ETag") == etag
	})
	if got := b.do("POST", "/v1/global/models/User/validate", testAdmin, `{"email": "ann@example.com", "age": 3}`); got.status != 422 {
		t.Errorf("b validates with the global model it had before: %d %s", got.status, got.body)
	}

	a.must(204, a.do("DELETE", "/v1/global/models/User", testAdmin, nil))
	eventually(t, "b forgets the global model deleted through a", func() bool {
		return b.do("GET", "/v1/global/models/User", testAdmin, nil).status == 404
	})
	if got := b.do("POST", "/v1/global/lookup", testAdmin, `{"properties": {"email": {"type": "string", "required": true}}}`); got.status != 404 {
		t.Errorf("b finds the deleted global model by structure: %d %s", got.status, got.body)
	}
}

// A Resync (the feed lost its connection, and may have missed changes)
// drops everything the server cached.
func TestResyncDropsEverythingCached(t *testing.T) {
	m := storetest.NewMemory(nil)
	ts := newFeedServer(t, m)
	srv := ts.srv

	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/User", testAdmin, userDef))
	ts.must(201, ts.do("PUT", "/v1/global/models/Gone", testAdmin, `{"name": "Gone", "properties": {"a": "string"}}`))
	tok := ts.token("acme")
	ts.must(200, ts.do("GET", "/v1/tenants/acme/models/User", tok, nil))

	// Changes the feed never reported: written through the server's own
	// store value, whose own writes are not reported.
	ctx := context.Background()
	if _, _, err := m.PutModel(ctx, store.Model{Scope: store.Global, Name: "Address", Definition: []byte(`{"name": "Address", "properties": {"street": "string"}}`)}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteModel(ctx, store.Global, "Gone", store.Condition{}); err != nil {
		t.Fatal(err)
	}
	id := strings.Split(strings.TrimPrefix(tok, tenantTokenPrefix), "_")[0]
	if err := m.DeleteToken(ctx, "acme", id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.PutModel(ctx, store.Model{Scope: "acme", Name: "User", Definition: []byte(`{"name": "User", "properties": {"nick": "string"}}`)}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	if ts.do("GET", "/v1/tenants/acme/models/User", tok, nil).status != 200 {
		t.Fatal("the server did not serve from its cache before the resync")
	}

	srv.applyChange(ctx, store.Change{Kind: store.Resync})
	if srv.Resident("acme") {
		t.Error("a tenant is still resident after a resync")
	}
	if n := srv.auth.cached(); n != 0 {
		t.Errorf("%d tokens still cached after a resync", n)
	}
	if got := ts.do("GET", "/v1/tenants/acme/models/User", tok, nil); got.status != 401 {
		t.Errorf("a token deleted unreported still works after a resync: %d", got.status)
	}
	if got := ts.do("GET", "/v1/tenants/acme/models/User", testAdmin, nil); !strings.Contains(string(got.body), "nick") {
		t.Errorf("after a resync the tenant's model is not the stored one: %s", got.body)
	}
	ts.must(200, ts.do("GET", "/v1/global/models/Address", testAdmin, nil))
	ts.must(404, ts.do("GET", "/v1/global/models/Gone", testAdmin, nil))
}

// New returns once the feed watches, or fails if it cannot; the feed's
// goroutine ends with Close (TestMain checks for leaks); /readyz reports
// 503 from when the feed lost its connection until its Resync.
func TestFeedReadiness(t *testing.T) {
	m := storetest.NewMemory(nil)
	closed := m.Replica()
	closed.Close()
	if _, err := New(context.Background(), Config{Store: closed}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("New on a closed feed: %v, want ErrClosed", err)
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := New(canceled, Config{Store: &blockedFeed{m}}); !errors.Is(err, context.Canceled) {
		t.Errorf("New on a feed that does not watch, its context canceled: %v, want context.Canceled", err)
	}

	srv, err := New(context.Background(), Config{Store: m, IdleTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	if got := adminStatus(h, "GET", "/readyz", ""); got != 200 {
		t.Errorf("/readyz once New returned: %d, want 200", got)
	}
	srv.applyChange(context.Background(), store.Change{Kind: store.Lost})
	if got := adminStatus(h, "GET", "/readyz", ""); got != 503 {
		t.Errorf("/readyz once the feed lost its connection: %d, want 503", got)
	}
	srv.applyChange(context.Background(), store.Change{Kind: store.Resync})
	if got := adminStatus(h, "GET", "/readyz", ""); got != 200 {
		t.Errorf("/readyz once the feed is back: %d, want 200", got)
	}
	srv.Close()
	srv.Close()
}

// Replicas that use the generated admin token follow what another replica
// does to it: a reset there, or its revocation by a configured token.
func TestReplicaFollowsStoredAdminToken(t *testing.T) {
	ctx := context.Background()
	m := storetest.NewMemory(nil)
	hash, generated, _, err := ResolveAdminToken(ctx, m, "", false)
	if err != nil || generated == "" {
		t.Fatalf("no admin token generated: %v", err)
	}
	start := func(st store.Store, hash [32]byte, follow bool) http.Handler {
		srv, err := New(ctx, Config{Store: st, AdminTokenHash: hash, FollowStoredAdminToken: follow, IdleTimeout: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		return srv.Handler()
	}
	as := func(h http.Handler, tok string) int {
		req := httptest.NewRequest("GET", "/v1/tenants", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	following := start(m.Replica(), hash, true)
	fixed := start(m.Replica(), hash, false)
	if as(following, generated) != 200 || as(fixed, generated) != 200 {
		t.Fatal("the generated admin token does not work")
	}

	// Another replica starts with --reset-admin-token.
	_, reset, _, err := ResolveAdminToken(ctx, m, "", true)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new admin token works on the following replica", func() bool { return as(following, reset) == 200 })
	if got := as(following, generated); got != 401 {
		t.Errorf("the reset admin token still works on the following replica: %d", got)
	}
	if as(fixed, generated) != 200 || as(fixed, reset) != 401 {
		t.Error("the replica that does not follow the stored token changed its admin token")
	}

	// Another replica starts with a configured token, which revokes the
	// generated one.
	if _, _, revoked, err := ResolveAdminToken(ctx, m, strings.Repeat("c", MinAdminTokenLen), false); err != nil || !revoked {
		t.Fatalf("the configured token did not revoke the generated one: %v", err)
	}
	eventually(t, "the revoked admin token fails on the following replica", func() bool { return as(following, reset) == 401 })
}

// blockedFeed is a store whose feed never watches: its Watch waits for its
// context.
type blockedFeed struct{ store.Store }

func (blockedFeed) Watch(ctx context.Context, fn func(store.Change)) error {
	<-ctx.Done()
	return ctx.Err()
}

// deletedBeforePut is a replica's store on which another replica deletes
// the tenant just before each PutModel: after the request's token was
// checked, before its write.
type deletedBeforePut struct {
	*storetest.Memory
	other store.Store
}

func (d deletedBeforePut) PutModel(ctx context.Context, m store.Model, cond store.Condition) (store.Model, bool, error) {
	if _, err := d.other.DeleteTenant(ctx, m.Scope); err != nil {
		return store.Model{}, false, err
	}
	return d.Memory.PutModel(ctx, m, cond)
}

// A write with a tenant's token never brings back its tenant deleted
// through another replica meanwhile.
func TestReplicaWriteDoesNotRecreateTenantDeletedElsewhere(t *testing.T) {
	ctx := context.Background()
	m := storetest.NewMemory(nil)
	st := deletedBeforePut{Memory: m.Replica(), other: m}
	ts := newFeedServer(t, st)

	if _, _, err := m.PutModel(ctx, store.Model{Scope: "acme", Name: "User", Definition: []byte(userDef)}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	tok := ts.token("acme")
	if got := ts.do("PUT", "/v1/tenants/acme/models/Customer", tok, customerDef); got.status != 401 {
		t.Errorf("a write with the token of a tenant deleted meanwhile: %d %s, want 401", got.status, got.body)
	}
	if tn, err := m.Tenant(ctx, "acme"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the deleted tenant is back, with %d models (%v)", tn.Models, err)
	}
}

// failingGlobalReads is a replica's store whose next reads of the global
// scope (Model and Models) fail, as a database that is busy for a moment.
type failingGlobalReads struct {
	*storetest.Memory
	fail atomic.Int32 // how many reads of the global scope to fail
}

func (f *failingGlobalReads) failing(scope string) bool {
	return scope == store.Global && f.fail.Add(-1) >= 0
}

func (f *failingGlobalReads) Model(ctx context.Context, scope, name string) (store.Model, error) {
	if f.failing(scope) {
		return store.Model{}, fmt.Errorf("%w: injected", store.ErrBusy)
	}
	return f.Memory.Model(ctx, scope, name)
}

func (f *failingGlobalReads) Models(ctx context.Context, scope string) ([]store.Model, error) {
	if f.failing(scope) {
		return nil, fmt.Errorf("%w: injected", store.ErrBusy)
	}
	return f.Memory.Models(ctx, scope)
}

// A global model changed elsewhere that a replica failed to read again
// (the store busy for a moment) is read again soon: the global scope is
// always resident, so nothing else would ever replace what it holds.
func TestReplicaRereadsGlobalModelAfterFailedRefresh(t *testing.T) {
	m := storetest.NewMemory(nil)
	a := newAdminServer(t, m, Config{IdleTimeout: -1})
	t.Cleanup(func() { a.Close() })
	st := &failingGlobalReads{Memory: m.Replica()}
	b := newAdminServer(t, st, Config{IdleTimeout: -1})
	t.Cleanup(func() { b.Close() })
	ah, bh := a.Handler(), b.Handler()

	st.fail.Store(1)
	if got := adminStatus(ah, "PUT", "/v1/global/models/User", userDef); got != 201 {
		t.Fatalf("PUT through a: %d", got)
	}
	eventually(t, "b serves the global model written through a", func() bool {
		return adminStatus(bh, "GET", "/v1/global/models/User", "") == 200
	})
}

// errAnswerLost is the error of a write committed whose answer was lost.
var errAnswerLost = errors.New("the connection failed during the commit: the write may or may not have been committed")

// lostAnswers is a replica's store whose writes, while lose is set, are
// committed but fail, as a commit whose answer the connection lost (or
// whose request was canceled meanwhile).
type lostAnswers struct {
	*failingGlobalReads
	lose atomic.Bool
	// thenFail is how many reads of the global scope fail after the
	// next write whose answer is lost.
	thenFail atomic.Int32
}

func (l *lostAnswers) answer(err error) error {
	if err == nil && l.lose.Load() {
		l.fail.Store(l.thenFail.Swap(0))
		return errAnswerLost
	}
	return err
}

func (l *lostAnswers) PutModel(ctx context.Context, m store.Model, cond store.Condition) (store.Model, bool, error) {
	stored, created, err := l.Memory.PutModel(ctx, m, cond)
	if err = l.answer(err); err != nil {
		return store.Model{}, false, err
	}
	return stored, created, nil
}

func (l *lostAnswers) DeleteModel(ctx context.Context, scope, name string, cond store.Condition) error {
	return l.answer(l.Memory.DeleteModel(ctx, scope, name, cond))
}

func (l *lostAnswers) DeleteTenant(ctx context.Context, id string) (store.Purge, error) {
	p, err := l.Memory.DeleteTenant(ctx, id)
	if err = l.answer(err); err != nil {
		return store.Purge{}, err
	}
	return p, nil
}

func (l *lostAnswers) DeleteToken(ctx context.Context, tenant, id string) error {
	return l.answer(l.Memory.DeleteToken(ctx, tenant, id))
}

// A replica's own write that failed without saying whether it was
// committed does not leave the replica serving what it held before: its
// feed never reports its own writes, so nothing else would ever correct
// it, while the other replicas serve the write.
func TestReplicaWriteWithLostAnswer(t *testing.T) {
	m := storetest.NewMemory(nil)
	st := &lostAnswers{failingGlobalReads: &failingGlobalReads{Memory: m.Replica()}}
	b := newFeedServer(t, st)
	lost := func(status int, r response) {
		t.Helper()
		if r.status != status {
			t.Fatalf("a write whose answer was lost: %d %s, want %d", r.status, r.body, status)
		}
	}

	// A global model.
	st.lose.Store(true)
	lost(500, b.do("PUT", "/v1/global/models/User", testAdmin, userDef))
	st.lose.Store(false)
	if got := b.do("GET", "/v1/global/models/User", testAdmin, nil); got.status != 200 {
		t.Errorf("the stored global model after its write's answer was lost: %d %s, want 200", got.status, got.body)
	}
	st.lose.Store(true)
	lost(500, b.do("DELETE", "/v1/global/models/User", testAdmin, nil))
	st.lose.Store(false)
	if got := b.do("GET", "/v1/global/models/User", testAdmin, nil); got.status != 404 {
		t.Errorf("the deleted global model after its delete's answer was lost: %d %s, want 404", got.status, got.body)
	}
	// And the store unreadable for a moment after it: read again later.
	st.lose.Store(true)
	st.thenFail.Store(1)
	lost(500, b.do("PUT", "/v1/global/models/User", testAdmin, userDef))
	st.lose.Store(false)
	eventually(t, "b serves the global model whose write's answer was lost", func() bool {
		return b.do("GET", "/v1/global/models/User", testAdmin, nil).status == 200
	})
	b.must(204, b.do("DELETE", "/v1/global/models/User", testAdmin, nil))

	// A resident tenant's model.
	b.must(201, b.do("PUT", "/v1/tenants/acme/models/User", testAdmin, userDef))
	tok := b.token("acme")
	b.must(200, b.do("GET", "/v1/tenants/acme/models/User", tok, nil))
	st.lose.Store(true)
	lost(500, b.do("PUT", "/v1/tenants/acme/models/User", tok, `{"name": "User", "properties": {"nick": "string"}}`))
	st.lose.Store(false)
	if got := b.do("GET", "/v1/tenants/acme/models/User", tok, nil); !strings.Contains(string(got.body), "nick") {
		t.Errorf("the tenant's model after its write's answer was lost is not the stored one: %d %s", got.status, got.body)
	}

	// A token, revoked.
	id := strings.Split(strings.TrimPrefix(tok, tenantTokenPrefix), "_")[0]
	st.lose.Store(true)
	lost(500, b.do("DELETE", "/v1/tenants/acme/tokens/"+id, testAdmin, nil))
	st.lose.Store(false)
	if got := b.do("GET", "/v1/tenants/acme/models/User", tok, nil); got.status != 401 {
		t.Errorf("a revoked token after its revocation's answer was lost: %d, want 401", got.status)
	}

	// The tenant, deleted.
	tok = b.token("acme")
	b.must(200, b.do("GET", "/v1/tenants/acme/models/User", tok, nil))
	st.lose.Store(true)
	lost(500, b.do("DELETE", "/v1/tenants/acme", testAdmin, nil))
	st.lose.Store(false)
	if got := b.do("GET", "/v1/tenants/acme/models/User", tok, nil); got.status != 401 {
		t.Errorf("the token of a deleted tenant after the deletion's answer was lost: %d, want 401", got.status)
	}
	if got := b.do("GET", "/v1/tenants/acme/models/User", testAdmin, nil); got.status != 404 {
		t.Errorf("a model of a deleted tenant after the deletion's answer was lost: %d %s, want 404", got.status, got.body)
	}
}

// slowLoads is a replica's store whose reads of a tenant's models, while
// hold is set, wait for it once they have read: a load that takes a while.
type slowLoads struct {
	*storetest.Memory
	mu   sync.Mutex
	hold chan struct{}
	read chan struct{} // closed once a held load has read
}

func (s *slowLoads) Models(ctx context.Context, scope string) ([]store.Model, error) {
	models, err := s.Memory.Models(ctx, scope)
	s.mu.Lock()
	hold, read := s.hold, s.read
	s.hold = nil
	s.mu.Unlock()
	if hold != nil && scope != store.Global {
		close(read)
		<-hold
	}
	return models, err
}

// A load that read the store before a Resync, and is not resident yet
// when the Resync unloads the resident tenants, does not keep what it read:
// the feed may have missed changes committed after that read.
func TestResyncDuringLoad(t *testing.T) {
	ctx := context.Background()
	m := storetest.NewMemory(nil)
	st := &slowLoads{Memory: m.Replica()}
	srv := newAdminServer(t, st, Config{IdleTimeout: -1})
	t.Cleanup(func() { srv.Close() })
	h := srv.Handler()
	if _, _, err := m.PutModel(ctx, store.Model{Scope: "acme", Name: "User", Definition: []byte(userDef)}, store.Condition{}); err != nil {
		t.Fatal(err)
	}

	hold, read := make(chan struct{}), make(chan struct{})
	st.mu.Lock()
	st.hold, st.read = hold, read
	st.mu.Unlock()
	loaded := make(chan int)
	go func() { loaded <- adminStatus(h, "GET", "/v1/tenants/acme/models/User", "") }()
	<-read
	// A change the feed misses (made through the server's own store
	// value, whose writes it does not report), then the Resync of a feed
	// that lost its connection meanwhile.
	if _, _, err := st.Memory.PutModel(ctx, store.Model{Scope: "acme", Name: "User", Definition: []byte(`{"name": "User", "properties": {"nick": "string"}}`)}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	srv.applyChange(ctx, store.Change{Kind: store.Resync})
	close(hold)
	<-loaded

	if got := adminCall(h, "GET", "/v1/tenants/acme/models/User", ""); !strings.Contains(got.Body.String(), "nick") {
		t.Errorf("after a resync during its load, the tenant's model is not the stored one: %d %s", got.Code, got.Body)
	}
}

// A stored admin token hash that is not one (written by hand, say) keeps
// the one in use, and the replica ready: reading it again would not help.
func TestReplicaKeepsAdminTokenOnBadStoredHash(t *testing.T) {
	ctx := context.Background()
	m := storetest.NewMemory(nil)
	hash, generated, _, err := ResolveAdminToken(ctx, m, "", false)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(ctx, Config{Store: m.Replica(), AdminTokenHash: hash, FollowStoredAdminToken: true, IdleTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	h := srv.Handler()
	if err := m.PutSetting(ctx, adminHashSetting, []byte("short")); err != nil {
		t.Fatal(err)
	}
	// A change after it, to know the replica has applied it.
	if _, _, err := m.PutModel(ctx, store.Model{Scope: store.Global, Name: "User", Definition: []byte(userDef)}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the replica serves the global model written after the bad hash", func() bool {
		req := httptest.NewRequest("GET", "/v1/global/models/User", nil)
		req.Header.Set("Authorization", "Bearer "+generated)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code == 200
	})
	if got := adminStatus(h, "GET", "/readyz", ""); got != 200 {
		t.Errorf("/readyz after a bad stored admin token hash: %d, want 200", got)
	}
}

// tightenAfterPut is a store whose PutModel, once armed, tightens the
// tenant's quota in the server's registry right after it writes (so that
// the registry refuses what the store took), and whose next write, the
// server's undo, fails.
type tightenAfterPut struct {
	*storetest.Memory
	srv   *Server
	armed bool
	undo  bool
}

func (s *tightenAfterPut) PutModel(ctx context.Context, m store.Model, cond store.Condition) (store.Model, bool, error) {
	if s.undo {
		return store.Model{}, false, store.ErrBusy
	}
	out, created, err := s.Memory.PutModel(ctx, m, cond)
	if s.armed && err == nil {
		s.armed, s.undo = false, true
		s.srv.reg.SetPolicy(m.Scope, modelreg.Policy{MaxModels: 1})
	}
	return out, created, err
}

func (s *tightenAfterPut) DeleteModel(ctx context.Context, scope, name string, cond store.Condition) error {
	if s.undo {
		return store.ErrBusy
	}
	return s.Memory.DeleteModel(ctx, scope, name, cond)
}

// When the store keeps a definition the registry refused (its undo
// failed), the writer reads the tenant again, as the other replicas do,
// rather than serving what the store no longer holds.
func TestFailedUndoRereadsTheTenant(t *testing.T) {
	st := &tightenAfterPut{Memory: storetest.NewMemory(nil)}
	srv := newAdminServer(t, st, Config{IdleTimeout: -1})
	t.Cleanup(func() { srv.Close() })
	st.srv = srv
	h := srv.Handler()
	if c := adminStatus(h, "PUT", "/v1/tenants/acme/models/User", userDef); c != 201 {
		t.Fatal(c)
	}
	st.armed = true
	if c := adminStatus(h, "PUT", "/v1/tenants/acme/models/Customer", customerDef); c != 409 {
		t.Fatalf("a PUT over the tightened quota: %d, want 409", c)
	}
	st.undo = false
	stored, err := st.Memory.Model(context.Background(), "acme", "Customer")
	if err != nil {
		t.Fatalf("the undo was meant to fail, leaving the model stored: %v", err)
	}
	rec := adminCall(h, "GET", "/v1/tenants/acme/models/Customer", "")
	if rec.Code != 200 || rec.Header().Get("ETag") != etag("acme", stored.Revision) {
		t.Errorf("the writer serves %d (ETag %s) for a model the store holds at revision %d", rec.Code, rec.Header().Get("ETag"), stored.Revision)
	}
}

// A write with a tenant's token is refused once the store no longer has
// the token, even by a replica that has not heard of its revocation (here
// made through the replica's own store value, whose changes the feed
// does not report): not into the same tenant, nor into a tenant of the
// same id created again meanwhile.
func TestWriteWithTokenRevokedUnheard(t *testing.T) {
	ctx := context.Background()
	m := storetest.NewMemory(nil)
	ts := newFeedServer(t, m)
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/User", testAdmin, userDef))
	tok := ts.token("acme")
	ts.must(200, ts.do("GET", "/v1/tenants/acme/models/User", tok, nil)) // cached
	id := strings.Split(strings.TrimPrefix(tok, tenantTokenPrefix), "_")[0]

	if err := m.DeleteToken(ctx, "acme", id); err != nil {
		t.Fatal(err)
	}
	if got := ts.do("PUT", "/v1/tenants/acme/models/Customer", tok, customerDef); got.status != 401 {
		t.Errorf("put with a token revoked unheard: %d %s, want 401", got.status, got.body)
	}
	if got := ts.do("DELETE", "/v1/tenants/acme/models/User", tok, nil); got.status != 401 {
		t.Errorf("delete with a token revoked unheard: %d %s, want 401", got.status, got.body)
	}
	if ms, _ := m.Models(ctx, "acme"); len(ms) != 1 {
		t.Errorf("acme has %d models after writes with a revoked token, want 1", len(ms))
	}
	if got := ts.do("GET", "/v1/tenants/acme/models/User", tok, nil); got.status != 401 {
		t.Errorf("the token refused by the store still works here: %d", got.status)
	}

	// The tenant deleted and created again, unheard.
	tok2 := ts.token("acme")
	ts.must(200, ts.do("GET", "/v1/tenants/acme/models/User", tok2, nil))
	if _, err := m.DeleteTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if got := ts.do("PUT", "/v1/tenants/acme/models/Customer", tok2, customerDef); got.status != 401 {
		t.Errorf("put with a token of the tenant deleted and created again unheard: %d %s, want 401", got.status, got.body)
	}
	if ms, _ := m.Models(ctx, "acme"); len(ms) != 0 {
		t.Errorf("the new tenant got %d models from the old tenant's token", len(ms))
	}
}
