package definition

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the canonical forms and fingerprints in testdata/golden/vectors.json")

// goldenVector is one test vector: a definition, its canonical form v1 and
// its fingerprint. SameAs and DiffersFrom name other vectors that must
// have the same / a different fingerprint.
type goldenVector struct {
	Name        string          `json:"name"`
	Definition  json.RawMessage `json:"definition"`
	Canonical   string          `json:"canonical"`
	Fingerprint string          `json:"fingerprint"`
	SameAs      string          `json:"same_as,omitempty"`
	DiffersFrom string          `json:"differs_from,omitempty"`
}

// TestGolden checks the canonical bytes and fingerprints of the vectors in
// testdata/golden/vectors.json: a fingerprint can never change silently.
// Run with -update to rewrite them (only for a new canonical form version).
func TestGolden(t *testing.T) {
	path := filepath.Join("testdata", "golden", "vectors.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var vectors []goldenVector
	if err := json.Unmarshal(data, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors) < 10 {
		t.Fatalf("only %d vectors", len(vectors))
	}
	byName := map[string]*goldenVector{}
	for i := range vectors {
		v := &vectors[i]
		d, err := Parse(v.Definition, Limits{})
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		c := d.Canonical()
		sum := sha256.Sum256(c)
		fp := "v1:" + hex.EncodeToString(sum[:])
		if got := d.Fingerprint().String(); got != fp {
			t.Errorf("%s: Fingerprint() = %s, want %s", v.Name, got, fp)
		}
		if got := Sum(c).String(); got != fp {
			t.Errorf("%s: Sum = %s, want %s", v.Name, got, fp)
		}
		if *update {
			v.Canonical, v.Fingerprint = string(c), fp
		} else {
			if string(c) != v.Canonical {
				t.Errorf("%s: canonical form changed:\n got %s\nwant %s", v.Name, c, v.Canonical)
			}
			if fp != v.Fingerprint {
				t.Errorf("%s: fingerprint changed: got %s, want %s", v.Name, fp, v.Fingerprint)
			}
		}
		if !json.Valid(c) {
			t.Errorf("%s: canonical form is not JSON: %s", v.Name, c)
		}
		byName[v.Name] = v
	}
	for _, v := range vectors {
		if v.SameAs != "" {
			if o := byName[v.SameAs]; o == nil || o.Fingerprint != v.Fingerprint {
				t.Errorf("%s: fingerprint differs from %s", v.Name, v.SameAs)
			}
		}
		if v.DiffersFrom != "" {
			if o := byName[v.DiffersFrom]; o == nil || o.Fingerprint == v.Fingerprint {
				t.Errorf("%s: fingerprint equals %s's", v.Name, v.DiffersFrom)
			}
		}
	}
	if *update {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(vectors); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s", path)
	}
}
