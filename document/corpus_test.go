package document

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/modelreg/modelreg/definition"
)

// corpusDir holds real-world LoopBack definitions (see its README.md): the
// shared folder beside the repository. The test is skipped where it is absent.
var corpusDir = filepath.Join("..", "..", "shared", "corpus", "loopback")

// TestCorpus compiles a Validator and exports a JSON Schema for every
// model of the real-world corpus (references resolve within the same
// application), checks that the schema compiles with jsonschema/v6, and
// validates the empty document: it may only lack required properties or
// meet an invalid default.
func TestCorpus(t *testing.T) {
	apps, err := filepath.Glob(filepath.Join(corpusDir, "*"))
	if err != nil || len(apps) == 0 {
		t.Skip("no corpus at " + corpusDir)
	}
	var nModels, nSchemas, nBadDefaults int
	for _, app := range apps {
		files, _ := filepath.Glob(filepath.Join(app, "*.json"))
		m := models{}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			defs, err := definition.ParseAll(data, definition.Limits{})
			if err != nil {
				continue // the parser's tests cover its errors
			}
			for _, d := range defs {
				m[d.Name] = &d.Object
			}
		}
		names := make([]string, 0, len(m))
		for name := range m {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			nModels++
			v, err := New(m[name], m.resolve)
			if err != nil {
				t.Errorf("%s %s: New: %v", filepath.Base(app), name, err)
				continue
			}
			_, err = v.Validate([]byte(`{}`))
			var ve *ValidationError
			if errors.As(err, &ve) {
				for _, x := range ve.Violations {
					switch x.Code {
					case CodeRequired:
					case CodeInvalidDefault:
						nBadDefaults++
						t.Logf("%s %s: %v", filepath.Base(app), name, x)
					default:
						t.Errorf("%s %s: Validate({}): %v", filepath.Base(app), name, x)
					}
				}
			}
			schema, err := NamedSchema(name, m.resolve)
			if errors.Is(err, CodeUnresolvedRef) {
				continue // a model of another application or a base model
			}
			if err != nil {
				t.Errorf("%s %s: NamedSchema: %v", filepath.Base(app), name, err)
				continue
			}
			compileSchema(t, schema)
			nSchemas++
		}
	}
	t.Logf("%d models, %d schemas, %d invalid defaults", nModels, nSchemas, nBadDefaults)
}
