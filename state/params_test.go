package state_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/state"
)

func TestParseSceneParams(t *testing.T) {
	tests := []struct {
		in   string
		want state.SceneParams
		ok   bool
	}{
		{`{}`, state.NoParams, true},
		{" {\n} \n", state.NoParams, true},
		{`{"color":"#ff0000"}`, `{"color":"#ff0000"}`, true},
		{`{ "b" : [1, 2, 3] , "a" : true }`, `{"a":true,"b":[1,2,3]}`, true},
		{`{"text":"gr\u00fc\u00dfe <b>"}`, `{"text":"grüße <b>"}`, true},
		{`{"n":1.50,"m":1e2}`, `{"m":1e2,"n":1.50}`, true},
		{``, "", false},
		{`null`, "", false},
		{`[]`, "", false},
		{`"x"`, "", false},
		{`{"a":1`, "", false},
		{"{\"a\":\"\xff\"}", "", false},
	}
	for _, tt := range tests {
		got, err := state.ParseSceneParams(tt.in)
		if !tt.ok {
			checkInvalid(t, err, state.FieldSceneParams)
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSceneParams(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if got := state.NoParams.String(); got != "{}" {
		t.Errorf("NoParams.String() = %q", got)
	}
}

// TestParseField_SceneWithParams reads the original pidicon daemon's
// {"scene":...,<params>} on activeScene/set.
func TestParseField_SceneWithParams(t *testing.T) {
	p, err := state.ParseField(state.FieldActiveScene, ` {"scene":"fill","color":[255,0,0,255]} `)
	if err != nil {
		t.Fatal(err)
	}
	if p.ActiveScene == nil || *p.ActiveScene != "fill" || p.SceneParams == nil || *p.SceneParams != `{"color":[255,0,0,255]}` {
		t.Errorf("got scene %v params %v", p.ActiveScene, p.SceneParams)
	}
	p, err = state.ParseField(state.FieldActiveScene, `{"scene":"clock"}`)
	if err != nil || p.SceneParams == nil || *p.SceneParams != state.NoParams {
		t.Errorf("scene without params: %+v, %v", p, err)
	}
	for _, bad := range []string{`{"color":"#fff"}`, `{"scene":3}`, `{"scene":""}`, `{"scene":"x"`, `{"scene":null}`} {
		if _, err := state.ParseField(state.FieldActiveScene, bad); err == nil {
			t.Errorf("ParseField(activeScene, %q) succeeded", bad)
		} else {
			checkInvalid(t, err, state.FieldActiveScene)
		}
	}
}

func TestParsePatch_SceneParams(t *testing.T) {
	p, err := state.ParsePatch([]byte(`{"activeScene":"fill","sceneParams":{"color":"#00ff00"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if *p.ActiveScene != "fill" || *p.SceneParams != `{"color":"#00ff00"}` {
		t.Errorf("got %+v", p)
	}
	for _, bad := range []string{`{"sceneParams":"x"}`, `{"sceneParams":[1]}`, `{"sceneParams":null}`} {
		_, err := state.ParsePatch([]byte(bad))
		checkInvalid(t, err, state.FieldSceneParams)
	}
}

// TestParseStateJSON_WithoutSceneParams reads a state published before
// sceneParams existed: it has no parameters.
func TestParseStateJSON_WithoutSceneParams(t *testing.T) {
	st, err := state.ParseStateJSON([]byte(`{"activeScene":"clock","playState":"playing","brightness":75,"displayOn":true,"loggingLevel":"warning","timestamp":"2026-11-27T01:00:00.000Z"}`))
	if err != nil || st.SceneParams != state.NoParams {
		t.Errorf("got %+v, %v", st, err)
	}
	st, err = state.ParseStateJSON([]byte(`{"activeScene":"fill","playState":"playing","brightness":75,"displayOn":true,"loggingLevel":"warning","sceneParams":{"color":"#010203"},"timestamp":"2026-11-27T01:00:00.000Z"}`))
	if err != nil || st.SceneParams != `{"color":"#010203"}` {
		t.Errorf("got %+v, %v", st, err)
	}
}

// TestStore_ApplySceneParams: setting a scene resets its parameters unless
// the same set gives them; setting parameters alone keeps the scene.
func TestStore_ApplySceneParams(t *testing.T) {
	s := state.NewStore()
	st := demoState()
	st.SceneParams = `{"color":"#ff0000"}`
	s.Put("demo", st)
	red := state.SceneParams(`{"color":"#ff0000"}`)
	blue := state.SceneParams(`{"color":"#0000ff"}`)
	got, changed, _ := s.Apply("demo", state.Patch{SceneParams: &blue}, t0.Add(time.Second))
	if !changed || got.SceneParams != blue || got.ActiveScene != "clock" {
		t.Errorf("params alone: %+v changed %v", got, changed)
	}
	got, changed, _ = s.Apply("demo", state.Patch{SceneParams: &blue}, t0.Add(2*time.Second))
	if changed || !got.Timestamp.Equal(t0.Add(time.Second)) {
		t.Errorf("same params again changed the state: %+v", got)
	}
	got, _, _ = s.Apply("demo", state.Patch{ActiveScene: ptr("fill")}, t0.Add(3*time.Second))
	if got.SceneParams != state.NoParams {
		t.Errorf("a scene set without params kept %q", got.SceneParams)
	}
	got, _, _ = s.Apply("demo", state.Patch{ActiveScene: ptr("fill"), SceneParams: &red}, t0.Add(4*time.Second))
	if got.SceneParams != red {
		t.Errorf("a scene set with params: %q", got.SceneParams)
	}
}

// TestRoundTrip_SceneParams writes and reads a file with parameters.
func TestRoundTrip_SceneParams(t *testing.T) {
	st := demoState()
	st.SceneParams = `{"color":"#ff0000","text":"a \"quoted\" <text>"}`
	doc, err := state.ParseDocument([]byte(`{"version":1,"devices":{"demo":` + mustJSON(t, st) + `}}`))
	if err != nil {
		t.Fatal(err)
	}
	got := doc.Devices["demo"].Apply(state.State{})
	if got.SceneParams != st.SceneParams {
		t.Errorf("read back %q", got.SceneParams)
	}
	if !strings.Contains(mustJSON(t, st), `"sceneParams":{"color":"#ff0000",`) {
		t.Errorf("state JSON %s", mustJSON(t, st))
	}
}

func mustJSON(t *testing.T, st state.State) string {
	t.Helper()
	b, err := st.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
