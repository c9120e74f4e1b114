package userscene_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/scene"
	"github.com/pidicon/pidicon-mqtt/device/userscene"
)

// library is a Library on a temporary folder, with what it reports.
type library struct {
	t       *testing.T
	dir     string
	catalog *scene.Catalog
	lib     *userscene.Library
	p       *problems
}

// newLibrary makes a library that scans every poll (when it runs); files
// written less than a poll ago that fail are read once more.
func newLibrary(t *testing.T, poll time.Duration) *library {
	t.Helper()
	l := &library{t: t, dir: t.TempDir(), catalog: scene.NewCatalog(scene.Builtin()), p: new(problems)}
	l.lib = userscene.New(userscene.Options{Dir: l.dir, Builtin: scene.Builtin(), Catalog: l.catalog, Report: l.p.report, Poll: poll})
	return l
}

func (l *library) write(name, text string) {
	l.t.Helper()
	if err := os.WriteFile(filepath.Join(l.dir, name), []byte(text), 0o644); err != nil {
		l.t.Fatal(err)
	}
}

func (l *library) remove(name string) {
	l.t.Helper()
	if err := os.Remove(filepath.Join(l.dir, name)); err != nil {
		l.t.Fatal(err)
	}
}

// description is the description of scene name in the catalog, "" if it
// is not there.
func (l *library) description(name string) string {
	sc, ok := l.catalog.Lookup(name)
	if !ok {
		return ""
	}
	return sc.Description
}

func dash(description string) string {
	return "name: dash\ndescription: " + description + "\nlayers:\n  - type: fill\n"
}

// TestLibrary_Reload walks a scene file through its life: added, changed,
// broken (reported with file and line, the previous version kept and
// reported once), removed (reported), back.
func TestLibrary_Reload(t *testing.T) {
	l := newLibrary(t, time.Hour)
	l.lib.Scan()
	if got := len(l.catalog.Registry().Names()); got != len(scene.Builtin().Names()) {
		t.Fatalf("an empty folder gives %d scenes", got)
	}
	l.write("dash.yaml", dash("one"))
	l.write("notes.txt", "not a scene")
	l.write(".dash.yaml.swp", "an editor's")
	changed := l.catalog.Changed()
	l.lib.Scan()
	if l.description("dash") != "one" || !isClosed(changed) {
		t.Fatal("an added file is not in the catalog")
	}
	if names := l.catalog.Registry().Names(); names[len(names)-1] != "dash" || len(names) != len(scene.Builtin().Names())+1 {
		t.Errorf("scenes %v: want the built-in ones, then dash", names)
	}
	l.write("dash.yaml", dash("two"))
	l.lib.Scan()
	if l.description("dash") != "two" {
		t.Fatal("a changed file is not read again")
	}

	changed = l.catalog.Changed()
	l.write("dash.yaml", "name: dash\ndescription: three\nlayers:\n  - type: fill\n    color: nope\n")
	l.lib.Scan()
	if got := l.p.take(); len(got) != 0 {
		t.Errorf("a file that fails just after it was written (perhaps half written) is reported at once: %+v", got)
	}
	l.lib.Scan()
	l.lib.Scan()
	if l.description("dash") != "two" || isClosed(changed) {
		t.Error("a broken file replaced the previous version")
	}
	got := l.p.take()
	if len(got) != 1 || got[0].File != filepath.Join(l.dir, "dash.yaml") || got[0].Line != 5 || got[0].Level != userscene.LevelError {
		t.Fatalf("problems %+v, want one about dash.yaml line 5", got)
	}

	l.remove("dash.yaml")
	l.lib.Scan()
	if l.description("dash") != "" {
		t.Error("a removed file's scene is still there")
	}
	if got := l.p.take(); len(got) != 1 || !strings.Contains(got[0].Err.Error(), "removed") {
		t.Errorf("problems after removing: %+v", got)
	}
	l.write("dash.yaml", dash("four"))
	l.lib.Scan()
	if l.description("dash") != "four" {
		t.Error("a file put back is not read")
	}
	if got := l.p.take(); len(got) != 0 {
		t.Errorf("problems: %+v", got)
	}
}

func TestLibrary_Names(t *testing.T) {
	l := newLibrary(t, time.Hour)
	l.write("a.yaml", dash("from a"))
	l.write("b.yaml", dash("from b"))
	l.write("c.yaml", "name: clock\nlayers: [{type: fill}]\n")
	l.lib.Scan()
	l.lib.Scan() // a file that fails just after it was written is read once more
	if l.description("dash") != "from a" {
		t.Errorf("dash is %q, want the first file's", l.description("dash"))
	}
	if sc, _ := l.catalog.Lookup("clock"); sc.Source != "" {
		t.Error("a scene file took a built-in scene's name")
	}
	got := l.p.take()
	if len(got) != 2 || !strings.Contains(got[0].Err.Error()+got[1].Err.Error(), "a.yaml already") ||
		!strings.Contains(got[0].Err.Error()+got[1].Err.Error(), "built-in") {
		t.Fatalf("problems %+v", got)
	}
	// The name stays with its file while it has it; then the other gets it.
	l.write("b.yaml", dash("from b, changed"))
	l.lib.Scan()
	if l.description("dash") != "from a" {
		t.Errorf("dash is %q, want still a's", l.description("dash"))
	}
	l.remove("a.yaml")
	l.lib.Scan()
	if l.description("dash") != "from b, changed" {
		t.Errorf("dash is %q after a.yaml went, want b's", l.description("dash"))
	}
}

// TestLibrary_Run: Run notices a new file within its poll period.
func TestLibrary_Run(t *testing.T) {
	l := newLibrary(t, 10*time.Millisecond)
	l.lib.Scan()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { l.lib.Run(ctx) })
	defer func() {
		cancel()
		wg.Wait()
	}()
	changed := l.catalog.Changed()
	l.write("dash.yaml", dash("live"))
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not notice a new file")
	}
	if l.description("dash") != "live" {
		t.Error("the new scene is not in the catalog")
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
