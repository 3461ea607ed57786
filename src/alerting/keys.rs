//! The keys channel credentials are sealed with: the deployment's `ENCRYPTION_KEY` when set,
//! else a key generated once and kept in D1's `deployment_keys` (so exports, logs and API
//! answers of rules never hold a credential); opening tries both, so credentials sealed
//! before `ENCRYPTION_KEY` was set still open. Read once per isolate.

use std::rc::Rc;

use sha2::{Digest, Sha256};
use worker::{D1Database, Env};

use crate::config::Config;
use crate::security::encryption::Sealer;
use crate::storage::d1::{metered, text};

pub struct CredentialKeySet {
    config: Rc<Config>,
    generated: Rc<Sealer>,
}

thread_local! {
    static GENERATED: std::cell::OnceCell<Rc<Sealer>> = const { std::cell::OnceCell::new() };
}

/// Fresh random bytes for one nonce.
pub fn nonce() -> [u8; 12] {
    let mut out = [0u8; 12];
    out.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..12]);
    out
}

fn new_key_hex() -> String {
    let mut hash = Sha256::new();
    for _ in 0..3 {
        hash.update(uuid::Uuid::new_v4().as_bytes());
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

async fn generated(db: &D1Database) -> worker::Result<Rc<Sealer>> {
    if let Some(key) = GENERATED.with(|cell| cell.get().cloned()) {
        return Ok(key);
    }
    let now = crate::platform::clock::clock_text().unwrap_or_default();
    let insert = db
        .prepare("INSERT OR IGNORE INTO deployment_keys (name, value, created_at) VALUES ('credentials', ?1, ?2)")
        .bind(&[text(&new_key_hex()), text(&now)])?;
    let select = db.prepare("SELECT value FROM deployment_keys WHERE name = 'credentials'");
    let results = db.batch(vec![insert, select]).await?;
    results.iter().for_each(metered);
    #[derive(serde::Deserialize)]
    struct Row {
        value: String,
    }
    let row: Row = results
        .get(1)
        .and_then(|r| r.results::<Row>().ok())
        .and_then(|mut rows| rows.pop())
        .ok_or_else(|| worker::Error::RustError("the credentials key is missing".into()))?;
    let sealer = Rc::new(
        Sealer::from_secret(&row.value).map_err(|e| worker::Error::RustError(e.to_string()))?,
    );
    GENERATED.with(|cell| {
        let _ = cell.set(sealer.clone());
    });
    Ok(sealer)
}

impl CredentialKeySet {
    pub async fn of(env: &Env, db: &D1Database) -> worker::Result<CredentialKeySet> {
        Ok(CredentialKeySet {
            config: Config::get(env),
            generated: generated(db).await?,
        })
    }

    /// The key new credentials are sealed with.
    pub fn sealing(&self) -> &Sealer {
        match &self.config.encryption {
            Ok(Some(key)) => key,
            _ => &self.generated,
        }
    }

    /// Every key a sealed credential may have been sealed with, the sealing one first.
    pub fn opening(&self) -> Vec<&Sealer> {
        let mut keys = vec![self.sealing()];
        if !std::ptr::eq(keys[0], &*self.generated) {
            keys.push(&self.generated);
        }
        keys
    }
}
