// Command krew builds the kubectl plugin's release archives (one tar.gz per platform
// of plugins/crmauthz.yaml) and renders that krew-release-bot template with their
// sha256s into the output directory, as a release does: `make plugin-dist`.
//
// usage: go run ./hack/krew -version v0.1.0 -out dist [-platforms linux/amd64,...]
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"time"

	"sigs.k8s.io/yaml"
)

func main() {
	version := flag.String("version", "", "the release tag, e.g. v0.1.0")
	out := flag.String("out", "dist", "directory for the archives and the manifest")
	only := flag.String("platforms", "", "build and list only these os/arch (comma-separated; default: every platform of the template)")
	flag.Parse()
	if err := run(*version, *out, *only); err != nil {
		fmt.Fprintln(os.Stderr, "krew:", err)
		os.Exit(1)
	}
}

// archiveName is the archive of a platform, as the template's URIs name it.
var archiveName = regexp.MustCompile(`kubectl-crmauthz_([a-z0-9]+)_([a-z0-9]+)\.tar\.gz`)

func run(version, out, only string) error {
	if !strings.HasPrefix(version, "v") {
		return fmt.Errorf("-version %q: want a tag such as v0.1.0", version)
	}
	tmpl, err := os.ReadFile(filepath.Join("plugins", "crmauthz.yaml"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	build := map[string]bool{}
	for _, p := range strings.Split(only, ",") {
		build[p] = p != ""
	}
	// addURIAndSha is krew-release-bot's: the URI (itself a template of the tag) and
	// the sha256 of the archive it names.
	funcs := template.FuncMap{"addURIAndSha": func(uriTmpl, tag string) (string, error) {
		uri := strings.ReplaceAll(uriTmpl, "{{ .TagName }}", tag)
		m := archiveName.FindStringSubmatch(uri)
		if m == nil {
			return "", fmt.Errorf("%s names no platform archive", uri)
		}
		path := filepath.Join(out, m[0])
		if only != "" && !build[m[1]+"/"+m[2]] {
			return "uri: " + uri + "\n    sha256: " + strings.Repeat("0", 64), nil // pruned below
		}
		if err := archive(version, m[1], m[2], path); err != nil {
			return "", err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256(data)
		return fmt.Sprintf("uri: %s\n    sha256: %s", uri, hex.EncodeToString(sum[:])), nil
	}}
	t, err := template.New("crmauthz.yaml").Funcs(funcs).Parse(string(tmpl))
	if err != nil {
		return err
	}
	var manifest bytes.Buffer
	if err := t.Execute(&manifest, map[string]string{"TagName": version}); err != nil {
		return err
	}
	data := manifest.Bytes()
	if only != "" {
		if data, err = prune(data, build); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(out, "crmauthz.yaml"), data, 0o644)
}

// prune keeps the platforms built (os/arch in keep) in a rendered manifest.
func prune(manifest []byte, keep map[string]bool) ([]byte, error) {
	var m map[string]any
	if err := yaml.Unmarshal(manifest, &m); err != nil {
		return nil, err
	}
	spec := m["spec"].(map[string]any)
	var kept []any
	for _, p := range spec["platforms"].([]any) {
		labels := p.(map[string]any)["selector"].(map[string]any)["matchLabels"].(map[string]any)
		if keep[fmt.Sprint(labels["os"], "/", labels["arch"])] {
			kept = append(kept, p)
		}
	}
	if len(kept) == 0 {
		return nil, errors.New("-platforms names no platform of the template")
	}
	spec["platforms"] = kept
	return yaml.Marshal(m)
}

// archive builds the plugin for goos/goarch and packs it into a tar.gz whose bytes
// depend only on the binary (fixed times, owners and modes).
func archive(version, goos, goarch, path string) error {
	bin := filepath.Join(filepath.Dir(path), "kubectl-crmauthz-"+goos+"-"+goarch)
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -X github.com/crmauthz/crmauthz/internal/cli.Version="+version, "-o", bin, "./cmd/kubectl-crmauthz")
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building %s/%s: %w", goos, goarch, err)
	}
	defer os.Remove(bin)
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	hdr := &tar.Header{Name: "kubectl-crmauthz", Mode: 0o755, Size: int64(len(data)), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := tw.Write(data); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "krew: %s (%d bytes)\n", path, buf.Len())
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
