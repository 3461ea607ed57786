//! Feeding the tail hubs: each queued message goes to its project's hub once the queue has
//! taken it, from the isolate that sent it. It runs beside the sends (never awaited by them or
//! by any request), so a slow or failing hub can neither slow nor fail ingestion; a push that
//! fails is logged and dropped (viewers miss it, storage has it).

use crate::platform::objects::CallError;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::Duration;

use worker::wasm_bindgen::JsValue;
use worker::{console_warn, Delay, Env, ObjectNamespace};

use super::{hub_name, project_of};
use crate::platform::bindings;

thread_local! {
    /// Pushes started and not finished in this isolate.
    static IN_FLIGHT: Cell<u32> = const { Cell::new(0) };
    /// Hubs that answered that nobody watches, and until when (ms) this isolate skips them: an
    /// unwatched deployment then pays one push per hub and isolate every [`UNWATCHED_SKIP_MS`],
    /// not one per request.
    static UNWATCHED: RefCell<HashMap<String, u64>> = RefCell::new(HashMap::new());
}

/// How long an isolate skips a hub nobody watches. A viewer who connects through this isolate
/// ends the skip at once; other isolates reach the new viewer within this time.
pub const UNWATCHED_SKIP_MS: u64 = 2000;

/// Whether this isolate skips pushes to the hub now.
fn skipped(hub: &str, now: u64) -> bool {
    UNWATCHED.with(|u| u.borrow().get(hub).is_some_and(|until| *until > now))
}

/// A viewer connects to this hub: pushes to it resume at once from this isolate.
pub fn watching(hub: &str) {
    UNWATCHED.with(|u| u.borrow_mut().remove(hub));
}

/// The hubs' namespace, if the deployment binds one (a worker without `TAIL_HUBS` ingests as
/// before, without live tail).
pub fn namespace(env: &Env) -> Option<ObjectNamespace> {
    env.durable_object(bindings::TAIL_HUBS).ok()
}

/// Starts pushing these message bodies to their hubs without waiting for them.
pub fn push(env: &Env, bodies: Vec<Vec<u8>>) {
    let Some(hubs) = namespace(env) else {
        return;
    };
    let now = crate::platform::clock::millis();
    for body in bodies {
        let hub = hub_name(project_of(&body).as_deref());
        if skipped(&hub, now) {
            continue;
        }
        let hubs = hubs.clone();
        IN_FLIGHT.with(|n| n.set(n.get() + 1));
        worker::wasm_bindgen_futures::spawn_local(async move {
            match call(&hubs, &hub, "push", body).await {
                Ok(answer) => {
                    let kept = serde_json::from_str::<super::hub::PushAnswer>(&answer)
                        .map_or(true, |a| a.kept);
                    if !kept {
                        let until = crate::platform::clock::millis() + UNWATCHED_SKIP_MS;
                        UNWATCHED.with(|u| u.borrow_mut().insert(hub, until));
                    }
                }
                Err(e) => console_warn!("live tail: a push was not delivered ({e})"),
            }
            IN_FLIGHT.with(|n| n.set(n.get() - 1));
        });
    }
}

/// Waits (a bounded while) until this isolate's pushes are done: called at the end of the
/// `waitUntil` that started them, so the runtime does not end them half-way.
pub async fn settle() {
    for _ in 0..500 {
        if IN_FLIGHT.with(Cell::get) == 0 {
            return;
        }
        Delay::from(Duration::from_millis(2)).await;
    }
}

/// One call to a hub; its answer's text.
pub async fn call(
    hubs: &ObjectNamespace,
    hub: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<String, CallError> {
    let body = JsValue::from(js_sys::Uint8Array::from(body.as_slice()));
    crate::platform::objects::post(hubs, hub, &format!("https://hub.internal/{path}"), body).await
}

/// Ends every tail opened with this key, in each hub it may be in.
pub async fn revoke(env: &Env, key_id: &str, projects: Vec<Option<String>>) {
    let Some(hubs) = namespace(env) else {
        return;
    };
    let body = serde_json::json!({ "key_id": key_id })
        .to_string()
        .into_bytes();
    let names: Vec<String> = projects.iter().map(|p| hub_name(p.as_deref())).collect();
    let calls = names
        .iter()
        .map(|name| call(&hubs, name, "revoke", body.clone()));
    for (project, result) in projects
        .iter()
        .zip(futures_util::future::join_all(calls).await)
    {
        if let Err(e) = result {
            console_warn!("live tail: revoking key {key_id} in hub {project:?} failed ({e})");
        }
    }
}
