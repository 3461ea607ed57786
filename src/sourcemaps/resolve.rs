//! The edge's side of source maps: for the events of a request (or one event read back),
//! find their frames' maps in the index, load them from R2, and rewrite the errors.
//!
//! Where it costs least: nothing happens for an event without JavaScript frames, and nothing
//! for any event while the deployment holds no map (checked once a minute per isolate). Parsed
//! maps are kept per isolate, bounded by their size in bytes (least recently used out first);
//! what could not be found is remembered for a minute, so a burst of events from a build with
//! no maps costs one lookup. Every failure leaves the event as sent, with the reason.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::sourcemaps::MapError;

use sourcemap::{SourceMap, SourceView};
use worker::{console_warn, Env};

use super::{js_frames, original_position, parse_map, symbolicate, url_keys, MapLookup};
use crate::model::{SourceFrame, StoredEvent};
use crate::platform::bindings;
use crate::platform::clock::millis;
use crate::sourcemaps::store::{self as store, SourcemapRow};

/// The most bytes of maps (as uploaded) kept parsed per isolate.
const CACHE_BYTES: usize = 48 * 1024 * 1024;
/// How long "no map here" and "the deployment has maps or not" are believed.
const BELIEVE_MS: u64 = 60_000;

type Rewrite = (
    Option<String>,
    Option<String>,
    Vec<SourceFrame>,
    Option<crate::model::Symbolication>,
);

struct Loaded {
    map: SourceMap,
    minified: Option<SourceView>,
    bytes: usize,
    used: u64,
}

#[derive(Default)]
struct Cache {
    maps: HashMap<String, Rc<Loaded>>,
    bytes: usize,
    tick: u64,
    /// Map keys that failed to load or parse, with why, until when.
    failed: HashMap<String, (MapError, u64)>,
    /// Whether the deployment holds any map, until when.
    any: Option<(bool, u64)>,
    /// Frames already mapped, by map, position and minified name: an error repeats, and its
    /// frames with it.
    frames: HashMap<String, Result<SourceFrame, MapError>>,
    /// Errors already rewritten: their stack, raw stack, frames and outcome, until when.
    rewrites: HashMap<String, (Rc<Rewrite>, u64)>,
    /// Index rows by what an event asked (project, release, URL keys, debug ids), until when:
    /// the events of one build ask the same, so one D1 read serves them all for a while.
    rows: HashMap<String, (Rc<Vec<SourcemapRow>>, u64)>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// Forgets everything (after maps were removed).
pub fn forget() {
    CACHE.with(|c| *c.borrow_mut() = Cache::default());
}

fn has_js_frames(event: &StoredEvent) -> bool {
    event
        .error
        .as_ref()
        .and_then(|e| e.stack.as_deref())
        .is_some_and(|s| s.contains("://") && !js_frames(s).is_empty())
}

async fn deployment_has_maps(env: &Env) -> bool {
    let now = millis();
    if let Some((any, until)) = CACHE.with(|c| c.borrow().any) {
        if now < until {
            return any;
        }
    }
    let any = match env.d1(bindings::DB) {
        Ok(db) => store::any(&db).await.unwrap_or(false),
        Err(_) => false,
    };
    CACHE.with(|c| c.borrow_mut().any = Some((any, now + BELIEVE_MS)));
    any
}

/// Applies the maps to every event of a request that has JavaScript frames. Never fails: an
/// event whose maps cannot be had keeps its stack, with the reason. What is stored is the
/// rewritten stack, the stack as sent and the outcome; the frames with their source context
/// are made again when the event is read (from the same maps, cached), so events stay small
/// on the queue and in storage.
pub async fn apply(env: &Env, events: &mut [(usize, StoredEvent)]) {
    // Each stack is scanned for frames once.
    let with_frames: Vec<usize> = (0..events.len())
        .filter(|&i| has_js_frames(&events[i].1))
        .collect();
    if with_frames.is_empty() || !deployment_has_maps(env).await {
        return;
    }
    for i in with_frames {
        let event = &mut events[i].1;
        apply_one(env, event, false).await;
        if let Some(error) = event.error.as_mut() {
            error.frames.clear();
        }
    }
}

/// For an event read back: its frames with source context, and maps that came late applied
/// (what is stored, and its group, stay as they were).
pub async fn apply_for_read(env: &Env, event: &mut StoredEvent) {
    let symbolicated_or_has_frames = event.error.as_ref().is_some_and(|e| {
        e.raw_stack.is_some() || e.stack.as_deref().is_some_and(|s| s.contains("://"))
    });
    if symbolicated_or_has_frames && deployment_has_maps(env).await {
        apply_one(env, event, true).await;
    }
}

/// Applies the maps to one event. Returns whether its stack changed.
async fn apply_one(env: &Env, event: &mut StoredEvent, context: bool) -> bool {
    let (Ok(db), Some(bucket)) = (env.d1(bindings::DB), store::bucket(env)) else {
        return false;
    };
    let Some(error) = event.error.as_ref() else {
        return false;
    };
    let stack = error
        .raw_stack
        .clone()
        .or(error.stack.clone())
        .unwrap_or_default();
    let file_ids = error.debug_ids.clone();
    // The same error repeats: its rewrite is remembered by everything it depends on.
    let memo_key = format!(
        "{:?}|{:?}|{:?}|{context}|{stack}",
        event.project, event.release, file_ids
    );
    let now = millis();
    let known = CACHE.with(|c| {
        c.borrow()
            .rewrites
            .get(&memo_key)
            .filter(|(_, until)| now < *until)
            .map(|(r, _)| r.clone())
    });
    if let (Some(rewrite), Some(error)) = (known, event.error.as_mut()) {
        let (stack, raw_stack, frames, symbolication) = &*rewrite;
        let changed = error.stack != *stack;
        error.stack = stack.clone();
        error.raw_stack = raw_stack.clone();
        error.frames = frames.clone();
        error.symbolication = symbolication.clone();
        return changed;
    }
    let frames = js_frames(&stack);
    let release = event.release.clone();
    // Debug ids of this error's files, by each URL key of the file.
    let debug_id_of = |url: &str| -> Option<String> {
        let keys = url_keys(url);
        file_ids
            .iter()
            .find(|(file, _)| keys.iter().any(|k| url_keys(file).contains(k)))
            .map(|(_, id)| id.clone())
    };
    let debug_ids: Vec<String> = frames.iter().filter_map(|f| debug_id_of(&f.url)).collect();
    let mut keys: Vec<String> = frames.iter().flat_map(|f| url_keys(&f.url)).collect();
    keys.sort();
    keys.dedup();
    keys.truncate(80);
    let asked = format!(
        "{:?}|{:?}|{}|{}",
        event.project,
        release,
        keys.join(" "),
        debug_ids.join(" ")
    );
    let now = millis();
    let cached = CACHE.with(|c| {
        c.borrow()
            .rows
            .get(&asked)
            .filter(|(_, until)| now < *until)
            .map(|(rows, _)| rows.clone())
    });
    let rows = match cached {
        Some(rows) => rows,
        None => {
            let found = store::candidates(
                &db,
                event.project.as_deref(),
                release.as_deref(),
                &debug_ids,
                &keys,
            )
            .await;
            match found {
                Ok(rows) => {
                    let rows = Rc::new(rows);
                    CACHE.with(|c| {
                        let mut c = c.borrow_mut();
                        if c.rows.len() > 1000 {
                            c.rows.clear();
                        }
                        c.rows.insert(asked, (rows.clone(), now + BELIEVE_MS));
                    });
                    rows
                }
                Err(e) => {
                    console_warn!(
                        "source maps: index lookup failed ({e}); events keep their stacks"
                    );
                    return false;
                }
            }
        }
    };
    // The row for each frame: by debug id first, then by release and URL (exact before `~/`).
    let row_for = |url: &str| -> Option<&SourcemapRow> {
        if let Some(id) = debug_id_of(url) {
            if let Some(row) = rows
                .iter()
                .find(|r| r.debug_id.as_deref() == Some(id.as_str()))
            {
                return Some(row);
            }
        }
        let release = release.as_deref()?;
        url_keys(url)
            .iter()
            .find_map(|k| rows.iter().find(|r| r.release == release && &r.url == k))
    };
    let mut loaded: HashMap<String, Result<Rc<Loaded>, MapError>> = HashMap::new();
    for f in &frames {
        if let Some(row) = row_for(&f.url) {
            if !loaded.contains_key(&row.map_key) {
                let result = load(&bucket, row).await;
                loaded.insert(row.map_key.clone(), result);
            }
        }
    }
    let Some(error) = event.error.as_mut() else {
        return false;
    };
    // A stack already rewritten is rewritten again from what was sent.
    error.stack = Some(stack);
    error.raw_stack = None;
    let before = error.stack.clone();
    symbolicate(error, |f| match row_for(&f.url) {
        Some(row) => match loaded.get(&row.map_key) {
            Some(Ok(l)) => {
                let key = format!(
                    "{}|{}|{}|{:?}|{context}",
                    row.map_key, f.line, f.column, f.function
                );
                let known = CACHE.with(|c| c.borrow().frames.get(&key).cloned());
                MapLookup::Resolved(known.unwrap_or_else(|| {
                    let frame = original_position(&l.map, l.minified.as_ref(), f, context);
                    CACHE.with(|c| {
                        let mut c = c.borrow_mut();
                        if c.frames.len() > 10_000 {
                            c.frames.clear();
                        }
                        c.frames.insert(key, frame.clone());
                    });
                    frame
                }))
            }
            Some(Err(reason)) => MapLookup::Failed(reason.clone()),
            None => MapLookup::Failed(format!("no source map loaded for {}", f.url).into()),
        },
        None => MapLookup::NoMap(match (&release, debug_id_of(&f.url)) {
            (_, Some(id)) => format!("no source map with debug id {id} for {}", f.url).into(),
            (Some(r), None) => format!("no source map for {} in release {r}", f.url).into(),
            (None, None) => {
                format!("no release or debug id to find a source map for {}", f.url).into()
            }
        }),
    });
    let rewrite = Rc::new((
        error.stack.clone(),
        error.raw_stack.clone(),
        error.frames.clone(),
        error.symbolication.clone(),
    ));
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.rewrites.len() > 2_000 {
            c.rewrites.clear();
        }
        c.rewrites.insert(memo_key, (rewrite, now + BELIEVE_MS));
    });
    error.stack != before
}

/// A map (and its minified file) from the cache, or from R2 into it.
async fn load(bucket: &worker::Bucket, row: &SourcemapRow) -> Result<Rc<Loaded>, MapError> {
    let now = millis();
    let cached = CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.tick += 1;
        let tick = c.tick;
        if let Some((reason, until)) = c.failed.get(&row.map_key) {
            if now < *until {
                return Some(Err(reason.clone()));
            }
        }
        c.maps.get_mut(&row.map_key).map(|l| {
            if let Some(l) = Rc::get_mut(l) {
                l.used = tick;
            }
            Ok(l.clone())
        })
    });
    if let Some(found) = cached {
        return found;
    }
    let result = fetch(bucket, row).await;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        match &result {
            Ok(l) => {
                c.bytes += l.bytes;
                c.maps.insert(row.map_key.clone(), l.clone());
                // Least recently used out first, down to the bound.
                while c.bytes > CACHE_BYTES && c.maps.len() > 1 {
                    let Some(oldest) = c
                        .maps
                        .iter()
                        .min_by_key(|(_, l)| l.used)
                        .map(|(k, _)| k.clone())
                    else {
                        break;
                    };
                    if let Some(gone) = c.maps.remove(&oldest) {
                        c.bytes -= gone.bytes;
                    }
                }
            }
            Err(reason) => {
                c.failed
                    .insert(row.map_key.clone(), (reason.clone(), now + BELIEVE_MS));
            }
        }
    });
    result
}

async fn fetch(bucket: &worker::Bucket, row: &SourcemapRow) -> Result<Rc<Loaded>, MapError> {
    let bytes = store::get_object(bucket, &row.map_key)
        .await
        .map_err(|e| format!("the map of {} could not be read ({e})", row.url))?
        .ok_or_else(|| format!("the map of {} is no longer stored", row.url))?;
    let map = parse_map(&bytes).map_err(|e| format!("{} ({})", e, row.url))?;
    let minified = match &row.source_key {
        Some(key) => store::get_object(bucket, key)
            .await
            .ok()
            .flatten()
            .and_then(|b| String::from_utf8(b).ok())
            .map(SourceView::from_string),
        None => None,
    };
    let size = bytes.len() + minified.as_ref().map_or(0, |m| m.source().len());
    Ok(Rc::new(Loaded {
        map,
        minified,
        bytes: size,
        used: CACHE.with(|c| c.borrow().tick),
    }))
}
