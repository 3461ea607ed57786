//! Stack traces into frames: JavaScript (V8, Firefox/Safari), Python, Ruby, Java, .NET, Go and
//! Rust.
//!
//! Frames come out innermost first (where the error was raised), whatever order the language
//! prints them in, so "the top frame" means the same thing everywhere.

use aho_corasick::AhoCorasick;
use regex::Regex;
use serde::Serialize;
use std::sync::OnceLock;

/// One parsed frame; also what event detail answers show as `stack_frames`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Frame {
    /// Function or method name, without arguments.
    pub function: Option<String>,
    /// Module, class or file the function lives in (no line numbers: they change every deploy).
    pub module: Option<String>,
    /// False for frames of runtimes, standard libraries and dependencies.
    pub in_app: bool,
}

struct Patterns {
    python: Regex,
    ruby: Regex,
    jvm_dotnet: Regex,
    go_func: Regex,
    rust: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| Patterns {
        // `  File "/app/x.py", line 3, in handler`
        python: Regex::new(r#"^\s*File "([^"]+)", line \d+, in (\S+)"#).unwrap(),
        // `app/models/user.rb:42:in `charge'` (Ruby 3.4: `in 'User#charge'`), maybe after `from `
        ruby: Regex::new(r"^\s*(?:from )?([^\s:][^:]*\.rb):\d+:in [`']([^']+)'").unwrap(),
        // `at com.x.Auth.validate(Auth.java:42)`, `at Ns.Class.Method(String a) in C:\x.cs:line 4`
        jvm_dotnet: Regex::new(r"^\s*at ([\w$.`<>\[\]+-]+)\.([\w$`<>|-]+)\([^()]*\)").unwrap(),
        // `main.(*Server).handle(0xc000010000)` — followed by a `\t/path/file.go:42 +0x1d` line
        go_func: Regex::new(r"^([\w./-]+(?:\.\(\*?[\w]+\))?)\.([\w.]+)\((?:[0-9a-fx, .]*)\)$")
            .unwrap(),
        // `   3: my_crate::auth::validate` (+ `at ./src/auth.rs:10:5` on the next line)
        rust: Regex::new(r"^\s*\d+: (?:0x[0-9a-f]+ - )?(.+?)(?:::h[0-9a-f]{16})?$").unwrap(),
    })
}

/// Parses a stack trace; lines that match no known format are skipped.
pub fn parse_stack(stack: &str) -> Vec<Frame> {
    let p = patterns();
    let lines: Vec<&str> = stack.lines().collect();

    if stack.contains("File \"") && lines.iter().any(|l| p.python.is_match(l)) {
        // Python prints the innermost call last.
        let mut frames: Vec<Frame> = lines
            .iter()
            .filter_map(|l| p.python.captures(l))
            .map(|c| frame(Some(&c[2]), Some(python_module(&c[1])), &c[1]))
            .collect();
        frames.reverse();
        return frames;
    }

    if lines.iter().any(|l| p.ruby.is_match(l)) {
        // Ruby prints the innermost call first, as we store frames.
        return lines
            .iter()
            .filter_map(|l| p.ruby.captures(l))
            .map(|c| ruby_frame(&c[1], &c[2]))
            .collect();
    }

    let mut frames = Vec::new();
    let mut saw_rust = false;
    for line in &lines {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("at ") {
            // JS puts a space before the location's parenthesis; JVM and .NET methods do not.
            if !rest.contains(" (") {
                if let Some(c) = p.jvm_dotnet.captures(line) {
                    let class = c[1].to_string();
                    frames.push(frame(Some(&c[2]), Some(class.clone()), &class));
                    continue;
                }
            }
            if saw_rust {
                continue; // the location line under a Rust frame
            }
            let (function, location) = split_v8_frame(rest);
            frames.push(frame(function, Some(js_module(location)), location));
            continue;
        }
        let starts_with_digit = trimmed.as_bytes().first().is_some_and(u8::is_ascii_digit);
        if let Some(c) = starts_with_digit.then(|| p.rust.captures(line)).flatten() {
            saw_rust = true;
            let path = c[1].to_string();
            let (module, function) = match path.rsplit_once("::") {
                Some((m, f)) => (Some(m.to_string()), Some(f.to_string())),
                None => (None, Some(path.clone())),
            };
            frames.push(Frame {
                in_app: is_in_app(&path),
                function,
                module,
            });
            continue;
        }
        let go_candidate = !line.starts_with([' ', '\t']) && trimmed.ends_with(')');
        if let Some(c) = go_candidate.then(|| p.go_func.captures(trimmed)).flatten() {
            let package = c[1].to_string();
            let mut f = frame(Some(&c[2]), Some(package.clone()), &package);
            // Go's standard library paths have no dot in their first element (`runtime`,
            // `net/http`); the app is `main` or a module path (`example.com/app`).
            let first = package.split('/').next().unwrap_or("");
            let first = first.split(".(").next().unwrap_or(first);
            if first != "main" && !first.contains('.') {
                f.in_app = false;
            }
            frames.push(f);
            continue;
        }
        // Firefox and Safari: `fn@file:1:2`, `@file:1:2`.
        if let Some((function, location)) =
            trimmed.split_once('@').filter(|_| !trimmed.contains(' '))
        {
            let location = strip_line_col(location);
            if !location.is_empty() {
                frames.push(frame(Some(function), Some(js_module(location)), location));
            }
        }
    }
    frames
}

/// A V8 frame after `at `: `async Foo.bar (file:1:2)`, `new Foo (file:1:2)` or `file:1:2`.
fn split_v8_frame(rest: &str) -> (Option<&str>, &str) {
    let rest = rest.trim();
    let rest = rest.strip_prefix("async ").unwrap_or(rest);
    let rest = rest.strip_prefix("new ").unwrap_or(rest);
    match (rest.find(" ("), rest.strip_suffix(')')) {
        (Some(open), Some(without_close)) => (
            Some(&rest[..open]),
            strip_line_col(&without_close[open + 2..]),
        ),
        _ => (None, strip_line_col(rest)),
    }
}

/// `file.js:10:5` → `file.js` (line and column change with every deploy).
fn strip_line_col(location: &str) -> &str {
    let mut location = location;
    for _ in 0..2 {
        match location.rsplit_once(':') {
            Some((head, tail)) if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) => {
                location = head
            }
            _ => break,
        }
    }
    location
}

fn frame(function: Option<&str>, module: Option<String>, location: &str) -> Frame {
    let function = function
        .map(|f| f.trim().trim_start_matches("Object.").to_string())
        .filter(|f| !f.is_empty() && f != "<anonymous>" && f != "Object.<anonymous>");
    Frame {
        function,
        module,
        in_app: is_in_app(location),
    }
}

/// A JS location without query string, origin and hash suffixes: `https://x.com/assets/app.3f2a.js?v=1` → `assets/app.js`.
fn js_module(location: &str) -> String {
    let no_query = location.split(['?', '#']).next().unwrap_or(location);
    let path = match no_query.find("://") {
        Some(i) => no_query[i + 3..]
            .split_once('/')
            .map(|(_, p)| p)
            .unwrap_or(""),
        None => no_query,
    };
    let path = path.trim_start_matches("file://").trim_start_matches('/');
    // Content hashes in bundle names change every deploy: `app.3f2a9c1b.js` → `app.js`.
    let file_parts: Vec<&str> = path.split('.').collect();
    let kept: Vec<&str> = file_parts
        .iter()
        .enumerate()
        .filter(|(i, part)| *i == 0 || *i == file_parts.len() - 1 || !looks_like_hash(part))
        .map(|(_, part)| *part)
        .collect();
    kept.join(".")
}

fn looks_like_hash(s: &str) -> bool {
    s.len() >= 6
        && s.chars().all(|c| c.is_ascii_alphanumeric())
        && s.chars().any(|c| c.is_ascii_digit())
}

fn python_module(path: &str) -> String {
    let path = path.replace('\\', "/");
    let after_site = path.rsplit("site-packages/").next().unwrap_or(&path);
    after_site
        .trim_end_matches(".py")
        .trim_start_matches('/')
        .replace('/', ".")
}

/// `app/models/user.rb` + `User#charge` (or `block in charge`, `charge`): the class is the
/// module when Ruby names one, else the file without `.rb`; gems and Ruby's own library are
/// not the app's code.
fn ruby_frame(path: &str, label: &str) -> Frame {
    let label = label.rsplit(" in ").next().unwrap_or(label);
    let (module, function) = match label.rsplit_once(['#', '.']) {
        Some((class, method)) => (class.to_string(), method),
        None => (path.trim_end_matches(".rb").to_string(), label),
    };
    let vendored = ["/gems/", "/lib/ruby/", "<internal:"]
        .iter()
        .any(|m| path.contains(m));
    Frame {
        function: Some(function.to_string()).filter(|f| !f.is_empty()),
        module: Some(module),
        in_app: !vendored && is_in_app(path),
    }
}

/// Frames from dependencies, runtimes and standard libraries are not the app's code.
pub fn is_in_app(location: &str) -> bool {
    const NOT_APP: &[&str] = &[
        "node_modules",
        "node:",
        "internal/",
        "site-packages",
        "dist-packages",
        "/usr/lib/",
        "<frozen",
        "java.",
        "javax.",
        "jdk.",
        "sun.",
        "kotlin.",
        "scala.",
        "System.",
        "Microsoft.",
        "runtime/",
        "runtime.",
        "net/http",
        "std::",
        "core::",
        "alloc::",
        "tokio::",
        "chrome-extension://",
        "moz-extension://",
        "webpack/bootstrap",
        "__rust_",
        "rust_begin_unwind",
    ];
    // V8's built-ins (`at JSON.parse (<anonymous>)`, `at Array.map (native)`) have no file.
    if matches!(location, "<anonymous>" | "native" | "[native code]") {
        return false;
    }
    // One pass of an Aho-Corasick automaton over the location, not one `contains` per marker
    // (callgrind: the markers one by one were ~5% of the pipeline).
    static MARKERS: OnceLock<AhoCorasick> = OnceLock::new();
    let markers = MARKERS.get_or_init(|| AhoCorasick::new(NOT_APP).expect("literal markers"));
    if location.is_empty() || markers.is_match(location) {
        return false;
    }
    // Rust's standard library frames: `std::…`, `<std::…>`.
    let trimmed = location.trim_start_matches(['<', '/', '.']);
    !(trimmed.starts_with("std") && location.contains("::"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(frames: &[Frame]) -> Vec<(String, String, bool)> {
        frames
            .iter()
            .map(|f| {
                (
                    f.function.clone().unwrap_or_default(),
                    f.module.clone().unwrap_or_default(),
                    f.in_app,
                )
            })
            .collect()
    }

    #[test]
    fn ruby_backtraces_innermost_first() {
        let stack = "app/models/payment.rb:12:in `charge'\n/srv/app/app/controllers/orders_controller.rb:30:in 'OrdersController#create'\n/usr/lib/ruby/3.1.0/benchmark.rb:311:in `realtime'\n/var/lib/gems/3.1.0/gems/rack-3.0.8/lib/rack/builder.rb:277:in `block in call'";
        let frames = parse_stack(stack);
        let got: Vec<_> = frames
            .iter()
            .map(|f| {
                (
                    f.function.as_deref().unwrap_or(""),
                    f.module.as_deref().unwrap_or(""),
                    f.in_app,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("charge", "app/models/payment", true),
                ("create", "OrdersController", true),
                ("realtime", "/usr/lib/ruby/3.1.0/benchmark", false),
                (
                    "call",
                    "/var/lib/gems/3.1.0/gems/rack-3.0.8/lib/rack/builder",
                    false
                ),
            ]
        );
        // With `from ` prefixes, as `full_message` prints them.
        let full =
            "payment.rb:3:in `charge': declined (RuntimeError)\n\tfrom payment.rb:7:in `<main>'";
        assert_eq!(parse_stack(full).len(), 2);
    }

    #[test]
    fn v8_built_ins_are_not_app_code() {
        let stack = "SyntaxError: Expected property name\n    at JSON.parse (<anonymous>)\n    at parseBody (file:///srv/app/body.mjs:3:9)\n    at Array.map (native)";
        let f = names(&parse_stack(stack));
        assert_eq!(f[0], ("JSON.parse".into(), "<anonymous>".into(), false));
        assert_eq!(f[1], ("parseBody".into(), "srv/app/body.mjs".into(), true));
        assert!(!f[2].2, "{f:?}");
    }

    #[test]
    fn javascript_v8() {
        let stack = "TypeError: Cannot read properties of undefined (reading 'id')\n    at UserCard.render (https://app.example.com/assets/app.3f2a9c1b.js:10:5)\n    at async loadUser (webpack-internal:///./src/users.js:22:9)\n    at https://app.example.com/assets/app.3f2a9c1b.js:99:1\n    at processTicksAndRejections (node:internal/process/task_queues:95:5)\n    at Layer.handle (/srv/node_modules/express/lib/router/layer.js:95:5)";
        let f = names(&parse_stack(stack));
        assert_eq!(f.len(), 5, "{f:?}");
        assert_eq!(
            f[0],
            ("UserCard.render".into(), "assets/app.js".into(), true)
        );
        assert_eq!(f[1].0, "loadUser");
        assert_eq!(f[2].0, "");
        assert!(!f[3].2, "node internals are not in-app");
        assert!(!f[4].2, "node_modules are not in-app");
    }

    #[test]
    fn javascript_gecko() {
        let stack = "render@https://app.example.com/static/main.js:10:5\n@https://app.example.com/static/main.js:1:1";
        let f = names(&parse_stack(stack));
        assert_eq!(f[0], ("render".into(), "static/main.js".into(), true));
        assert_eq!(f.len(), 2);
    }

    #[test]
    fn python_is_reversed_to_innermost_first() {
        let stack = "Traceback (most recent call last):\n  File \"/app/api/views.py\", line 12, in get_user\n    user = repo.find(id)\n  File \"/app/api/repo.py\", line 40, in find\n    raise NotFound(id)\n  File \"/usr/lib/python3.11/site-packages/django/core.py\", line 1, in x\napi.repo.NotFound: 42";
        let f = names(&parse_stack(stack));
        assert_eq!(f[0].0, "x");
        assert!(!f[0].2);
        assert_eq!(f[1], ("find".into(), "app.api.repo".into(), true));
        assert_eq!(f[2].0, "get_user");
    }

    #[test]
    fn java_and_dotnet() {
        let java = "java.lang.IllegalStateException: bad\n\tat com.acme.auth.AuthValidator.validate(AuthValidator.java:42)\n\tat com.acme.api.Login.post(Login.java:10)\n\tat java.base/java.lang.Thread.run(Thread.java:833)";
        let f = names(&parse_stack(java));
        assert_eq!(
            f[0],
            (
                "validate".into(),
                "com.acme.auth.AuthValidator".into(),
                true
            )
        );
        assert_eq!(f[1].0, "post");
        assert!(!f[2].2);
        let dotnet = "System.NullReferenceException: Object reference not set\n   at Acme.Orders.OrderService.Place(Order order) in C:\\src\\OrderService.cs:line 42\n   at System.Threading.Tasks.Task.Run()";
        let f = names(&parse_stack(dotnet));
        assert_eq!(
            f[0],
            ("Place".into(), "Acme.Orders.OrderService".into(), true)
        );
        assert!(!f[1].2);
    }

    #[test]
    fn go_panics() {
        let stack = "panic: runtime error: index out of range [3] with length 2\n\ngoroutine 1 [running]:\nmain.(*Server).handle(0xc000010000, 0x3)\n\t/app/server.go:42 +0x1d\nmain.main()\n\t/app/main.go:10 +0x25\nruntime.goexit()\n\t/usr/local/go/src/runtime/asm_amd64.s:1650 +0x1";
        let f = names(&parse_stack(stack));
        assert_eq!(f[0], ("handle".into(), "main.(*Server)".into(), true));
        assert_eq!(f[1].0, "main");
        assert!(!f[2].2, "{f:?}");
    }

    #[test]
    fn rust_backtraces() {
        let stack = "thread 'main' panicked at src/auth.rs:10:5:\nstack backtrace:\n   0: std::panicking::begin_panic\n   1: my_app::auth::validate\n             at ./src/auth.rs:10:5\n   2: my_app::main\n             at ./src/main.rs:3:5";
        let f = names(&parse_stack(stack));
        assert_eq!(f.len(), 3, "{f:?}");
        assert!(!f[0].2);
        assert_eq!(f[1], ("validate".into(), "my_app::auth".into(), true));
    }

    #[test]
    fn garbage_yields_no_frames() {
        for s in ["", "just some text", "at", "@", "\n\n\n", "File \"x\""] {
            assert!(parse_stack(s).is_empty(), "{s:?}");
        }
    }
}
