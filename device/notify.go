package device

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/device/scene"
)

// Limits of notifications (CONTRACT §7).
const (
	// MaxQueued is how many notifications a display holds, the one on
	// screen included.
	MaxQueued = 16
	// DefaultDuration is how long a notification shows when none is given.
	DefaultDuration = 5 * time.Second
	// MinDuration and MaxDuration bound a given duration.
	MinDuration = time.Second
	MaxDuration = time.Hour
)

// Priority says where a notification goes in the queue.
type Priority string

// The priorities: a high one is shown before the queued normal ones and
// interrupts a normal one on screen.
const (
	PriorityNormal Priority = "normal"
	PriorityHigh   Priority = "high"
)

// Errors of notifications, for errors.Is.
var (
	// ErrNotification is wrapped by every error about a notification's
	// payload.
	ErrNotification = errors.New("invalid notification")
	// ErrQueueFull refuses a notification when MaxQueued wait already.
	ErrQueueFull = errors.New("notification queue full")
	// ErrDisplayOff refuses a notification while the display is off: it is
	// neither shown nor queued.
	ErrDisplayOff = errors.New("the display is off: the notification is not shown and not queued")
)

// Notification is a message drawn over the active scene for a while; the
// scene goes on underneath and its state does not change.
type Notification struct {
	ID         string
	Text       string
	Color      color.RGBA
	Background color.RGBA
	// Icon is an image drawn left of the text; Image one that fills the
	// display (with the text over its lower part, if any).
	Icon, Image string
	// Picture is an inline image (a data: URL), decoded; it stands in for
	// Image.
	Picture *picture.Picture
	// scaled keeps Picture's last scaling (ParseNotification sets it):
	// the notification is drawn at one size many times a second.
	scaled *scaledPicture
	// Duration is how long it shows; a scrolling text shows at least once
	// in full. Hold: until dismissed.
	Duration time.Duration
	Hold     bool
	Priority Priority
}

// MarshalJSON writes the notification as it was asked for, colours as
// #rrggbb, for the retained notification topic.
func (n Notification) MarshalJSON() ([]byte, error) {
	image := n.Image
	if n.Picture != nil {
		image = "data:"
	}
	return json.Marshal(struct {
		ID         string   `json:"id,omitempty"`
		Text       string   `json:"text"`
		Color      any      `json:"color"`
		Background any      `json:"background"`
		Icon       string   `json:"icon,omitempty"`
		Image      string   `json:"image,omitempty"`
		Duration   float64  `json:"duration"`
		Hold       bool     `json:"hold"`
		Priority   Priority `json:"priority"`
	}{n.ID, n.Text, scene.FormatValue(n.Color), scene.FormatValue(n.Background), n.Icon, image,
		n.Duration.Seconds(), n.Hold, n.Priority})
}

// NotificationStatus is what a display shows of notifications: the one on
// screen (nil: none) and how many wait behind it.
type NotificationStatus struct {
	Showing *Notification `json:"showing"`
	Queued  int           `json:"queued"`
}

// notifyKeys are the keys of a notification's JSON payload.
var notifyKeys = []string{"text", "color", "background", "icon", "image", "duration", "hold", "priority", "id"}

// ParseNotification reads a notify payload (CONTRACT §7): plain text, or a
// JSON object with text, color, background, icon, image (a name, or a
// data:image/…;base64, URL), duration (seconds), hold, priority and id.
// images, if not nil, says which image names exist.
func ParseNotification(payload []byte, images scene.Images) (Notification, error) {
	n := Notification{
		Color:      color.RGBA{R: 255, G: 255, B: 255, A: 255},
		Background: color.RGBA{A: 255},
		Duration:   DefaultDuration,
		Priority:   PriorityNormal,
	}
	if !utf8.Valid(payload) {
		return n, notifyErr("payload must be valid UTF-8")
	}
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) == 0 {
		return n, notifyErr("a notification needs a text (plain, or a JSON object with \"text\")")
	}
	if trimmed[0] != '{' {
		n.Text = string(trimmed)
		return n, checkText(n.Text)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &raw); err != nil || raw == nil {
		return n, notifyErr("not a JSON object: %v", err)
	}
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		if !slices.Contains(notifyKeys, k) {
			return n, notifyErr("unknown key %q (keys: %s)", k, strings.Join(notifyKeys, ", "))
		}
	}
	str := func(key string) (string, error) {
		v, ok := raw[key]
		if !ok {
			return "", nil
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", notifyErr("%s must be a JSON string", key)
		}
		return s, nil
	}
	var err error
	if n.Text, err = str("text"); err != nil {
		return n, err
	}
	if err := checkText(n.Text); err != nil {
		return n, err
	}
	for key, dst := range map[string]*color.RGBA{"color": &n.Color, "background": &n.Background} {
		if v, ok := raw[key]; ok {
			c, err := scene.ParseColor(v)
			if err != nil {
				return n, notifyErr("%s: %v", key, err)
			}
			*dst = c
		}
	}
	if n.ID, err = str("id"); err != nil {
		return n, err
	}
	if len(n.ID) > 64 {
		return n, notifyErr("id must be at most 64 bytes")
	}
	if n.Icon, err = str("icon"); err != nil {
		return n, err
	}
	if n.Icon != "" {
		if err := checkImage("icon", n.Icon, images); err != nil {
			return n, err
		}
	}
	if n.Image, err = str("image"); err != nil {
		return n, err
	}
	if strings.HasPrefix(n.Image, "data:") {
		data, err := picture.ParseDataURL(n.Image)
		if err != nil {
			return n, notifyErr("image: %v", err)
		}
		if n.Picture, err = picture.Decode(data); err != nil {
			return n, notifyErr("image: %v", err)
		}
		n.scaled = new(scaledPicture)
		n.Image = ""
	} else if n.Image != "" {
		if err := checkImage("image", n.Image, images); err != nil {
			return n, err
		}
	}
	if v, ok := raw["duration"]; ok {
		var secs float64
		if json.Unmarshal(v, &secs) != nil || secs < MinDuration.Seconds() || secs > MaxDuration.Seconds() {
			return n, notifyErr("duration must be a number of seconds from 1 to 3600")
		}
		n.Duration = time.Duration(secs * float64(time.Second))
	}
	if v, ok := raw["hold"]; ok && json.Unmarshal(v, &n.Hold) != nil {
		return n, notifyErr("hold must be true or false")
	}
	p, err := str("priority")
	if err != nil {
		return n, err
	}
	switch Priority(p) {
	case "":
	case PriorityNormal, PriorityHigh:
		n.Priority = Priority(p)
	default:
		return n, notifyErr("priority must be normal or high")
	}
	if n.Text == "" && n.Image == "" && n.Picture == nil {
		return n, notifyErr("a notification needs a text or an image")
	}
	return n, nil
}

func notifyErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotification, fmt.Sprintf(format, args...))
}

func checkText(s string) error {
	if n := utf8.RuneCountInString(s); n > scene.MaxTextLength {
		return notifyErr("text is %d characters; at most %d", n, scene.MaxTextLength)
	}
	return nil
}

func checkImage(key, name string, images scene.Images) error {
	if err := picture.CheckName(name); err != nil {
		return notifyErr("%s: %v", key, err)
	}
	if images != nil && !images.Has(name) {
		return notifyErr("%s: no image %q", key, name)
	}
	return nil
}
