//! The audit log: who read which private artifact, and every change an admin or a member
//! made. Requests hand events to a writer task and go on; the writer stores them in batches
//! (up to 500, or whatever came within a second), so the artifact route never waits for the
//! database on the log's account. Within a batch, the same event repeated (one client
//! fetching one artifact again and again) is one row with its count: a client that hammers a
//! link costs the log a row a second, not a row a request.

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
            repeats: 1,
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

/// Everything an event says but when it happened and how often: what makes two events the same.
#[allow(clippy::type_complexity)]
fn said(e: &AuditEvent) -> (&str, Option<i64>, Option<i64>, &str, Option<&str>, Option<i64>, &str, Option<&str>) {
    let (project, client) = (e.project.as_deref(), e.client.as_deref());
    (&e.actor, e.user_id, e.token_id, &e.action, project, e.build_num, &e.detail, client)
}

/// A batch of events on its way to the store, the same event repeated counted on one row.
#[derive(Default)]
struct Batch {
    events: Vec<AuditEvent>,
    /// The events' indexes by [`Batch::key`] of what they [`said`].
    by_key: std::collections::HashMap<u64, Vec<usize>>,
    hasher: std::hash::RandomState,
}

impl Batch {
    /// A hash of everything an event says but when it happened.
    fn key(&self, e: &AuditEvent) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(said(e))
    }

    fn push(&mut self, event: AuditEvent) {
        let key = self.key(&event);
        let indexes = self.by_key.entry(key).or_default();
        match indexes.iter().find(|&&i| said(&self.events[i]) == said(&event)) {
            Some(&i) => self.events[i].repeats += event.repeats,
            None => {
                indexes.push(self.events.len());
                self.events.push(event);
            }
        }
    }

    fn len(&self) -> usize {
        self.events.len()
    }

    fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

async fn write(db: Db, mut receiver: mpsc::Receiver<Message>) {
    let mut batch = Batch::default();
    let mut flushes: Vec<oneshot::Sender<()>> = vec![];
    while let Some(first) = receiver.recv().await {
        // One timer per batch: what is queued already is taken without waiting.
        let deadline = tokio::time::sleep(EVERY);
        let mut deadline = std::pin::pin!(deadline);
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
            next = match receiver.try_recv() {
                Ok(message) => Some(message),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
                Err(mpsc::error::TryRecvError::Empty) => tokio::select! {
                    message = receiver.recv() => message,
                    () = &mut deadline => None,
                },
            };
        }
        if !batch.is_empty() {
            // A store that fails now gets the batch again with the next one; the log keeps
            // at most a few batches in memory while the store is down.
            match db.insert_audit(&batch.events).await {
                Ok(()) => batch = Batch::default(),
                Err(e) => {
                    tracing::error!(error = %e, events = batch.len(), "cannot write the audit log yet");
                    if batch.len() > 16 * BATCH {
                        tracing::error!(lost = batch.len() - 16 * BATCH, "audit events dropped: the store is down");
                        let (mut kept, newest) = (Batch::default(), batch.len() - 16 * BATCH);
                        for event in batch.events.drain(newest..) {
                            kept.push(event);
                        }
                        batch = kept;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read(actor: &str, detail: &str, at: i64) -> AuditEvent {
        AuditEvent {
            at,
            actor: actor.into(),
            user_id: Some(1),
            token_id: Some(2),
            action: "artifact.read".into(),
            project: Some("gh/acme/secret".into()),
            build_num: Some(1),
            detail: detail.into(),
            client: Some("127.0.0.1".into()),
            repeats: 1,
        }
    }

    #[test]
    fn the_same_event_repeated_is_one_row_with_its_count() {
        let mut batch = Batch::default();
        for at in 0..1000 {
            batch.push(read("alice (token 2)", "0/a.txt", 100 + at % 2));
        }
        batch.push(read("alice (token 2)", "0/b.txt", 101));
        batch.push(read("bob (token 3)", "0/a.txt", 101));
        batch.push(read("alice (token 2)", "0/a.txt", 102));
        let rows: Vec<_> =
            batch.events.iter().map(|e| (e.actor.as_str(), e.detail.as_str(), e.at, e.repeats)).collect();
        assert_eq!(
            rows,
            [
                ("alice (token 2)", "0/a.txt", 100, 1001),
                ("alice (token 2)", "0/b.txt", 101, 1),
                ("bob (token 3)", "0/a.txt", 101, 1)
            ]
        );
    }
}
