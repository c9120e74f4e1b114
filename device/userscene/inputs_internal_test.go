package userscene

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pidicon/pidicon-mqtt/device/scene"
)

func TestInputs_Record(t *testing.T) {
	in := NewInputs()
	whole := scene.Input{Name: "w", Topic: "t"}
	power := scene.Input{Name: "p", Topic: "t", Field: "data.power"}
	first := scene.Input{Name: "f", Topic: "t", Field: "list.0"}
	in.bind([]scene.Scene{{Inputs: []scene.Input{whole, power, first}}})
	for _, tc := range []struct {
		payload           string
		whole, power, one any
	}{
		{"21.5", 21.5, missing{}, missing{}},
		{" 42\n", 42.0, missing{}, missing{}},
		{"on", "on", missing{}, missing{}},
		{`"quoted"`, "quoted", missing{}, missing{}},
		{"NaN", "NaN", missing{}, missing{}},
		{"0x10", "0x10", missing{}, missing{}},
		{`{"data":{"power":1200},"list":["a"]}`, `{"data":{"power":1200},"list":["a"]}`, 1200.0, "a"},
		{`{"data":{"power":"high"},"list":[true]}`, `{"data":{"power":"high"},"list":[true]}`, "high", "true"},
		// A message without the field leaves the field's value as it was.
		{`{"other":1}`, `{"other":1}`, "high", "true"},
		{`{"data":{"power":null}}`, `{"data":{"power":null}}`, "high", "true"},
		{`{"data":{"power":{"a":1}}}`, `{"data":{"power":{"a":1}}}`, `{"a":1}`, "true"},
		// An empty payload (a deleted retained message) clears them all.
		{"", missing{}, missing{}, missing{}},
		{"7", 7.0, missing{}, missing{}},
	} {
		in.Record("t", []byte(tc.payload), false)
		for _, c := range []struct {
			in   scene.Input
			want any
		}{{whole, tc.whole}, {power, tc.power}, {first, tc.one}} {
			if got := in.value(c.in); !same(got, c.want) {
				t.Errorf("%q: %s = %#v, want %#v", tc.payload, c.in.Name, got, c.want)
			}
		}
	}
	if changed := in.Record("other/topic", []byte("1"), false); changed {
		t.Error("a topic no scene reads changed something")
	}
	if changed := in.Record("t", []byte(strings.Repeat("1", MaxPayload+1)), false); changed {
		t.Error("a payload over MaxPayload was taken")
	}
}

func TestInputs_History(t *testing.T) {
	in := NewInputs()
	i := scene.Input{Name: "v", Topic: "t"}
	in.bind([]scene.Scene{{Inputs: []scene.Input{i}}})
	for n := range MaxHistory + 10 {
		in.Record("t", []byte(strconv.Itoa(10+n%10)), false)
	}
	h := in.history(nil, i, 1000)
	if len(h) != MaxHistory || h[len(h)-1] != 10+float64((MaxHistory+9)%10) {
		t.Errorf("history has %d values ending %v", len(h), h[len(h)-1:])
	}
	if got := in.history(nil, i, 3); len(got) != 3 || !slices.Equal(got, h[len(h)-3:]) {
		t.Errorf("last 3 = %v", got)
	}
	// Text values are not numbers: the history keeps the numbers only.
	in.Record("t", []byte("off"), false)
	if got := in.history(nil, i, 1000); len(got) != MaxHistory {
		t.Errorf("a text value changed the history: %d values", len(got))
	}
	// Values of topics no scene reads any more are dropped.
	in.bind(nil)
	if got := in.history(nil, i, 1000); len(got) != 0 {
		t.Errorf("history after unbinding: %v", got)
	}
}

// same compares input values, any missing value with any other.
func same(a, b any) bool {
	if isMissing(a) || isMissing(b) {
		return isMissing(a) && isMissing(b)
	}
	return a == b
}
