package state_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/state"
)

// checkInvalid fails t unless err is a *state.FieldError for field that
// wraps state.ErrInvalid.
func checkInvalid(t *testing.T, err error, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one for field %q", field)
	}
	if !errors.Is(err, state.ErrInvalid) {
		t.Errorf("error %q does not wrap ErrInvalid", err)
	}
	var fe *state.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %q (%T) is not a *FieldError", err, err)
	}
	if fe.Field != field {
		t.Errorf("FieldError.Field = %q, want %q (error %q)", fe.Field, field, err)
	}
	if err.Error() == "" {
		t.Error("empty error message")
	}
}

func TestParseBrightness(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
		ok   bool
	}{
		{"plain", "42", 42, true},
		{"echo newline and spaces", " 42\n", 42, true},
		{"tabs", "\t7\t", 7, true},
		{"zero", "0", 0, true},
		{"hundred", "100", 100, true},
		{"integral fraction", "50.0", 50, true},
		{"hundred with fraction", "100.000", 100, true},
		{"negative zero", "-0", 0, true}, // a JSON number equal to 0
		{"negative zero fraction", "-0.0", 0, true},
		{"zero huge exponent", "0e999999999999999999999", 0, true},
		{"exponent", "1e2", 100, true},
		{"exponent upper case", "1E2", 100, true},
		{"exponent plus", "1e+2", 100, true},
		{"negative exponent", "500e-1", 50, true},
		{"fraction and exponent", "0.050e2", 5, true},
		{"trailing zeros and negative exponent", "1000e-1", 100, true},

		{"word", "abc", 0, false},
		{"too high", "150", 0, false},
		{"just too high", "101", 0, false},
		{"negative", "-1", 0, false},
		{"negative fraction", "-0.5", 0, false},
		{"huge", "4.5e9", 0, false},
		{"empty", "", 0, false},
		{"blank", " \n", 0, false},
		{"NaN", "NaN", 0, false},
		{"Inf", "Inf", 0, false},
		{"plus Inf", "+Inf", 0, false},
		{"hex", "0x10", 0, false},
		{"underscore", "1_0", 0, false},
		{"exponent too high", "1e3", 0, false},
		{"overflowing exponent", "1e400", 0, false},
		{"huge exponent", "1e99999999999999999999", 0, false},
		{"underflowing exponent", "1e-400", 0, false},
		{"fraction", "50.5", 0, false},
		{"fraction below float precision", "50.00000000000000001", 0, false},
		{"rounds to one as float", "0.99999999999999999999", 0, false},
		{"exponent leaves fraction", "5e-1", 0, false},
		{"plus sign", "+5", 0, false},
		{"leading zero", "05", 0, false},
		{"bare fraction", ".5", 0, false},
		{"trailing dot", "5.", 0, false},
		{"bare exponent", "1e", 0, false},
		{"inner space", "4 2", 0, false},
		{"trailing letters", "42abc", 0, false},
		{"JSON string", `"42"`, 0, false},
		{"fullwidth digit", "４２", 0, false},
		{"comma decimal", "50,0", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := state.ParseBrightness(tt.in)
			if !tt.ok {
				checkInvalid(t, err, state.FieldBrightness)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseBrightness(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParsePlayState(t *testing.T) {
	tests := []struct {
		in   string
		want state.PlayState
		ok   bool
	}{
		{"playing", state.Playing, true},
		{"paused", state.Paused, true},
		{"stopped", state.Stopped, true},
		{"PLAYING", state.Playing, true},
		{"Paused", state.Paused, true},
		{" stopped\n", state.Stopped, true},
		{"\tPlaying\r\n", state.Playing, true},
		{"", "", false},
		{"play", "", false},
		{"pause", "", false},
		{"playing!", "", false},
		{"play ing", "", false},
		{"playing\x00", "", false},
		{`"playing"`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := state.ParsePlayState(tt.in)
			if !tt.ok {
				checkInvalid(t, err, state.FieldPlayState)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParsePlayState(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseLogLevel(t *testing.T) {
	tests := []struct {
		in   string
		want state.LogLevel
		ok   bool
	}{
		{"debug", state.LevelDebug, true},
		{"info", state.LevelInfo, true},
		{"warning", state.LevelWarning, true},
		{"error", state.LevelError, true},
		{"silent", state.LevelSilent, true},
		{"WARNING", state.LevelWarning, true},
		{" Debug\n", state.LevelDebug, true},
		{"", "", false},
		{"warn", "", false},
		{"trace", "", false},
		{"fatal", "", false},
		{"in fo", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := state.ParseLogLevel(tt.in)
			if !tt.ok {
				checkInvalid(t, err, state.FieldLoggingLevel)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseLogLevel(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
	// Every listed level parses to itself.
	for _, l := range state.LogLevels() {
		if got, err := state.ParseLogLevel(string(l)); err != nil || got != l {
			t.Errorf("ParseLogLevel(%q) = %q, %v", l, got, err)
		}
	}
}

func TestParseDisplayOn(t *testing.T) {
	tests := []struct {
		in   string
		want bool
		ok   bool
	}{
		{"true", true, true},
		{"false", false, true},
		{"ON", true, true},
		{"OFF", false, true},
		{"on", true, true},
		{"off", false, true},
		{"On", true, true},
		{"TRUE", true, true},
		{"False", false, true},
		{"1", true, true},
		{"0", false, true},
		{" on\n", true, true},
		{"\tOFF\r\n", false, true},
		{"", false, false},
		{"yes", false, false},
		{"no", false, false},
		{"2", false, false},
		{"onn", false, false},
		{"o n", false, false},
		{"1.0", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := state.ParseDisplayOn(tt.in)
			if !tt.ok {
				checkInvalid(t, err, state.FieldDisplayOn)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseDisplayOn(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseSceneName(t *testing.T) {
	max := strings.Repeat("a", state.MaxSceneName)
	maxRunes := strings.Repeat("é", state.MaxSceneName/2) // two bytes each
	tests := []struct {
		name string
		in   string
		want string
		ok   bool
	}{
		{"plain", "clock", "clock", true},
		{"padded", "  clock \n", "clock", true},
		{"case kept", "Clock", "Clock", true},
		{"inner space", "my scene", "my scene", true},
		{"punctuation", "fill-red_2.0", "fill-red_2.0", true},
		{"unicode", "Uhr ⏰ grün", "Uhr ⏰ grün", true},
		{"longest", max, max, true},
		{"longest multi-byte", maxRunes, maxRunes, true},
		{"longest padded", " " + max + "\n", max, true},

		{"empty", "", "", false},
		{"blank", " \t\n", "", false},
		{"too long", max + "a", "", false},
		{"too long multi-byte", maxRunes + "é", "", false},
		{"invalid UTF-8", "clo\xffck", "", false},
		{"truncated UTF-8", "clock\xc3", "", false},
		{"tab inside", "clo\tck", "", false},
		{"newline inside", "clo\nck", "", false},
		{"NUL", "clock\x00", "", false},
		{"escape", "\x1b[31mred", "", false},
		{"DEL", "clock\x7f", "", false},
		{"C1 control", "clock\u0085x", "", false},
		{"zero width space", "clo\u200bck", "", false},
		{"no-break space inside", "clo\u00a0ck", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := state.ParseSceneName(tt.in)
			if !tt.ok {
				checkInvalid(t, err, state.FieldActiveScene)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSceneName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// patchString shows a patch in failure messages.
func patchString(p state.Patch) string {
	var b strings.Builder
	b.WriteString("{")
	if p.ActiveScene != nil {
		b.WriteString(" activeScene=" + *p.ActiveScene)
	}
	if p.PlayState != nil {
		b.WriteString(" playState=" + string(*p.PlayState))
	}
	if p.Brightness != nil {
		b.WriteString(" brightness=" + strconv.Itoa(*p.Brightness))
	}
	if p.DisplayOn != nil {
		b.WriteString(" displayOn=" + strconv.FormatBool(*p.DisplayOn))
	}
	if p.LoggingLevel != nil {
		b.WriteString(" loggingLevel=" + string(*p.LoggingLevel))
	}
	b.WriteString(" }")
	return b.String()
}

func equalPatch(a, b state.Patch) bool { return patchString(a) == patchString(b) }

func TestParseField(t *testing.T) {
	tests := []struct {
		name    string
		field   string
		payload string
		want    state.Patch
		errFor  string // field named by the error
		ok      bool
	}{
		{"scene", state.FieldActiveScene, "clock\n", state.Patch{ActiveScene: ptr("clock")}, "", true},
		{"play state", state.FieldPlayState, "PAUSED", state.Patch{PlayState: ptr(state.Paused)}, "", true},
		{"brightness", state.FieldBrightness, "40\n", state.Patch{Brightness: ptr(40)}, "", true},
		{"display on word", state.FieldDisplayOn, "OFF", state.Patch{DisplayOn: ptr(false)}, "", true},
		{"display on digit", state.FieldDisplayOn, "1", state.Patch{DisplayOn: ptr(true)}, "", true},
		{"logging level", state.FieldLoggingLevel, "Error", state.Patch{LoggingLevel: ptr(state.LevelError)}, "", true},

		{"bad scene", state.FieldActiveScene, "", state.Patch{}, state.FieldActiveScene, false},
		{"bad play state", state.FieldPlayState, "run", state.Patch{}, state.FieldPlayState, false},
		{"bad brightness", state.FieldBrightness, "abc", state.Patch{}, state.FieldBrightness, false},
		{"bad display on", state.FieldDisplayOn, "maybe", state.Patch{}, state.FieldDisplayOn, false},
		{"bad logging level", state.FieldLoggingLevel, "loud", state.Patch{}, state.FieldLoggingLevel, false},
		{"unknown field", "bogus", "1", state.Patch{}, "bogus", false},
		{"field name case", "Brightness", "1", state.Patch{}, "Brightness", false},
		{"timestamp is not settable", "timestamp", "2026-11-27T01:00:00Z", state.Patch{}, "timestamp", false},
		{"empty field", "", "1", state.Patch{}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := state.ParseField(tt.field, tt.payload)
			if !tt.ok {
				checkInvalid(t, err, tt.errFor)
				if !got.IsEmpty() {
					t.Errorf("refused payload gave patch %s", patchString(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseField(%q, %q): %v", tt.field, tt.payload, err)
			}
			if !equalPatch(got, tt.want) {
				t.Fatalf("ParseField(%q, %q) = %s, want %s", tt.field, tt.payload, patchString(got), patchString(tt.want))
			}
		})
	}
	t.Run("unknown field error lists the fields", func(t *testing.T) {
		_, err := state.ParseField("bogus", "1")
		for _, f := range state.Fields() {
			if !strings.Contains(err.Error(), f) {
				t.Errorf("error %q does not list %s", err, f)
			}
		}
	})
}

func TestParsePatch(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    state.Patch
		errFor  string // field named by the error
		ok      bool
	}{
		{name: "integral float brightness", payload: `{"brightness":50.0}`, want: state.Patch{Brightness: ptr(50)}, ok: true},
		{name: "integer brightness", payload: `{"brightness":50}`, want: state.Patch{Brightness: ptr(50)}, ok: true},
		{name: "exponent brightness", payload: `{"brightness":1e2}`, want: state.Patch{Brightness: ptr(100)}, ok: true},
		{name: "spaces around tokens", payload: " \n{ \"brightness\" : 50 }\n", want: state.Patch{Brightness: ptr(50)}, ok: true},
		{name: "display on true", payload: `{"displayOn":true}`, want: state.Patch{DisplayOn: ptr(true)}, ok: true},
		{name: "display on false", payload: `{"displayOn":false}`, want: state.Patch{DisplayOn: ptr(false)}, ok: true},
		{name: "display on ON", payload: `{"displayOn":"ON"}`, want: state.Patch{DisplayOn: ptr(true)}, ok: true},
		{name: "display on off", payload: `{"displayOn":"off"}`, want: state.Patch{DisplayOn: ptr(false)}, ok: true},
		{name: "display on string digit", payload: `{"displayOn":"0"}`, want: state.Patch{DisplayOn: ptr(false)}, ok: true},
		{name: "words ignore case and space", payload: `{"playState":" Paused ","loggingLevel":"DEBUG"}`,
			want: state.Patch{PlayState: ptr(state.Paused), LoggingLevel: ptr(state.LevelDebug)}, ok: true},
		{name: "scene padded", payload: `{"activeScene":" clock\n"}`, want: state.Patch{ActiveScene: ptr("clock")}, ok: true},
		{name: "scene then paused", payload: `{"activeScene":"clock","playState":"paused"}`,
			want: state.Patch{ActiveScene: ptr("clock"), PlayState: ptr(state.Paused)}, ok: true},
		{name: "all five", payload: `{"activeScene":"fill","playState":"stopped","brightness":0,"displayOn":false,"loggingLevel":"silent"}`,
			want: state.Patch{ActiveScene: ptr("fill"), PlayState: ptr(state.Stopped), Brightness: ptr(0), DisplayOn: ptr(false), LoggingLevel: ptr(state.LevelSilent)}, ok: true},
		{name: "escaped unicode scene", payload: `{"activeScene":"gr\u00fcn"}`, want: state.Patch{ActiveScene: ptr("grün")}, ok: true},

		{name: "brightness as string", payload: `{"brightness":"50"}`, errFor: state.FieldBrightness},
		{name: "brightness fraction", payload: `{"brightness":50.5}`, errFor: state.FieldBrightness},
		{name: "brightness tiny fraction", payload: `{"brightness":50.00000000000000001}`, errFor: state.FieldBrightness},
		{name: "brightness too high", payload: `{"brightness":101}`, errFor: state.FieldBrightness},
		{name: "brightness negative", payload: `{"brightness":-1}`, errFor: state.FieldBrightness},
		{name: "brightness null", payload: `{"brightness":null}`, errFor: state.FieldBrightness},
		{name: "brightness bool", payload: `{"brightness":true}`, errFor: state.FieldBrightness},
		{name: "brightness object", payload: `{"brightness":{"value":5}}`, errFor: state.FieldBrightness},
		{name: "display on number", payload: `{"displayOn":1}`, errFor: state.FieldDisplayOn},
		{name: "display on bad word", payload: `{"displayOn":"yes"}`, errFor: state.FieldDisplayOn},
		{name: "display on null", payload: `{"displayOn":null}`, errFor: state.FieldDisplayOn},
		{name: "play state number", payload: `{"playState":1}`, errFor: state.FieldPlayState},
		{name: "play state null", payload: `{"playState":null}`, errFor: state.FieldPlayState},
		{name: "logging level null", payload: `{"loggingLevel":null}`, errFor: state.FieldLoggingLevel},
		{name: "scene null", payload: `{"activeScene":null}`, errFor: state.FieldActiveScene},
		{name: "play state bad word", payload: `{"playState":"run"}`, errFor: state.FieldPlayState},
		{name: "logging level bad word", payload: `{"loggingLevel":"warn"}`, errFor: state.FieldLoggingLevel},
		{name: "scene empty", payload: `{"activeScene":""}`, errFor: state.FieldActiveScene},
		{name: "scene control char", payload: `{"activeScene":"a\tb"}`, errFor: state.FieldActiveScene},
		{name: "scene array", payload: `{"activeScene":["clock"]}`, errFor: state.FieldActiveScene},
		{name: "unknown field", payload: `{"bogus":1}`, errFor: "bogus"},
		{name: "field name case", payload: `{"Brightness":50}`, errFor: "Brightness"},
		{name: "timestamp not settable", payload: `{"brightness":50,"timestamp":"2026-11-27T01:00:00.000Z"}`, errFor: "timestamp"},
		{name: "one bad field refuses all", payload: `{"activeScene":"clock","brightness":500,"displayOn":true}`, errFor: state.FieldBrightness},
		{name: "unknown field refuses all", payload: `{"brightness":50,"colour":"red"}`, errFor: "colour"},
		{name: "several bad fields: first by name", payload: `{"zzz":1,"playState":"x","brightness":"x"}`, errFor: state.FieldBrightness},
		{name: "empty object", payload: `{}`, errFor: ""},
		{name: "empty payload", payload: ``, errFor: ""},
		{name: "blank payload", payload: " \n", errFor: ""},
		{name: "null", payload: `null`, errFor: ""},
		{name: "array", payload: `[{"brightness":50}]`, errFor: ""},
		{name: "empty array", payload: `[]`, errFor: ""},
		{name: "string", payload: `"brightness"`, errFor: ""},
		{name: "number", payload: `50`, errFor: ""},
		{name: "malformed", payload: `{"brightness":50`, errFor: ""},
		{name: "malformed key", payload: `{brightness:50}`, errFor: ""},
		{name: "trailing comma", payload: `{"brightness":50,}`, errFor: ""},
		{name: "trailing garbage", payload: `{"brightness":50} x`, errFor: ""},
		{name: "two objects", payload: `{"brightness":50}{"brightness":60}`, errFor: ""},
		{name: "invalid UTF-8 in value", payload: "{\"activeScene\":\"clo\xffck\"}", errFor: ""},
		{name: "invalid UTF-8 in key", payload: "{\"bright\xffness\":50}", errFor: ""},
		{name: "invalid UTF-8 outside JSON", payload: "\xff{\"brightness\":50}", errFor: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := state.ParsePatch([]byte(tt.payload))
			if !tt.ok {
				checkInvalid(t, err, tt.errFor)
				if !got.IsEmpty() {
					t.Errorf("refused payload gave patch %s", patchString(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePatch(%s): %v", tt.payload, err)
			}
			if !equalPatch(got, tt.want) {
				t.Fatalf("ParsePatch(%s) = %s, want %s", tt.payload, patchString(got), patchString(tt.want))
			}
		})
	}
}

// TestParsePatch_Deterministic checks that a payload with several faults
// always gets the same error, whatever the map order.
func TestParsePatch_Deterministic(t *testing.T) {
	payload := []byte(`{"playState":"x","loggingLevel":"x","brightness":"x","displayOn":"x","activeScene":"","bogus":1}`)
	_, first := state.ParsePatch(payload)
	for range 50 {
		if _, err := state.ParsePatch(payload); err.Error() != first.Error() {
			t.Fatalf("error changed between runs: %q then %q", first, err)
		}
	}
}

func TestPatch_PresentMissing(t *testing.T) {
	p := state.Patch{Brightness: ptr(1), ActiveScene: ptr("clock")}
	if got := strings.Join(p.Present(), ","); got != "activeScene,brightness" {
		t.Errorf("Present() = %s", got)
	}
	if got := strings.Join(p.Missing(), ","); got != "playState,displayOn,loggingLevel,sceneParams" {
		t.Errorf("Missing() = %s", got)
	}
	if p.IsEmpty() || !(state.Patch{}).IsEmpty() {
		t.Error("IsEmpty is wrong")
	}
}

func TestParseStateJSON(t *testing.T) {
	ts := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	full := state.State{ActiveScene: "clock", PlayState: state.Playing, Brightness: 75, DisplayOn: true, LoggingLevel: state.LevelWarning, Timestamp: ts}
	tests := []struct {
		name    string
		payload string
		want    state.State
		errFor  string
		ok      bool
	}{
		{name: "contract example", payload: `{"activeScene":"clock","playState":"playing","brightness":75,"displayOn":true,"loggingLevel":"warning","timestamp":"2026-11-27T01:00:00.000Z"}`, want: full, ok: true},
		{name: "no fraction in timestamp", payload: `{"activeScene":"clock","playState":"playing","brightness":75,"displayOn":true,"loggingLevel":"warning","timestamp":"2026-11-27T01:00:00Z"}`, want: full, ok: true},
		{name: "offset timestamp", payload: `{"activeScene":"clock","playState":"playing","brightness":75,"displayOn":true,"loggingLevel":"warning","timestamp":"2026-11-27T02:00:00+01:00"}`, want: full, ok: true},
		{name: "extra key ignored", payload: `{"activeScene":"clock","playState":"playing","brightness":75,"displayOn":true,"loggingLevel":"warning","timestamp":"2026-11-27T01:00:00.000Z","generationId":7}`, want: full, ok: true},
		{name: "words normalised", payload: `{"activeScene":"clock","playState":"PLAYING","brightness":75.0,"displayOn":"on","loggingLevel":"Warning","timestamp":"2026-11-27T01:00:00.000Z"}`, want: full, ok: true},

		{name: "no timestamp", payload: `{"activeScene":"clock","playState":"playing","brightness":75,"displayOn":true,"loggingLevel":"warning"}`, errFor: "timestamp"},
		{name: "null timestamp", payload: `{"activeScene":"clock","playState":"playing","brightness":75,"displayOn":true,"loggingLevel":"warning","timestamp":null}`, errFor: "timestamp"},
		{name: "bad timestamp", payload: `{"activeScene":"clock","playState":"playing","brightness":75,"displayOn":true,"loggingLevel":"warning","timestamp":"yesterday"}`, errFor: "timestamp"},
		{name: "numeric timestamp", payload: `{"activeScene":"clock","playState":"playing","brightness":75,"displayOn":true,"loggingLevel":"warning","timestamp":1764205200}`, errFor: "timestamp"},
		{name: "no brightness", payload: `{"activeScene":"clock","playState":"playing","displayOn":true,"loggingLevel":"warning","timestamp":"2026-11-27T01:00:00.000Z"}`, errFor: state.FieldBrightness},
		{name: "null logging level", payload: `{"activeScene":"clock","playState":"playing","brightness":75,"displayOn":true,"loggingLevel":null,"timestamp":"2026-11-27T01:00:00.000Z"}`, errFor: state.FieldLoggingLevel},
		{name: "no scene", payload: `{"playState":"playing","brightness":75,"displayOn":true,"loggingLevel":"warning","timestamp":"2026-11-27T01:00:00.000Z"}`, errFor: state.FieldActiveScene},
		{name: "bad brightness", payload: `{"activeScene":"clock","playState":"playing","brightness":500,"displayOn":true,"loggingLevel":"warning","timestamp":"2026-11-27T01:00:00.000Z"}`, errFor: state.FieldBrightness},
		{name: "only timestamp", payload: `{"timestamp":"2026-11-27T01:00:00.000Z"}`, errFor: state.FieldActiveScene},
		{name: "not an object", payload: `[]`, errFor: ""},
		{name: "empty", payload: ``, errFor: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := state.ParseStateJSON([]byte(tt.payload))
			if !tt.ok {
				checkInvalid(t, err, tt.errFor)
				return
			}
			if err != nil {
				t.Fatalf("ParseStateJSON: %v", err)
			}
			if !got.Timestamp.Equal(tt.want.Timestamp) || got.Timestamp.Location() != time.UTC {
				t.Errorf("timestamp = %v, want %v in UTC", got.Timestamp, tt.want.Timestamp)
			}
			got.Timestamp, tt.want.Timestamp = time.Time{}, time.Time{}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestState_MarshalJSON checks the state topic payload against the
// contract's example and that it parses back.
func TestState_MarshalJSON(t *testing.T) {
	st := state.State{ActiveScene: "clock", PlayState: state.Playing, Brightness: 75, DisplayOn: true, LoggingLevel: state.LevelWarning,
		Timestamp: time.Date(2026, 11, 27, 2, 0, 0, 123456789, time.FixedZone("CET", 3600))}
	b, err := st.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"activeScene":"clock","playState":"playing","brightness":75,"displayOn":true,"loggingLevel":"warning","sceneParams":{},"timestamp":"2026-11-27T01:00:00.123Z"}`
	if string(b) != want {
		t.Fatalf("MarshalJSON = %s\nwant          %s", b, want)
	}
	back, err := state.ParseStateJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Timestamp.Equal(st.Timestamp.Truncate(time.Millisecond)) {
		t.Errorf("timestamp back = %v", back.Timestamp)
	}
}

func TestState_Value(t *testing.T) {
	st := state.State{ActiveScene: "clock", PlayState: state.Paused, Brightness: 7, DisplayOn: false, LoggingLevel: state.LevelError}
	want := map[string]string{
		state.FieldActiveScene: "clock", state.FieldPlayState: "paused", state.FieldBrightness: "7",
		state.FieldDisplayOn: "false", state.FieldLoggingLevel: "error", "bogus": "",
	}
	for f, w := range want {
		if got := st.Value(f); got != w {
			t.Errorf("Value(%s) = %q, want %q", f, got, w)
		}
	}
}

func TestState_Validate(t *testing.T) {
	good := state.State{ActiveScene: "clock", PlayState: state.Playing, Brightness: 75, LoggingLevel: state.LevelWarning}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid state: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*state.State)
	}{
		{"no scene", func(s *state.State) { s.ActiveScene = "" }},
		{"bad play state", func(s *state.State) { s.PlayState = "running" }},
		{"brightness high", func(s *state.State) { s.Brightness = 101 }},
		{"brightness negative", func(s *state.State) { s.Brightness = -1 }},
		{"bad level", func(s *state.State) { s.LoggingLevel = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good
			tt.mutate(&s)
			if err := s.Validate(); !errors.Is(err, state.ErrInvalid) {
				t.Fatalf("Validate() = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2026-11-27T01:00:00.000Z", time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC), true},
		{"2026-11-27T01:00:00Z", time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC), true},
		{"2026-11-27T02:00:00.5+01:00", time.Date(2026, 11, 27, 1, 0, 0, 5e8, time.UTC), true},
		{"2026-11-27 01:00:00", time.Time{}, false},
		{"", time.Time{}, false},
		{"1764205200", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := state.ParseTime(tt.in)
			if tt.ok != (err == nil) {
				t.Fatalf("ParseTime(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if tt.ok && (!got.Equal(tt.want) || got.Location() != time.UTC) {
				t.Errorf("ParseTime(%q) = %v, want %v UTC", tt.in, got, tt.want)
			}
		})
	}
	if got := state.FormatTime(time.Date(2026, 11, 27, 2, 0, 0, 999999999, time.FixedZone("", 3600))); got != "2026-11-27T01:00:00.999Z" {
		t.Errorf("FormatTime = %s", got)
	}
}
