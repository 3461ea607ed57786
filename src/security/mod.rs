//! Security: who is calling and what they may do (`auth`), API key records and material
//! (`keys`), and encryption at rest (`encryption`). Pure.

pub mod auth;
pub mod encryption;
pub mod keys;
