//! Source maps: readable stacks from minified JavaScript.
//!
//! Maps are uploaded per release (`sentry-cli sourcemaps upload`, or a plain multipart POST)
//! and kept in R2, their index in D1. An event with JavaScript frames finds a frame's map by
//! the debug id of its file (`error.debug_ids`, from Sentry's `debug_meta.images`), else by
//! its release and the frame's URL (`~/path` matching, as Sentry's). This module is the pure
//! part: the frames of a stack, the URL keys, the rewrite of an error with the maps found
//! (original positions, the minified frame beside each, source context, `in_app`), and the
//! artifact bundles sentry-cli sends (`bundle`). The edge's runner (`resolve`, wasm) finds and
//! caches the maps; the handlers serve the upload protocol.

use std::sync::OnceLock;

use regex::Regex;
use sourcemap::{SourceMap, SourceView};

use crate::model::{ErrorInfo, MinifiedFrame, SourceFrame, Symbolication};
use crate::processors::stack::is_in_app;

crate::error::message_error!(
    /// Why a source map or a bundle could not be used: missing, malformed, too large, or a URL
    /// that names no file.
    MapError
);

pub mod assembly;
pub mod bundle;
#[cfg(target_arch = "wasm32")]
pub mod resolve;
#[cfg(target_arch = "wasm32")]
pub(crate) mod store;

/// Lines of original source kept before and after a frame's line, and the longest line kept.
pub const CONTEXT_LINES: usize = 3;
const MAX_CONTEXT_CHARS: usize = 200;
/// The largest map read; a larger one leaves its frames as sent, with the reason.
pub const MAX_MAP_BYTES: usize = 32 * 1024 * 1024;

/// A frame of a JavaScript stack: its line in the stack text, and where it points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsFrame {
    pub line_index: usize,
    pub function: Option<String>,
    pub url: String,
    /// 1-based, as engines print them.
    pub line: u32,
    pub column: u32,
}

fn frame_patterns() -> &'static (Regex, Regex) {
    static P: OnceLock<(Regex, Regex)> = OnceLock::new();
    P.get_or_init(|| {
        (
            // V8: `    at fn (https://x/app.js:1:234)` or `    at https://x/app.js:1:234`
            Regex::new(r"^\s*at (?:async )?(?:([^\s(][^(]*?) \()?([a-z][a-z0-9+.-]*://[^\s()]+|/[^\s()]+):(\d+):(\d+)\)?\s*$").unwrap(),
            // Firefox and Safari: `fn@https://x/app.js:1:234`
            Regex::new(r"^\s*([^@\s]*)@([a-z][a-z0-9+.-]*://[^\s]+|/[^\s]+):(\d+):(\d+)\s*$").unwrap(),
        )
    })
}

/// The JavaScript frames of a stack text that point at a file, innermost first as printed.
pub fn js_frames(stack: &str) -> Vec<JsFrame> {
    let (v8, gecko) = frame_patterns();
    stack
        .lines()
        .enumerate()
        .filter_map(|(line_index, text)| {
            let c = v8.captures(text).or_else(|| gecko.captures(text))?;
            Some(JsFrame {
                line_index,
                function: c
                    .get(1)
                    .map(|m| m.as_str().trim().to_string())
                    .filter(|f| !f.is_empty()),
                url: c[2].to_string(),
                line: c[3].parse().ok()?,
                column: c[4].parse().ok()?,
            })
        })
        .collect()
}

/// The names a file URL is uploaded under, most exact first: the URL without query or
/// fragment, then `~/path` (any host), as Sentry matches them.
pub fn url_keys(url: &str) -> Vec<String> {
    let bare = url.split(['?', '#']).next().unwrap_or(url).to_string();
    let mut keys = vec![bare.clone()];
    if let Some(rest) = bare.split_once("://").map(|(_, rest)| rest) {
        if let Some(slash) = rest.find('/') {
            keys.push(format!("~{}", &rest[slash..]));
        }
    } else if bare.starts_with('/') {
        keys.push(format!("~{bare}"));
    }
    keys
}

/// The name an upload's file URL is indexed under: as given without query or fragment;
/// a bare path (`assets/app.js`, `/assets/app.js`) as `~/assets/app.js`.
pub fn index_url(url: &str) -> Result<String, MapError> {
    let bare = url.split(['?', '#']).next().unwrap_or(url).trim();
    if bare.is_empty() || bare.len() > 2048 || bare.chars().any(char::is_control) {
        return Err(MapError::new(
            "the file URL is empty, too long or has control characters",
        ));
    }
    Ok(if bare.starts_with('~') || bare.contains("://") {
        bare.to_string()
    } else {
        format!("~/{}", bare.trim_start_matches('/'))
    })
}

/// What the runner found for a frame: its map (and the minified file, when uploaded: it names
/// functions the minifier renamed), or why there is none.
pub enum MapLookup<'a> {
    Found(&'a SourceMap, Option<&'a SourceView>),
    /// No map was uploaded for this file (a vendor script, a file of another build…).
    NoMap(MapError),
    /// A map is there but could not be used (not stored any more, too large, malformed).
    Failed(MapError),
    /// The frame already looked up (the runner remembers frames: the same error repeats).
    Resolved(Result<SourceFrame, MapError>),
}

/// Rewrites an error's stack with its maps. Returns whether anything changed; `error.frames`,
/// `raw_stack` and `symbolication` say what was done (a frame without a map keeps its
/// minified position and says why).
pub fn symbolicate<'a>(
    error: &mut ErrorInfo,
    mut map_for: impl FnMut(&JsFrame) -> MapLookup<'a>,
) -> bool {
    let Some(stack) = error.stack.clone() else {
        return false;
    };
    let frames = js_frames(&stack);
    if frames.is_empty() {
        return false;
    }
    let mut lines: Vec<String> = stack.lines().map(str::to_string).collect();
    let mut out = Vec::with_capacity(frames.len());
    let mut reasons: Vec<String> = Vec::new();
    let mut mapped = 0;
    let mut failed = false;
    for f in &frames {
        let minified = MinifiedFrame {
            function: f.function.clone(),
            url: f.url.clone(),
            line: f.line,
            column: f.column,
        };
        let original = match map_for(f) {
            MapLookup::Found(map, minified_source) => {
                original_position(map, minified_source, f, true).inspect_err(|_| failed = true)
            }
            MapLookup::Resolved(frame) => frame.inspect_err(|_| failed = true),
            MapLookup::NoMap(reason) => Err(reason),
            MapLookup::Failed(reason) => {
                failed = true;
                Err(reason)
            }
        };
        match original {
            Ok(mut frame) => {
                mapped += 1;
                lines[f.line_index] = format!(
                    "    at {} ({}:{}:{})",
                    frame.function.as_deref().unwrap_or("<anonymous>"),
                    frame.file.as_deref().unwrap_or(""),
                    frame.line.unwrap_or(0),
                    frame.column.unwrap_or(0)
                );
                frame.minified = minified;
                out.push(frame);
            }
            Err(reason) => {
                let reason = reason.into_message();
                if !reasons.contains(&reason) {
                    reasons.push(reason.clone());
                }
                out.push(SourceFrame {
                    function: f.function.clone(),
                    file: Some(f.url.clone()),
                    line: Some(f.line),
                    column: Some(f.column),
                    in_app: is_in_app(&f.url),
                    minified,
                    unmapped: Some(reason),
                    ..Default::default()
                });
            }
        }
    }
    // Frames of files nobody uploaded a map for do not make a stack partial; a map that was
    // there and could not be used does.
    let status = match (mapped, failed) {
        (0, _) => "unsymbolicated",
        (_, true) => "partial",
        (_, false) => "symbolicated",
    };
    if mapped > 0 {
        error.raw_stack = Some(stack);
        error.stack = Some(lines.join("\n"));
    }
    error.frames = out;
    error.symbolication = Some(Symbolication {
        status: status.into(),
        reasons,
    });
    true
}

/// A frame's original file, line, column and function, and with `context` the lines around it
/// when the map carries the sources (added when an event is read, not stored with it).
pub fn original_position(
    map: &SourceMap,
    minified_source: Option<&SourceView>,
    f: &JsFrame,
    context: bool,
) -> Result<SourceFrame, MapError> {
    let (line, column) = (f.line.saturating_sub(1), f.column.saturating_sub(1));
    let token = map
        .lookup_token(line, column)
        .filter(|t| t.get_dst_line() == line)
        .ok_or_else(|| format!("no mapping at {}:{}:{} in its map", f.url, f.line, f.column))?;
    let file = token
        .get_source()
        .ok_or_else(|| format!("{}:{}:{} maps to no source", f.url, f.line, f.column))?
        .to_string();
    let src_line = token.get_src_line();
    // The function's original name needs the minified file (the crate reads the name at the
    // function's declaration); without it, the frame keeps the name it was printed with.
    let function = f
        .function
        .as_deref()
        .map(|name| {
            name.trim_start_matches("new ")
                .rsplit('.')
                .next()
                .unwrap_or(name)
        })
        .zip(minified_source)
        .and_then(|(name, view)| map.get_original_function_name(line, column, name, view))
        .map(str::to_string)
        .or_else(|| f.function.clone());
    let mut frame = SourceFrame {
        function,
        in_app: is_in_app(&file),
        file: Some(file),
        line: Some(src_line + 1),
        column: Some(token.get_src_col() + 1),
        ..Default::default()
    };
    if !context {
        return Ok(frame);
    }
    if let Some(source) = token
        .get_source_view()
        .map(|v| v.source())
        .or_else(|| map.get_source_contents(token.get_src_id()))
    {
        let at = src_line as usize;
        let first = at.saturating_sub(CONTEXT_LINES);
        let cut = |s: &str| s.chars().take(MAX_CONTEXT_CHARS).collect::<String>();
        let near: Vec<&str> = source
            .lines()
            .skip(first)
            .take(at - first + 1 + CONTEXT_LINES)
            .collect();
        if let Some(line) = near.get(at - first) {
            frame.pre_context = near[..at - first].iter().map(|s| cut(s)).collect();
            frame.context_line = Some(cut(line));
            frame.post_context = near[at - first + 1..].iter().map(|s| cut(s)).collect();
        }
    }
    Ok(frame)
}

/// Parses a map, refusing what is too large or is not a source map (an index map is read too).
pub fn parse_map(bytes: &[u8]) -> Result<SourceMap, MapError> {
    if bytes.len() > MAX_MAP_BYTES {
        return Err(MapError::new(format!(
            "the map is {} bytes; at most {MAX_MAP_BYTES} are read",
            bytes.len()
        )));
    }
    match sourcemap::decode_slice(bytes) {
        Ok(sourcemap::DecodedMap::Regular(map)) => Ok(map),
        Ok(sourcemap::DecodedMap::Index(index)) => index
            .flatten()
            .map_err(|e| MapError::new(format!("the index map cannot be flattened: {e}"))),
        Ok(_) => Err(MapError::new(
            "not a source map (a Hermes or other map is not read)",
        )),
        Err(e) => Err(MapError::new(format!("the map is malformed: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sourcemap::SourceMapBuilder;

    const SOURCE: &str = "import { api } from './api';\n\nexport function addToCart(item) {\n  const user = session.user;\n  return api.post(user.id, item);\n}\n";

    /// `app.min.js` line 1: `function c(t){let e=s.user;return a.post(e.id,t)}` mapped to SOURCE.
    fn map() -> SourceMap {
        let mut b = SourceMapBuilder::new(Some("app.min.js"));
        let src = b.add_source("webpack://shop/./src/cart.js");
        b.set_source_contents(src, Some(SOURCE));
        let (add_to_cart, user) = (b.add_name("addToCart"), b.add_name("user"));
        b.add_raw(0, 0, 2, 7, Some(src), None, false);
        b.add_raw(0, 9, 2, 16, Some(src), Some(add_to_cart), false);
        b.add_raw(0, 38, 4, 18, Some(src), Some(user), false);
        let vendor = b.add_source("webpack://shop/./node_modules/react/index.js");
        b.add_raw(0, 60, 10, 4, Some(vendor), None, false);
        b.into_sourcemap()
    }

    #[test]
    fn finds_frames_in_v8_and_gecko_stacks() {
        let stack = "TypeError: Cannot read properties of undefined (reading 'id')\n    at c (https://shop.example/assets/app.3f9a.js:1:39)\n    at async https://shop.example/assets/app.3f9a.js:1:61\n    at Object.render [as r] (file:///srv/app.js:2:3)\nc@https://shop.example/app.js:1:39\n    at native code";
        let frames = js_frames(stack);
        assert_eq!(frames.len(), 4);
        assert_eq!(
            (
                frames[0].function.as_deref(),
                frames[0].line,
                frames[0].column
            ),
            (Some("c"), 1, 39)
        );
        assert_eq!(frames[1].function, None);
        assert_eq!(frames[1].url, "https://shop.example/assets/app.3f9a.js");
        assert_eq!(frames[3].line_index, 4);
    }

    #[test]
    fn url_keys_match_as_sentry_does() {
        assert_eq!(
            url_keys("https://shop.example/assets/app.js?v=3#x"),
            vec!["https://shop.example/assets/app.js", "~/assets/app.js"]
        );
        assert_eq!(
            url_keys("/assets/app.js"),
            vec!["/assets/app.js", "~/assets/app.js"]
        );
        assert_eq!(index_url("assets/app.js").unwrap(), "~/assets/app.js");
        assert_eq!(index_url("~/app.js?x=1").unwrap(), "~/app.js");
        assert_eq!(index_url("https://x/app.js").unwrap(), "https://x/app.js");
        assert!(index_url("").is_err());
    }

    #[test]
    fn rewrites_frames_keeps_the_minified_ones_and_says_why_not() {
        let map = map();
        let mut error = ErrorInfo {
            kind: Some("TypeError".into()),
            stack: Some("TypeError: x\n    at c (https://shop.example/assets/app.3f9a.js:1:39)\n    at https://shop.example/assets/app.3f9a.js:1:61\n    at z (https://cdn.other/lib.js:1:1)".into()),
            ..Default::default()
        };
        let changed = symbolicate(&mut error, |f| {
            if f.url.contains("app.3f9a") {
                MapLookup::Found(&map, None)
            } else {
                MapLookup::NoMap(format!("no source map for {}", f.url).into())
            }
        });
        assert!(changed);
        let frames = &error.frames;
        assert_eq!(
            frames[0].file.as_deref(),
            Some("webpack://shop/./src/cart.js")
        );
        assert_eq!((frames[0].line, frames[0].column), (Some(5), Some(19)));
        assert_eq!(
            frames[0].context_line.as_deref(),
            Some("  return api.post(user.id, item);")
        );
        assert_eq!(frames[0].pre_context.len(), 3);
        assert_eq!(frames[0].post_context, vec!["}".to_string()]);
        assert!(frames[0].in_app);
        assert_eq!(
            frames[0].minified.url,
            "https://shop.example/assets/app.3f9a.js"
        );
        assert_eq!(frames[0].minified.column, 39);
        assert!(!frames[1].in_app, "node_modules is not app code");
        assert_eq!(
            frames[2].unmapped.as_deref(),
            Some("no source map for https://cdn.other/lib.js")
        );
        let s = error.symbolication.as_ref().unwrap();
        assert_eq!(
            s.status, "symbolicated",
            "a file without any map does not count"
        );
        assert_eq!(
            s.reasons,
            vec!["no source map for https://cdn.other/lib.js"]
        );
        assert!(error
            .stack
            .as_deref()
            .unwrap()
            .contains("at c (webpack://shop/./src/cart.js:5:19)"));
        assert!(error
            .raw_stack
            .as_deref()
            .unwrap()
            .contains("app.3f9a.js:1:39"));
    }

    #[test]
    fn original_function_names_come_from_the_minified_file() {
        let map = map();
        let minified =
            SourceView::from_string("function c(t){let e=s.user;return a.post(e.id,t)}".into());
        let mut error = ErrorInfo {
            stack: Some("E\n    at c (https://x/app.js:1:39)".into()),
            ..Default::default()
        };
        symbolicate(&mut error, |_| MapLookup::Found(&map, Some(&minified)));
        assert_eq!(error.frames[0].function.as_deref(), Some("addToCart"));
        assert!(error.stack.unwrap().contains("at addToCart ("));
    }

    #[test]
    fn nothing_maps_nothing_changes_in_the_stack() {
        let mut error = ErrorInfo {
            stack: Some("E\n    at c (https://x/app.js:1:39)".into()),
            ..Default::default()
        };
        symbolicate(&mut error, |_| {
            MapLookup::Failed("the map is malformed: x".into())
        });
        assert_eq!(
            error.stack.as_deref(),
            Some("E\n    at c (https://x/app.js:1:39)")
        );
        assert!(error.raw_stack.is_none());
        assert_eq!(error.symbolication.unwrap().status, "unsymbolicated");
        assert!(parse_map(b"{not json")
            .unwrap_err()
            .message()
            .contains("malformed"));
        assert!(parse_map(&vec![b' '; MAX_MAP_BYTES + 1])
            .unwrap_err()
            .message()
            .contains("at most"));
    }
}
