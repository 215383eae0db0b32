//! The audit log: who read which private artifact, and every change an admin or a member
//! made. Requests hand events to a writer task and go on; the writer stores them in batches
//! (up to 500, or whatever came within a second), so the artifact route never waits for the
//! database on the log's account.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::db::{AuditEvent, Db};

use super::Principal;

const BATCH: usize = 500;
const EVERY: Duration = Duration::from_secs(1);

enum Message {
    Event(AuditEvent),
    /// Answered once every event sent before it is stored.
    Flush(oneshot::Sender<()>),
}

/// The request path's handle on the audit log: cheap to clone, never blocks.
#[derive(Clone)]
pub struct AuditLog {
    sender: mpsc::Sender<Message>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditEvent {
    /// An event by `who`, now; the rest is filled in by the caller.
    pub fn by(who: &Principal, action: &str) -> AuditEvent {
        AuditEvent {
            at: chrono::Utc::now().timestamp(),
            actor: who.describe(),
            user_id: who.user_id(),
            token_id: who.token_id(),
            action: action.to_owned(),
            project: None,
            build_num: None,
            detail: String::new(),
            client: None,
        }
    }
}

impl AuditLog {
    /// Starts the writer task on the current runtime.
    pub fn start(db: Db) -> AuditLog {
        let (sender, receiver) = mpsc::channel(16 * BATCH);
        tokio::spawn(write(db, receiver));
        AuditLog { sender }
    }

    /// Hands an event to the writer. When its queue is full (the database is slow), the
    /// event waits in a task of its own rather than holding up the request or being lost.
    pub fn record(&self, event: AuditEvent) {
        if let Err(mpsc::error::TrySendError::Full(message)) = self.sender.try_send(Message::Event(event)) {
            let sender = self.sender.clone();
            tokio::spawn(async move { sender.send(message).await });
        }
    }

    /// Waits until every event recorded before is stored (at shutdown, and in tests).
    pub async fn flush(&self) {
        let (done, stored) = oneshot::channel();
        if self.sender.send(Message::Flush(done)).await.is_ok() {
            let _ = stored.await;
        }
    }
}

async fn write(db: Db, mut receiver: mpsc::Receiver<Message>) {
    let mut batch: Vec<AuditEvent> = Vec::with_capacity(BATCH);
    let mut flushes: Vec<oneshot::Sender<()>> = vec![];
    while let Some(first) = receiver.recv().await {
        let deadline = tokio::time::Instant::now() + EVERY;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Event(event) => batch.push(event),
                Message::Flush(done) => {
                    flushes.push(done);
                    break;
                }
            }
            if batch.len() >= BATCH {
                break;
            }
            next = tokio::time::timeout_at(deadline, receiver.recv()).await.ok().flatten();
        }
        if !batch.is_empty() {
            // A store that fails now gets the batch again with the next one; the log keeps
            // at most a few batches in memory while the store is down.
            match db.insert_audit(&batch).await {
                Ok(()) => batch.clear(),
                Err(e) => {
                    tracing::error!(error = %e, events = batch.len(), "cannot write the audit log yet");
                    if batch.len() > 16 * BATCH {
                        tracing::error!(lost = batch.len() - 16 * BATCH, "audit events dropped: the store is down");
                        batch.drain(..batch.len() - 16 * BATCH);
                    }
                }
            }
        }
        if batch.is_empty() {
            for done in flushes.drain(..) {
                let _ = done.send(());
            }
        }
    }
}
