package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/modelreg/modelreg/store"
)

// modelState is the reference model of a store: what it must hold.
type modelState struct {
	tenants map[string]bool
	models  map[string]map[string]modelEntry // scope -> name -> entry
	tokens  map[string]string                // token id -> tenant
	// issued are the revisions the store gave in this run, maxRev the
	// largest in each scope: each write of a scope must get a larger one,
	// even after the scope was deleted.
	issued []int64
	maxRev map[string]int64
}

type modelEntry struct {
	def string
	rev int64
}

// runModelBased runs random sequences of operations against a store and a
// reference model, and checks that every answer and the final contents
// agree (a rapid property test).
//
// One store serves every run (opening one per run is slow): each run uses
// its own tenant ids and model names, and looks only at those.
func runModelBased(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	defer s.Close()
	run := 0
	rapid.Check(t, func(rt *rapid.T) {
		run++
		ctx := context.Background()
		m := modelState{tenants: map[string]bool{}, models: map[string]map[string]modelEntry{}, tokens: map[string]string{}, maxRev: map[string]int64{}}
		tp, np := fmt.Sprintf("r%d-", run), fmt.Sprintf("R%d", run) // this run's tenant and name prefixes
		scopes := []string{store.Global, tp + "a", tp + "b", tp + "ab"}
		tenantGen := rapid.SampledFrom(scopes[1:])
		scopeGen := rapid.SampledFrom(scopes)
		nameGen := rapid.SampledFrom([]string{np + "A", np + "B", np + "C"})
		ensure := func(scope string) {
			if scope != store.Global {
				m.tenants[scope] = true
			}
		}
		tokenN := 0
		checkAll := func(rt *rapid.T) { // compare the whole contents
			for _, scope := range scopes {
				list, err := s.Models(ctx, scope)
				if err != nil {
					rt.Fatal(err)
				}
				var got, want []string
				for _, x := range list {
					if strings.HasPrefix(x.Name, np) {
						got = append(got, fmt.Sprintf("%s=%s@%d", x.Name, x.Definition, x.Revision))
					}
				}
				for name, e := range m.models[scope] {
					want = append(want, fmt.Sprintf("%s=%s@%d", name, e.def, e.rev))
				}
				slices.Sort(want)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					rt.Fatalf("scope %q holds %v, want %v", scope, got, want)
				}
			}
			tenants, err := s.Tenants(ctx, "", 0)
			if err != nil {
				rt.Fatal(err)
			}
			var got, want []string
			for _, tn := range tenants {
				if strings.HasPrefix(tn.ID, tp) {
					got = append(got, fmt.Sprintf("%s:%d:%d", tn.ID, tn.Models, tn.Tokens))
				}
			}
			for id := range m.tenants {
				ntok := 0
				for _, tn := range m.tokens {
					if tn == id {
						ntok++
					}
				}
				want = append(want, fmt.Sprintf("%s:%d:%d", id, len(m.models[id]), ntok))
			}
			slices.Sort(want)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				rt.Fatalf("tenants %v, want %v", got, want)
			}
			for tid, tn := range m.tokens {
				if tok, err := s.Token(ctx, tid); err != nil || tok.Tenant != tn {
					rt.Fatalf("token %s: %+v %v, want tenant %s", tid, tok, err, tn)
				}
			}
		}
		rt.Repeat(map[string]func(*rapid.T){
			"put": func(rt *rapid.T) {
				scope, name := scopeGen.Draw(rt, "scope"), nameGen.Draw(rt, "name")
				def := rapid.StringMatching(`\{"v":[0-9]{1,3}\}`).Draw(rt, "def")
				cond := condGen(&m, scope, name).Draw(rt, "cond")
				cur, exists := m.models[scope][name]
				want := condMet(cond, exists, cur.rev)
				got, created, err := s.PutModel(ctx, store.Model{Scope: scope, Name: name, Definition: []byte(def)}, cond)
				if !want {
					if !errors.Is(err, store.ErrPrecondition) {
						rt.Fatalf("put %s/%s %+v: err %v, want ErrPrecondition", scope, name, cond, err)
					}
					return
				}
				if err != nil {
					rt.Fatalf("put %s/%s: %v", scope, name, err)
				}
				if created == exists || got.Revision <= m.maxRev[scope] {
					rt.Fatalf("put %s/%s: created %v rev %d; model has exists %v rev %d, revisions of the scope given up to %d", scope, name, created, got.Revision, exists, cur.rev, m.maxRev[scope])
				}
				m.maxRev[scope] = got.Revision
				m.issued = append(m.issued, got.Revision)
				ensure(scope)
				if m.models[scope] == nil {
					m.models[scope] = map[string]modelEntry{}
				}
				m.models[scope][name] = modelEntry{def, got.Revision}
			},
			"delete": func(rt *rapid.T) {
				scope, name := scopeGen.Draw(rt, "scope"), nameGen.Draw(rt, "name")
				cond := condGen(&m, scope, name).Draw(rt, "cond")
				cur, exists := m.models[scope][name]
				err := s.DeleteModel(ctx, scope, name, cond)
				switch {
				case !condMet(cond, exists, cur.rev):
					if !errors.Is(err, store.ErrPrecondition) {
						rt.Fatalf("delete %s/%s %+v: %v, want ErrPrecondition (exists %v, revision %d)", scope, name, cond, err, exists, cur.rev)
					}
					return
				case !exists:
					if !errors.Is(err, store.ErrNotFound) {
						rt.Fatalf("delete %s/%s %+v: %v, want ErrNotFound", scope, name, cond, err)
					}
					return
				case err != nil:
					rt.Fatalf("delete %s/%s %+v: %v", scope, name, cond, err)
				}
				delete(m.models[scope], name)
			},
			"deleteTenant": func(rt *rapid.T) {
				id := tenantGen.Draw(rt, "tenant")
				p, err := s.DeleteTenant(ctx, id)
				if !m.tenants[id] {
					if !errors.Is(err, store.ErrNotFound) {
						rt.Fatalf("delete missing tenant %s: %v", id, err)
					}
					return
				}
				ntok := 0
				for tid, tn := range m.tokens {
					if tn == id {
						ntok++
						delete(m.tokens, tid)
					}
				}
				if err != nil || p.Models != len(m.models[id]) || p.Tokens != ntok {
					rt.Fatalf("delete tenant %s: %+v %v; model has %d models %d tokens", id, p, err, len(m.models[id]), ntok)
				}
				delete(m.tenants, id)
				delete(m.models, id)
			},
			"createTenant": func(rt *rapid.T) {
				id := tenantGen.Draw(rt, "tenant")
				created, err := s.CreateTenant(ctx, id)
				if err != nil || created == m.tenants[id] {
					rt.Fatalf("create tenant %s: %v %v", id, created, err)
				}
				m.tenants[id] = true
			},
			"token": func(rt *rapid.T) {
				id := tenantGen.Draw(rt, "tenant")
				tokenN++
				tid := fmt.Sprint(tp, "tok", tokenN)
				if _, err := s.PutToken(ctx, store.Token{ID: tid, Tenant: id}); err != nil {
					rt.Fatalf("token: %v", err)
				}
				m.tenants[id] = true
				m.tokens[tid] = id
			},
		})
		checkAll(rt)
	})
}

// condGen draws a condition for the model name of scope: none,
// MustNotExist, MustExist, or zero to three revisions from the current
// one, others given in this run (of a deleted model, say) and one never
// given.
func condGen(m *modelState, scope, name string) *rapid.Generator[store.Condition] {
	return rapid.Custom(func(rt *rapid.T) store.Condition {
		var c store.Condition
		switch rapid.IntRange(0, 4).Draw(rt, "kind") {
		case 1:
			c.MustNotExist = true
		case 2:
			c.MustExist = true
		case 3, 4:
			// Empty (but not nil): an If-Match that names no revision.
			revs := append(slices.Clone(m.issued), m.models[scope][name].rev, 1<<40)
			c.Revisions = append([]int64{}, rapid.SliceOfN(rapid.SampledFrom(revs), 0, 3).Draw(rt, "revs")...)
		}
		return c
	})
}

// condMet is the reference answer to whether c holds for a model that
// exists at revision rev (or does not exist).
func condMet(c store.Condition, exists bool, rev int64) bool {
	if c.MustNotExist && exists || c.MustExist && !exists {
		return false
	}
	if c.Revisions == nil {
		return true
	}
	return exists && slices.Contains(c.Revisions, rev)
}
