package picture_test

import (
	"bytes"
	"errors"
	"image"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/internal/testkit"
)

// files lists the names in dir.
func files(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func openStore(t *testing.T, dir, userDir string) *picture.Store {
	t.Helper()
	s, err := picture.OpenStore(dir, userDir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t *testing.T, s *picture.Store, name string, data []byte) picture.Info {
	t.Helper()
	info, err := s.Put(name, data)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// closed reports whether ch is closed, without waiting.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestStore_putListReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "images") // created by OpenStore
	s := openStore(t, dir, "")
	if got := s.List(); len(got) != 0 {
		t.Fatalf("new store lists %v", got)
	}
	uploads := map[string][]byte{
		"cat":   testkit.PNG(t, pixelArt()),
		"anim":  disposalGIF(t),
		"photo": encodeJPEG(t, photo(64, 48)),
	}
	changed := s.Changed()
	for name, data := range uploads {
		put(t, s, name, data)
	}
	if !closed(changed) {
		t.Error("Changed not closed by Put")
	}
	want := []picture.Info{
		{Name: "anim", Width: 8, Height: 8, Frames: 4},
		{Name: "cat", Width: 16, Height: 16, Frames: 1},
		{Name: "photo", Width: 64, Height: 48, Frames: 1},
	}
	if got := s.List(); !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	if got := files(t, dir); !slices.Equal(got, []string{"anim.gif", "cat.png", "photo.jpg"}) {
		t.Fatalf("folder holds %v", got)
	}
	for name, data := range uploads {
		matches, _ := filepath.Glob(filepath.Join(dir, name+".*"))
		if got, err := os.ReadFile(matches[0]); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: stored file differs from the upload: %v", name, err)
		}
	}

	again := openStore(t, dir, "")
	if got := again.List(); !slices.Equal(got, want) {
		t.Fatalf("after reopening, List = %v, want %v", got, want)
	}
	if p := again.Problems(); len(p) != 0 {
		t.Errorf("problems: %v", p)
	}
	for _, info := range want {
		a1, err1 := s.Scaled(info.Name, 32, 8, picture.Contain, background)
		a2, err2 := again.Scaled(info.Name, 32, 8, picture.Contain, background)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if len(a1.Frames) != info.Frames || !slices.Equal(a1.Delays, a2.Delays) {
			t.Fatalf("%s: %d frames, delays %v and %v", info.Name, len(a1.Frames), a1.Delays, a2.Delays)
		}
		for i := range a1.Frames {
			if !bytes.Equal(a1.Frames[i].Pix, a2.Frames[i].Pix) {
				t.Errorf("%s: frame %d differs after reopening", info.Name, i)
			}
		}
	}
}

func TestStore_replace(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, "")
	put(t, s, "x", testkit.PNG(t, pixelArt()))
	info := put(t, s, "x", disposalGIF(t))
	if want := (picture.Info{Name: "x", Width: 8, Height: 8, Frames: 4}); info != want {
		t.Errorf("Put = %v, want %v", info, want)
	}
	// The file's name follows what the data is, not the old file.
	if got := files(t, dir); !slices.Equal(got, []string{"x.gif"}) {
		t.Fatalf("folder holds %v, want only x.gif", got)
	}
	if got := s.List(); len(got) != 1 || got[0] != info {
		t.Errorf("List = %v", got)
	}
}

func TestStore_delete(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, "")
	put(t, s, "a", testkit.PNG(t, pixelArt()))
	put(t, s, "b", testkit.PNG(t, pixelArt()))
	changed := s.Changed()
	if err := s.Delete("a"); err != nil {
		t.Fatal(err)
	}
	if !closed(changed) {
		t.Error("Changed not closed by Delete")
	}
	if got := files(t, dir); !slices.Equal(got, []string{"b.png"}) {
		t.Fatalf("folder holds %v", got)
	}
	if got := s.List(); len(got) != 1 || got[0].Name != "b" {
		t.Errorf("List = %v", got)
	}
	if _, err := s.Scaled("a", 8, 8, picture.Contain, black); !errors.Is(err, picture.ErrNotFound) {
		t.Errorf("Scaled of a deleted image = %v, want ErrNotFound", err)
	}
	for _, name := range []string{"a", "never"} {
		if err := s.Delete(name); !errors.Is(err, picture.ErrNotFound) {
			t.Errorf("Delete(%q) = %v, want ErrNotFound", name, err)
		}
	}
	if err := s.Delete("../b"); !errors.Is(err, picture.ErrName) {
		t.Errorf("Delete(../b) = %v, want ErrName", err)
	}
	if got := openStore(t, dir, "").List(); len(got) != 1 || got[0].Name != "b" {
		t.Errorf("after reopening, List = %v", got)
	}
}

// TestStore_refused: a refused Put changes nothing, on disk or listed.
func TestStore_refused(t *testing.T) {
	good := testkit.PNG(t, pixelArt())
	full := disposalGIF(t)
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"Keep", good, picture.ErrName},
		{"../keep", good, picture.ErrName},
		{"keep.png", good, picture.ErrName},
		{"", good, picture.ErrName},
		{"keep", nil, picture.ErrNotImage},
		{"keep", []byte("<html>not found</html>"), picture.ErrNotImage},
		{"keep", full[:len(full)/2], picture.ErrNotImage},
		{"keep", rawPNG(100000, 100000), picture.ErrTooLarge},
		{"keep", append(slices.Clone(good), make([]byte, picture.MaxFetch)...), picture.ErrTooLarge},
		{"new", rawGIF(1000, 1000, make([]image.Rectangle, 100), true), picture.ErrTooLarge},
	}
	dir := t.TempDir()
	s := openStore(t, dir, "")
	put(t, s, "keep", good)
	list, folder := s.List(), files(t, dir)
	changed := s.Changed()
	for _, tt := range tests {
		info, err := s.Put(tt.name, tt.data)
		if !errors.Is(err, tt.want) || info != (picture.Info{}) {
			t.Errorf("Put(%q, %d bytes) = %v, %v; want %v", tt.name, len(tt.data), info, err, tt.want)
		}
	}
	if got := s.List(); !slices.Equal(got, list) {
		t.Errorf("List = %v, want %v", got, list)
	}
	if got := files(t, dir); !slices.Equal(got, folder) {
		t.Errorf("folder holds %v, want %v", got, folder)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "keep.png")); !bytes.Equal(got, good) {
		t.Error("keep.png changed")
	}
	if closed(changed) {
		t.Error("Changed closed by refused Puts")
	}
}

// TestStore_userDir: the user's images are listed, shown and never
// changed; files that are not images are reported.
func TestStore_userDir(t *testing.T) {
	dir, userDir := t.TempDir(), t.TempDir()
	write := func(dir, name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	art := testkit.PNG(t, pixelArt())
	write(userDir, "sun.PNG", art)
	write(userDir, "moon.jpeg", encodeJPEG(t, photo(30, 20)))
	write(userDir, "anim.gif", disposalGIF(t))
	write(userDir, "Big Cat.png", art)        // not a name
	write(userDir, "notes.txt", []byte("hi")) // not an image file name
	write(userDir, "broken.gif", []byte("GIF89a"))
	write(userDir, "twice.jpg", encodeJPEG(t, photo(8, 8)))
	write(userDir, "twice.png", art)
	write(userDir, ".hidden.png", []byte("ignored"))
	if err := os.Mkdir(filepath.Join(userDir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(dir, "sun.png", testkit.PNG(t, photo(10, 10))) // hidden by the user's sun

	s := openStore(t, dir, userDir)
	want := []picture.Info{
		{Name: "anim", Width: 8, Height: 8, Frames: 4, ReadOnly: true},
		{Name: "moon", Width: 30, Height: 20, Frames: 1, ReadOnly: true},
		{Name: "sun", Width: 16, Height: 16, Frames: 1, ReadOnly: true},
		{Name: "twice", Width: 8, Height: 8, Frames: 1, ReadOnly: true},
	}
	if got := s.List(); !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	var problems []string
	for _, err := range s.Problems() {
		problems = append(problems, err.Error())
	}
	for _, says := range []string{"Big Cat.png: not an image file", "notes.txt: not an image file", "broken.gif: not a valid",
		"twice.png: another file is image twice", "sun.png: hidden by the read-only"} {
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, says) }) {
			t.Errorf("no problem says %q: %q", says, problems)
		}
	}
	if len(problems) != 5 {
		t.Errorf("%d problems, want 5: %q", len(problems), problems)
	}

	before := files(t, userDir)
	if _, err := s.Put("sun", art); !errors.Is(err, picture.ErrReadOnly) {
		t.Errorf("Put over a user's image = %v, want ErrReadOnly", err)
	}
	if err := s.Delete("moon"); !errors.Is(err, picture.ErrReadOnly) {
		t.Errorf("Delete of a user's image = %v, want ErrReadOnly", err)
	}
	if got := files(t, userDir); !slices.Equal(got, before) {
		t.Errorf("user's folder changed: %v", got)
	}
	a, err := s.Scaled("sun", 64, 64, picture.Contain, black)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.Frames[0].RGBAAt(5, 5), pixelArt().RGBAAt(1, 1); got != want {
		t.Errorf("user's sun shows %v at (5,5), want %v", got, want)
	}

	if _, err := picture.OpenStore(dir, filepath.Join(userDir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenStore with a missing user folder = %v, want fs.ErrNotExist", err)
	}
}

// TestStore_folderProblems: what a crash or a user leaves in the store's
// folder is cleaned up or reported, never fatal.
func TestStore_folderProblems(t *testing.T) {
	dir := t.TempDir()
	art := testkit.PNG(t, pixelArt())
	write := func(name string, data []byte, age time.Duration) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		mtime := time.Now().Add(-age)
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	write("good.png", art, 0)
	write("corrupt.png", []byte("\x89PNG\r\n\x1a\nrubbish"), 0)
	write("README.txt", []byte("hello"), 0)
	write("good.png.tmp-12345", art[:10], 0)   // an interrupted write
	write("other.gif.tmp-1", []byte("GIF"), 0) // of an image never stored
	write("both.gif", disposalGIF(t), time.Hour)
	write("both.png", art, 0) // the newer one: a Put crashed before removing both.gif

	s := openStore(t, dir, "")
	want := []picture.Info{
		{Name: "both", Width: 16, Height: 16, Frames: 1},
		{Name: "good", Width: 16, Height: 16, Frames: 1},
	}
	if got := s.List(); !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	problems := s.Problems()
	if len(problems) != 3 {
		t.Errorf("problems %v, want 3", problems)
	}
	if !slices.ContainsFunc(problems, func(err error) bool {
		return errors.Is(err, picture.ErrNotImage) && strings.Contains(err.Error(), "corrupt.png")
	}) {
		t.Errorf("corrupt.png not reported as not an image: %v", problems)
	}
	if got, want := files(t, dir), []string{"README.txt", "both.gif", "both.png", "corrupt.png", "good.png"}; !slices.Equal(got, want) {
		t.Errorf("folder holds %v, want %v (temporary files removed, nothing else)", got, want)
	}
	// The next change of "both" removes the older file.
	put(t, s, "both", art)
	if slices.Contains(files(t, dir), "both.gif") {
		t.Error("both.gif left after a Put of both")
	}
}

// TestStore_cache: a fitting is made once and shared, and made anew after
// the image changes.
func TestStore_cache(t *testing.T) {
	s := openStore(t, t.TempDir(), "")
	put(t, s, "p", gifOf(t, 4, 4, frameOf(image.Rect(0, 0, 4, 4), red)))

	a1, err := s.Scaled("p", 64, 64, picture.Contain, black)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := s.Scaled("p", 64, 64, "", black) // "" is Contain
	if err != nil {
		t.Fatal(err)
	}
	if a1 != a2 {
		t.Error("the same fitting was made twice")
	}
	if a3, _ := s.Scaled("p", 32, 8, picture.Contain, black); a3 == a1 {
		t.Error("another size shared a fitting")
	}
	if a4, _ := s.Scaled("p", 64, 64, picture.Contain, white); a4 == a1 {
		t.Error("another background shared a fitting")
	}

	put(t, s, "p", gifOf(t, 4, 4, frameOf(image.Rect(0, 0, 4, 4), blue)))
	a5, err := s.Scaled("p", 64, 64, picture.Contain, black)
	if err != nil {
		t.Fatal(err)
	}
	if a5 == a1 || a5.Frames[0].RGBAAt(10, 10) != blue {
		t.Errorf("after a Put, the fitting shows %v, want the new image", a5.Frames[0].RGBAAt(10, 10))
	}

	if _, err := s.Scaled("p", 0, 8, picture.Contain, black); err == nil {
		t.Error("Scaled to 0x8 succeeded")
	}
	if _, err := s.Scaled("p", 8, 8, "zoom", black); err == nil {
		t.Error("Scaled with fit zoom succeeded")
	}
}

// TestStore_concurrent: displays asking for one fitting at once share
// one; Puts, Deletes and Lists run alongside (run with -race).
func TestStore_concurrent(t *testing.T) {
	s := openStore(t, t.TempDir(), "")
	put(t, s, "shared", animatedGIF(t, 64, 64, 20))
	put(t, s, "churn", testkit.PNG(t, pixelArt()))

	const displays = 16
	got := make([]*picture.Animation, displays)
	var wg sync.WaitGroup
	for i := range displays {
		wg.Go(func() {
			a, err := s.Scaled("shared", 32, 8, picture.Cover, black)
			if err != nil {
				t.Error(err)
			}
			got[i] = a
		})
	}
	churn := testkit.PNG(t, photo(10, 10))
	wg.Go(func() {
		for i := range 20 {
			if i%2 == 0 {
				s.Put("churn", churn)
			} else {
				s.Delete("churn")
			}
			s.Scaled("churn", 8, 8, picture.Contain, black)
			s.List()
		}
	})
	wg.Wait()
	for i, a := range got {
		if a != got[0] {
			t.Fatalf("display %d got its own fitting", i)
		}
	}
}
