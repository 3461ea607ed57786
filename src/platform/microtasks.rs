//! How the isolate's Rust futures are resumed: plain promise reactions, not `queueMicrotask`.
//!
//! wasm-bindgen resumes woken futures from one isolate-wide task queue, which it schedules with
//! `queueMicrotask` when the global has one, else with `then` on a resolved promise; it decides
//! once, when the queue is first used. A request wakes futures several times (its body, the
//! rate limiter, each look at the outbox, the response), and in workerd every
//! `queueMicrotask` call wraps its callback in a new host function object: 7 % of our
//! isolate's CPU samples under single-event load (BENCHMARKS.md). A promise reaction runs in
//! the same microtask checkpoint of the same request, so the order and the request context are
//! unchanged; only the wrapper is gone.
//!
//! So at start-up, before any future exists, the queue is created while `queueMicrotask` is
//! hidden, and the global is put back at once for everything else.
//!
//! This needs workerd 2026-06-01 or later. Older releases (2026-04-26, the runtime pinned before
//! d1c654e) livelock in V8's garbage collector under this scheduling: after ~175 concurrent
//! 100-event batches the one thread spins in cppgc's incremental sweep while a background GC
//! waits for it, and nothing is answered again. package.json pins a fixed workerd
//! (`overrides`), and tests/runtime.test.mjs fails on an older one.

use worker::js_sys::{global, Reflect};
use worker::wasm_bindgen::JsValue;

pub fn resume_futures_with_promise_reactions() {
    let global = global();
    let name = JsValue::from_str("queueMicrotask");
    let Ok(original) = Reflect::get(&global, &name) else {
        return;
    };
    if Reflect::set(&global, &name, &JsValue::UNDEFINED) != Ok(true) {
        return;
    }
    // The first spawn creates wasm-bindgen's task queue, which looks at the global now.
    worker::wasm_bindgen_futures::spawn_local(async {});
    let _ = Reflect::set(&global, &name, &original);
}
