//! Background work of `vitrine serve`: removes uploads that were planned but never completed
//! (rows and objects, multipart uploads aborted) once their URLs expired, and closes builds
//! whose nodes never all finished as `timedout`.

use super::{ServiceResult, Vitrine};

const BATCH: i64 = 500;

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub abandoned_uploads: u64,
    pub purged_objects: u64,
    pub timed_out_builds: u64,
}

impl Vitrine {
    /// One pass of the sweeper.
    pub async fn sweep(&self) -> ServiceResult<Swept> {
        let Some(_lock) = self.db.try_lock_sweeper().await? else {
            return Ok(Swept::default()); // another server is sweeping now
        };
        let settings = &self.settings.uploads;
        let now = chrono::Utc::now().timestamp();
        let mut swept = Swept::default();
        let expired_before = now - settings.sweep_grace.as_secs() as i64;
        loop {
            let abandoned = self.db.abandoned_uploads(expired_before, BATCH).await?;
            let mut removed_now = 0;
            for upload in &abandoned {
                let removed = match &upload.multipart_id {
                    Some(mp) => self.storage.abort_multipart(&upload.s3_key, mp).await,
                    None => Ok(()),
                };
                // A single PUT, or parts assembled by a confirmation that never finished.
                let removed = removed.and(self.storage.delete(&upload.s3_key).await);
                match removed {
                    Ok(()) => {
                        self.db.delete_upload(&upload.id).await?;
                        removed_now += 1;
                    }
                    Err(e) => tracing::warn!(error = %e, upload = %upload.id, "cannot remove an abandoned upload yet"),
                }
            }
            swept.abandoned_uploads += removed_now;
            // A full batch that could not be removed (the store is down) waits for the next sweep.
            if (abandoned.len() as i64) < BATCH || removed_now == 0 {
                break;
            }
        }
        // Receipts of verified uploads: an upload object whose bytes were copied away can go
        // now that no URL can write it any more (until then it blocks replays).
        loop {
            let receipts = self.db.expired_receipts(expired_before, BATCH).await?;
            let mut removed_now = 0;
            for (id, upload_key, blob_key) in &receipts {
                if upload_key != blob_key
                    && let Err(e) = self.storage.delete(upload_key).await
                {
                    tracing::warn!(error = %e, upload = %id, "cannot remove a copied upload object yet");
                    continue;
                }
                self.db.delete_upload(id).await?;
                removed_now += 1;
            }
            if (receipts.len() as i64) < BATCH || removed_now == 0 {
                break;
            }
        }
        // Objects purged from listings leave the store.
        loop {
            let doomed = self.db.doomed_objects(BATCH).await?;
            let mut removed_now = 0;
            for key in &doomed {
                match self.storage.delete(key).await {
                    Ok(()) => {
                        self.db.forget_doomed(key).await?;
                        removed_now += 1;
                    }
                    Err(e) => tracing::warn!(error = %e, key, "cannot delete a purged object yet"),
                }
            }
            swept.purged_objects += removed_now;
            if (doomed.len() as i64) < BATCH || removed_now == 0 {
                break;
            }
        }
        self.db.delete_closed_build_tokens().await?;
        self.db.forget_rate_windows(now - super::accounts::SIGN_IN_WINDOW).await?;
        swept.timed_out_builds = self.db.time_out_builds(now - settings.build_timeout.as_secs() as i64).await?;
        if swept != Swept::default() {
            tracing::info!(?swept, "sweeper");
        }
        Ok(swept)
    }

    /// Sweeps every `sweep_every` until the process ends.
    pub fn spawn_sweeper(&self) -> tokio::task::JoinHandle<()> {
        let vitrine = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(vitrine.settings.uploads.sweep_every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = vitrine.sweep().await {
                    tracing::error!(error = ?e, "sweeper");
                }
            }
        })
    }
}
