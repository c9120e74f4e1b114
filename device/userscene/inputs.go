package userscene

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/pidicon/pidicon-mqtt/device/scene"
)

// Limits of inputs.
const (
	// MaxHistory is how many values an input keeps for sparklines.
	MaxHistory = 256
	// MaxPayload is the largest input message read, in bytes; larger
	// ones are ignored.
	MaxPayload = 64 << 10
	// maxText is the longest text value kept, in bytes.
	maxText = 1024
)

// binding is an input's source: a topic and a field of its payload.
type binding struct{ topic, field string }

// series is an input's latest value and its recent numbers.
type series struct {
	value   any // float64 or string; nil: none yet
	history []float64
}

// Inputs holds the values of the scene files' inputs, as they arrive on
// their MQTT topics: the latest value of each topic and field, and the
// last MaxHistory numbers for sparklines. Scenes read them when they draw.
// It is safe for concurrent use.
type Inputs struct {
	mu     sync.Mutex
	fields map[string][]string // topic -> fields read from it
	values map[binding]*series
}

// NewInputs returns an empty set of inputs.
func NewInputs() *Inputs {
	return &Inputs{fields: make(map[string][]string), values: make(map[binding]*series)}
}

// bind sets which topics and fields are read: those of scenes. Values of
// ones no longer read are dropped.
func (in *Inputs) bind(scenes []scene.Scene) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.fields = make(map[string][]string)
	keep := make(map[binding]bool)
	for _, sc := range scenes {
		for _, i := range sc.Inputs {
			in.watchLocked(i.Topic, i.Field)
			keep[binding{i.Topic, i.Field}] = true
		}
	}
	for b := range in.values {
		if !keep[b] {
			delete(in.values, b)
		}
	}
}

// add reads the topics and fields of inputs too.
func (in *Inputs) add(inputs []scene.Input) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, i := range inputs {
		in.watchLocked(i.Topic, i.Field)
	}
}

// watchLocked reads field of topic too.
func (in *Inputs) watchLocked(topic, field string) {
	if !slices.Contains(in.fields[topic], field) {
		in.fields[topic] = append(in.fields[topic], field)
	}
}

// seriesLocked is the values of b, made if need be.
func (in *Inputs) seriesLocked(b binding) *series {
	s := in.values[b]
	if s == nil {
		s = &series{}
		in.values[b] = s
	}
	return s
}

// set makes v the value, and adds a number to the history.
func (s *series) set(v any) {
	s.value = v
	if n, ok := v.(float64); ok {
		s.history = append(s.history, n)
		if len(s.history) > MaxHistory {
			s.history = slices.Delete(s.history, 0, len(s.history)-MaxHistory)
		}
	}
}

// Record takes a message of topic and reports whether an input's value
// changed. An empty payload clears the values (a retained message was
// deleted); a message without the field leaves it as it was. A retained
// message with the value an input has already (delivered again on a new
// subscription) is not recorded twice in the history.
func (in *Inputs) Record(topic string, payload []byte, retained bool) bool {
	if len(payload) > MaxPayload {
		return false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	fields := in.fields[topic]
	if len(fields) == 0 {
		return false
	}
	var doc any
	parsed := false
	changed := false
	empty := len(bytes.TrimSpace(payload)) == 0
	for _, field := range fields {
		s := in.seriesLocked(binding{topic, field})
		if empty {
			changed = changed || s.value != nil
			s.value = nil
			continue
		}
		var v any
		var ok bool
		if field == "" {
			v, ok = plainValue(payload), true
		} else {
			if !parsed {
				doc, parsed = decodeJSON(payload), true
			}
			v, ok = fieldValue(doc, field)
		}
		if !ok {
			continue
		}
		if retained && s.value == v {
			continue
		}
		s.set(v)
		changed = true
	}
	return changed
}

// Set gives the input topic/field a value as if a message had brought it
// (the render command's --input): a number when text is one.
func (in *Inputs) Set(topic, field, text string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.watchLocked(topic, field)
	in.seriesLocked(binding{topic, field}).set(plainValue([]byte(text)))
}

// value returns the latest value of an input, or missing.
func (in *Inputs) value(i scene.Input) any {
	if in == nil {
		return missing{}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if s := in.values[binding{i.Topic, i.Field}]; s != nil && s.value != nil {
		return s.value
	}
	return missing{}
}

// history appends the last n numbers of an input to dst, oldest first.
func (in *Inputs) history(dst []float64, i scene.Input, n int) []float64 {
	if in == nil {
		return dst
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.values[binding{i.Topic, i.Field}]
	if s == nil {
		return dst
	}
	h := s.history
	if len(h) > n {
		h = h[len(h)-n:]
	}
	return append(dst, h...)
}

// plainValue is a whole payload as a value: a number when it is a JSON
// number, the text of a JSON string, else the text itself.
func plainValue(payload []byte) any {
	s := strings.TrimSpace(string(payload))
	if n, ok := parseNumber(s); ok {
		return n
	}
	if strings.HasPrefix(s, `"`) {
		var text string
		if json.Unmarshal([]byte(s), &text) == nil {
			return clip(text)
		}
	}
	return clip(s)
}

// clip keeps a text value to maxText bytes of valid UTF-8.
func clip(s string) string {
	if len(s) > maxText {
		s = s[:maxText]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// parseNumber reads a finite JSON number ("21.5", "-3", "1e3").
func parseNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" || !json.Valid([]byte(s)) {
		return 0, false
	}
	c := s[0]
	if c != '-' && (c < '0' || c > '9') {
		return 0, false
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, false
	}
	return n, true
}

// decodeJSON decodes a payload, numbers kept as json.Number; nil if it is
// not JSON.
func decodeJSON(payload []byte) any {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	return v
}

// fieldValue walks a dotted path ("data.power", "values.0") into a
// decoded document: a number gives a float64, a string its text, true and
// false their words, another object or list its JSON text. ok is false
// when the path leads nowhere, or to null.
func fieldValue(doc any, path string) (any, bool) {
	v := doc
	for part := range strings.SplitSeq(path, ".") {
		switch node := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = node[part]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(node) {
				return nil, false
			}
			v = node[i]
		default:
			return nil, false
		}
	}
	switch v := v.(type) {
	case nil:
		return nil, false
	case json.Number:
		if n, ok := parseNumber(string(v)); ok {
			return n, true
		}
		return clip(string(v)), true
	case string:
		return clip(v), true
	case bool:
		return strconv.FormatBool(v), true
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, false
		}
		return clip(string(b)), true
	}
}
