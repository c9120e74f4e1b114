package userscene

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/internal/logkey"
)

// DefaultPoll is how often a Library looks at its folder: a change takes
// effect within two of them.
const DefaultPoll = time.Second

// Options configure a Library.
type Options struct {
	// Dir is the folder of scene files (*.yaml).
	Dir string
	// Builtin are the built-in scenes: listed first, and their names are
	// not for scene files.
	Builtin *scene.Registry
	// Catalog receives the scenes (built-in and files) at every change.
	Catalog *scene.Catalog
	// Inputs hold the values the scenes' inputs receive; the Library
	// tells it which topics and fields the scenes read.
	Inputs *Inputs
	// Report is told of every problem with a file, once per version of
	// it (may be nil). It must not block.
	Report func(Problem)
	// Logger receives what the Library does.
	Logger *slog.Logger
	// Poll is how often Run looks at the folder (default DefaultPoll).
	Poll time.Duration
}

// Library keeps the scenes of a folder of scene files in a Catalog: it
// reads the folder at Scan, and Run scans it again every Poll, so added,
// changed and removed files take effect without a restart. A file that
// cannot be used is reported (file, line, why) and the previous version
// of its scene, if any, stays. Only one goroutine may call Scan and Run.
type Library struct {
	opts Options
	log  *slog.Logger

	files   map[string]*entry // by file name
	owner   map[string]string // scene name -> the file name that has it
	current []*File           // the files whose scenes the catalog holds
	dirErr  string            // the folder's problem, last reported
}

// entry is one file of the folder.
type entry struct {
	sum      [sha256.Size]byte
	read     bool        // sum is set
	good     *File       // the last version that could be used; nil: none
	sc       scene.Scene // good's scene
	conflict string      // the name conflict last reported
	readErr  string      // the read error last reported
	settling bool        // a version written just now failed: read it once more
}

// New returns a library for opts; call Scan, then Run.
func New(opts Options) *Library {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.Inputs == nil {
		opts.Inputs = NewInputs()
	}
	if opts.Builtin == nil {
		opts.Builtin = scene.NewRegistry()
	}
	return &Library{opts: opts, log: opts.Logger, files: make(map[string]*entry), owner: make(map[string]string)}
}

// Run scans the folder every Poll until ctx is done; it returns nil.
func (l *Library) Run(ctx context.Context) error {
	t := time.NewTicker(l.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			l.Scan()
		}
	}
}

// Scan reads the folder and updates the catalog if the scenes changed.
func (l *Library) Scan() {
	names := l.list()
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		seen[name] = true
		l.load(name)
	}
	for _, name := range slices.Sorted(maps.Keys(l.files)) {
		if seen[name] {
			continue
		}
		e := l.files[name]
		delete(l.files, name)
		if e.good != nil {
			path := filepath.Join(l.opts.Dir, name)
			l.log.Warn("scene file removed; its scene is gone", logkey.File, path, logkey.Scene, e.good.name)
			l.problem(Problem{File: path, Level: LevelWarning,
				Err: fmt.Errorf("scene %q removed: its file is gone; displays showing it show black until it is back", e.good.name)})
		}
	}
	l.assign()
}

// list returns the scene files' names, sorted: *.yaml, not hidden.
func (l *Library) list() []string {
	dirents, err := os.ReadDir(l.opts.Dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		if msg := err.Error(); msg != l.dirErr {
			l.dirErr = msg
			l.log.Error("cannot read the scenes folder", logkey.Path, l.opts.Dir, logkey.Error, err)
			l.problem(Problem{File: l.opts.Dir, Level: LevelError, Err: fmt.Errorf("cannot read the scenes folder: %w", err)})
		}
		// Keep the scenes as they are until the folder can be read.
		return slices.Sorted(maps.Keys(l.files))
	}
	l.dirErr = ""
	var out []string
	for _, d := range dirents {
		name := d.Name()
		if strings.HasPrefix(name, ".") || filepath.Ext(name) != ".yaml" || d.IsDir() {
			continue
		}
		out = append(out, name)
	}
	return out
}

// load reads one file if it changed since the last scan.
func (l *Library) load(name string) {
	path := filepath.Join(l.opts.Dir, name)
	e := l.files[name]
	if e == nil {
		e = &entry{}
		l.files[name] = e
	}
	var modified time.Time
	if fi, err := os.Stat(path); err == nil {
		modified = fi.ModTime()
	}
	data, err := readFile(path)
	if err != nil {
		if msg := err.Error(); msg != e.readErr {
			e.readErr = msg
			l.log.Error("cannot read a scene file", logkey.File, path, logkey.Error, err)
			l.problem(Problem{File: path, Level: LevelError, Err: err})
		}
		return
	}
	e.readErr = ""
	sum := sha256.Sum256(data)
	if e.read && sum == e.sum {
		return
	}
	e.sum, e.read = sum, true
	f, err := Parse(path, data, l.opts.Builtin)
	if err != nil && time.Since(modified) < l.opts.Poll && !e.settling {
		// Written just now: perhaps half written. Read it again at the
		// next scan before saying it is wrong.
		e.read, e.settling = false, true
		return
	}
	e.settling = false
	if err != nil {
		var fe *Error
		line := 0
		if errors.As(err, &fe) {
			line, err = fe.Line, fe.Err
		}
		if e.good != nil {
			l.log.Error("scene file refused; its previous version stays", logkey.File, path, logkey.Line, line, logkey.Error, err)
		} else {
			l.log.Error("scene file refused", logkey.File, path, logkey.Line, line, logkey.Error, err)
		}
		l.problem(Problem{File: path, Line: line, Level: LevelError, Err: err})
		return
	}
	e.good, e.conflict = f, ""
	e.sc = f.Scene(l.opts.Inputs, l.opts.Report)
	l.log.Info("scene file loaded", logkey.File, path, logkey.Scene, f.name)
}

// readFile reads a scene file, refusing one over MaxFileSize.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("file is over %d bytes", MaxFileSize)
	}
	return data, nil
}

// assign gives each scene name to one file (the one that had it, else
// the first by file name), reports the others, and sets the catalog if
// the scenes changed.
func (l *Library) assign() {
	owner := make(map[string]string)
	for name, file := range l.owner {
		if e := l.files[file]; e != nil && e.good != nil && e.good.name == name {
			owner[name] = file
		}
	}
	for _, file := range slices.Sorted(maps.Keys(l.files)) {
		e := l.files[file]
		if e.good == nil {
			continue
		}
		n := e.good.name
		if other, taken := owner[n]; taken && other != file {
			msg := fmt.Sprintf("scene %q is defined in %s already; this file is not used", n, filepath.Join(l.opts.Dir, other))
			if e.conflict != msg {
				e.conflict = msg
				path := filepath.Join(l.opts.Dir, file)
				l.log.Error("scene file refused", logkey.File, path, logkey.Line, e.good.nameLine, logkey.Error, msg)
				l.problem(Problem{File: path, Line: e.good.nameLine, Level: LevelError, Err: errors.New(msg)})
			}
			continue
		}
		owner[n] = file
		e.conflict = ""
	}
	l.owner = owner
	var files []*File
	var scenes []scene.Scene
	for _, n := range slices.Sorted(maps.Keys(owner)) {
		e := l.files[owner[n]]
		files = append(files, e.good)
		scenes = append(scenes, e.sc)
	}
	if slices.Equal(files, l.current) && l.current != nil {
		return
	}
	first := l.current == nil
	l.current = files
	if l.current == nil {
		l.current = []*File{}
	}
	l.opts.Inputs.bind(scenes)
	all := make([]scene.Scene, 0, len(l.opts.Builtin.Names())+len(scenes))
	for _, name := range l.opts.Builtin.Names() {
		sc, _ := l.opts.Builtin.Lookup(name)
		all = append(all, sc)
	}
	all = append(all, scenes...)
	if l.opts.Catalog != nil && !(first && len(scenes) == 0) {
		l.opts.Catalog.Set(scene.NewRegistry(all...))
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.name
	}
	l.log.Info("scene files", logkey.Path, l.opts.Dir, logkey.Scenes, strings.Join(names, ", "))
}

// Scenes lists the scenes of the files now, by name.
func (l *Library) Scenes() []scene.Scene {
	var out []scene.Scene
	for _, n := range slices.Sorted(maps.Keys(l.owner)) {
		out = append(out, l.files[l.owner[n]].sc)
	}
	return out
}

func (l *Library) problem(p Problem) {
	if l.opts.Report != nil {
		l.opts.Report(p)
	}
}
