// elfcheck checks that a binary is a static Linux executable for the
// given platform: its ELF header (class, machine), no interpreter and no
// shared libraries, and the Go build settings it records.
//
//	go run .ci/elfcheck.go pidicon-mqtt-linux-arm linux/arm/v7
package main

import (
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"os"
	"strings"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: elfcheck BINARY linux/amd64|linux/arm64|linux/arm/v7")
		os.Exit(2)
	}
	if err := check(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	fmt.Printf("%s: static ELF for %s\n", os.Args[1], os.Args[2])
}

func check(path, platform string) error {
	want := map[string]struct {
		class   elf.Class
		machine elf.Machine
		arch    string
		goarm   string
	}{
		"linux/amd64":  {elf.ELFCLASS64, elf.EM_X86_64, "amd64", ""},
		"linux/arm64":  {elf.ELFCLASS64, elf.EM_AARCH64, "arm64", ""},
		"linux/arm/v7": {elf.ELFCLASS32, elf.EM_ARM, "arm", "7"},
	}[platform]
	if want.arch == "" {
		return fmt.Errorf("unknown platform %s", platform)
	}
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Class != want.class || f.Machine != want.machine || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		return fmt.Errorf("ELF %v %v %v, want %v %v", f.Class, f.Machine, f.OSABI, want.class, want.machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("has an interpreter: dynamically linked")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return fmt.Errorf("needs shared libraries %s", strings.Join(libs, ", "))
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return err
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	for key, value := range map[string]string{"GOOS": "linux", "GOARCH": want.arch, "CGO_ENABLED": "0", "GOARM": want.goarm} {
		if settings[key] != value {
			return fmt.Errorf("built with %s=%q, want %q", key, settings[key], value)
		}
	}
	return nil
}
