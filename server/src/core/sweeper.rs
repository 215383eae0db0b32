//! Background work of `vitrine serve`: removes uploads that were planned but never completed
//! (rows and objects, multipart uploads aborted) once their URLs expired, expires artifacts
//! past their project's retention, deletes the objects nothing lists any more, and closes
//! builds whose nodes never all finished as `timedout`.

use std::sync::Arc;

use super::accounts::{Accounts, SIGN_IN_WINDOW};
use super::audit::AuditLog;
use super::builds::Builds;
use super::error::{ServiceError, ServiceResult};
use super::retention::Retention;
use super::settings::UploadSettings;
use super::sign_in::SignIn;
use super::uploads::Uploads;
use crate::storage::Storage;
use vitrine_store::{Db, ExpiredBuild, Receipt, ServerStore};

const BATCH: i64 = 500;

/// How long a sweep asked for waits for one running elsewhere.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub abandoned_uploads: u64,
    pub expired_builds: u64,
    pub purged_objects: u64,
    pub timed_out_builds: u64,
}

impl Swept {
    /// In the log when something was done, and in the metrics always.
    fn report(&self) {
        if *self != Swept::default() {
            tracing::info!(swept = ?self, "sweeper");
        }
        use crate::observe::{SWEEPS, SWEPT};
        metrics::counter!(SWEEPS).increment(1);
        metrics::counter!(SWEPT, "work" => "abandoned_uploads").increment(self.abandoned_uploads);
        metrics::counter!(SWEPT, "work" => "expired_builds").increment(self.expired_builds);
        metrics::counter!(SWEPT, "work" => "purged_objects").increment(self.purged_objects);
        metrics::counter!(SWEPT, "work" => "timed_out_builds").increment(self.timed_out_builds);
    }
}

/// Works through what `fetch` answers, a batch at a time, until a batch comes back short,
/// or none of a full batch could be done (the store is down: the next sweep tries again).
/// `each` answers whether it did its item. Answers how many were done.
async fn in_batches<T, Fetched, Done>(
    mut fetch: impl FnMut() -> Fetched,
    mut each: impl FnMut(T) -> Done,
) -> ServiceResult<u64>
where
    Fetched: Future<Output = ServiceResult<Vec<T>>>,
    Done: Future<Output = ServiceResult<bool>>,
{
    let mut done = 0;
    loop {
        let batch = fetch().await?;
        let full = batch.len() as i64 >= BATCH;
        let mut done_now = 0;
        for item in batch {
            if each(item).await? {
                done_now += 1;
            }
        }
        done += done_now;
        if !full || done_now == 0 {
            return Ok(done);
        }
    }
}

/// The background sweeper; one pass at a time across all servers (the store's sweeper lock).
#[derive(Clone)]
pub struct Sweeper {
    /// The sweeper's lock, shared by every server.
    db: Arc<dyn ServerStore>,
    storage: Storage,
    accounts: Accounts,
    sign_in: SignIn,
    builds: Builds,
    uploads: Uploads,
    retention: Retention,
    audit: AuditLog,
    settings: Arc<UploadSettings>,
}

/// What [`Sweeper`] is made of: the features whose leftovers it removes.
pub struct SweeperParts<'a> {
    pub db: &'a Db,
    pub storage: Storage,
    pub accounts: Accounts,
    pub sign_in: SignIn,
    pub builds: Builds,
    pub uploads: Uploads,
    pub retention: Retention,
    pub audit: AuditLog,
    pub settings: Arc<UploadSettings>,
}

impl Sweeper {
    pub fn new(parts: SweeperParts<'_>) -> Sweeper {
        let SweeperParts { db, storage, accounts, sign_in, builds, uploads, retention, audit, settings } = parts;
        Sweeper { db: db.server_store(), storage, accounts, sign_in, builds, uploads, retention, audit, settings }
    }

    /// One pass of the background sweeper: none when another server is sweeping now (its
    /// pass does the same work).
    async fn sweep_unless_busy(&self) -> ServiceResult<Option<Swept>> {
        match self.db.try_lock_sweeper().await? {
            Some(lock) => Ok(Some(self.sweep_holding(lock, chrono::Utc::now().timestamp()).await?)),
            None => Ok(None),
        }
    }

    /// One pass of the sweeper as if it were `now` (a Unix time; tests move the clock), asked
    /// for rather than scheduled: it waits for a pass another server is running to end, and
    /// says so when that takes too long, rather than answer that nothing was due.
    pub async fn sweep_at(&self, now: i64) -> ServiceResult<Swept> {
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        loop {
            if let Some(lock) = self.db.try_lock_sweeper().await? {
                return self.sweep_holding(lock, now).await;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ServiceError::Unavailable(
                    "Another server's sweep has been running for a minute; try again when it ends.".into(),
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    async fn sweep_holding(&self, _lock: vitrine_store::SweepLock, now: i64) -> ServiceResult<Swept> {
        let settings = &self.settings;
        let mut swept = Swept::default();
        let expired_before = now - settings.sweep_grace.as_secs() as i64;
        swept.abandoned_uploads = in_batches(
            || self.uploads.abandoned(expired_before, BATCH),
            |upload| async move {
                let removed = match &upload.multipart_id {
                    Some(mp) => self.storage.abort_multipart(&upload.s3_key, mp).await,
                    None => Ok(()),
                };
                // A single PUT, or parts assembled by a confirmation that never finished.
                match removed.and(self.storage.delete(&upload.s3_key).await) {
                    Ok(()) => {
                        self.uploads.forget(&upload.id).await?;
                        Ok(true)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, upload = %upload.id, "cannot remove an abandoned upload yet");
                        Ok(false)
                    }
                }
            },
        )
        .await?;
        // Receipts of verified uploads: an upload object whose bytes were copied away can go
        // now that no URL can write it any more (until then it blocks replays).
        in_batches(
            || self.uploads.expired_receipts(expired_before, BATCH),
            |Receipt { upload_id, upload_key, kept_key }| async move {
                if upload_key != kept_key
                    && let Err(e) = self.storage.delete(&upload_key).await
                {
                    tracing::warn!(error = %e, upload = %upload_id, "cannot remove a copied upload object yet");
                    return Ok(false);
                }
                self.uploads.forget(&upload_id).await?;
                Ok(true)
            },
        )
        .await?;
        // Artifacts past their project's retention leave listings; the build stays, with a
        // note, and its objects leave the store just below.
        swept.expired_builds = in_batches(
            || self.retention.due(now, BATCH),
            |ExpiredBuild { project_id, build_id }| async move {
                self.retention.expire(project_id, build_id, now).await?;
                Ok(true)
            },
        )
        .await?;
        // Objects purged from listings leave the store.
        swept.purged_objects = in_batches(
            || self.retention.doomed(BATCH),
            |key| async move {
                match self.storage.delete(&key).await {
                    Ok(()) => {
                        self.retention.forget_doomed(&key).await?;
                        Ok(true)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, key, "cannot delete a purged object yet");
                        Ok(false)
                    }
                }
            },
        )
        .await?;
        self.builds.forget_closed_build_tokens().await?;
        self.accounts.forget_sign_in_windows(now - SIGN_IN_WINDOW).await?;
        self.sign_in.forget_stale_sign_ins(now).await?;
        // The audit log is kept as long as artifacts are.
        self.audit.forget_before(now - self.retention.default_retention().as_secs() as i64).await?;
        swept.timed_out_builds = self.builds.time_out(now - settings.build_timeout.as_secs() as i64).await?;
        swept.report();
        Ok(swept)
    }

    /// Sweeps every `sweep_every` until the process ends.
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let sweeper = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(sweeper.settings.sweep_every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = sweeper.sweep_unless_busy().await {
                    tracing::error!(error = ?e, "sweeper");
                }
            }
        })
    }
}
