//! The audit log: who read which private artifact, and every change an admin or a member
//! made. Requests add their events to the pending batch and go on; a writer task stores the
//! batch (whatever came within a second, sooner when it reaches 500 rows or someone waits for
//! it), so the artifact route never waits for the database on the log's account. Within a
//! batch, the same event repeated (one client fetching one artifact again and again) is one
//! row with its count: a client that hammers a link costs the log a row a second, not a row a
//! request. A request only takes a lock to add its event: the writer is woken once per batch,
//! not once per event (at tens of thousands of reads a second, a wake-up per read was a
//! tenth of the artifact route's cost).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};

use vitrine_store::{AuditEvent, AuditStore, Db, TokenId, UserId};

use super::principal::Principal;

const BATCH: usize = 500;
const EVERY: Duration = Duration::from_secs(1);
/// The most events kept while the store is down (older ones are dropped, and the log says so).
const KEEP: usize = 16 * BATCH;

/// What the requests and the writer share.
struct Shared {
    pending: Mutex<Pending>,
    /// Wakes the writer: the first event of a batch, a full batch, a flush, the log's end.
    wake: Notify,
}

/// The events not stored yet, and who waits for them to be.
#[derive(Default)]
struct Pending {
    batch: Batch,
    flushes: Vec<oneshot::Sender<()>>,
    /// Every handle on the log is gone: the writer stores what is left and ends.
    closed: bool,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        // A panic elsewhere while holding the lock leaves whole events behind: keep them.
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The request path's handle on the audit log: cheap to clone, never waits for the store.
#[derive(Clone)]
pub struct AuditLog {
    handle: Arc<Handle>,
    db: Arc<dyn AuditStore>,
}

/// The last clone of an [`AuditLog`] to go tells the writer to finish.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.pending().closed = true;
        self.shared.wake.notify_one();
    }
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

/// What an audit line records: the named actions, stored by their names (`artifact.read`,
/// `admin.user.add`, ...); `admin.*` are the `vitrine admin` commands that change something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// A private project's artifact was read (a file, a link, a zip, a comparison).
    ArtifactRead,
    /// A member pinned a build.
    BuildPin,
    /// A member unpinned a build.
    BuildUnpin,
    /// The browser's changes (settings, account and admin pages), by the signed-in user.
    MemberAdd,
    MemberRole,
    MemberRemove,
    ProjectToken,
    ProjectTokenRevoke,
    ProjectVisibility,
    ProjectRetention,
    ProjectDefaultBranch,
    Purge,
    TokenCreate,
    TokenRevoke,
    SessionRevoke,
    PasswordChange,
    UserAdd,
    UserDisable,
    UserEnable,
    UserPromote,
    UserDemote,
    ProjectAdd,
    AdminUserAdd,
    AdminUserPromote,
    AdminUserDemote,
    AdminUserDisable,
    AdminUserEnable,
    AdminTokenCreate,
    AdminTokenRevoke,
    AdminProjectAdd,
    AdminProjectToken,
    AdminProjectRetention,
    AdminProjectDefaultBranch,
    AdminMemberAdd,
    AdminMemberRemove,
    AdminSessionRevoke,
    AdminBuildPin,
    AdminBuildUnpin,
    AdminPurge,
    AdminMigrate,
    AdminCapabilitiesRotate,
    AdminBackup,
    AdminRestore,
    /// Sign-in through an identity provider, and its refusals (the reason in the detail).
    SignIn,
    SignInRefused,
    /// A session a provider no longer vouches for ended at its re-check.
    SessionEnd,
    /// A provider group gives a role in a project, or no longer does (settings page).
    GroupMap,
    GroupUnmap,
    AdminGroupMap,
    AdminGroupUnmap,
    AdminUserLink,
    AdminUserUnlink,
    UserLink,
    UserUnlink,
}

impl AuditAction {
    /// The name the log stores and `vitrine admin audit` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::ArtifactRead => "artifact.read",
            AuditAction::BuildPin => "build.pin",
            AuditAction::BuildUnpin => "build.unpin",
            AuditAction::MemberAdd => "member.add",
            AuditAction::MemberRole => "member.role",
            AuditAction::MemberRemove => "member.remove",
            AuditAction::ProjectToken => "project.token",
            AuditAction::ProjectTokenRevoke => "project.token.revoke",
            AuditAction::ProjectVisibility => "project.visibility",
            AuditAction::ProjectRetention => "project.retention",
            AuditAction::ProjectDefaultBranch => "project.default-branch",
            AuditAction::Purge => "purge",
            AuditAction::TokenCreate => "token.create",
            AuditAction::TokenRevoke => "token.revoke",
            AuditAction::SessionRevoke => "session.revoke",
            AuditAction::PasswordChange => "password.change",
            AuditAction::UserAdd => "user.add",
            AuditAction::UserDisable => "user.disable",
            AuditAction::UserEnable => "user.enable",
            AuditAction::UserPromote => "user.promote",
            AuditAction::UserDemote => "user.demote",
            AuditAction::ProjectAdd => "project.add",
            AuditAction::AdminUserAdd => "admin.user.add",
            AuditAction::AdminUserPromote => "admin.user.promote",
            AuditAction::AdminUserDemote => "admin.user.demote",
            AuditAction::AdminUserDisable => "admin.user.disable",
            AuditAction::AdminUserEnable => "admin.user.enable",
            AuditAction::AdminTokenCreate => "admin.token.create",
            AuditAction::AdminTokenRevoke => "admin.token.revoke",
            AuditAction::AdminProjectAdd => "admin.project.add",
            AuditAction::AdminProjectToken => "admin.project.token",
            AuditAction::AdminProjectRetention => "admin.project.retention",
            AuditAction::AdminProjectDefaultBranch => "admin.project.default-branch",
            AuditAction::AdminMemberAdd => "admin.member.add",
            AuditAction::AdminMemberRemove => "admin.member.remove",
            AuditAction::AdminSessionRevoke => "admin.session.revoke",
            AuditAction::AdminBuildPin => "admin.build.pin",
            AuditAction::AdminBuildUnpin => "admin.build.unpin",
            AuditAction::AdminPurge => "admin.purge",
            AuditAction::AdminMigrate => "admin.migrate",
            AuditAction::AdminCapabilitiesRotate => "admin.capabilities.rotate",
            AuditAction::AdminBackup => "admin.backup",
            AuditAction::AdminRestore => "admin.restore",
            AuditAction::SignIn => "sign-in",
            AuditAction::SignInRefused => "sign-in.refused",
            AuditAction::SessionEnd => "session.end",
            AuditAction::GroupMap => "project.group.map",
            AuditAction::GroupUnmap => "project.group.unmap",
            AuditAction::AdminGroupMap => "admin.project.map-group",
            AuditAction::AdminGroupUnmap => "admin.project.unmap-group",
            AuditAction::AdminUserLink => "admin.user.link",
            AuditAction::AdminUserUnlink => "admin.user.unlink",
            AuditAction::UserLink => "user.link",
            AuditAction::UserUnlink => "user.unlink",
        }
    }
}

/// An event by `who`, now; the rest is filled in by the caller.
pub fn event_by(who: &Principal, action: AuditAction) -> AuditEvent {
    AuditEvent {
        at: chrono::Utc::now().timestamp(),
        actor: who.describe(),
        user_id: who.user_id(),
        token_id: who.token_id(),
        action: action.as_str().to_owned(),
        project: None,
        build_num: None,
        detail: String::new(),
        client: None,
        repeats: 1,
    }
}

impl AuditLog {
    /// Starts the writer task on the current runtime.
    pub fn start(db: &Db) -> AuditLog {
        let shared = Arc::new(Shared { pending: Mutex::default(), wake: Notify::new() });
        let db = db.audit_store();
        tokio::spawn(write(db.clone(), shared.clone()));
        AuditLog { handle: Arc::new(Handle { shared }), db }
    }

    /// Forgets the lines older than `before` (the sweeper: the log is kept as long as
    /// artifacts are).
    pub async fn forget_before(&self, before: i64) -> super::error::ServiceResult<()> {
        self.db.forget_audit(before).await?;
        Ok(())
    }

    /// Adds an event to the pending batch; wakes the writer only for a batch's first event
    /// and when the batch is full.
    pub fn record(&self, event: AuditEvent) {
        let shared = &self.handle.shared;
        let wake = {
            let mut pending = shared.pending();
            let first = pending.batch.is_empty();
            pending.batch.push(event);
            first || pending.batch.len() == BATCH
        };
        if wake {
            shared.wake.notify_one();
        }
    }

    /// Waits until every event recorded before is stored (at shutdown, and in tests).
    pub async fn flush(&self) {
        let (done, stored) = oneshot::channel();
        let shared = &self.handle.shared;
        shared.pending().flushes.push(done);
        shared.wake.notify_one();
        let _ = stored.await;
    }
}

/// Everything an event says but when it happened and how often: what makes two events the same.
#[allow(clippy::type_complexity)]
fn said(
    e: &AuditEvent,
) -> (&str, Option<UserId>, Option<TokenId>, &str, Option<&str>, Option<i64>, &str, Option<&str>) {
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
        if let Some(&i) = indexes.iter().find(|&&i| said(&self.events[i]) == said(&event)) {
            self.events[i].repeats += event.repeats;
        } else {
            indexes.push(self.events.len());
            self.events.push(event);
        }
    }

    fn len(&self) -> usize {
        self.events.len()
    }

    fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

async fn write(db: Arc<dyn AuditStore>, shared: Arc<Shared>) {
    loop {
        shared.wake.notified().await;
        // The batch gathers for up to a second, unless it is full or someone waits for it.
        let deadline = tokio::time::sleep(EVERY);
        let mut deadline = std::pin::pin!(deadline);
        loop {
            let now = {
                let pending = shared.pending();
                pending.batch.len() >= BATCH || !pending.flushes.is_empty() || pending.closed
            };
            if now {
                break;
            }
            tokio::select! {
                () = &mut deadline => break,
                () = shared.wake.notified() => {}
            }
        }
        let (batch, flushes, closed) = {
            let mut pending = shared.pending();
            (std::mem::take(&mut pending.batch), std::mem::take(&mut pending.flushes), pending.closed)
        };
        let stored = batch.is_empty() || {
            match db.insert_audit(&batch.events).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!(error = %e, events = batch.len(), "cannot write the audit log yet");
                    false
                }
            }
        };
        if stored {
            for done in flushes {
                let _ = done.send(());
            }
        } else if closed {
            tracing::error!(lost = batch.len(), "audit events dropped: the store is down at shutdown");
            return;
        } else {
            // The batch goes again with the next one (those waiting wait on); the log keeps at
            // most KEEP events, the newest, while the store is down.
            {
                let mut pending = shared.pending();
                let newer = std::mem::replace(&mut pending.batch, batch);
                for event in newer.events {
                    pending.batch.push(event);
                }
                if pending.batch.len() > KEEP {
                    let lost = pending.batch.len() - KEEP;
                    tracing::error!(lost, "audit events dropped: the store is down");
                    let mut kept = Batch::default();
                    for event in pending.batch.events.drain(lost..) {
                        kept.push(event);
                    }
                    pending.batch = kept;
                }
                pending.flushes.extend(flushes);
            }
            tokio::time::sleep(EVERY).await;
            shared.wake.notify_one();
            continue;
        }
        let done = {
            let pending = shared.pending();
            pending.closed && pending.batch.is_empty() && pending.flushes.is_empty()
        };
        if done {
            return;
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
            user_id: Some(UserId(1)),
            token_id: Some(TokenId(2)),
            action: "artifact.read".into(),
            project: Some("gh/acme/secret".into()),
            build_num: Some(1),
            detail: detail.into(),
            client: Some("127.0.0.1".into()),
            repeats: 1,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_from_many_tasks_are_stored_once_each_with_their_counts() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_in(dir.path()).await.unwrap();
        let log = AuditLog::start(&db);
        // Nothing recorded: a flush answers at once.
        tokio::time::timeout(Duration::from_secs(5), log.flush()).await.expect("an empty flush answers");
        let tasks: Vec<_> = (0..4)
            .map(|t| {
                let log = log.clone();
                tokio::spawn(async move {
                    for i in 0..1000 {
                        // Each task reads one file 999 times and one file of its own once.
                        let detail = if i == 0 { format!("0/own-{t}.txt") } else { "0/a.txt".to_owned() };
                        log.record(read("alice (token 2)", &detail, 100));
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        log.flush().await;
        let rows = db.audit_events(Some("gh/acme/secret"), 0, 100).await.unwrap();
        let count = |detail: &str| rows.iter().filter(|e| e.detail == detail).map(|e| e.repeats).sum::<i64>();
        assert_eq!(count("0/a.txt"), 4 * 999, "{rows:?}");
        assert!(rows.iter().filter(|e| e.detail == "0/a.txt").count() <= 2, "repeats share a row: {rows:?}");
        for t in 0..4 {
            assert_eq!(count(&format!("0/own-{t}.txt")), 1);
        }
        // Recorded after a flush, stored by the next.
        log.record(read("bob (token 3)", "0/b.txt", 101));
        log.flush().await;
        let rows = db.audit_events(Some("gh/acme/secret"), 0, 100).await.unwrap();
        assert!(rows.iter().any(|e| e.actor == "bob (token 3)" && e.repeats == 1), "{rows:?}");
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
