package main_test

import (
	"bufio"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// repoRoot is the repository, seen from this package.
const repoRoot = "../.."

// TestDockerfile_CrossBuildsOnPinnedImages: every base image is fully
// qualified (podman and buildah refuse short names) and pinned by digest;
// the build stage runs on the build machine's platform and cross-compiles
// for the target (no emulation), with GOARM from the variant, as a static
// binary.
func TestDockerfile_CrossBuildsOnPinnedImages(t *testing.T) {
	text := readRepoFile(t, "Dockerfile")
	from := regexp.MustCompile(`(?m)^FROM\s+(--platform=\S+\s+)?(\S+)`)
	pinned := regexp.MustCompile(`^[a-z0-9.-]+\.[a-z]+(:[0-9]+)?/[a-z0-9._/-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$`)
	froms := from.FindAllStringSubmatch(text, -1)
	if len(froms) < 2 {
		t.Fatalf("FROM lines %v: want a build stage and a runtime stage", froms)
	}
	for _, m := range froms {
		if !pinned.MatchString(m[2]) {
			t.Errorf("FROM %s: want a fully qualified image (registry/name:tag) pinned by @sha256 digest", m[2])
		}
	}
	if froms[0][1] == "" || !strings.Contains(froms[0][1], "$BUILDPLATFORM") {
		t.Errorf("build stage %q: want FROM --platform=$BUILDPLATFORM, so cross builds need no emulation", froms[0][0])
	}
	for _, want := range []string{"TARGETOS", "TARGETARCH", "TARGETVARIANT", "GOARM=", "CGO_ENABLED=0", `GOARCH="$TARGETARCH"`} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile has no %s", want)
		}
	}
	for _, want := range []string{"USER 65532", "HEALTHCHECK", `"healthcheck"`, "STOPSIGNAL SIGTERM", "TZ"} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile has no %s", want)
		}
	}
}

// TestCompose_HealthcheckAndTimeZone: the compose example declares the
// health check itself (images built as OCI by buildah or podman drop the
// Dockerfile's HEALTHCHECK), sets TZ for the clock, and names its images
// fully.
func TestCompose_HealthcheckAndTimeZone(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Image       string         `yaml:"image"`
			Environment map[string]any `yaml:"environment"`
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(readRepoFile(t, "examples/docker-compose.yml")), &compose); err != nil {
		t.Fatal(err)
	}
	svc, ok := compose.Services["pidicon-mqtt"]
	if !ok {
		t.Fatalf("no pidicon-mqtt service: %v", compose.Services)
	}
	if test := strings.Join(svc.Healthcheck.Test, " "); !strings.Contains(test, "pidicon-mqtt healthcheck") {
		t.Errorf("healthcheck test %q: want pidicon-mqtt healthcheck", test)
	}
	if tz, _ := svc.Environment["TZ"].(string); tz == "" {
		t.Errorf("environment %v: want TZ set for the clock", svc.Environment)
	}
	for name, s := range compose.Services {
		if name != "pidicon-mqtt" && !strings.Contains(strings.SplitN(s.Image, "/", 2)[0], ".") {
			t.Errorf("service %s: image %q is a short name; podman refuses those", name, s.Image)
		}
	}
}

// TestDockerignore_KeepsSecretsOut: the build context leaves out the
// examples' secrets, keys and certificates, state files and local build
// output, and keeps every file the build reads (Go sources, go.mod,
// go.sum, embedded files).
func TestDockerignore_KeepsSecretsOut(t *testing.T) {
	patterns := dockerignore(t)
	for _, p := range []string{
		"examples/mqtt-password.txt", "examples/passwd", ".env", "examples/.env",
		"certs/broker.pem", "examples/tls/broker.key", "ca.crt",
		"node_modules/x/index.js", "examples/node-red/node_modules/mqtt/package.json",
		"runtime-state.json", "data/runtime-state.json.corrupt-20260101T000000000Z", "runtime-state.json.tmp-123",
		"pidicon-mqtt", "dist/pidicon-mqtt", "cmd/pidicon-mqtt/pidicon-mqtt.test", ".git/config",
	} {
		if !ignored(patterns, p) {
			t.Errorf("%s reaches the build context", p)
		}
	}
	needed := []string{"go.mod", "go.sum"}
	err := filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." || d.Name() == "node_modules" || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		needed = append(needed, rel)
		for _, embed := range embeds(t, p) {
			matches, _ := filepath.Glob(filepath.Join(filepath.Dir(p), embed))
			for _, m := range matches {
				r, _ := filepath.Rel(repoRoot, m)
				needed = append(needed, filepath.ToSlash(r))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range needed {
		if ignored(patterns, p) {
			t.Errorf("%s is needed by the build but left out of the context", p)
		}
	}
}

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dockerignore reads the patterns of .dockerignore.
func dockerignore(t *testing.T) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(readRepoFile(t, ".dockerignore")))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

// embeds lists the patterns of a Go file's //go:embed lines.
func embeds(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "//go:embed "); ok {
			out = append(out, strings.Fields(rest)...)
		}
	}
	return out
}

// ignored applies .dockerignore patterns as the builder does: the last
// matching pattern wins ("!" takes a path back), "**" spans folders, and a
// pattern that matches a folder covers everything in it.
func ignored(patterns []string, name string) bool {
	out := false
	for _, p := range patterns {
		negate := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(path.Clean(strings.TrimPrefix(p, "!")), "/")
		parts := strings.Split(name, "/")
		for i := len(parts); i > 0; i-- {
			if matchParts(strings.Split(p, "/"), parts[:i]) {
				out = !negate
				break
			}
		}
	}
	return out
}

func matchParts(pattern, parts []string) bool {
	if len(pattern) == 0 {
		return len(parts) == 0
	}
	if pattern[0] == "**" {
		for i := 0; i <= len(parts); i++ {
			if matchParts(pattern[1:], parts[i:]) {
				return true
			}
		}
		return false
	}
	if len(parts) == 0 {
		return false
	}
	ok, _ := path.Match(pattern[0], parts[0])
	return ok && matchParts(pattern[1:], parts[1:])
}
