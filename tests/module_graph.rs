//! The house depends one way: no cycle between the top-level modules of `src/`, no circle
//! between the files of one module, and none between the dashboard's files. Test code
//! (`#[cfg(test)]` items) and comments do not count: only what the worker is built from.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The source with comments, string and char literals blanked, so that braces and paths in
/// them do not count.
fn code_only(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &source[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').map_or(source.len(), |n| i + n);
            i = end;
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |n| n + 2);
        } else if let Some(hashes) = raw_string_start(rest) {
            let closing = format!("\"{}", "#".repeat(hashes));
            let body = 2 + hashes;
            i += rest[body..]
                .find(&closing)
                .map_or(rest.len(), |n| body + n + closing.len());
            out.push_str("\"\"");
        } else if bytes[i] == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if let Some(len) = char_literal(rest) {
            i += len;
            out.push_str("' '");
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `r"`, `r#"`, `br##"`…: the number of `#`s.
fn raw_string_start(rest: &str) -> Option<usize> {
    let rest = rest.strip_prefix('b').unwrap_or(rest);
    let rest = rest.strip_prefix('r')?;
    let hashes = rest.chars().take_while(|c| *c == '#').count();
    rest[hashes..].starts_with('"').then_some(hashes)
}

/// A char literal's length (`'{'`, `'\n'`, `'\u{7f}'`); `None` for a lifetime.
fn char_literal(rest: &str) -> Option<usize> {
    let mut chars = rest.char_indices();
    if chars.next()?.1 != '\'' {
        return None;
    }
    let (_, c) = chars.next()?;
    if c == '\\' {
        return rest[2..].find('\'').map(|n| n + 3);
    }
    let (at, close) = chars.next()?;
    (close == '\'').then_some(at + 1)
}

/// The code without its `#[cfg(test)]` items (a module, a function, a `use`).
fn without_tests(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        let brace = item.find('{');
        let semi = item.find(';');
        let end = match (brace, semi) {
            (Some(b), Some(s)) if s < b => s + 1,
            (Some(b), _) => {
                let mut depth = 0;
                let mut end = item.len();
                for (i, c) in item[b..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = b + i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (None, Some(s)) => s + 1,
            (None, None) => item.len(),
        };
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// Every `crate::a::b::…` path in the code, as its segments.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let tail = &code[at + "crate::".len()..];
        let segments: Vec<String> = tail
            .split("::")
            .map(|s| {
                s.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|s| !s.is_empty())
            .collect();
        paths.push(segments);
    }
    paths
}

/// A cycle of the graph, if it has one (its nodes in order).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_string(), 1);
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let from = stack.iter().position(|n| n == next).unwrap();
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(cycle) = visit(next, graph, state, stack) {
                        return Some(cycle);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if !state.contains_key(node.as_str()) {
            if let Some(cycle) = visit(node, graph, &mut state, &mut Vec::new()) {
                return Some(cycle);
            }
        }
    }
    None
}

/// Each file's module path (`query/logs.rs` → `query::logs`, `query/mod.rs` → `query`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

struct Source {
    module: Vec<String>,
    code: String,
}

fn sources() -> Vec<Source> {
    let src = root().join("src");
    rust_files(&src)
        .into_iter()
        .filter(|f| f.file_name().unwrap() != "lib.rs")
        .map(|f| Source {
            module: module_of(&src, &f),
            code: without_tests(&code_only(&fs::read_to_string(&f).unwrap())),
        })
        .collect()
}

#[test]
fn top_level_modules_depend_one_way() {
    let sources = sources();
    let tops: BTreeSet<String> = sources.iter().map(|s| s.module[0].clone()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for source in &sources {
        let from = &source.module[0];
        for path in crate_paths(&source.code) {
            let to = &path[0];
            if to != from && tops.contains(to) {
                graph.entry(from.clone()).or_default().insert(to.clone());
            }
        }
    }
    assert!(graph.len() > 5, "the graph was read: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "modules import each other in a circle: {}",
            cycle.join(" → ")
        );
    }
}

/// Within a module, a file may use its parent's items and its children's, but two files never
/// use each other, however indirectly.
#[test]
fn files_of_a_module_depend_one_way() {
    let sources = sources();
    let files: BTreeSet<Vec<String>> = sources.iter().map(|s| s.module.clone()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for source in &sources {
        let me = &source.module;
        let mut targets: Vec<Vec<String>> = crate_paths(&source.code);
        // `super::x` from a file names a sibling `x`.
        let parent = &me[..me.len().saturating_sub(1)];
        for (at, _) in source.code.match_indices("super::") {
            let name: String = source.code[at + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let mut path = parent.to_vec();
            path.push(name);
            targets.push(path);
        }
        for target in targets {
            // The longest file module that the path starts with.
            let Some(file) = (1..=target.len())
                .rev()
                .map(|n| target[..n].to_vec())
                .find(|p| files.contains(p))
            else {
                continue;
            };
            let nested = file.starts_with(me) || me.starts_with(&file);
            if !nested {
                graph
                    .entry(me.join("::"))
                    .or_default()
                    .insert(file.join("::"));
            }
        }
    }
    // Cross-module edges are the test above's; here, each module's own files.
    let within: BTreeMap<String, BTreeSet<String>> = graph
        .into_iter()
        .map(|(from, to)| {
            let top = from.split("::").next().unwrap().to_string();
            let to = to
                .into_iter()
                .filter(|t| t.split("::").next() == Some(top.as_str()))
                .collect();
            (from, to)
        })
        .collect();
    if let Some(cycle) = find_cycle(&within) {
        panic!("files use each other in a circle: {}", cycle.join(" → "));
    }
}

#[test]
fn dashboard_files_import_one_way() {
    let dir = root().join("dashboard/src");
    let mut files = Vec::new();
    let mut todo = vec![dir.clone()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "js" || e == "jsx") {
                files.push(path);
            }
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        for line in text.lines().filter(|l| l.starts_with("import ")) {
            let Some(spec) = line
                .split(['"', '\''])
                .nth(1)
                .filter(|s| s.starts_with('.'))
            else {
                continue;
            };
            let target = file.parent().unwrap().join(spec);
            let target = fs::canonicalize(&target).unwrap_or(target);
            graph
                .entry(file.display().to_string())
                .or_default()
                .insert(target.display().to_string());
        }
    }
    assert!(!graph.is_empty(), "the dashboard's imports were read");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("dashboard files import each other in a circle: {cycle:?}");
    }
}

#[test]
fn the_reader_sees_through_strings_comments_and_tests() {
    let code = code_only("let a = \"crate::x { \"; // crate::y\nlet b = '{'; let c: &'static str = r#\"}\"#; crate::z::f();");
    assert_eq!(
        crate_paths(&code),
        vec![vec!["z".to_string(), "f".to_string()]]
    );
    let code = without_tests("fn a() { crate::p::q(); }\n#[cfg(test)]\nmod tests { fn b() { crate::r::s(); } }\nfn c() {}");
    assert_eq!(
        crate_paths(&code),
        vec![vec!["p".to_string(), "q".to_string()]]
    );
    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    graph.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert!(find_cycle(&graph).is_some());
}
