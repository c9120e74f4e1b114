package userscene

import (
	"strings"
	"testing"
	"time"
)

// TestTemplate_Functions runs every documented function once: the list in
// FuncNames, the README and this table must agree.
func TestTemplate_Functions(t *testing.T) {
	now := time.Date(2026, 3, 5, 14, 7, 9, 0, time.UTC)
	data := map[string]any{
		"params": map[string]any{"color": "#ff0000", "limit": 1000, "label": " Grid "},
		"inputs": map[string]any{"power": 1234.5, "mode": "eco", "none": missing{}},
		"now":    now,
		"device": map[string]any{"name": "demo", "width": 64, "height": 64},
	}
	n := names{params: map[string]bool{"color": true, "limit": true, "label": true}, inputs: map[string]bool{"power": true, "mode": true, "none": true}}
	tested := make(map[string]bool)
	for _, tc := range []struct{ fn, src, want string }{
		{"and", `{{and true .inputs.mode}}`, "eco"},
		{"or", `{{or "" .inputs.mode}}`, "eco"},
		{"not", `{{not false}}`, "true"},
		{"len", `{{len .inputs.mode}}`, "3"},
		{"index", `{{index .inputs "mode"}}`, "eco"},
		{"slice", `{{slice .inputs.mode 1}}`, "co"},
		{"print", `{{print .inputs.power}}`, "1234.5"},
		{"eq", `{{eq .inputs.power 1234.5}} {{eq .params.limit 1000.0}} {{eq .inputs.mode "x" "eco"}} {{eq .inputs.none "-"}}`, "true true true true"},
		{"ne", `{{ne .inputs.power 1}} {{ne .inputs.mode "eco"}}`, "true false"},
		{"lt", `{{lt .inputs.power 2000}} {{lt .inputs.none 2000}} {{lt .inputs.mode 5}}`, "true false false"},
		{"le", `{{le .params.limit 1000.0}}`, "true"},
		{"gt", `{{gt .inputs.power 1000}} {{gt .inputs.power 1000.0}} {{gt .inputs.none 0}}`, "true true false"},
		{"ge", `{{ge .params.limit 1000}}`, "true"},
		{"printf", `{{printf "%.1f kW" (div .inputs.power 1000)}} {{printf "%5.1f" .inputs.none}}`, "1.2 kW -"},
		{"fixed", `{{fixed 2 .inputs.power}}`, "1234.50"},
		{"num", `{{add (num "2.5") 1}}`, "3.5"},
		{"default", `{{default "n/a" .inputs.none}} {{.inputs.mode | default "n/a"}}`, "n/a eco"},
		{"add", `{{add .inputs.power 0.5 1}}`, "1236"},
		{"sub", `{{sub .params.limit 1}}`, "999"},
		{"mul", `{{mul 2 3}}`, "6"},
		{"div", `{{div 7 2}} {{div .inputs.none 2}}`, "3.5 -"},
		{"mod", `{{mod 7 3}}`, "1"},
		{"min", `{{min 3 1 2}}`, "1"},
		{"max", `{{max 3 1 2}}`, "3"},
		{"abs", `{{abs -2}}`, "2"},
		{"round", `{{round .inputs.power}}`, "1235"},
		{"floor", `{{floor .inputs.power}}`, "1234"},
		{"ceil", `{{ceil 1.2}}`, "2"},
		{"clamp", `{{clamp 0 100 150}} {{clamp 0 100 -5}}`, "100 0"},
		{"upper", `{{upper .inputs.mode}}`, "ECO"},
		{"lower", `{{lower "ECO"}}`, "eco"},
		{"trim", `[{{trim .params.label}}]`, "[Grid]"},
		{"time", `{{time "%H:%M:%S %a %e %b %Y %y %m %d %j %I %p %%" .now}}`, "14:07:09 Thu 5 Mar 2026 26 03 05 064 02 PM %"},
		{"until", `{{until "2026-03-05 15:07" .now}} {{until "2026-03-05T13:07:09Z" .now}}`, "3591 -3600"},
		{"duration", `{{duration 93784}} {{duration 3725}} {{duration 65}} {{duration -5}}`, "1d 02:03:04 01:02:05 01:05 00:00"},
		{"rgb", `{{rgb 255 128 0}} {{rgb 300 -1 0}}`, "#ff8000 #ff0000"},
		{"mix", `{{mix "#000000" "#ffffff" 0.5}} {{mix "#ff0000" "#0000ff" .inputs.none}}`, "#808080 #ff0000"},
	} {
		tested[tc.fn] = true
		tm, err := compileTemplate(tc.src, 1, n)
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		got, err := tm.run(data)
		if err != nil || got != tc.want {
			t.Errorf("%s = %q, %v; want %q", tc.src, got, err, tc.want)
		}
	}
	for _, fn := range FuncNames() {
		if !tested[fn] {
			t.Errorf("function %s has no test", fn)
		}
	}
	// The fields of the data.
	tm, err := compileTemplate(`{{.device.name}} {{.device.width}}x{{.device.height}} {{.now.Hour}} {{.params.color}}`, 1, n)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tm.run(data); got != "demo 64x64 14 #ff0000" || err != nil {
		t.Errorf("fields: %q, %v", got, err)
	}
}

func TestTemplate_RunErrors(t *testing.T) {
	n := names{inputs: map[string]bool{"mode": true}}
	data := map[string]any{"inputs": map[string]any{"mode": "eco"}}
	for _, src := range []string{
		`{{div 1 0}}`,
		`{{add .inputs.mode 1}}`,
		`{{printf "%99d" 1}}`,
		`{{fixed 20 1}}`,
		`{{until "soon" .now}}`,
	} {
		tm, err := compileTemplate(src, 1, n)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if got, err := tm.run(data); err == nil {
			t.Errorf("%s = %q, want an error", src, got)
		} else if strings.Contains(err.Error(), "template: t:") {
			t.Errorf("%s: error %q keeps text/template's prefix", src, err)
		}
	}
}
