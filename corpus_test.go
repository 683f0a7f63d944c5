package modelreg_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelreg/modelreg"
	"github.com/modelreg/modelreg/definition"
)

// corpusDir holds real-world LoopBack definitions, beside the repository.
var corpusDir = filepath.Join("..", "shared", "corpus", "loopback")

// TestCorpusRegistry defines every definition of the corpus that the
// parser accepts, one tenant per application, twice, and checks lookups,
// reference resolution, idempotent redefinition and complete cleanup.
func TestCorpusRegistry(t *testing.T) {
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("corpus not found at %s: %v", corpusDir, err)
	}
	byApp := map[string][]*definition.Definition{}
	err := filepath.WalkDir(corpusDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		defs, err := definition.ParseAll(data, definition.Limits{})
		if err != nil {
			return nil // the parser's own corpus test covers refusals
		}
		rel, _ := filepath.Rel(corpusDir, path)
		app := strings.ReplaceAll(filepath.Dir(rel), "__", "-")
		byApp[app] = append(byApp[app], defs...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(byApp) < 50 {
		t.Fatalf("only %d applications parsed", len(byApp))
	}
	r := modelreg.New()
	total := 0
	for app, defs := range byApp {
		if err := modelreg.ValidTenantID(app); err != nil {
			t.Fatalf("tenant id for %s: %v", app, err)
		}
		ctx := tctx(app)
		models := map[string]*modelreg.Model{}
		for _, d := range defs {
			m, err := r.Define(ctx, d)
			if err != nil {
				t.Errorf("%s: %s: %v", app, d.Name, err)
				continue
			}
			if !bytes.Equal(m.Canonical(), d.Object.Canonical()) {
				t.Errorf("%s: %s: compiled canonical form differs from the definition's", app, d.Name)
			}
			models[d.Name] = m
		}
		total += len(models)
		st, _ := r.TenantStats(app)
		for name, m := range models {
			if got, ok := r.FindByName(ctx, name); !ok || got != m {
				t.Errorf("%s: %s not found by name", app, name)
			}
			if got, ok := r.FindByStructure(ctx, m.Object()); !ok || !bytes.Equal(got.Canonical(), m.Canonical()) {
				t.Errorf("%s: %s not found by structure", app, name)
			}
			for _, ref := range m.Refs() {
				_, defined := models[ref]
				if _, ok := r.Resolver(ctx)(ref); ok != defined {
					t.Errorf("%s: %s: reference %s resolves %v, defined %v", app, name, ref, ok, defined)
				}
			}
		}
		// Redefining everything changes nothing but the named models.
		for _, d := range defs {
			if _, err := r.Define(ctx, d); err != nil {
				t.Errorf("%s: redefine %s: %v", app, d.Name, err)
			}
		}
		if st2, _ := r.TenantStats(app); st2.Models != st.Models || st2.Anonymous != st.Anonymous || st2.DefinitionBytes != st.DefinitionBytes {
			t.Errorf("%s: redefinition changed the tenant: %+v -> %+v", app, st, st2)
		}
	}
	if g := r.Stats().Gauges; g.TenantModels == 0 || g.Tenants != len(byApp) {
		t.Errorf("gauges %+v", g)
	}
	for app := range byApp {
		rep, err := r.CleanupTenant(bg, app)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.CleanedModels) == 0 {
			t.Errorf("%s: nothing cleaned", app)
		}
	}
	if g := r.Stats().Gauges; g.Tenants != 0 || g.TenantModels != 0 || g.TenantAnonymous != 0 || g.TenantBytes != 0 {
		t.Errorf("gauges after cleanup %+v", g)
	}
	t.Logf("%d applications, %d models", len(byApp), total)
}
