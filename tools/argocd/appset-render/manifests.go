package main

// The -manifests mode: what the repo-server would generate for each Application, with
// its own code (reposerver/repository.GenerateManifests: the source type it detects, the
// kustomize overrides it applies, the directory options it honours), over a copy of the
// working tree instead of a checkout of the revision.
//
//	appset-render -manifests -root DIR [-kustomize PATH] [FILE ...]
//
// FILE holds Application documents (YAML or JSON). Standard output is one JSON object,
// {"applications": [{"name", "path", "sourceType", "manifests": [object...], "error"}]}.
// The caller runs this on a throw-away copy of the tree: with kustomize overrides Argo CD
// edits the kustomization in place, as it does in its own checkout. No resource tracking
// label or annotation is added (the manifests are what Git says, as the policies read them).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/api/resource"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/reposerver/apiclient"
	"github.com/argoproj/argo-cd/v3/reposerver/repository"
	utilio "github.com/argoproj/argo-cd/v3/util/io"
)

type appManifests struct {
	Name       string            `json:"name"`
	Path       string            `json:"path"`
	SourceType string            `json:"sourceType,omitempty"`
	Manifests  []json.RawMessage `json:"manifests"`
	Error      string            `json:"error,omitempty"`
}

// The repo-server's default cap on what a directory source may read (--max-combined-directory-manifests-size).
var maxCombinedManifests = resource.MustParse("10M")

func runManifests(root, kustomize string, files []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var apps []v1alpha1.Application
	if !eachInput(files, stdin, stderr, func(file string, data []byte) error {
		found, err := decodeApplications(file, data)
		apps = append(apps, found...)
		return err
	}) {
		return 2
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		fmt.Fprintf(stderr, "appset-render: %v\n", err)
		return 2
	}
	status := 0
	out := struct {
		Applications []appManifests `json:"applications"`
	}{Applications: []appManifests{}}
	for i := range apps {
		res := generate(&apps[i], absRoot, kustomize)
		if res.Error != "" {
			fmt.Fprintf(stderr, "Application %s: %s\n", res.Name, res.Error)
			status = 1
		}
		out.Applications = append(out.Applications, res)
	}
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(stderr, "appset-render: %v\n", err)
		return 2
	}
	return status
}

func generate(app *v1alpha1.Application, root, kustomize string) appManifests {
	res := appManifests{Name: app.Name, Manifests: []json.RawMessage{}}
	if app.Spec.HasMultipleSources() {
		res.Error = "spec.sources: more than one source is not rendered offline"
		return res
	}
	source := app.Spec.GetSource()
	res.Path = source.Path
	appPath := filepath.Join(root, filepath.Clean("/"+source.Path))
	if info, err := os.Stat(appPath); err != nil || !info.IsDir() {
		res.Error = fmt.Sprintf("spec.source.path: %q is not a folder of the repository", source.Path)
		return res
	}
	opts := &v1alpha1.KustomizeOptions{}
	if kustomize != "" {
		opts.BinaryPath = kustomize //nolint:staticcheck // the one kustomize of tools/versions.mk
	}
	q := &apiclient.ManifestRequest{
		Repo:              &v1alpha1.Repository{Repo: source.RepoURL},
		Revision:          source.TargetRevision,
		AppName:           app.Name,
		Namespace:         app.Spec.Destination.Namespace,
		ApplicationSource: &source,
		KustomizeOptions:  opts,
		ProjectName:       app.Spec.Project,
	}
	// The source type Argo CD's detection gives with its default settings (every type
	// enabled): a folder it would take for a Helm chart or a plugin is not rendered here, and
	// says so (helm and plugins run outside code and reach out).
	sourceType, err := repository.GetAppSourceType(context.Background(), &source, appPath, root, app.Name, nil, nil, nil)
	if err != nil {
		res.Error = oneLine(err.Error())
		return res
	}
	res.SourceType = string(sourceType)
	if sourceType != v1alpha1.ApplicationSourceTypeKustomize && sourceType != v1alpha1.ApplicationSourceTypeDirectory {
		res.Error = fmt.Sprintf("Argo CD takes %q for a %s source: not rendered offline", source.Path, sourceType)
		return res
	}
	resp, err := repository.GenerateManifests(context.Background(), appPath, root, source.TargetRevision, q, true,
		nil, maxCombinedManifests, utilio.NewRandomizedTempPaths(os.TempDir()))
	if err != nil {
		res.Error = oneLine(err.Error())
		return res
	}
	res.SourceType = resp.SourceType
	for _, m := range resp.Manifests {
		res.Manifests = append(res.Manifests, json.RawMessage(m))
	}
	return res
}

func decodeApplications(file string, data []byte) ([]v1alpha1.Application, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var apps []v1alpha1.Application
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return apps, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		var meta struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, n, err)
		}
		if meta.Kind != "Application" {
			continue
		}
		var app v1alpha1.Application
		if err := yaml.Unmarshal(doc, &app); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, n, err)
		}
		apps = append(apps, app)
	}
}
