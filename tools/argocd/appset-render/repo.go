package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/argoproj/argo-cd/v3/applicationset/services"
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
)

var _ services.Repos = (*workTree)(nil)

// workTree answers the Git generator's questions (applicationset/services.Repos) from a
// working tree, the way the repo-server answers them from its checkout of the revision:
//
//   - GetFiles: the repo-server runs `git ls-files --full-name -z -- PATTERN` in the
//     checkout (util/git nativeGitClient.LsFiles; the controller's default, without
//     --enable-new-git-file-globbing), so PATTERN is a git pathspec: `*` also matches `/`
//     (clusters/*/config.yaml matches clusters/a/b/config.yaml too), and git refuses a
//     pattern outside the repository. Here the same git command lists what the next
//     commit would hold: tracked files still on disk plus untracked ones that are not
//     ignored. A folder that is no git repository's top level is listed with an empty
//     repository (every file not ignored is "untracked").
//   - GetDirectories: the repo-server walks the checkout (reposerver/repository
//     walkDirectoryTree), skipping hidden directories and everything below them; a
//     checkout holds the directories of its files, so these are the directories of the
//     same listing, in the walk's (lexical, depth-first) order.
//
// The revision, the repository URL and the source-integrity policy are not consulted:
// what is rendered is the working tree, unsigned.
type workTree struct {
	root    string // absolute, symlinks resolved
	gitDir  string // "" when root is a git repository's top level
	once    sync.Once
	initErr error
}

func newWorkTree(root string) (*workTree, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("-root: %w", err)
	}
	if info, err := os.Stat(resolved); err != nil || !info.IsDir() {
		return nil, fmt.Errorf("-root %s: not a directory", root)
	}
	return &workTree{root: resolved}, nil
}

// isTopLevel: whether root is the top level of a git working tree of its own.
func (w *workTree) isTopLevel() bool {
	out, err := w.git(context.Background(), nil, "rev-parse", "--show-toplevel")
	if err != nil {
		return false
	}
	top, err := filepath.EvalSymlinks(strings.TrimSpace(string(out)))
	return err == nil && top == w.root
}

func (w *workTree) setup() error {
	w.once.Do(func() {
		if w.isTopLevel() {
			return
		}
		dir, err := os.MkdirTemp("", "appset-render-")
		if err != nil {
			w.initErr = err
			return
		}
		_, w.initErr = w.git(context.Background(), nil, "init", "--quiet", "--bare", dir)
		w.gitDir = dir
	})
	return w.initErr
}

func (w *workTree) close() {
	if w.gitDir != "" {
		_ = os.RemoveAll(w.gitDir)
	}
}

// gitLocationVars say where a repository is: a caller's (a git hook's GIT_DIR, GIT_INDEX_FILE)
// must not redirect the listing away from root.
var gitLocationVars = []string{
	"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
	"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_PREFIX",
}

// git runs git in root, without the caller's gitLocationVars and without fsmonitor (a
// repository's config must not make a listing run commands).
func (w *workTree) git(ctx context.Context, extra []string, args ...string) ([]byte, error) {
	full := []string{"-c", "core.fsmonitor=false"}
	if w.gitDir != "" {
		full = append(full, "--git-dir="+w.gitDir, "--work-tree="+w.root)
	}
	full = append(full, extra...)
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Dir = w.root
	for _, kv := range os.Environ() {
		if !slices.Contains(gitLocationVars, strings.SplitN(kv, "=", 2)[0]) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
	}
	return out, nil
}

// lsFiles: the files of the working tree that match a git pathspec, as git paths.
func (w *workTree) lsFiles(ctx context.Context, pattern string) ([]string, error) {
	if err := w.setup(); err != nil {
		return nil, err
	}
	if pattern == "" {
		pattern = "." // as the repo-server does
	}
	args := []string{"ls-files", "-z", "--others", "--exclude-standard"}
	if w.gitDir == "" {
		args = append(args, "--cached")
	}
	out, err := w.git(ctx, nil, append(args, "--", pattern)...)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var files []string
	for _, name := range strings.Split(string(out), "\x00") {
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		info, err := os.Stat(filepath.Join(w.root, filepath.FromSlash(name)))
		if errors.Is(err, fs.ErrNotExist) || (err == nil && info.IsDir()) {
			continue // deleted in the working tree, or a submodule
		}
		files = append(files, name)
	}
	return files, nil
}

func (w *workTree) GetFiles(ctx context.Context, _, _, _, pattern string, _ bool, _ *v1alpha1.SourceIntegrity) (map[string][]byte, error) {
	files, err := w.lsFiles(ctx, pattern)
	if err != nil {
		return nil, fmt.Errorf("unable to list files in %s pattern %s: %w", w.root, pattern, err)
	}
	res := make(map[string][]byte, len(files))
	for _, name := range files {
		data, err := os.ReadFile(filepath.Join(w.root, filepath.FromSlash(name)))
		if err != nil {
			return nil, fmt.Errorf("unable to read files in %s pattern %s: %w", w.root, pattern, err)
		}
		res[name] = data
	}
	return res, nil
}

func (w *workTree) GetDirectories(ctx context.Context, _, _, _ string, _ bool, _ *v1alpha1.SourceIntegrity) ([]string, error) {
	files, err := w.lsFiles(ctx, ".")
	if err != nil {
		return nil, fmt.Errorf("unable to walk directory tree: %w", err)
	}
	seen := map[string]bool{}
	var dirs []string
	for _, name := range files {
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			if !seen[dir] {
				seen[dir] = true
				dirs = append(dirs, dir)
			}
		}
	}
	dirs = slices.DeleteFunc(dirs, func(dir string) bool {
		return slices.ContainsFunc(strings.Split(dir, "/"), func(s string) bool { return strings.HasPrefix(s, ".") })
	})
	// filepath.WalkDir's order: depth first, each folder's entries sorted by name.
	slices.SortFunc(dirs, func(a, b string) int {
		return slices.Compare(strings.Split(a, "/"), strings.Split(b, "/"))
	})
	return dirs, nil
}

func (w *workTree) GetOciFiles(context.Context, string, string, string, string, bool) (map[string][]byte, error) {
	return nil, errors.New("OCI sources are not rendered offline")
}

func (w *workTree) GetOciDirectories(context.Context, string, string, string, bool) ([]string, error) {
	return nil, errors.New("OCI sources are not rendered offline")
}
