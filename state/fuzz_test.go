package state_test

import (
	"encoding/json"
	"math/big"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/pidicon/pidicon-mqtt/state"
)

// checkPatchValid fails t if a field the patch sets is not a value the
// parsers would produce.
func checkPatchValid(t *testing.T, where string, p state.Patch) {
	t.Helper()
	if p.ActiveScene != nil {
		if got, err := state.ParseSceneName(*p.ActiveScene); err != nil || got != *p.ActiveScene {
			t.Errorf("%s: scene %q is not a clean scene name: %q, %v", where, *p.ActiveScene, got, err)
		}
	}
	if p.PlayState != nil {
		if got, err := state.ParsePlayState(string(*p.PlayState)); err != nil || got != *p.PlayState {
			t.Errorf("%s: play state %q", where, *p.PlayState)
		}
	}
	if p.Brightness != nil && (*p.Brightness < 0 || *p.Brightness > 100) {
		t.Errorf("%s: brightness %d", where, *p.Brightness)
	}
	if p.LoggingLevel != nil {
		if got, err := state.ParseLogLevel(string(*p.LoggingLevel)); err != nil || got != *p.LoggingLevel {
			t.Errorf("%s: logging level %q", where, *p.LoggingLevel)
		}
	}
	// Whatever it sets, applied over valid defaults, gives a valid state.
	def := state.State{ActiveScene: "startup", PlayState: state.Playing, Brightness: 75, DisplayOn: true, LoggingLevel: state.LevelWarning}
	if err := p.Apply(def).Validate(); err != nil {
		t.Errorf("%s: applied patch gives an invalid state: %v", where, err)
	}
}

func FuzzParseDocument(f *testing.F) {
	for _, name := range []string{goldenPath, seedPath} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `{"version":2}`, `{"version":1}}`,
		`{"version":1,"devices":{"a":{"brightness":1e2,"displayOn":"ON","timestamp":"2026-11-27T01:00:00Z"}}}`,
		`{"version":1,"devices":{"a":{"activeScene":null,"brightness":-0.0}}}`,
		`{"devices":{"a":{"brightness":100.000000000000000001}}}`,
		"{\"devices\":{\"\xff\":{\"activeScene\":\"\\ud800\"}}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := state.ParseDocument(b)
		if err != nil {
			if doc != nil {
				t.Errorf("error %v with a document", err)
			}
			return
		}
		if len(doc.Raw) != len(doc.Devices) {
			t.Errorf("%d raw entries for %d devices", len(doc.Raw), len(doc.Devices))
		}
		for key, e := range doc.Devices {
			checkPatchValid(t, "device "+key, e.Patch)
			if !json.Valid(doc.Raw[key]) {
				t.Errorf("device %s: raw entry %q is not JSON", key, doc.Raw[key])
			}
			// The raw entry, written back, reads the same.
			again, err := state.ParseDocument([]byte(`{"devices":{"k":` + string(doc.Raw[key]) + `}}`))
			if err != nil {
				t.Errorf("device %s: raw entry %q does not read back: %v", key, doc.Raw[key], err)
			} else if patchString(again.Devices["k"].Patch) != patchString(e.Patch) {
				t.Errorf("device %s: raw entry reads back as %s, want %s", key, patchString(again.Devices["k"].Patch), patchString(e.Patch))
			}
		}
	})
}

func FuzzParsePatch(f *testing.F) {
	for _, s := range []string{
		`{"brightness":50.0}`, `{"brightness":"50"}`, `{"brightness":50.5}`, `{"bogus":1}`,
		`{"displayOn":"ON"}`, `{"displayOn":null}`, `{"activeScene":"clock","playState":"paused"}`,
		`{}`, `null`, `[]`, `{"brightness":1e2}`, `{"loggingLevel":" WARNING\n"}`,
		`{"activeScene":"clock","playState":"playing","brightness":75,"displayOn":true,"loggingLevel":"warning"}`,
		"{\"activeScene\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := state.ParsePatch(b)
		if err != nil {
			if !p.IsEmpty() {
				t.Errorf("refused payload gave a patch: %s", patchString(p))
			}
			return
		}
		if p.IsEmpty() {
			t.Error("accepted an empty patch")
		}
		checkPatchValid(t, "patch", p)
		// Each field's value is also accepted on its own set topic.
		st := p.Apply(state.State{})
		for _, field := range p.Present() {
			one, err := state.ParseField(field, st.Value(field))
			if err != nil {
				t.Errorf("%s=%q from the JSON set is refused by ParseField: %v", field, st.Value(field), err)
				continue
			}
			if got := one.Apply(state.State{}).Value(field); got != st.Value(field) {
				t.Errorf("%s: ParseField gives %q, JSON set %q", field, got, st.Value(field))
			}
		}
	})
}

// FuzzParseBrightness compares ParseBrightness with exact rational
// arithmetic: it must accept exactly the JSON numbers whose value is an
// integer from 0 to 100.
func FuzzParseBrightness(f *testing.F) {
	for _, s := range []string{"42", " 42\n", "50.0", "-0", "1e2", "1e3", "50.5", "50.00000000000000001",
		"0.99999999999999999999", "1e-400", "0.050e2", "1000e-1", "abc", "0x10", "NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := state.ParseBrightness(s)
		want, ok := exactBrightness(strings.TrimSpace(s))
		if ok != (err == nil) || (ok && got != want) {
			t.Errorf("ParseBrightness(%q) = %d, %v; want %d, ok %v", s, got, err, want, ok)
		}
	})
}

// exactBrightness is the reference: a JSON number whose exact value is an
// integer from 0 to 100. Exponents are bounded to keep big.Rat fast; the
// bound only refuses values far outside 0..100 or far from integers.
func exactBrightness(s string) (int, bool) {
	if s == "" || !(s[0] == '-' || s[0] >= '0' && s[0] <= '9') || !json.Valid([]byte(s)) {
		return 0, false
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		if e, err := strconv.Atoi(s[i+1:]); err != nil || e > 400 || e < -400 {
			digits := strings.Trim(strings.NewReplacer(".", "", "-", "").Replace(s[:i]), "0")
			return 0, digits == "" // only zero survives a huge exponent
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || !r.IsInt() || r.Sign() < 0 || r.Cmp(big.NewRat(100, 1)) > 0 {
		return 0, false
	}
	return int(r.Num().Int64()), true
}
