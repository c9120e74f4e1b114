package picture

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/pidicon/pidicon-mqtt/internal/atomicfile"
)

// storedExts lists the extensions of Store's files, one per format.
func storedExts() []string { return []string{formatPNG.ext(), formatGIF.ext(), formatJPEG.ext()} }

// Store keeps named images: the files of a folder it writes (each replaced
// atomically, as <name>.png, .gif or .jpg by the file's real format), and
// the files of the user's own folder, which it only reads. It hands out
// the images fitted to a display's size, keeping recent fittings so that
// displays showing the same image share one copy. It is safe for
// concurrent use.
type Store struct {
	dir, userDir string
	fsys         atomicfile.FS // the file system writes and removals use; tests interrupt them
	problems     []error

	// decoding holds a token while a full-size image is decoded, so that
	// one at a time is in memory.
	decoding chan struct{}
	// writeMu orders Put and Delete, from the file operations to the
	// update of images.
	writeMu sync.Mutex

	mu      sync.Mutex
	images  map[string]*stored
	gen     uint64 // counts changes; a stored image's version
	changed chan struct{}
	cache   cache
	loads   map[cacheKey]*load // fittings being made
}

// stored is one image of a Store.
type stored struct {
	info Info
	path string
	gen  uint64
}

// load is a fitting being made; its waiters read anim and err once done
// is closed.
type load struct {
	done chan struct{}
	anim *Animation
	err  error
}

// OpenStore reads the images of dir, the Store's folder (created if
// missing; the temporary files of interrupted writes are removed), and of
// userDir, the user's read-only folder ("" for none; it must exist). The
// user's files are <name>.png, .gif, .jpg or .jpeg, with a name CheckName
// takes; hidden files and folders are ignored. A file that cannot be used
// (an unexpected name, one that does not decode, a stored image the user's
// folder hides) is skipped and reported by Problems. The user's folder is
// read once: a file added later is seen by the next OpenStore.
func OpenStore(dir, userDir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open image store: %w", err)
	}
	s := &Store{
		dir:      dir,
		userDir:  userDir,
		fsys:     atomicfile.OS{},
		decoding: make(chan struct{}, 1),
		images:   make(map[string]*stored),
		changed:  make(chan struct{}),
		cache:    newCache(),
		loads:    make(map[cacheKey]*load),
	}
	if err := s.readDir(); err != nil {
		return nil, fmt.Errorf("open image store: %w", err)
	}
	if userDir != "" {
		if err := s.readUserDir(); err != nil {
			return nil, fmt.Errorf("open image store: %w", err)
		}
	}
	return s, nil
}

// readDir reads the Store's folder.
func (s *Store) readDir() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	cleaned := make(map[string]bool)
	for _, e := range entries {
		file := e.Name()
		path := filepath.Join(s.dir, file)
		if base, _, ok := strings.Cut(file, ".tmp-"); ok {
			if _, ok := storedName(base); ok {
				if !cleaned[base] {
					cleaned[base] = true
					if _, err := atomicfile.RemoveTemps(filepath.Join(s.dir, base)); err != nil {
						s.problems = append(s.problems, err)
					}
				}
				continue
			}
		}
		name, ok := storedName(file)
		if !ok || !e.Type().IsRegular() {
			s.problems = append(s.problems, fmt.Errorf("%s: not an image file of the store: want <name>.png, .gif or .jpg", path))
			continue
		}
		info, err := s.readInfo(path, name)
		if err != nil {
			s.problems = append(s.problems, err)
			continue
		}
		if old, ok := s.images[name]; ok {
			// Two formats of one name: a crash between a Put's write
			// and its removal of the old file. The newer one is the
			// image.
			older := path
			if newer(path, old.path) {
				older = old.path
				s.images[name] = &stored{info: info, path: path}
			}
			s.problems = append(s.problems, fmt.Errorf("%s: older file of image %s, ignored", older, name))
			continue
		}
		s.images[name] = &stored{info: info, path: path}
	}
	return nil
}

// readUserDir reads the user's folder, whose images hide stored ones.
func (s *Store) readUserDir() error {
	entries, err := os.ReadDir(s.userDir)
	if err != nil {
		return err
	}
	user := make(map[string]bool)
	for _, e := range entries {
		file := e.Name()
		path := filepath.Join(s.userDir, file)
		if strings.HasPrefix(file, ".") {
			continue
		}
		fi, err := os.Stat(path) // follows a link
		if err != nil {
			s.problems = append(s.problems, err)
			continue
		}
		if fi.IsDir() {
			continue
		}
		name, ok := userName(file)
		if !ok || !fi.Mode().IsRegular() {
			s.problems = append(s.problems, fmt.Errorf("%s: not an image file: want <name>.png, .gif, .jpg or .jpeg, the name as for a device id", path))
			continue
		}
		if user[name] {
			s.problems = append(s.problems, fmt.Errorf("%s: another file is image %s, ignored", path, name))
			continue
		}
		info, err := s.readInfo(path, name)
		if err != nil {
			s.problems = append(s.problems, err)
			continue
		}
		user[name] = true
		info.ReadOnly = true
		if old, ok := s.images[name]; ok {
			s.problems = append(s.problems, fmt.Errorf("%s: hidden by the read-only %s", old.path, path))
		}
		s.images[name] = &stored{info: info, path: path}
	}
	return nil
}

// storedName returns the image name of a file name of the Store's folder.
func storedName(file string) (string, bool) {
	ext := filepath.Ext(file)
	name := strings.TrimSuffix(file, ext)
	return name, slices.Contains(storedExts(), ext) && CheckName(name) == nil
}

// userName returns the image name of a file name of the user's folder.
func userName(file string) (string, bool) {
	ext := filepath.Ext(file)
	name := strings.TrimSuffix(file, ext)
	switch strings.ToLower(ext) {
	case ".png", ".gif", ".jpg", ".jpeg":
		return name, CheckName(name) == nil
	}
	return "", false
}

// newer reports whether file a was changed after file b.
func newer(a, b string) bool {
	ai, aerr := os.Stat(a)
	bi, berr := os.Stat(b)
	return aerr == nil && berr == nil && ai.ModTime().After(bi.ModTime())
}

// readInfo decodes a file to check it and describe it.
func (s *Store) readInfo(path, name string) (Info, error) {
	data, err := readFile(path)
	if err != nil {
		return Info{}, err
	}
	p, err := s.decode(data)
	if err != nil {
		return Info{}, fmt.Errorf("%s: %w", path, err)
	}
	return Info{Name: name, Width: p.Width, Height: p.Height, Frames: p.Frames()}, nil
}

// readFile reads a file of at most MaxFetch bytes.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := readAll(f, MaxFetch)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

// decode decodes data, one image at a time.
func (s *Store) decode(data []byte) (*Picture, error) {
	s.decoding <- struct{}{}
	defer func() { <-s.decoding }()
	return Decode(data)
}

// Problems lists the files OpenStore skipped, each error naming the file
// and why.
func (s *Store) Problems() []error { return slices.Clone(s.problems) }

// List describes every image, sorted by name.
func (s *Store) List() []Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Info, 0, len(s.images))
	for _, st := range s.images {
		out = append(out, st.info)
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Changed returns a channel that is closed at the next change of the
// images by Put or Delete. Ask for it before List to miss no change.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// readOnly reports whether name is an image of the user's folder.
func (s *Store) readOnly(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.images[name]
	return ok && st.info.ReadOnly
}

// Put stores data, a PNG, GIF or JPEG file of at most MaxFetch bytes, as
// the image name, replacing the image of that name. It refuses a bad name
// (ErrName), an image of the user's folder (ErrReadOnly), too large a file
// (ErrTooLarge) and one that does not decode fully (ErrNotImage), leaving
// the folder as it was. An error after the new file is in place (its
// folder not synced, the old file of another format not removed) comes
// with the new image's Info: it is listed and shown.
func (s *Store) Put(name string, data []byte) (Info, error) {
	if err := CheckName(name); err != nil {
		return Info{}, err
	}
	if s.readOnly(name) {
		return Info{}, fmt.Errorf("%w: %s is a file of %s", ErrReadOnly, name, s.userDir)
	}
	if len(data) > MaxFetch {
		return Info{}, fmt.Errorf("%w: image %s: %d bytes, more than %d", ErrTooLarge, name, len(data), MaxFetch)
	}
	p, err := s.decode(data)
	if err != nil {
		return Info{}, fmt.Errorf("image %s: %w", name, err)
	}
	info := Info{Name: name, Width: p.Width, Height: p.Height, Frames: p.Frames()}
	path := filepath.Join(s.dir, name+p.format.ext())
	p = nil // the pixels are not kept

	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	werr := atomicfile.WriteFS(s.fsys, path, data)
	if werr != nil && !holds(path, data) {
		return Info{}, fmt.Errorf("store image %s: %w", name, werr)
	}
	rerr := s.removeFiles(name, path)
	s.mu.Lock()
	s.gen++
	s.images[name] = &stored{info: info, path: path, gen: s.gen}
	s.changedLocked(name)
	s.mu.Unlock()
	if err := errors.Join(werr, rerr); err != nil {
		return info, fmt.Errorf("store image %s: %w", name, err)
	}
	return info, nil
}

// holds reports whether the file at path holds data.
func holds(path string, data []byte) bool {
	got, err := os.ReadFile(path)
	return err == nil && bytes.Equal(got, data)
}

// Delete removes the image name from the Store's folder. It refuses an
// image of the user's folder (ErrReadOnly) and an unknown one
// (ErrNotFound).
func (s *Store) Delete(name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if s.readOnly(name) {
		return fmt.Errorf("%w: %s is a file of %s", ErrReadOnly, name, s.userDir)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	st, ok := s.images[name]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	err := s.removeFiles(name, "")
	if _, serr := os.Stat(st.path); errors.Is(serr, fs.ErrNotExist) {
		s.mu.Lock()
		s.gen++
		delete(s.images, name)
		s.changedLocked(name)
		s.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("delete image %s: %w", name, err)
	}
	return nil
}

// removeFiles removes the Store's files of the image name but keep, and
// syncs the folder if it removed one.
func (s *Store) removeFiles(name, keep string) error {
	var errs []error
	removed := false
	for _, ext := range storedExts() {
		path := filepath.Join(s.dir, name+ext)
		if path == keep {
			continue
		}
		switch err := s.fsys.Remove(path); {
		case err == nil:
			removed = true
		case !errors.Is(err, fs.ErrNotExist):
			errs = append(errs, err)
		}
	}
	if removed {
		if err := atomicfile.SyncDirFS(s.fsys, s.dir); err != nil {
			errs = append(errs, fmt.Errorf("sync folder: %w", err))
		}
	}
	return errors.Join(errs...)
}

// changedLocked forgets the fittings of the image name and announces a
// change. s.mu is held.
func (s *Store) changedLocked(name string) {
	s.cache.drop(name)
	close(s.changed)
	s.changed = make(chan struct{})
}

// Scaled returns the image name fitted into w x h over background, as
// Picture.Scaled does, or an error wrapping ErrNotFound. Fittings are kept
// (up to 32 MiB of frames, the least recently used dropped first) until
// the image changes, and shared: the Animation must not be changed. The
// full-size image is decoded for a fitting not kept, and dropped after.
func (s *Store) Scaled(name string, w, h int, fit Fit, background color.RGBA) (*Animation, error) {
	fit, err := ParseFit(string(fit))
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	if w < 1 || h < 1 {
		return nil, fmt.Errorf("image %s: scale to %dx%d: want at least 1x1", name, w, h)
	}
	s.mu.Lock()
	st, ok := s.images[name]
	if !ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	key := cacheKey{name: name, gen: st.gen, w: w, h: h, fit: fit, bg: background}
	if a, ok := s.cache.get(key); ok {
		s.mu.Unlock()
		return a, nil
	}
	l, loading := s.loads[key]
	if !loading {
		l = &load{done: make(chan struct{}), err: errors.New("fitting interrupted")}
		s.loads[key] = l
	}
	s.mu.Unlock()

	if loading {
		<-l.done
	} else {
		s.fitting(l, key, st.path)
	}
	if l.err != nil {
		return nil, fmt.Errorf("image %s: %w", name, l.err)
	}
	return l.anim, nil
}

// fitting makes the fitting key of the file at path for l's waiters, and
// keeps it unless the image changed meanwhile.
func (s *Store) fitting(l *load, key cacheKey, path string) {
	defer func() {
		s.mu.Lock()
		delete(s.loads, key)
		if st, ok := s.images[key.name]; ok && st.gen == key.gen && l.err == nil {
			s.cache.put(key, l.anim)
		}
		s.mu.Unlock()
		close(l.done)
	}()
	data, err := readFile(path)
	if err != nil {
		l.err = err
		return
	}
	s.decoding <- struct{}{}
	defer func() { <-s.decoding }()
	p, err := Decode(data)
	if err != nil {
		l.err = fmt.Errorf("%s: %w", path, err)
		return
	}
	l.anim, l.err = p.Scaled(key.w, key.h, key.fit, key.bg)
}
