package picture

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pidicon/pidicon-mqtt/internal/atomicfile/atomicfiletest"
)

func pngFile(t *testing.T, c color.RGBA) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func dirNames(t *testing.T, dir string) []string {
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

// TestStore_diskFailures makes each file operation of a Put or Delete fail
// and checks that what is listed is what is on disk.
func TestStore_diskFailures(t *testing.T) {
	errDisk := errors.New("disk on fire")
	failAt := func(op atomicfiletest.Op) *atomicfiletest.FS {
		return &atomicfiletest.FS{Fail: func(got atomicfiletest.Op) error {
			if got == op {
				return errDisk
			}
			return nil
		}}
	}
	oldData, newData := pngFile(t, color.RGBA{R: 255, A: 255}), pngFile(t, color.RGBA{B: 255, A: 255})

	// Before the rename the old image stays; after it the new one is
	// there, and listed, though Put reports the error.
	for _, op := range []atomicfiletest.Op{
		atomicfiletest.Create, atomicfiletest.Write, atomicfiletest.Sync, atomicfiletest.Close, atomicfiletest.Rename,
		atomicfiletest.OpenDir, atomicfiletest.SyncDir, atomicfiletest.CloseDir,
	} {
		t.Run("put/"+string(op), func(t *testing.T) {
			dir := t.TempDir()
			s, err := OpenStore(dir, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Put("x", oldData); err != nil {
				t.Fatal(err)
			}
			s.fsys = failAt(op)
			info, err := s.Put("x", newData)
			if !errors.Is(err, errDisk) {
				t.Fatalf("Put = %v, want the disk's error", err)
			}
			renamed := op == atomicfiletest.OpenDir || op == atomicfiletest.SyncDir || op == atomicfiletest.CloseDir
			if got := info != (Info{}); got != renamed {
				t.Errorf("Put returned %v; want an Info only once the file is in place", info)
			}
			want := oldData
			if renamed {
				want = newData
			}
			if got, _ := os.ReadFile(filepath.Join(dir, "x.png")); !bytes.Equal(got, want) {
				t.Errorf("x.png holds the %s image", map[bool]string{true: "new", false: "old"}[bytes.Equal(got, newData)])
			}
			if got := dirNames(t, dir); !slices.Equal(got, []string{"x.png"}) {
				t.Errorf("folder holds %v", got)
			}
			a, err := s.Scaled("x", 1, 1, Stretch, color.RGBA{})
			if err != nil {
				t.Fatal(err)
			}
			if got, wantBlue := a.Frames[0].RGBAAt(0, 0).B == 255, renamed; got != wantBlue {
				t.Errorf("shown image is the new one: %v, want %v", got, wantBlue)
			}
		})
	}

	for _, op := range []atomicfiletest.Op{atomicfiletest.Remove, atomicfiletest.SyncDir} {
		t.Run("delete/"+string(op), func(t *testing.T) {
			dir := t.TempDir()
			s, err := OpenStore(dir, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Put("x", oldData); err != nil {
				t.Fatal(err)
			}
			s.fsys = failAt(op)
			if err := s.Delete("x"); !errors.Is(err, errDisk) {
				t.Fatalf("Delete = %v, want the disk's error", err)
			}
			removed := op != atomicfiletest.Remove
			if got := len(dirNames(t, dir)) == 0; got != removed {
				t.Errorf("file removed: %v, want %v", got, removed)
			}
			if got := len(s.List()) == 0; got != removed {
				t.Errorf("image unlisted: %v, want %v", got, removed)
			}
		})
	}
}

// TestStore_deleteSyncsFolder: a removal is followed by a sync of the
// folder, so that it survives a power cut.
func TestStore_deleteSyncsFolder(t *testing.T) {
	s, err := OpenStore(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put("x", pngFile(t, color.RGBA{A: 255})); err != nil {
		t.Fatal(err)
	}
	var rec atomicfiletest.FS
	s.fsys = &rec
	if err := s.Delete("x"); err != nil {
		t.Fatal(err)
	}
	want := []atomicfiletest.Op{
		atomicfiletest.Remove, atomicfiletest.Remove, atomicfiletest.Remove, // .png, .gif, .jpg
		atomicfiletest.OpenDir, atomicfiletest.SyncDir, atomicfiletest.CloseDir,
	}
	if got := rec.Ops(); !slices.Equal(got, want) {
		t.Errorf("operations %v, want %v", got, want)
	}
}
