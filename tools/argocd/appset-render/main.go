// Command appset-render renders ApplicationSets with Argo CD's own code, offline, over a
// working tree: what `argocd appset generate` prints, without an Argo CD to ask.
//
//	appset-render [-root DIR] [FILE ...]   (no FILE or "-": standard input)
//
// FILE holds YAML or JSON documents; every ApplicationSet among them is rendered and every
// AppProject is what the generators' client sees (other kinds are ignored). The
// generators, the template (goTemplate and its options), the templatePatch and the
// finalizer rule are Argo CD's: applicationset/controllers/template.GenerateApplications,
// the same function the ApplicationSet controller and `argocd appset generate` call, with
// the List, Git, Matrix and Merge generators. Only the repository service is this
// program's: the Git generator asks it for files and directories, and it answers from the
// working tree below -root instead of a repo-server's checkout of the revision, with the
// repo-server's own selection (see repo.go).
//
// Standard output is one JSON object, {"applicationSets": [{"file", "name",
// "applications": [Application...], "errors": ["..."]}]}. An ApplicationSet that Argo CD
// could not render also gets one line per error on standard error,
// "FILE: ApplicationSet NAME: [CONFIG FILE: ]ERROR", and the exit status is 1 (2: bad
// usage or unreadable input).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	log "github.com/sirupsen/logrus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/argoproj/argo-cd/v3/applicationset/controllers/template"
	"github.com/argoproj/argo-cd/v3/applicationset/generators"
	"github.com/argoproj/argo-cd/v3/applicationset/utils"
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
)

type result struct {
	File         string        `json:"file"`
	Name         string        `json:"name"`
	Applications []application `json:"applications"`
	// GeneratedFrom: per Application, the file its generator element came from ("" for
	// a List element).
	GeneratedFrom []string      `json:"generatedFrom"`
	Errors        []renderError `json:"errors,omitempty"`
}

// application is a generated Application as the controller creates it: no status yet.
type application struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              v1alpha1.ApplicationSpec `json:"spec"`
	// Operation: what a templatePatch may add; Argo CD starts a sync when it sees one.
	Operation *v1alpha1.Operation `json:"operation,omitempty"`
}

type input struct {
	file   string
	appset *v1alpha1.ApplicationSet
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("appset-render", flag.ContinueOnError)
	flags.SetOutput(stderr)
	root := flags.String("root", ".", "the repository's working tree the Git generator reads")
	manifests := flags.Bool("manifests", false, "render Applications' sources as the repo-server would (see manifests.go)")
	kustomize := flags.String("kustomize", "", "the kustomize binary (-manifests; default: kustomize on PATH)")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	// GenerateApplications logs every error it returns, and an info line per generator.
	log.SetOutput(io.Discard)

	files := flags.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	if *manifests {
		return runManifests(*root, *kustomize, files, stdin, stdout, stderr)
	}
	var appsets []input
	var projects []v1alpha1.AppProject
	if !eachInput(files, stdin, stderr, func(file string, data []byte) error {
		a, p, err := decode(file, data)
		appsets = append(appsets, a...)
		projects = append(projects, p...)
		return err
	}) {
		return 2
	}
	repos, err := newWorkTree(*root)
	if err != nil {
		fmt.Fprintf(stderr, "appset-render: %v\n", err)
		return 2
	}
	defer repos.close()

	status := 0
	out := struct {
		ApplicationSets []result `json:"applicationSets"`
	}{ApplicationSets: []result{}}
	for _, in := range appsets {
		res := render(in, repos, projects)
		for _, e := range res.Errors {
			fmt.Fprintf(stderr, "%s: ApplicationSet %s: %s\n", in.file, res.Name, e.Error())
			status = 1
		}
		out.ApplicationSets = append(out.ApplicationSets, res)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(stderr, "appset-render: %v\n", err)
		return 2
	}
	return status
}

// decode reads a YAML or JSON stream: its ApplicationSets and AppProjects.
func decode(file string, data []byte) ([]input, []v1alpha1.AppProject, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var appsets []input
	var projects []v1alpha1.AppProject
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", file, err)
		}
		var meta struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, nil, fmt.Errorf("%s: document %d: %w", file, n, err)
		}
		switch meta.Kind {
		case "ApplicationSet":
			var appset v1alpha1.ApplicationSet
			if err := yaml.Unmarshal(doc, &appset); err != nil {
				return nil, nil, fmt.Errorf("%s: document %d: %w", file, n, err)
			}
			appsets = append(appsets, input{file: file, appset: &appset})
		case "AppProject":
			var project v1alpha1.AppProject
			if err := yaml.Unmarshal(doc, &project); err != nil {
				return nil, nil, fmt.Errorf("%s: document %d: %w", file, n, err)
			}
			projects = append(projects, project)
		}
	}
	return appsets, projects, nil
}

func render(in input, repos *workTree, projects []v1alpha1.AppProject) result {
	appset := in.appset
	res := result{File: in.file, Name: appset.Name, Applications: []application{}, GeneratedFrom: []string{}}
	kube := &projectsClient{namespace: appset.Namespace, projects: projects}
	if name := appset.Spec.Template.Spec.Project; name != "" && !strings.Contains(name, "{{") {
		// An ApplicationSet whose project is not given still renders (the Git generator
		// reads the project only for its source-integrity policy): whether the project
		// exists is the AppProject checks' business, not a reason to render nothing.
		kube.fallback = name
	}
	renderer := &attributingRenderer{}
	apps, _, err := template.GenerateApplications(
		log.WithField("applicationset", appset.Name), *appset, offlineGenerators(repos), renderer, kube)
	gvk := v1alpha1.ApplicationSchemaGroupVersionKind
	for _, app := range apps {
		res.Applications = append(res.Applications, application{
			TypeMeta:   metav1.TypeMeta{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind},
			ObjectMeta: app.ObjectMeta,
			Spec:       app.Spec,
			Operation:  app.Operation,
		})
		res.GeneratedFrom = append(res.GeneratedFrom, renderer.sourceOf(app.Name))
	}
	if err != nil {
		var rendering *renderError
		if !errors.As(err, &rendering) {
			// A generator's error, or a templatePatch that is no Application patch: the
			// first one only (GenerateApplications returns no other).
			field := "spec.generators"
			if strings.Contains(err.Error(), "templatePatch") {
				field = "spec.templatePatch"
			}
			res.Errors = append(res.Errors, renderError{Field: field, Message: oneLine(err.Error())})
		}
		res.Errors = append(res.Errors, renderer.errors...)
	}
	return res
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// offlineGenerators is generators.GetGenerators with the generators that need nothing but
// the repository; the others (clusters, SCM providers, pull requests, plugins, OCI,
// cluster decision resources) ask live services and are refused by name.
func offlineGenerators(repos *workTree) map[string]generators.Generator {
	terminal := map[string]generators.Generator{
		"List": generators.NewListGenerator(),
		"Git":  generators.NewGitGenerator(repos, ""),
	}
	for _, name := range []string{"Clusters", "SCMProvider", "ClusterDecisionResource", "PullRequest", "Plugin", "Oci"} {
		terminal[name] = unsupported(name)
	}
	nested := map[string]generators.Generator{}
	for name, g := range terminal {
		nested[name] = g
	}
	nested["Matrix"] = generators.NewMatrixGenerator(terminal)
	nested["Merge"] = generators.NewMergeGenerator(terminal)
	top := map[string]generators.Generator{}
	for name, g := range terminal {
		top[name] = g
	}
	top["Matrix"] = generators.NewMatrixGenerator(nested)
	top["Merge"] = generators.NewMergeGenerator(nested)
	return top
}

type unsupported string

func (u unsupported) GenerateParams(*v1alpha1.ApplicationSetGenerator, *v1alpha1.ApplicationSet, client.Client) ([]map[string]any, error) {
	return nil, fmt.Errorf("the %s generator asks a live service: it is not rendered offline", string(u))
}

func (u unsupported) GetRequeueAfter(*v1alpha1.ApplicationSetGenerator) time.Duration {
	return generators.NoRequeueAfter
}

func (u unsupported) GetTemplate(*v1alpha1.ApplicationSetGenerator) *v1alpha1.ApplicationSetTemplate {
	return &v1alpha1.ApplicationSetTemplate{}
}

// attributingRenderer is Argo CD's renderer (utils.Render) that also remembers which
// generator element (config file) each Application and each error came from, and keeps
// every error (GenerateApplications returns the first only).
type attributingRenderer struct {
	utils.Render
	errors   []renderError
	rendered []renderedFrom // in render order, as GenerateApplications appends them
}

type renderedFrom struct {
	name, source string
	used         bool
}

type renderError struct {
	Field   string `json:"field"`            // spec.template, spec.templatePatch or spec.generators
	Source  string `json:"source,omitempty"` // the config file, when known
	Message string `json:"message"`
}

func (e renderError) Error() string {
	if e.Source == "" {
		return e.Message
	}
	return e.Source + ": " + e.Message
}

func (r *attributingRenderer) RenderTemplateParams(tmpl *v1alpha1.Application, syncPolicy *v1alpha1.ApplicationSetSyncPolicy, params map[string]any, useGoTemplate bool, goTemplateOptions []string) (*v1alpha1.Application, error) {
	app, err := r.Render.RenderTemplateParams(tmpl, syncPolicy, params, useGoTemplate, goTemplateOptions)
	if err != nil {
		return nil, r.fail("spec.template", params, err)
	}
	r.rendered = append(r.rendered, renderedFrom{name: app.Name, source: sourceOf(params)})
	return app, nil
}

func (r *attributingRenderer) Replace(tmpl string, params map[string]any, useGoTemplate bool, goTemplateOptions []string) (string, error) {
	out, err := r.Render.Replace(tmpl, params, useGoTemplate, goTemplateOptions)
	if err != nil {
		// GenerateApplications renders only the templatePatch through Replace.
		return "", r.fail("spec.templatePatch", params, err)
	}
	return out, nil
}

func (r *attributingRenderer) fail(field string, params map[string]any, err error) error {
	e := renderError{Field: field, Source: sourceOf(params), Message: oneLine(err.Error())}
	r.errors = append(r.errors, e)
	return &e
}

// sourceOf: the file the next generated Application named name came from (a templatePatch
// that renames it, or one that fails, leaves it unknown).
func (r *attributingRenderer) sourceOf(name string) string {
	for i := range r.rendered {
		if !r.rendered[i].used && r.rendered[i].name == name {
			r.rendered[i].used = true
			return r.rendered[i].source
		}
	}
	return ""
}

// sourceOf names the file a Git files generator element came from, when it did: the
// parameters Argo CD sets, goTemplate ({path: {path, filename}}) or flat ("path",
// "path.filename"), with or without a pathParamPrefix.
func sourceOf(params map[string]any) string {
	join := func(dir, file any) string {
		d, ok1 := dir.(string)
		f, ok2 := file.(string)
		if !ok1 || !ok2 {
			return ""
		}
		if d == "." {
			return f
		}
		return d + "/" + f
	}
	var find func(m map[string]any, depth int) string
	find = func(m map[string]any, depth int) string {
		if p, ok := m["path"].(map[string]any); ok {
			if s := join(p["path"], p["filename"]); s != "" {
				return s
			}
		}
		if s := join(m["path"], m["path.filename"]); s != "" {
			return s
		}
		if depth == 0 {
			for _, v := range m {
				if sub, ok := v.(map[string]any); ok {
					if s := find(sub, 1); s != "" {
						return s
					}
				}
			}
		}
		return ""
	}
	return find(params, 0)
}

// projectsClient is the Kubernetes client the generators get: the Git generator reads
// the template's AppProject through it (for its source-integrity policy), and nothing
// else is asked of it by the offline generators.
type projectsClient struct {
	client.Client // nil: any other call is a programming error and panics
	namespace     string
	projects      []v1alpha1.AppProject
	fallback      string
}

func (c *projectsClient) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	project, ok := obj.(*v1alpha1.AppProject)
	if !ok {
		return fmt.Errorf("appset-render: unexpected Get of %T %s", obj, key)
	}
	for i := range c.projects {
		if c.projects[i].Name == key.Name {
			c.projects[i].DeepCopyInto(project)
			return nil
		}
	}
	if key.Name == c.fallback {
		*project = v1alpha1.AppProject{}
		project.Name, project.Namespace = key.Name, key.Namespace
		return nil
	}
	return apierrors.NewNotFound(schema.GroupResource{Group: "argoproj.io", Resource: "appprojects"}, key.Name)
}
