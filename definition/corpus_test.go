package definition

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// corpusDir is the corpus of real-world LoopBack definitions, beside the
// repository (../../shared/corpus/loopback from this package).
var corpusDir = filepath.Join("..", "..", "shared", "corpus", "loopback")

func corpusFiles(t testing.TB) []string {
	t.Helper()
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("corpus not found at %s: %v", corpusDir, err)
	}
	var files []string
	err := filepath.WalkDir(corpusDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".json") {
			rel, _ := filepath.Rel(corpusDir, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return files
}

// corpusRejected lists the corpus files that Parse refuses, with the
// class and path of the error. Every other file must be accepted.
var corpusRejected = map[string]struct {
	sentinel error
	path     string
}{
	// Not JSON: a trailing comma.
	"solar-dev23__Node-Loopback-Winis/common__models__battle.json": {ErrSyntax, ""},
	// A property name with a typo ("tags:").
	"mikhalev-im__dd-api/server__models__product.json": {ErrInvalidName, `properties["tags:"]`},
	// Definitions without a name (tools derive it from the file name).
	"loopbackio__loopback-datasource-juggler/test__fixtures__mixins__address.json": {ErrInvalidName, "name"},
	"strongloop__loopback-workspace/common__models__model-config.json":             {ErrInvalidName, "name"},
	"strongloop__loopback-workspace/common__models__model-method.json":             {ErrInvalidName, "name"},
	"strongloop__loopback-workspace/common__models__model-property.json":           {ErrInvalidName, "name"},
	// Bare properties maps (ParseProperties accepts them).
	"loopbackio__loopback-datasource-juggler/examples__jdb-schemas.json":      {ErrInvalidName, "name"},
	"loopbackio__loopback-datasource-juggler/test__test1-schemas.json":        {ErrInvalidName, "name"},
	"strongloop__loopback-example-database/modules__account__properties.json": {ErrInvalidName, "name"},
	// Multi-model models.json files (ParseAll accepts them).
	"strongloop__loopback-example-access-control/server__models.json":          {ErrInvalidName, "name"},
	"strongloop__loopback/test__fixtures__simple-integration-app__models.json": {ErrInvalidName, "name"},
}

// corpusBareMaps and corpusMulti are the legacy shapes, with the number of
// properties / definitions they hold.
var corpusBareMaps = map[string]int{
	"loopbackio__loopback-datasource-juggler/examples__jdb-schemas.json":      6,
	"loopbackio__loopback-datasource-juggler/test__test1-schemas.json":        6,
	"strongloop__loopback-example-database/modules__account__properties.json": 4,
}

var corpusMulti = map[string]int{
	"strongloop__loopback-example-access-control/server__models.json":          7,
	"strongloop__loopback/test__fixtures__simple-integration-app__models.json": 8,
}

func TestCorpus(t *testing.T) {
	files := corpusFiles(t)
	const wantFiles, wantAccepted = 172, 161
	if len(files) != wantFiles {
		t.Errorf("corpus has %d files, want %d", len(files), wantFiles)
	}
	listed := corpusSources(t)
	accepted := 0
	kinds := map[Kind]int{}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(corpusDir, filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		if !listed[f] {
			t.Errorf("%s: not listed in SOURCES.tsv", f)
		}
		d, err := Parse(data, Limits{})
		want, rejected := corpusRejected[f]
		if err != nil {
			var e *Error
			switch {
			case !rejected:
				t.Errorf("%s: rejected: %v", f, err)
			case !errors.As(err, &e):
				t.Errorf("%s: error %T, want *Error", f, err)
			case !errors.Is(err, want.sentinel) || e.Path != want.path:
				t.Errorf("%s: error %v (path %q), want %v at %q", f, err, e.Path, want.sentinel, want.path)
			case e.Offset < 0 || e.Offset > int64(len(data)) || e.Line < 1:
				t.Errorf("%s: error %v not positioned (offset %d)", f, err, e.Offset)
			}
			checkLegacy(t, f, data)
			continue
		}
		if rejected {
			t.Errorf("%s: accepted, want %v at %q", f, want.sentinel, want.path)
			continue
		}
		accepted++
		countKinds(&d.Object, kinds)
		checkRoundTrip(t, f, d)
	}
	if accepted != wantAccepted {
		t.Errorf("accepted %d of %d files, want %d", accepted, len(files), wantAccepted)
	}
	// The corpus exercises every kind of type but buffer.
	for k := KindString; k <= KindNested; k++ {
		if kinds[k] == 0 && k != KindBuffer {
			t.Errorf("no property of kind %v in the accepted corpus", k)
		}
	}
	t.Logf("accepted %d, rejected %d; kinds %v", accepted, len(files)-accepted, kinds)
}

// checkLegacy checks that the legacy shapes are read by ParseAll or
// ParseProperties.
func checkLegacy(t *testing.T, f string, data []byte) {
	t.Helper()
	if n, ok := corpusBareMaps[f]; ok {
		o, err := ParseProperties(data, Limits{})
		if err != nil || len(o.Properties) != n {
			t.Errorf("%s: ParseProperties = %v, %v; want %d properties", f, o, err, n)
		}
	}
	if n, ok := corpusMulti[f]; ok {
		ds, err := ParseAll(data, Limits{})
		if err != nil || len(ds) != n {
			t.Errorf("%s: ParseAll = %d definitions, %v; want %d", f, len(ds), err, n)
		}
		for _, d := range ds {
			checkRoundTrip(t, f+":"+d.Name, d)
		}
	}
}

// checkRoundTrip checks that d survives MarshalJSON and that its
// canonical form is stable.
func checkRoundTrip(t *testing.T, name string, d *Definition) {
	t.Helper()
	c := d.Canonical()
	if !bytes.Equal(c, d.Canonical()) {
		t.Errorf("%s: canonical form not stable", name)
	}
	m, err := d.MarshalJSON()
	if err != nil {
		t.Fatalf("%s: MarshalJSON: %v", name, err)
	}
	d2, err := Parse(m, Limits{})
	if err != nil {
		t.Errorf("%s: Parse(MarshalJSON()) = %v\n%s", name, err, m)
		return
	}
	if !bytes.Equal(d2.Canonical(), c) {
		t.Errorf("%s: round trip changed the canonical form:\n%s\n%s", name, c, d2.Canonical())
	}
	if d2.Name != d.Name || !equalRaw(d.Settings, d2.Settings) || !slices.Equal(d.Removed, d2.Removed) {
		t.Errorf("%s: round trip changed name, settings or removals", name)
	}
	if !equalExtras(&d.Object, &d2.Object) {
		t.Errorf("%s: round trip changed extra options", name)
	}
}

func equalRaw[M ~map[string]V, V ~[]byte](a, b M) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

func equalExtras(a, b *Object) bool {
	if len(a.Properties) != len(b.Properties) {
		return false
	}
	for i := range a.Properties {
		pa, pb := &a.Properties[i], &b.Properties[i]
		if !equalRaw(pa.Extra, pb.Extra) {
			return false
		}
		if oa, ob := nestedOf(&pa.Type), nestedOf(&pb.Type); (oa == nil) != (ob == nil) || oa != nil && !equalExtras(oa, ob) {
			return false
		}
	}
	return true
}

func nestedOf(t *Type) *Object {
	for t.Kind == KindArray && t.Elem != nil {
		t = t.Elem
	}
	if t.Kind == KindNested {
		return t.Object
	}
	return nil
}

func countKinds(o *Object, kinds map[Kind]int) {
	for i := range o.Properties {
		t := &o.Properties[i].Type
		for {
			kinds[t.Kind]++
			if t.Kind != KindArray {
				break
			}
			t = t.Elem
		}
		if t.Kind == KindNested {
			countKinds(t.Object, kinds)
		}
	}
}

// corpusSources reads the file names listed in SOURCES.tsv.
func corpusSources(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(corpusDir, "SOURCES.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = '\t'
	r.LazyQuotes = true
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, rec := range recs[1:] {
		if len(rec) >= 5 {
			m[rec[0]] = true
		}
	}
	if len(m) != 172 {
		t.Errorf("SOURCES.tsv lists %d files", len(m))
	}
	return m
}
