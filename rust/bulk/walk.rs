//! The files to count under a list of paths.
//!
//! A path that is not a directory is taken as given (a file, a pipe, `/dev/stdin`), whatever
//! the globs say. A directory is walked recursively in name order; there:
//! - entries whose name starts with `.` are left out unless `hidden` is set;
//! - an `exclude` glob leaves out the files and the whole directories it matches;
//! - with `include` globs, only the files that match one of them are kept;
//! - symbolic links to files are followed, links to directories are not (no cycles);
//! - pipes, sockets and devices met while walking are skipped (listed in [`Walked::skipped`]):
//!   reading a pipe waits for a writer, and a device may never end.
//!
//! The walk stops early, with what it found so far, once its [`Cancel`] is set.
//!
//! A glob without `/` matches an entry's name (`*.py`, `node_modules`); a glob with `/`
//! matches the path relative to the directory given (`src/**/*.rs`). `*` stops at `/`, `**`
//! crosses directories.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::threads::Cancel;

#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub hidden: bool,
}

/// A file to count, with its size when known (0 for pipes and the like).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    pub size: u64,
}

/// A path that could not be walked: missing, unreadable, a broken link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Walked {
    pub files: Vec<Found>,
    pub problems: Vec<Problem>,
    /// Pipes, sockets and devices met while walking, with what they are.
    pub skipped: Vec<Problem>,
}

/// A walk as plain rows: (path, size) of each file, (path, message) of each path that could not
/// be walked, and (path, what it is) of each special file skipped.
pub type WalkRows = (
    Vec<(OsString, u64)>,
    Vec<(OsString, String)>,
    Vec<(OsString, String)>,
);

impl Walked {
    pub fn into_rows(self) -> WalkRows {
        let rows = |problems: Vec<Problem>| {
            let row = |p: Problem| (p.path.into_os_string(), p.message);
            problems.into_iter().map(row).collect()
        };
        let files = self.files.into_iter();
        (
            files.map(|f| (f.path.into_os_string(), f.size)).collect(),
            rows(self.problems),
            rows(self.skipped),
        )
    }
}

/// Globs matched against names (no `/` in the glob) or relative paths (with one).
struct Globs {
    names: GlobSet,
    paths: GlobSet,
    empty: bool,
}

impl Globs {
    fn new(globs: &[String]) -> Result<Self, String> {
        let mut names = GlobSetBuilder::new();
        let mut paths = GlobSetBuilder::new();
        for g in globs {
            let g = g.strip_prefix("./").unwrap_or(g).trim_end_matches('/');
            let glob = GlobBuilder::new(g)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| format!("invalid glob {g:?}: {}", e.kind()))?;
            if g.contains('/') {
                paths.add(glob);
            } else {
                names.add(glob);
            }
        }
        let build = |b: GlobSetBuilder| b.build().map_err(|e| e.to_string());
        Ok(Globs {
            names: build(names)?,
            paths: build(paths)?,
            empty: globs.is_empty(),
        })
    }

    fn matches(&self, rel: &Path, name: &OsStr) -> bool {
        self.names.is_match(name) || self.paths.is_match(rel)
    }
}

/// The files under `roots`, in order, and the paths that could not be walked.
pub fn walk(roots: &[PathBuf], opts: &WalkOptions, cancel: &Cancel) -> Result<Walked, String> {
    let include = Globs::new(&opts.include)?;
    let exclude = Globs::new(&opts.exclude)?;
    let mut out = Walked::default();
    for root in roots {
        if cancel.is_cancelled() {
            break;
        }
        match fs::metadata(root) {
            Err(e) => out.problems.push(problem(root, &e)),
            Ok(md) if md.is_dir() => {
                let w = Walker {
                    include: &include,
                    exclude: &exclude,
                    hidden: opts.hidden,
                    cancel,
                };
                w.dir(root, Path::new(""), &mut out);
            }
            Ok(md) => out.files.push(Found {
                path: root.clone(),
                size: if md.is_file() { md.len() } else { 0 },
            }),
        }
    }
    Ok(out)
}

struct Walker<'g> {
    include: &'g Globs,
    exclude: &'g Globs,
    hidden: bool,
    cancel: &'g Cancel,
}

impl Walker<'_> {
    fn dir(&self, dir: &Path, rel: &Path, out: &mut Walked) {
        if self.cancel.is_cancelled() {
            return;
        }
        let mut entries = match fs::read_dir(dir).and_then(|it| it.collect::<io::Result<Vec<_>>>())
        {
            Ok(entries) => entries,
            Err(e) => return out.problems.push(problem(dir, &e)),
        };
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            if !self.hidden && name.as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let path = entry.path();
            let rel = rel.join(&name);
            if self.exclude.matches(&rel, &name) {
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                self.dir(&path, &rel, out);
                continue;
            }
            // Links are followed (to files; a link to a directory is not walked, so no loop).
            let target = if kind.is_symlink() || kind.is_file() {
                let md = if kind.is_symlink() {
                    fs::metadata(&path)
                } else {
                    entry.metadata()
                };
                match md {
                    Ok(md) => md,
                    Err(e) => {
                        out.problems.push(problem(&path, &e));
                        continue;
                    }
                }
                .into()
            } else {
                Target::Special(kind)
            };
            if !(self.include.empty || self.include.matches(&rel, &name)) {
                continue;
            }
            match target {
                Target::File(size) => out.files.push(Found { path, size }),
                Target::Special(kind) => {
                    if let Some(what) = special_kind(&kind) {
                        out.skipped.push(Problem {
                            path,
                            message: format!("{what} (name it explicitly to read it)"),
                        });
                    }
                }
                Target::Dir => {}
            }
        }
    }
}

/// What a walked entry (a link followed) turned out to be.
enum Target {
    File(u64),
    Dir,
    Special(fs::FileType),
}

impl From<fs::Metadata> for Target {
    fn from(md: fs::Metadata) -> Self {
        if md.is_file() {
            Target::File(md.len())
        } else if md.is_dir() {
            Target::Dir
        } else {
            Target::Special(md.file_type())
        }
    }
}

/// What a special file is, for its note.
fn special_kind(kind: &fs::FileType) -> Option<&'static str> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return Some("a named pipe");
        }
        if kind.is_socket() {
            return Some("a socket");
        }
        if kind.is_char_device() || kind.is_block_device() {
            return Some("a device");
        }
    }
    (!kind.is_file() && !kind.is_dir()).then_some("not a regular file")
}

/// An I/O error as a short message, without Rust's "(os error N)" tail.
pub fn io_message(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

fn problem(path: &Path, e: &io::Error) -> Problem {
    Problem {
        path: path.to_path_buf(),
        message: io_message(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempTree(PathBuf);

    impl TempTree {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "devsynth-walk-{tag}-{}-{:?}",
                std::process::id(),
                std::time::SystemTime::now()
            ));
            fs::create_dir_all(&dir).unwrap();
            TempTree(dir)
        }

        fn file(&self, rel: &str) {
            let p = self.0.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, rel).unwrap();
        }

        fn rels(&self, walked: &Walked) -> Vec<String> {
            walked
                .files
                .iter()
                .map(|f| {
                    f.path
                        .strip_prefix(&self.0)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect()
        }
    }

    impl Drop for TempTree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn walk_opts(roots: &[PathBuf], opts: &WalkOptions) -> Result<Walked, String> {
        walk(roots, opts, &Cancel::new())
    }

    fn opts(include: &[&str], exclude: &[&str], hidden: bool) -> WalkOptions {
        WalkOptions {
            include: include.iter().map(|s| s.to_string()).collect(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
            hidden,
        }
    }

    #[test]
    fn walks_in_name_order_with_globs() {
        let t = TempTree::new("globs");
        for f in [
            "b.py",
            "a.md",
            "src/x.rs",
            "src/deep/y.rs",
            "src/deep/z.py",
            "build/out.rs",
            ".git/config",
            "docs/.hidden.md",
        ] {
            t.file(f);
        }
        let roots = [t.0.clone()];
        let all = walk(&roots, &WalkOptions::default(), &Cancel::new()).unwrap();
        assert_eq!(
            t.rels(&all),
            [
                "a.md",
                "b.py",
                "build/out.rs",
                "src/deep/y.rs",
                "src/deep/z.py",
                "src/x.rs"
            ]
        );
        assert!(all.problems.is_empty());
        let rs = walk_opts(&roots, &opts(&["*.rs"], &["build"], false)).unwrap();
        assert_eq!(t.rels(&rs), ["src/deep/y.rs", "src/x.rs"]);
        let by_path = walk_opts(&roots, &opts(&["src/*.rs", "**/*.py"], &[], false)).unwrap();
        assert_eq!(t.rels(&by_path), ["b.py", "src/deep/z.py", "src/x.rs"]);
        let no_deep = walk_opts(&roots, &opts(&[], &["src/deep/", "*.md"], false)).unwrap();
        assert_eq!(t.rels(&no_deep), ["b.py", "build/out.rs", "src/x.rs"]);
        let hidden = walk_opts(&roots, &opts(&["*.md", "config"], &[], true)).unwrap();
        assert_eq!(t.rels(&hidden), [".git/config", "a.md", "docs/.hidden.md"]);
    }

    #[test]
    fn explicit_files_ignore_globs_and_missing_paths_are_problems() {
        let t = TempTree::new("explicit");
        t.file(".secret.txt");
        let roots = [t.0.join(".secret.txt"), t.0.join("missing")];
        let w = walk_opts(&roots, &opts(&["*.py"], &["*.txt"], false)).unwrap();
        assert_eq!(t.rels(&w), [".secret.txt"]);
        assert_eq!(w.files[0].size, 11);
        assert_eq!(w.problems.len(), 1);
        assert_eq!(w.problems[0].message, "No such file or directory");
        let (files, problems, skipped) = w.into_rows();
        assert_eq!(files, [(t.0.join(".secret.txt").into_os_string(), 11)]);
        let missing = t.0.join("missing").into_os_string();
        assert_eq!(
            problems,
            [(missing, "No such file or directory".to_string())]
        );
        assert!(skipped.is_empty());
    }

    #[test]
    fn links_to_files_are_followed_and_broken_links_reported() {
        let t = TempTree::new("links");
        t.file("real.txt");
        std::os::unix::fs::symlink(t.0.join("real.txt"), t.0.join("link.txt")).unwrap();
        std::os::unix::fs::symlink(t.0.join("nowhere"), t.0.join("broken.txt")).unwrap();
        std::os::unix::fs::symlink(&t.0, t.0.join("loop")).unwrap();
        let w = walk(
            std::slice::from_ref(&t.0),
            &WalkOptions::default(),
            &Cancel::new(),
        )
        .unwrap();
        assert_eq!(t.rels(&w), ["link.txt", "real.txt"]);
        assert_eq!(w.problems.len(), 1);
        assert!(w.problems[0].path.ends_with("broken.txt"));
    }

    #[test]
    fn pipes_met_while_walking_are_skipped_with_a_note() {
        let t = TempTree::new("fifo");
        t.file("a.txt");
        let fifo = t.0.join("pipe");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        std::os::unix::fs::symlink(&fifo, t.0.join("pipe-link")).unwrap();
        let w = walk(
            std::slice::from_ref(&t.0),
            &WalkOptions::default(),
            &Cancel::new(),
        )
        .unwrap();
        assert_eq!(t.rels(&w), ["a.txt"]);
        let skipped: Vec<_> = w.skipped.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(skipped, ["a named pipe (name it explicitly to read it)"; 2]);
        // Named explicitly, a pipe is a file to read.
        let named = walk_opts(std::slice::from_ref(&fifo), &WalkOptions::default()).unwrap();
        assert_eq!(
            named.files,
            [Found {
                path: fifo,
                size: 0
            }]
        );
    }

    #[test]
    fn a_cancelled_walk_stops() {
        let t = TempTree::new("cancel");
        t.file("a/b.txt");
        let cancel = Cancel::new();
        cancel.cancel();
        let w = walk(std::slice::from_ref(&t.0), &WalkOptions::default(), &cancel).unwrap();
        assert!(w.files.is_empty());
    }

    #[test]
    fn bad_globs_are_refused() {
        let err = walk_opts(&[], &opts(&["a[b"], &[], false)).unwrap_err();
        assert!(err.contains("a[b"), "{err}");
    }
}
