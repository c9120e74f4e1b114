package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pidicon/pidicon-mqtt/internal/atomicfile"
)

// FileVersion is the only version of the file format this package reads
// and writes.
const FileVersion = 1

// ErrCorrupt is wrapped by ReadFile's error when the file exists but cannot
// be used: not JSON, an unknown version, or an invalid value.
var ErrCorrupt = errors.New("state file is corrupt")

// Document is the content of the state file.
type Document struct {
	// Timestamp is the file's top-level timestamp: when it was written.
	Timestamp time.Time
	// Devices holds each entry, keyed as in the file (device id, or an IP
	// address in a file of the original pidicon daemon).
	Devices map[string]Entry
	// Raw holds each entry as it was written, so entries that no configured
	// device claims can be written back unchanged.
	Raw map[string]json.RawMessage
}

// ReadFile reads and checks the state file at path. A missing file gives an
// error wrapping fs.ErrNotExist; an unusable one an error wrapping
// ErrCorrupt. Fields that are null or missing in an entry are nil in its
// Patch; unknown keys are ignored.
func ReadFile(path string) (*Document, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read state file: %w", err)
	}
	doc, err := ParseDocument(b)
	if err != nil {
		return nil, fmt.Errorf("read state file %s: %w", path, err)
	}
	return doc, nil
}

// ParseDocument reads the content of a state file (see ReadFile).
func ParseDocument(b []byte) (*Document, error) {
	var top struct {
		Version   *json.Number               `json:"version"`
		Timestamp *string                    `json:"timestamp"`
		Devices   map[string]json.RawMessage `json:"devices"`
	}
	// Decode alone would take "null" as an empty object, and dec.More would
	// miss a stray "}" or "]" after it: check both by hand.
	if trimmed := bytes.TrimLeft(b, jsonSpace); len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrCorrupt)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object: %v", ErrCorrupt, err)
	}
	if rest := bytes.Trim(b[dec.InputOffset():], jsonSpace); len(rest) > 0 {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrCorrupt)
	}
	// A file of the original daemon may lack a version; any other version
	// than ours is a format we cannot read safely.
	if top.Version != nil && top.Version.String() != fmt.Sprint(FileVersion) {
		return nil, fmt.Errorf("%w: unknown version %s (this daemon reads version %d)", ErrCorrupt, top.Version, FileVersion)
	}
	doc := &Document{Devices: make(map[string]Entry), Raw: make(map[string]json.RawMessage)}
	if top.Timestamp != nil {
		t, err := ParseTime(*top.Timestamp)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		doc.Timestamp = t
	}
	for _, key := range slices.Sorted(maps.Keys(top.Devices)) {
		raw := top.Devices[key]
		e, err := parseEntry(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: device %q: %v", ErrCorrupt, key, err)
		}
		doc.Devices[key] = e
		doc.Raw[key] = raw
	}
	return doc, nil
}

// jsonSpace is the white space JSON allows between tokens.
const jsonSpace = " \t\r\n"

// encodeDocument writes the file content for a snapshot in the contract's
// format: what json.MarshalIndent with two spaces would write, device
// entries sorted by key, but written directly (MarshalIndent re-reads and
// re-indents the whole document, most of the time of a write with
// thousands of devices). A device without a timestamp has only its
// configured defaults, never restored or changed: it is left out, since an
// entry would carry the file's timestamp and beat an older but real state on
// the broker at the next start.
func encodeDocument(snap snapshot, now time.Time) ([]byte, error) {
	keys := make([]string, 0, len(snap.devices)+len(snap.kept))
	for id, st := range snap.devices {
		if !st.Timestamp.IsZero() {
			keys = append(keys, id)
		}
	}
	for key := range snap.kept {
		if _, ok := snap.devices[key]; !ok {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	var b bytes.Buffer
	b.Grow(256 + 320*len(keys))
	b.WriteString("{\n  \"version\": ")
	b.WriteString(strconv.Itoa(FileVersion))
	b.WriteString(",\n  \"timestamp\": ")
	writeString(&b, FormatTime(now))
	b.WriteString(",\n  \"devices\": {")
	for i, key := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n    ")
		writeString(&b, key)
		b.WriteString(": ")
		st, ok := snap.devices[key]
		if !ok || st.Timestamp.IsZero() {
			if err := json.Indent(&b, snap.kept[key], "    ", "  "); err != nil {
				return nil, fmt.Errorf("encode kept entry %q: %w", key, err)
			}
			continue
		}
		b.Write(st.appendJSON(b.AvailableBuffer(), "\n      ", "\n    "))
	}
	if len(keys) > 0 {
		b.WriteString("\n  ")
	}
	b.WriteString("}\n}\n")
	return b.Bytes(), nil
}

// writeString writes s as a JSON string, escaped as encoding/json does.
func writeString(b *bytes.Buffer, s string) { b.Write(appendString(b.AvailableBuffer(), s)) }

// Quarantine moves an unusable state file aside to
// "<path>.corrupt-<UTC time>" (with a counter when that name is taken: an
// earlier quarantined file is never replaced) and returns the new name.
// When it fails (a read-only folder), the file stays where it was, so the
// caller can try again later with the same now: an attempt that linked the
// file aside but could not remove the original is then finished, not
// repeated under another name. An error wrapping fs.ErrNotExist means
// there is no file at path any more.
func Quarantine(path string, now time.Time) (string, error) {
	base := path + ".corrupt-" + strings.ReplaceAll(now.UTC().Format("20060102T150405.000Z"), ".", "")
	for i := 0; i < 1000; i++ {
		name := base
		if i > 0 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		// A hard link never replaces an existing name, unlike rename.
		err := os.Link(path, name)
		if errors.Is(err, fs.ErrExist) {
			if !sameFile(path, name) {
				continue
			}
			err = nil // an earlier attempt's link: finish its work
		}
		if err != nil {
			// No hard links here (some file systems): check, then rename.
			if _, serr := os.Lstat(name); serr == nil {
				continue
			}
			if err := os.Rename(path, name); err != nil {
				return "", fmt.Errorf("move corrupt state file aside: %w", err)
			}
			return name, atomicfile.SyncDir(filepath.Dir(path))
		}
		if err := os.Remove(path); err != nil {
			// Undo the link: a retry must not leave a copy behind each time.
			os.Remove(name)
			return "", fmt.Errorf("move corrupt state file aside: %w", err)
		}
		return name, atomicfile.SyncDir(filepath.Dir(path))
	}
	return "", fmt.Errorf("move corrupt state file aside: too many quarantined files named %s*", base)
}

// sameFile reports whether a and b name the same file.
func sameFile(a, b string) bool {
	fa, err := os.Lstat(a)
	if err != nil {
		return false
	}
	fb, err := os.Lstat(b)
	return err == nil && os.SameFile(fa, fb)
}
