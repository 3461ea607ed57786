//! Runs a request's future: polled at once when the request arrives, and again from inside
//! each wake-up, instead of through wasm-bindgen's isolate-wide task queue.
//!
//! Why: wasm-bindgen's queue resumes every woken future from a microtask it schedules with
//! `queueMicrotask`, and in workerd each such call wraps its callback in a new host function
//! object: a CPU profile of our isolate under single-event load put 7 % of its samples in that
//! call (a request wakes four times: arriving, its body, the rate limiter, its turn in the
//! outbox). Here a wake-up polls the request's future right where it happens: in the reaction
//! of the promise the request was waiting on, which the runtime runs in that request's own
//! context. (Resuming futures with promise reactions of wasm-bindgen's shared queue instead was
//! tried and reverted: its one shared reaction can be cancelled with the request that
//! scheduled it, and then no future of the isolate is ever resumed again; BENCHMARKS.md.)
//!
//! Only a request's own promises wake its future (the outbox's runner never wakes a waiting
//! request, see `outbox.rs`), so a poll never runs in another request's context.
//! `waitUntil` work still runs on wasm-bindgen's queue.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use worker::js_sys::{Function, Promise};
use worker::wasm_bindgen::JsValue;

type Outcome = Result<JsValue, JsValue>;

struct Task {
    /// `None` once it has finished: dropped at once, with everything it held.
    future: RefCell<Option<Pin<Box<dyn Future<Output = Outcome>>>>>,
    /// The promise's resolve and reject functions.
    settle: RefCell<Option<(Function, Function)>>,
    /// Being polled now: a wake-up then only asks for one more poll.
    polling: Cell<bool>,
    woken: Cell<bool>,
}

/// A promise of the future's outcome; the future is polled before this returns.
pub fn run_to_promise(future: impl Future<Output = Outcome> + 'static) -> Promise {
    let task = Rc::new(Task {
        future: RefCell::new(Some(Box::pin(future))),
        settle: RefCell::new(None),
        polling: Cell::new(false),
        woken: Cell::new(false),
    });
    let promise = Promise::new(&mut |resolve, reject| {
        *task.settle.borrow_mut() = Some((resolve, reject));
    });
    poll(&task);
    promise
}

fn poll(task: &Rc<Task>) {
    if task.polling.replace(true) {
        // Woken from inside its own poll: poll once more when this one returns.
        task.woken.set(true);
        return;
    }
    loop {
        task.woken.set(false);
        let waker = waker(Rc::clone(task));
        let outcome = match task.future.borrow_mut().as_mut() {
            Some(future) => future.as_mut().poll(&mut Context::from_waker(&waker)),
            // A late wake-up of a finished task.
            None => break,
        };
        if let Poll::Ready(outcome) = outcome {
            task.future.borrow_mut().take();
            if let Some((resolve, reject)) = task.settle.borrow_mut().take() {
                let _ = match outcome {
                    Ok(value) => resolve.call1(&JsValue::UNDEFINED, &value),
                    Err(error) => reject.call1(&JsValue::UNDEFINED, &error),
                };
            }
            break;
        }
        if !task.woken.get() {
            break;
        }
    }
    task.polling.set(false);
}

// A waker is an `Rc<Task>` behind a pointer. wasm32 without threads: wakers never cross
// threads, which is what `Send + Sync` on `Waker` would otherwise guard.
const VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

fn waker(task: Rc<Task>) -> Waker {
    // SAFETY: the pointer comes from `Rc::into_raw` and the vtable keeps its count.
    unsafe { Waker::from_raw(RawWaker::new(Rc::into_raw(task).cast(), &VTABLE)) }
}

unsafe fn clone(pointer: *const ()) -> RawWaker {
    // SAFETY: `pointer` is a live `Rc<Task>` of this waker; the clone owns one more count.
    unsafe { Rc::increment_strong_count(pointer.cast::<Task>()) };
    RawWaker::new(pointer, &VTABLE)
}

unsafe fn wake(pointer: *const ()) {
    // SAFETY: consumes the count this waker owned.
    let task = unsafe { Rc::from_raw(pointer.cast::<Task>()) };
    poll(&task);
}

unsafe fn wake_by_ref(pointer: *const ()) {
    // SAFETY: borrows the count of the waker, which stays alive.
    let task = ManuallyDrop::new(unsafe { Rc::from_raw(pointer.cast::<Task>()) });
    poll(&task);
}

unsafe fn drop_waker(pointer: *const ()) {
    // SAFETY: releases the count this waker owned.
    drop(unsafe { Rc::from_raw(pointer.cast::<Task>()) });
}
