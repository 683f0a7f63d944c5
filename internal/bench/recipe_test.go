package bench

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// structureKey is a structural identity independent of the registry: the
// sorted "name:type" pairs of a flat nested object.
func structureKey(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var fields map[string]string
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatalf("nested object %s: %v", raw, err)
	}
	pairs := make([]string, 0, len(fields))
	for k, v := range fields {
		pairs = append(pairs, k+":"+v)
	}
	slices.Sort(pairs)
	return strings.Join(pairs, ",")
}

type recipeDoc struct {
	Name       string                     `json:"name"`
	Properties map[string]json.RawMessage `json:"properties"`
}

func TestModelJSONShape(t *testing.T) {
	got := string(ModelJSON("tenant_17", 3))
	want := `{"name":"tenant_17_Model3","properties":{"name":"string","qty":"number","active":"boolean",` +
		`"createdAt":"date","address":{"country":"string","street":"string","city":"string","zip":"string"},` +
		`"detail":{"m3_key":"string","m3_val":"number"},"items":[{"sku":"string","qty":"number","price":"number"}]}}`
	if got != want {
		t.Fatalf("ModelJSON(tenant_17, 3) =\n%s\nwant\n%s", got, want)
	}
	// Appending to a non-empty buffer keeps its prefix.
	if b := AppendModelJSON([]byte("x"), "t", 0); !strings.HasPrefix(string(b), `x{"name":"t_Model0"`) {
		t.Fatalf("AppendModelJSON lost the prefix: %s", b)
	}
}

// TestRecipeCounts checks the expected counts of WORKLOAD.md §2 on the
// recipe itself: for each M, one tenant's 3M nested occurrences are M+2
// distinct structures (so 2M−2 reuses and 2M+2 entries), the four address
// rotations are one structure, and Q[k] is the structure of model k's
// address, model k−M's detail or the item.
func TestRecipeCounts(t *testing.T) {
	for _, m := range []int{1, 2, 3, 4, 5, 10, 17} {
		distinct := map[string]int{} // structure -> first occurrence
		occurrences := 0
		var addressKey, itemKey string
		details := map[string]bool{}
		for i := range m {
			var doc recipeDoc
			if err := json.Unmarshal(ModelJSON("tenant_0", i), &doc); err != nil {
				t.Fatalf("M=%d model %d: invalid JSON: %v", m, i, err)
			}
			if doc.Name != ModelName("tenant_0", i) {
				t.Fatalf("model %d is named %q", i, doc.Name)
			}
			if len(doc.Properties) != 7 {
				t.Fatalf("model %d has %d properties, want 7", i, len(doc.Properties))
			}
			var items []json.RawMessage
			if err := json.Unmarshal(doc.Properties["items"], &items); err != nil || len(items) != 1 {
				t.Fatalf("model %d items = %s", i, doc.Properties["items"])
			}
			a := structureKey(t, doc.Properties["address"])
			d := structureKey(t, doc.Properties["detail"])
			it := structureKey(t, items[0])
			if i == 0 {
				addressKey, itemKey = a, it
			} else if a != addressKey || it != itemKey {
				t.Fatalf("M=%d model %d: address or item differs from model 0's", m, i)
			}
			if details[d] {
				t.Fatalf("M=%d model %d: detail %s repeats", m, i, d)
			}
			details[d] = true
			for _, k := range []string{a, d, it} {
				occurrences++
				if _, ok := distinct[k]; !ok {
					distinct[k] = occurrences
				}
			}
			// Q[i] and Q[M+i] are this model's address and detail.
			if q := structureKey(t, QueryJSON(i, m)); q != a {
				t.Fatalf("Q[%d] = %s, want the address %s", i, q, a)
			}
			if q := structureKey(t, QueryJSON(m+i, m)); q != d {
				t.Fatalf("Q[%d] = %s, want model %d's detail %s", m+i, q, i, d)
			}
		}
		if q := structureKey(t, QueryJSON(2*m, m)); q != itemKey {
			t.Fatalf("Q[2M] = %s, want the item %s", q, itemKey)
		}
		created := len(distinct)
		if created != ExpectedAnonCreated(m) {
			t.Errorf("M=%d: %d distinct nested structures, want M+2 = %d", m, created, ExpectedAnonCreated(m))
		}
		if reused := occurrences - created; reused != ExpectedAnonReused(m) {
			t.Errorf("M=%d: %d reuses, want 2M−2 = %d", m, reused, ExpectedAnonReused(m))
		}
		if entries := m + created; entries != ExpectedEntries(m) {
			t.Errorf("M=%d: %d entries, want 2M+2 = %d", m, entries, ExpectedEntries(m))
		}
	}
}

func TestMissStructureMatchesNothing(t *testing.T) {
	miss := structureKey(t, json.RawMessage(missStructure))
	for k := 0; k <= 20; k++ {
		if structureKey(t, QueryJSON(k, 10)) == miss {
			t.Fatalf("Q[%d] equals the miss structure", k)
		}
	}
}

func BenchmarkAppendModelJSON(b *testing.B) {
	buf := make([]byte, 0, 512)
	for b.Loop() {
		buf = AppendModelJSON(buf[:0], "tenant_999", 7)
	}
}
