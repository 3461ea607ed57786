//! Optional encryption at rest. With an `ENCRYPTION_KEY` secret (32 bytes as 64 hex characters
//! or base64), an event's `context` and exception stack are sealed with AES-256-GCM before the
//! event is queued, so the queue, D1 and the KV feed hold ciphertext; they are opened only when
//! served to a reader the API has authorised.
//!
//! Sealed values: `context` becomes `{"$encrypted": "v1.<base64url(nonce ‖ ciphertext)>"}` and
//! the stack the string `"$encrypted:v1.<…>"`. The event's `id` is the associated data: a
//! ciphertext moved onto another event does not open. Message, level and the other indexed
//! fields stay clear, because grouping, filters and search need them; full-text search over
//! stacks does not see sealed stacks.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{Map, Value};

use crate::model::StoredEvent;

crate::error::message_error!(
    /// Why `ENCRYPTION_KEY` cannot be used (its length or encoding).
    KeyError
);

const CONTEXT_FIELD: &str = "$encrypted";
const STACK_PREFIX: &str = "$encrypted:";
const VERSION: &str = "v1.";

pub struct Sealer {
    cipher: Aes256Gcm,
}

impl Sealer {
    /// From the secret's text: 64 hex characters or base64 of 32 bytes.
    pub fn from_secret(secret: &str) -> Result<Sealer, KeyError> {
        let secret = secret.trim();
        let bytes = if secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..64)
                .step_by(2)
                .map(|i| u8::from_str_radix(&secret[i..i + 2], 16).expect("hex checked"))
                .collect::<Vec<u8>>()
        } else {
            STANDARD
                .decode(secret)
                .or_else(|_| URL_SAFE_NO_PAD.decode(secret))
                .map_err(|_| "ENCRYPTION_KEY is neither 64 hex characters nor base64".to_string())?
        };
        if bytes.len() != 32 {
            return Err(KeyError::new(format!(
                "ENCRYPTION_KEY must be 32 bytes, not {}",
                bytes.len()
            )));
        }
        Ok(Sealer {
            cipher: Aes256Gcm::new_from_slice(&bytes).map_err(|e| KeyError::new(e.to_string()))?,
        })
    }

    pub fn seal_text(&self, plain: &[u8], aad: &str, nonce: [u8; 12]) -> String {
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: aad.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        format!("{VERSION}{}", URL_SAFE_NO_PAD.encode(sealed))
    }

    pub fn open_text(&self, sealed: &str, aad: &str) -> Option<Vec<u8>> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed.strip_prefix(VERSION)?).ok()?;
        if bytes.len() < 12 + 16 {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .ok()
    }

    /// Seals `context` and the stack. `nonce` is called once per sealed value and must return
    /// fresh random bytes each time.
    pub fn seal(&self, event: &mut StoredEvent, mut nonce: impl FnMut() -> [u8; 12]) {
        if !event.context.is_empty() {
            let plain = serde_json::to_vec(&event.context).expect("a JSON map serialises");
            let sealed = self.seal_text(&plain, &event.id, nonce());
            event.context = Map::from_iter([(CONTEXT_FIELD.to_string(), Value::String(sealed))]);
        }
        if let Some(stack) = event.error.as_mut().and_then(|e| e.stack.as_mut()) {
            let sealed = self.seal_text(stack.as_bytes(), &event.id, nonce());
            *stack = format!("{STACK_PREFIX}{sealed}");
        }
    }

    /// Opens what `seal` sealed. Values that do not open (another key, tampering) stay sealed,
    /// and the return value says so.
    pub fn open(&self, event: &mut StoredEvent) -> bool {
        let mut all_opened = true;
        if let Some(Value::String(sealed)) = event
            .context
            .get(CONTEXT_FIELD)
            .filter(|_| event.context.len() == 1)
        {
            match self
                .open_text(sealed, &event.id)
                .and_then(|plain| serde_json::from_slice::<Map<String, Value>>(&plain).ok())
            {
                Some(context) => event.context = context,
                None => all_opened = false,
            }
        }
        if let Some(stack) = event.error.as_mut().and_then(|e| e.stack.as_mut()) {
            if let Some(sealed) = stack.strip_prefix(STACK_PREFIX) {
                match self
                    .open_text(sealed, &event.id)
                    .and_then(|plain| String::from_utf8(plain).ok())
                {
                    Some(plain) => *stack = plain,
                    None => all_opened = false,
                }
            }
        }
        all_opened
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ErrorInfo;
    use serde_json::json;

    const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn event() -> StoredEvent {
        StoredEvent {
            id: "evt-1".into(),
            message: "checkout failed".into(),
            context: json!({"order": 991, "items": ["a", "b"]})
                .as_object()
                .unwrap()
                .clone(),
            error: Some(ErrorInfo {
                kind: Some("Err".into()),
                message: Some("m".into()),
                stack: Some("at pay (/srv/pay.js:1:1)".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn nonces() -> impl FnMut() -> [u8; 12] {
        let mut n = 0u8;
        move || {
            n += 1;
            [n; 12]
        }
    }

    #[test]
    fn seal_then_open_round_trips_and_hides_the_text() {
        let sealer = Sealer::from_secret(KEY_HEX).unwrap();
        let original = event();
        let mut e = original.clone();
        sealer.seal(&mut e, nonces());
        let stored = e.to_compact_json();
        assert!(
            !stored.contains("991") && !stored.contains("pay.js"),
            "{stored}"
        );
        assert!(stored.contains("$encrypted"));
        assert_eq!(
            e.message, original.message,
            "message stays clear for search and grouping"
        );
        assert!(sealer.open(&mut e));
        assert_eq!(e, original);
    }

    #[test]
    fn wrong_key_or_moved_ciphertext_stays_sealed() {
        let sealer = Sealer::from_secret(KEY_HEX).unwrap();
        let mut e = event();
        sealer.seal(&mut e, nonces());
        let other = Sealer::from_secret(&STANDARD.encode([9u8; 32])).unwrap();
        let mut copy = e.clone();
        assert!(!other.open(&mut copy));
        assert!(copy.context.contains_key(CONTEXT_FIELD));
        let mut moved = e.clone();
        moved.id = "evt-2".into();
        assert!(
            !sealer.open(&mut moved),
            "the id is bound as associated data"
        );
    }

    #[test]
    fn plain_events_pass_through_open() {
        let sealer = Sealer::from_secret(KEY_HEX).unwrap();
        let mut e = event();
        assert!(sealer.open(&mut e));
        assert_eq!(e, event());
    }

    #[test]
    fn secrets_of_the_wrong_shape_are_refused() {
        for bad in ["", "short", &"ab".repeat(31), "not base64 !!!"] {
            assert!(Sealer::from_secret(bad).is_err(), "{bad}");
        }
        assert!(Sealer::from_secret(&STANDARD.encode([1u8; 32])).is_ok());
    }
}
