//! The scheduled run (`#[event(scheduled)]`, every 5 minutes): retention in bounded batches,
//! then housekeeping of derived tables. Failures are logged; the next run continues.

use worker::{console_error, console_log, Date, Env};

use crate::processors::timestamp::from_millis;
use crate::retention::{
    event_deletes, housekeeping, RetentionDays, DELETE_BATCH, MAX_BATCHES_PER_RUN,
};
use crate::storage::d1;

pub async fn run(env: &Env) {
    let Ok(db) = env.d1("DB") else {
        console_error!("retention: D1 binding DB missing");
        return;
    };
    let Some(now) = from_millis(Date::now().as_millis() as i64) else {
        return;
    };
    let days = RetentionDays::from_vars(|name| crate::handlers::env_text(env, name));
    let mut deleted = 0usize;
    for statement in event_deletes(&days, now) {
        for _ in 0..MAX_BATCHES_PER_RUN {
            match d1::execute(&db, &statement).await {
                Ok(changes) => {
                    deleted += changes;
                    if (changes as i64) < DELETE_BATCH {
                        break;
                    }
                }
                Err(e) => {
                    console_error!("retention: delete failed, the next run continues: {e}");
                    break;
                }
            }
        }
    }
    for statement in housekeeping(&days, now) {
        if let Err(e) = d1::execute(&db, &statement).await {
            console_error!(
                "retention: housekeeping statement failed ({}): {e}",
                statement.sql
            );
        }
    }
    console_log!("retention: deleted {deleted} expired events (keeping debug {}d, info {}d, warn {}d, error {}d)", days.debug, days.info, days.warn, days.error);
}
