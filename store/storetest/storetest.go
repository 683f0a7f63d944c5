// Package storetest is a conformance suite for store.Store implementations.
// An implementation's tests call Run with a function that opens a fresh,
// empty store; every implementation (the embedded SQLite store today, a
// PostgreSQL store later) must pass the same suite.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/modelreg/modelreg/store"
)

// Run runs the conformance suite. open returns a new empty store; Run closes
// it at the end of each subtest.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"PutGetModel", testPutGetModel},
		{"ReplaceModel", testReplaceModel},
		{"Conditions", testConditions},
		{"TokenCondition", testTokenCondition},
		{"RevisionsPerScope", testRevisionsPerScope},
		{"ScopesAreSeparate", testScopes},
		{"DeleteModel", testDeleteModel},
		{"Tenants", testTenants},
		{"DeleteTenantPurgesEverything", testDeleteTenant},
		{"Tokens", testTokens},
		{"Settings", testSettings},
		{"InvalidArguments", testInvalid},
		{"OddBytes", testOddBytes},
		{"ConcurrentWriters", testConcurrentWriters},
		{"CanceledContext", testCanceled},
		{"Closed", testClosed},
	}
	t.Run("ModelBased", func(t *testing.T) { runModelBased(t, open) })
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if tc.name != "Closed" {
				t.Cleanup(func() {
					if err := s.Close(); err != nil {
						t.Errorf("Close: %v", err)
					}
				})
			}
			tc.fn(t, s)
		})
	}
}

func model(scope, name, def string) store.Model {
	sum := sha256.Sum256([]byte(def))
	return store.Model{Scope: scope, Name: name, Definition: []byte(def), Fingerprint: fmt.Sprintf("v1:%x", sum)}
}

func mustPut(t *testing.T, s store.Store, m store.Model) (store.Model, bool) {
	t.Helper()
	got, created, err := s.PutModel(context.Background(), m, store.Condition{})
	if err != nil {
		t.Fatalf("PutModel(%s/%s): %v", m.Scope, m.Name, err)
	}
	return got, created
}

func testPutGetModel(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, scope := range []string{store.Global, "acme"} {
		def := `{"name":"Customer","properties":{"name":"string"}}`
		got, created := mustPut(t, s, model(scope, "Customer", def))
		if !created || got.Revision <= 0 || got.Created.IsZero() || !got.Created.Equal(got.Updated) {
			t.Errorf("scope %q: put = %+v, created %v; want created with a revision and times set", scope, got, created)
		}
		if got.Revision < got.Updated.UnixMicro() {
			t.Errorf("scope %q: revision %d is below its write's time in microseconds (%d): see store.NextRevision", scope, got.Revision, got.Updated.UnixMicro())
		}
		m, err := s.Model(ctx, scope, "Customer")
		if err != nil {
			t.Fatalf("Model: %v", err)
		}
		if m.Scope != scope || m.Name != "Customer" || string(m.Definition) != def || m.Fingerprint != got.Fingerprint || m.Revision != got.Revision || !m.Updated.Equal(got.Updated) {
			t.Errorf("scope %q: Model = %+v, want what was put (%+v)", scope, m, got)
		}
		if _, err := s.Model(ctx, scope, "Nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Model(missing) err = %v, want ErrNotFound", err)
		}
	}
	// Definitions are bytes: anything, including non-UTF-8, round-trips.
	raw := []byte{0xff, 0x00, '{', '}'}
	mustPut(t, s, store.Model{Scope: "acme", Name: "Raw", Definition: raw})
	if m, err := s.Model(ctx, "acme", "Raw"); err != nil || !bytes.Equal(m.Definition, raw) {
		t.Errorf("raw definition = %q, %v; want %q", m.Definition, err, raw)
	}
	// The store keeps its own copy: changing the bytes passed to PutModel,
	// or those it or Model returned, changes nothing stored.
	def := []byte(`{"v":1}`)
	put, _ := mustPut(t, s, store.Model{Scope: "acme", Name: "Copied", Definition: def})
	def[1], put.Definition[2] = 'X', 'Y'
	if m, err := s.Model(ctx, "acme", "Copied"); err != nil {
		t.Fatal(err)
	} else {
		m.Definition[3] = 'Z'
	}
	if m, err := s.Model(ctx, "acme", "Copied"); err != nil || string(m.Definition) != `{"v":1}` {
		t.Errorf("definition after changing the caller's and the returned bytes = %q, %v; want {\"v\":1}", m.Definition, err)
	}
}

func testReplaceModel(t *testing.T, s store.Store) {
	ctx := context.Background()
	first, _ := mustPut(t, s, model("acme", "A", `{"v":1}`))
	second, created := mustPut(t, s, model("acme", "A", `{"v":2}`))
	if created || second.Revision <= first.Revision || !second.Created.Equal(first.Created) || second.Updated.Before(first.Updated) {
		t.Errorf("replace = %+v created=%v, first %+v: want a larger revision, same created time", second, created, first)
	}
	m, _ := s.Model(ctx, "acme", "A")
	if string(m.Definition) != `{"v":2}` || m.Revision != second.Revision {
		t.Errorf("after replace Model = %s rev %d", m.Definition, m.Revision)
	}
	list, err := s.Models(ctx, "acme")
	if err != nil || len(list) != 1 {
		t.Errorf("Models = %v, %v; want exactly one model", list, err)
	}
}

func testConditions(t *testing.T, s store.Store) {
	ctx := context.Background()
	m := model("acme", "A", `{}`)
	// Revisions are the store's: cond and wantRev name the revision of
	// an earlier step (0: none), and "changed" a new one.
	var revs []int64 // the revision after each step
	const changed = -1
	tests := []struct {
		name     string
		cond     store.Condition
		condStep int // cond.Revisions is the revision after this step (-1: as written)
		wantErr  error
		wantStep int // the model's revision is that after this step, or changed
	}{
		{"create-only on missing", store.Condition{MustNotExist: true}, -1, nil, changed},
		{"create-only on existing", store.Condition{MustNotExist: true}, -1, store.ErrPrecondition, 0},
		{"revision matches", store.Condition{}, 1, nil, changed},
		{"stale revision", store.Condition{}, 1, store.ErrPrecondition, 2},
		{"future revision", store.Condition{Revisions: []int64{1 << 40}}, -1, store.ErrPrecondition, 2},
		{"must exist", store.Condition{MustExist: true}, -1, nil, changed},
		{"no revision at all", store.Condition{Revisions: []int64{}}, -1, store.ErrPrecondition, 5},
		{"one of several revisions", store.Condition{Revisions: []int64{1 << 40}}, 5, nil, changed},
		{"none of several revisions", store.Condition{Revisions: []int64{1 << 40}}, 5, store.ErrPrecondition, 7},
		{"unconditional", store.Condition{}, -1, nil, changed},
	}
	for i, tc := range tests {
		if tc.condStep >= 0 {
			tc.cond.Revisions = append(tc.cond.Revisions, revs[tc.condStep])
		}
		_, _, err := s.PutModel(ctx, m, tc.cond)
		if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.wantErr)
		}
		got, err := s.Model(ctx, "acme", "A")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		switch {
		case tc.wantStep == changed && i > 0 && got.Revision <= revs[i-1]:
			t.Errorf("%s: revision %d, want one larger than %d", tc.name, got.Revision, revs[i-1])
		case tc.wantStep != changed && got.Revision != revs[tc.wantStep]:
			t.Errorf("%s: revision %d, want %d (unchanged)", tc.name, got.Revision, revs[tc.wantStep])
		}
		revs = append(revs, got.Revision)
	}
	// A revision is never given twice, even after a delete: a stale
	// revision of a deleted model does not match its successor.
	old := revs[len(revs)-1]
	if err := s.DeleteModel(ctx, "acme", "A", store.Condition{}); err != nil {
		t.Fatal(err)
	}
	again, _ := mustPut(t, s, m)
	if again.Revision <= old {
		t.Errorf("recreated model has revision %d, not above the deleted one's %d", again.Revision, old)
	}
	if _, err := s.DeleteTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if again2, _ := mustPut(t, s, m); again2.Revision <= again.Revision {
		t.Errorf("model of a recreated tenant has revision %d, not above %d", again2.Revision, again.Revision)
	}
	// A condition on a missing model fails without creating it (or the tenant).
	if _, _, err := s.PutModel(ctx, model("other", "B", `{}`), store.Condition{Revisions: []int64{1}}); !errors.Is(err, store.ErrPrecondition) {
		t.Errorf("conditional put of missing model: %v", err)
	}
	if _, _, err := s.PutModel(ctx, model("other", "B", `{}`), store.Condition{MustExist: true}); !errors.Is(err, store.ErrPrecondition) {
		t.Errorf("must-exist put of missing model: %v", err)
	}
	if _, err := s.Tenant(ctx, "other"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("failed conditional put created the tenant: %v", err)
	}

	// TenantMustExist: a write to a tenant that does not exist (deleted,
	// or never created) fails with ErrNotFound and creates nothing, even
	// unconditional otherwise; to one that exists, it writes; the global
	// scope ignores it.
	mustExist := store.Condition{TenantMustExist: true}
	for _, cond := range []store.Condition{mustExist, {TenantMustExist: true, MustNotExist: true}} {
		if _, _, err := s.PutModel(ctx, model("other", "B", `{}`), cond); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("put %+v to a tenant that does not exist: %v, want ErrNotFound", cond, err)
		}
	}
	if _, err := s.Tenant(ctx, "other"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("put to a tenant that must exist created it: %v", err)
	}
	if _, err := s.DeleteTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutModel(ctx, m, mustExist); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("put to a deleted tenant that must exist: %v, want ErrNotFound", err)
	}
	if ms, err := s.Models(ctx, "acme"); err != nil || len(ms) != 0 {
		t.Errorf("put to a deleted tenant that must exist left %d models (%v)", len(ms), err)
	}
	if _, err := s.CreateTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, created, err := s.PutModel(ctx, m, mustExist); err != nil || !created {
		t.Errorf("put to an existing tenant that must exist: created %v, %v", created, err)
	}
	if _, _, err := s.PutModel(ctx, model(store.Global, "G", `{}`), mustExist); err != nil {
		t.Errorf("put of a global model with TenantMustExist: %v", err)
	}
}

func testScopes(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustPut(t, s, model(store.Global, "Shared", `{"g":1}`))
	mustPut(t, s, model("a", "Shared", `{"a":1}`))
	mustPut(t, s, model("a", "OnlyA", `{}`))
	mustPut(t, s, model("b", "OnlyB", `{}`))
	mustPut(t, s, model("ab", "X", `{}`)) // a prefix of no other id, but "a" is a prefix of it
	for _, tc := range []struct {
		scope string
		names []string
	}{
		{store.Global, []string{"Shared"}},
		{"a", []string{"OnlyA", "Shared"}},
		{"b", []string{"OnlyB"}},
		{"ab", []string{"X"}},
		{"nobody", nil},
	} {
		list, err := s.Models(ctx, tc.scope)
		if err != nil {
			t.Fatalf("Models(%q): %v", tc.scope, err)
		}
		var names []string
		for _, m := range list {
			if m.Scope != tc.scope {
				t.Errorf("Models(%q) returned a model of scope %q", tc.scope, m.Scope)
			}
			names = append(names, m.Name)
		}
		if fmt.Sprint(names) != fmt.Sprint(tc.names) {
			t.Errorf("Models(%q) = %v, want %v", tc.scope, names, tc.names)
		}
	}
	if m, _ := s.Model(ctx, "a", "Shared"); string(m.Definition) != `{"a":1}` {
		t.Errorf("tenant model shadows global one in its own scope only; got %s", m.Definition)
	}
	if m, _ := s.Model(ctx, store.Global, "Shared"); string(m.Definition) != `{"g":1}` {
		t.Errorf("global Shared = %s", m.Definition)
	}
	// The global scope is not a tenant.
	tenants, err := s.Tenants(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range tenants {
		if tn.ID == store.Global {
			t.Errorf("Tenants lists the global scope")
		}
	}
}

func testDeleteModel(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustPut(t, s, model("acme", "A", `{}`))
	mustPut(t, s, model("acme", "B", `{}`))
	if err := s.DeleteModel(ctx, "acme", "A", store.Condition{}); err != nil {
		t.Fatalf("DeleteModel: %v", err)
	}
	if err := s.DeleteModel(ctx, "acme", "A", store.Condition{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteModel = %v, want ErrNotFound", err)
	}
	// Conditions: a stale or absent revision, or MustNotExist, deletes
	// nothing.
	b, err := s.Model(ctx, "acme", "B")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []store.Condition{{Revisions: []int64{b.Revision + 1}}, {MustNotExist: true}} {
		if err := s.DeleteModel(ctx, "acme", "B", c); !errors.Is(err, store.ErrPrecondition) {
			t.Errorf("DeleteModel %+v of revision %d = %v, want ErrPrecondition", c, b.Revision, err)
		}
	}
	for _, c := range []store.Condition{{Revisions: []int64{b.Revision}}, {MustExist: true}} {
		if err := s.DeleteModel(ctx, "acme", "A", c); !errors.Is(err, store.ErrPrecondition) {
			t.Errorf("DeleteModel %+v of a missing model = %v, want ErrPrecondition", c, err)
		}
	}
	if err := s.DeleteModel(ctx, "acme", "A", store.Condition{MustNotExist: true}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteModel create-only of a missing model = %v, want ErrNotFound", err)
	}
	if err := s.DeleteModel(ctx, "acme", "B", store.Condition{Revisions: []int64{b.Revision + 1, b.Revision}}); err != nil {
		t.Errorf("DeleteModel at its revision: %v", err)
	}
	if _, err := s.Model(ctx, "acme", "A"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted model still readable: %v", err)
	}
	if _, err := s.Tenant(ctx, "acme"); err != nil {
		t.Errorf("deleting a model deleted the tenant: %v", err)
	}
	// Recreating starts a new history, with a revision never given before.
	if m, created := mustPut(t, s, model("acme", "A", `{}`)); !created || m.Revision <= 0 {
		t.Errorf("recreate = rev %d created %v", m.Revision, created)
	}
}

func testTenants(t *testing.T, s store.Store) {
	ctx := context.Background()
	created, err := s.CreateTenant(ctx, "t2")
	if err != nil || !created {
		t.Fatalf("CreateTenant = %v, %v", created, err)
	}
	if created, err = s.CreateTenant(ctx, "t2"); err != nil || created {
		t.Errorf("second CreateTenant = %v, %v; want false, nil", created, err)
	}
	mustPut(t, s, model("t1", "A", `{}`))
	mustPut(t, s, model("t1", "B", `{}`))
	mustPut(t, s, model("t3", "A", `{}`))
	if _, err := s.PutToken(ctx, store.Token{ID: "k1", Tenant: "t1"}); err != nil {
		t.Fatal(err)
	}
	all, err := s.Tenants(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := "[t1 2 1] [t2 0 0] [t3 1 0] "
	got := ""
	for _, tn := range all {
		got += fmt.Sprintf("[%s %d %d] ", tn.ID, tn.Models, tn.Tokens)
		if tn.Created.IsZero() {
			t.Errorf("tenant %s has no created time", tn.ID)
		}
	}
	if got != want {
		t.Errorf("Tenants = %s, want %s", got, want)
	}
	page, err := s.Tenants(ctx, "t1", 1)
	if err != nil || len(page) != 1 || page[0].ID != "t2" {
		t.Errorf("Tenants(after t1, 1) = %v, %v", page, err)
	}
	one, err := s.Tenant(ctx, "t1")
	if err != nil || one.Models != 2 || one.Tokens != 1 {
		t.Errorf("Tenant(t1) = %+v, %v", one, err)
	}
	if _, err := s.Tenant(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Tenant(missing) = %v", err)
	}
}

func testDeleteTenant(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i := range 5 {
		mustPut(t, s, model("doomed", fmt.Sprint("M", i), `{}`))
	}
	mustPut(t, s, model("keep", "M0", `{}`))
	mustPut(t, s, model(store.Global, "M0", `{}`))
	for _, id := range []string{"d1", "d2"} {
		if _, err := s.PutToken(ctx, store.Token{ID: id, Tenant: "doomed", Hash: sha256.Sum256([]byte(id))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PutToken(ctx, store.Token{ID: "k1", Tenant: "keep"}); err != nil {
		t.Fatal(err)
	}
	p, err := s.DeleteTenant(ctx, "doomed")
	if err != nil || p != (store.Purge{Models: 5, Tokens: 2}) {
		t.Fatalf("DeleteTenant = %+v, %v; want 5 models, 2 tokens", p, err)
	}
	if _, err := s.Tenant(ctx, "doomed"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("tenant survives: %v", err)
	}
	if list, err := s.Models(ctx, "doomed"); err != nil || len(list) != 0 {
		t.Errorf("models survive: %v %v", list, err)
	}
	for _, id := range []string{"d1", "d2"} {
		if _, err := s.Token(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("token %s survives: %v", id, err)
		}
	}
	if _, err := s.Token(ctx, "k1"); err != nil {
		t.Errorf("other tenant's token lost: %v", err)
	}
	for _, scope := range []string{"keep", store.Global} {
		if _, err := s.Model(ctx, scope, "M0"); err != nil {
			t.Errorf("model of scope %q lost: %v", scope, err)
		}
	}
	if _, err := s.DeleteTenant(ctx, "doomed"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteTenant = %v, want ErrNotFound", err)
	}
	// A deleted tenant can come back, empty.
	mustPut(t, s, model("doomed", "New", `{}`))
	if tn, err := s.Tenant(ctx, "doomed"); err != nil || tn.Models != 1 || tn.Tokens != 0 {
		t.Errorf("recreated tenant = %+v, %v", tn, err)
	}
}

func testTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	h := sha256.Sum256([]byte("secret"))
	tok, err := s.PutToken(ctx, store.Token{ID: "abc", Tenant: "acme", Hash: h})
	if err != nil || tok.Created.IsZero() {
		t.Fatalf("PutToken = %+v, %v", tok, err)
	}
	if _, err := s.Tenant(ctx, "acme"); err != nil {
		t.Errorf("PutToken did not create the tenant: %v", err)
	}
	got, err := s.Token(ctx, "abc")
	if err != nil || got.Tenant != "acme" || got.Hash != h || got.ID != "abc" {
		t.Errorf("Token = %+v, %v", got, err)
	}
	if _, err := s.PutToken(ctx, store.Token{ID: "abc", Tenant: "other", Hash: h}); err == nil {
		t.Errorf("duplicate token id accepted")
	}
	if _, err := s.Token(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Token(missing) = %v", err)
	}
	// Listing and deleting one.
	if _, err := s.PutToken(ctx, store.Token{ID: "def", Tenant: "acme", Hash: h}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutToken(ctx, store.Token{ID: "xyz", Tenant: "other", Hash: h}); err != nil {
		t.Fatal(err)
	}
	ids := func(tenant string) []string {
		t.Helper()
		toks, err := s.Tokens(ctx, tenant)
		if err != nil {
			t.Fatalf("Tokens(%s): %v", tenant, err)
		}
		var out []string
		for _, tk := range toks {
			if tk.Tenant != tenant || tk.Hash != h || tk.Created.IsZero() {
				t.Errorf("Tokens(%s) has %+v", tenant, tk)
			}
			out = append(out, tk.ID)
		}
		return out
	}
	if got := ids("acme"); !slices.Equal(got, []string{"abc", "def"}) {
		t.Errorf("Tokens(acme) = %v, want [abc def], oldest first", got)
	}
	if got := ids("nobody"); len(got) != 0 {
		t.Errorf("Tokens of a tenant that does not exist = %v", got)
	}
	if err := s.DeleteToken(ctx, "acme", "xyz"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteToken of another tenant's token = %v, want ErrNotFound", err)
	}
	if _, err := s.Token(ctx, "xyz"); err != nil {
		t.Errorf("another tenant's token after a refused DeleteToken: %v", err)
	}
	if err := s.DeleteToken(ctx, "acme", "abc"); err != nil {
		t.Fatalf("DeleteToken: %v", err)
	}
	if _, err := s.Token(ctx, "abc"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Token after DeleteToken = %v", err)
	}
	if err := s.DeleteToken(ctx, "acme", "abc"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteToken again = %v, want ErrNotFound", err)
	}
	if got := ids("acme"); !slices.Equal(got, []string{"def"}) {
		t.Errorf("Tokens(acme) after a delete = %v", got)
	}
	if _, err := s.Tenant(ctx, "acme"); err != nil {
		t.Errorf("the tenant after DeleteToken: %v", err)
	}
}

func testSettings(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Setting(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing setting: %v", err)
	}
	for _, v := range []string{"one", "two", ""} {
		if err := s.PutSetting(ctx, "k", []byte(v)); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Setting(ctx, "k"); err != nil || string(got) != v {
			t.Errorf("Setting = %q, %v; want %q", got, err, v)
		}
	}
	for range 2 { // the second time, there is nothing to delete
		if err := s.DeleteSetting(ctx, "k"); err != nil {
			t.Fatalf("DeleteSetting: %v", err)
		}
		if _, err := s.Setting(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted setting: %v", err)
		}
	}
}

func testInvalid(t *testing.T, s store.Store) {
	ctx := context.Background()
	checks := []struct {
		name string
		err  error
	}{
		{"empty model name", func() error { _, _, err := s.PutModel(ctx, store.Model{Scope: "a"}, store.Condition{}); return err }()},
		{"global token", func() error { _, err := s.PutToken(ctx, store.Token{ID: "x"}); return err }()},
		{"token without id", func() error { _, err := s.PutToken(ctx, store.Token{Tenant: "a"}); return err }()},
		{"create global tenant", func() error { _, err := s.CreateTenant(ctx, store.Global); return err }()},
		{"delete global tenant", func() error { _, err := s.DeleteTenant(ctx, store.Global); return err }()},
	}
	for _, c := range checks {
		if !errors.Is(c.err, store.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", c.name, c.err)
		}
	}
}

// testOddBytes: ids, names and token ids holding NUL bytes or invalid
// UTF-8 are either stored and read back exactly, never mistaken for
// another (a prefix, say), or refused with ErrInvalid with nothing
// written. A Condition's Token is ignored in the global scope whatever
// its bytes: the write is made.
func testOddBytes(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, tok := range []string{"\xff", "a\x00b"} {
		m, _, err := s.PutModel(ctx, model(store.Global, "G", `{}`), store.Condition{Token: tok})
		if err != nil {
			t.Errorf("global put with token %q: %v, want the write made (the token is ignored)", tok, err)
		} else if got, err := s.Model(ctx, store.Global, "G"); err != nil || got.Revision != m.Revision {
			t.Errorf("global put with token %q returned revision %d, but the store has %d (%v)", tok, m.Revision, got.Revision, err)
		}
		mustPut(t, s, model(store.Global, "G", `{}`))
		if err := s.DeleteModel(ctx, store.Global, "G", store.Condition{Token: tok}); err != nil {
			t.Errorf("global delete with token %q: %v, want the model deleted", tok, err)
		}
		if _, err := s.Model(ctx, store.Global, "G"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("global delete with token %q left the model: %v", tok, err)
		}
		// In a tenant's scope, no token has such an id.
		_, _, err = s.PutModel(ctx, model("acme", "A", `{}`), store.Condition{Token: tok})
		if !errors.Is(err, store.ErrNoToken) {
			t.Errorf("tenant put with token %q: %v, want ErrNoToken", tok, err)
		}
		if err := s.DeleteModel(ctx, "acme", "A", store.Condition{Token: tok}); !errors.Is(err, store.ErrNoToken) {
			t.Errorf("tenant delete with token %q: %v, want ErrNoToken", tok, err)
		}
	}
	if _, err := s.Tenant(ctx, "acme"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("writes refused for their token created the tenant: %v", err)
	}
	for _, odd := range []string{"a\x00b", "a\xffb"} {
		// No tenant with such an id has a token: the Token condition
		// fails first, as for any tenant without the token.
		for _, cond := range []store.Condition{{Token: "tok"}, {Token: "tok", MustExist: true}} {
			if err := s.DeleteModel(ctx, odd, "A", cond); !errors.Is(err, store.ErrNoToken) {
				t.Errorf("delete in tenant %q with %+v: %v, want ErrNoToken", odd, cond, err)
			}
			if err := s.DeleteModel(ctx, "acme", odd, cond); !errors.Is(err, store.ErrNoToken) {
				t.Errorf("delete of %q with %+v: %v, want ErrNoToken", odd, cond, err)
			}
		}
		if _, err := s.PutToken(ctx, store.Token{ID: "tok-acme", Tenant: "acme"}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteModel(ctx, "acme", odd, store.Condition{Token: "tok-acme"}); !errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrNoToken) {
			t.Errorf("delete of %q with the tenant's token: %v, want ErrNotFound (the model's)", odd, err)
		}
		if _, err := s.DeleteTenant(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		for _, m := range []store.Model{model("acme", odd, `{}`), model(odd, "A", `{}`)} {
			_, _, err := s.PutModel(ctx, m, store.Condition{})
			if errors.Is(err, store.ErrInvalid) {
				if got, err := s.Models(ctx, m.Scope); err != nil || len(got) != 0 {
					t.Errorf("put of %q/%q refused, yet scope has %d models (%v)", m.Scope, m.Name, len(got), err)
				}
				continue
			}
			if err != nil {
				t.Errorf("put of %q/%q: %v, want it stored or ErrInvalid", m.Scope, m.Name, err)
				continue
			}
			if got, err := s.Model(ctx, m.Scope, m.Name); err != nil || got.Scope != m.Scope || got.Name != m.Name {
				t.Errorf("Model(%q, %q) = %q/%q, %v", m.Scope, m.Name, got.Scope, got.Name, err)
			}
			if _, err := s.Model(ctx, m.Scope[:min(1, len(m.Scope))], m.Name[:1]); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Model of a prefix of %q/%q: %v, want ErrNotFound", m.Scope, m.Name, err)
			}
			if m.Scope != "acme" {
				if _, err := s.DeleteTenant(ctx, m.Scope); err != nil {
					t.Errorf("DeleteTenant(%q): %v", m.Scope, err)
				}
			} else if err := s.DeleteModel(ctx, m.Scope, m.Name, store.Condition{}); err != nil {
				t.Errorf("DeleteModel(%q, %q): %v", m.Scope, m.Name, err)
			}
		}
	}
}

// testConcurrentWriters checks that concurrent writers to the same and to
// different models lose nothing and keep revisions consistent (never one
// given twice in a scope).
func testConcurrentWriters(t *testing.T, s store.Store) {
	ctx := context.Background()
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each*2)
	type scopedRev struct {
		scope string
		rev   int64
	}
	revs := make(chan scopedRev, writers*each*2) // every revision given
	var hotMu sync.Mutex
	var hotMax int64
	var hotLast string // the definition of the hot write with the largest revision
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				tenant := fmt.Sprint("t", w%3)
				if m, _, err := s.PutModel(ctx, model(tenant, fmt.Sprintf("W%dI%d", w, i), `{}`), store.Condition{}); err != nil {
					errs <- err
				} else {
					revs <- scopedRev{tenant, m.Revision}
				}
				def := fmt.Sprint(w, "-", i)
				if m, _, err := s.PutModel(ctx, model("hot", "Same", def), store.Condition{}); err != nil {
					errs <- err
				} else {
					revs <- scopedRev{"hot", m.Revision}
					hotMu.Lock()
					if m.Revision > hotMax {
						hotMax, hotLast = m.Revision, def
					}
					hotMu.Unlock()
				}
				if _, err := s.Models(ctx, tenant); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent write: %v", err)
	}
	total := 0
	for i := range 3 {
		list, err := s.Models(ctx, fmt.Sprint("t", i))
		if err != nil {
			t.Fatal(err)
		}
		total += len(list)
	}
	if total != writers*each {
		t.Errorf("stored %d models, want %d", total, writers*each)
	}
	close(revs)
	seen := map[scopedRev]bool{}
	for r := range revs {
		if seen[r] {
			t.Errorf("revision %d given to two writes of scope %q", r.rev, r.scope)
		}
		seen[r] = true
	}
	// The hot model holds the write with the largest revision.
	if m, err := s.Model(ctx, "hot", "Same"); err != nil || m.Revision != hotMax || string(m.Definition) != hotLast {
		t.Errorf("hot model = revision %d %q (%v), want the last write: revision %d %q", m.Revision, m.Definition, err, hotMax, hotLast)
	}
}

func testCanceled(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.PutModel(ctx, model("a", "A", `{}`), store.Condition{}); !errors.Is(err, context.Canceled) {
		t.Errorf("PutModel with canceled context = %v, want context.Canceled", err)
	}
	if _, err := s.Models(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("Models with canceled context = %v, want context.Canceled", err)
	}
	if _, err := s.Model(context.Background(), "a", "A"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("canceled write was stored: %v", err)
	}
}

func testClosed(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	if _, _, err := s.PutModel(ctx, model("a", "A", `{}`), store.Condition{}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("PutModel after Close = %v", err)
	}
	if _, err := s.Model(ctx, "a", "A"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Model after Close = %v", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Ping after Close = %v", err)
	}
}

// testRevisionsPerScope: a scope's revisions count its own writes only, so
// a tenant learns nothing of other tenants' writes from them; they never
// repeat in a scope, even once it was deleted and created again.
func testRevisionsPerScope(t *testing.T, s store.Store) {
	ctx := context.Background()
	first, _ := mustPut(t, s, model("a", "A", `{"v":1}`))
	for i := range 5 {
		mustPut(t, s, model("b", fmt.Sprint("B", i), `{}`))
		mustPut(t, s, model(store.Global, fmt.Sprint("G", i), `{}`))
	}
	second, _ := mustPut(t, s, model("a", "A", `{"v":2}`))
	if want := store.NextRevision(first.Revision, second.Updated); second.Revision != want {
		t.Errorf("tenant a's revisions %d then %d, with 10 writes of others between: want %d, from its own last revision and the time alone", first.Revision, second.Revision, want)
	}
	if _, err := s.DeleteTenant(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	again, _ := mustPut(t, s, model("a", "A", `{"v":3}`))
	if again.Revision <= second.Revision {
		t.Errorf("tenant a created again: revision %d, not above the deleted one's %d", again.Revision, second.Revision)
	}
}

// testTokenCondition: a write whose Condition names a token is made only
// while that token of the scope's tenant exists.
func testTokenCondition(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, tok := range []store.Token{{ID: "tok-a", Tenant: "acme"}, {ID: "tok-b", Tenant: "beta"}} {
		if _, err := s.PutToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	with := func(tok string) store.Condition { return store.Condition{Token: tok} }
	noToken := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrNoToken) || !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNoToken (an ErrNotFound)", what, err)
		}
	}
	if _, _, err := s.PutModel(ctx, model("acme", "A", `{"v":1}`), with("tok-a")); err != nil {
		t.Fatalf("put with the tenant's token: %v", err)
	}
	_, _, err := s.PutModel(ctx, model("acme", "A", `{"v":2}`), with("nope"))
	noToken("put with a token that does not exist", err)
	_, _, err = s.PutModel(ctx, model("acme", "A", `{"v":3}`), with("tok-b"))
	noToken("put with another tenant's token", err)
	err = s.DeleteModel(ctx, "acme", "A", with("tok-b"))
	noToken("delete with another tenant's token", err)
	if got, err := s.Model(ctx, "acme", "A"); err != nil || string(got.Definition) != `{"v":1}` {
		t.Errorf("writes refused for their token changed the model: %s, %v", got.Definition, err)
	}

	// Once revoked, the token writes nothing.
	if err := s.DeleteToken(ctx, "acme", "tok-a"); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.PutModel(ctx, model("acme", "B", `{}`), with("tok-a"))
	noToken("put with a revoked token", err)
	err = s.DeleteModel(ctx, "acme", "A", with("tok-a"))
	noToken("delete with a revoked token", err)
	if ms, err := s.Models(ctx, "acme"); err != nil || len(ms) != 1 {
		t.Errorf("acme has %d models after writes with a revoked token, want 1 (%v)", len(ms), err)
	}

	// A tenant deleted takes its tokens: nothing brings it back.
	if _, err := s.DeleteTenant(ctx, "beta"); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.PutModel(ctx, model("beta", "A", `{}`), with("tok-b"))
	noToken("put with a token of a deleted tenant", err)
	if _, err := s.Tenant(ctx, "beta"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a put with a token of the deleted tenant created it again: %v", err)
	}

	// The global scope has no tokens: the condition does not apply.
	if _, _, err := s.PutModel(ctx, model(store.Global, "G", `{}`), with("nope")); err != nil {
		t.Errorf("global put with a token condition: %v", err)
	}
	if err := s.DeleteModel(ctx, store.Global, "G", with("nope")); err != nil {
		t.Errorf("global delete with a token condition: %v", err)
	}
}
