//! Ingest: request bodies and other tools' formats into events (`pipeline`, `formats`), accepted
//! (`accept`: source maps, sealing, the message budget, the send, the metrics), packed
//! into queue messages (`queue_message`), sent in shared rounds (`outbox`, run by `sender`), and
//! stored by the queue consumer (`consumer`).

pub mod accept;
pub mod formats;
pub mod outbox;
pub mod pipeline;
pub mod queue_message;

#[cfg(target_arch = "wasm32")]
pub(crate) mod consumer;
#[cfg(target_arch = "wasm32")]
pub(crate) mod sender;
