package definition

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// checkScratch checks that ParseScratch with s agrees with Parse on data.
func checkScratch(t *testing.T, s *Scratch, data []byte) {
	t.Helper()
	want, werr := Parse(data, Limits{})
	got, gerr := ParseScratch(data, Limits{}, s)
	if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
		t.Fatalf("ParseScratch error %v, Parse error %v\ninput %q", gerr, werr, data)
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseScratch = %+v, Parse = %+v\ninput %q", got, want, data)
	}
}

func TestParseScratchCorpus(t *testing.T) {
	var s Scratch
	for _, f := range corpusFiles(t) {
		data, err := os.ReadFile(filepath.Join(corpusDir, filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		checkScratch(t, &s, data)
	}
	s.Reset()
	if s.nProps != 0 || s.nObjs != 0 || !reflect.DeepEqual(s.def, Definition{}) {
		t.Fatal("Reset kept the last definition")
	}
	for _, p := range s.props[:cap(s.props)] {
		if !reflect.DeepEqual(p, Property{}) {
			t.Fatalf("Reset kept property %+v", p)
		}
	}
	for _, o := range s.objs[:cap(s.objs)] {
		if !reflect.DeepEqual(o, Object{}) {
			t.Fatalf("Reset kept object %+v", o)
		}
	}
}

func FuzzParseScratch(f *testing.F) {
	addSeeds(f)
	var s Scratch // reused across inputs, as a registry does
	f.Fuzz(func(t *testing.T, data []byte) {
		checkScratch(t, &s, data)
	})
}
