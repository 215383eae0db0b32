//! What nearly every read asks the metadata store first, kept in memory for a few seconds:
//! who a token or a session belongs to, a project by its slug, whether a user is a member,
//! a finished build, an artifact of a finished build. A listing or an artifact link then
//! costs no query at all while its answers are fresh.
//!
//! Every entry lives at most [`FRESH_FOR`]. Changes made elsewhere (an admin at the command
//! line, another server) therefore hold everywhere within that time: a revoked token, a
//! removed member, a project made private, a purged artifact. Changes this server makes
//! itself (a sign-out, a pin) forget their entries at once. Only answers that let a request
//! through are kept; a refusal is asked again each time, so nothing new is refused for
//! longer than the store says.

use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Principal;
use crate::db::{Artifact, Build, Project};
use crate::domain::ProjectSlug;

/// How long a looked-up answer is used before it is asked again: a revoked token stops
/// working within this, on every server.
pub const FRESH_FOR: Duration = Duration::from_secs(4);

#[derive(Clone)]
struct Fresh<V> {
    value: V,
    until: Instant,
}

/// Answers kept for [`FRESH_FOR`] each, at most `capacity` of them.
pub struct Recent<K, V> {
    entries: quick_cache::sync::Cache<K, Fresh<V>>,
    /// The cache's name in metrics.
    name: &'static str,
}

impl<K: Eq + Hash + Clone, V: Clone> Recent<K, V> {
    fn new(name: &'static str, capacity: usize) -> Self {
        Recent { entries: quick_cache::sync::Cache::new(capacity), name }
    }

    /// The answer, while it is fresh.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        Q: Hash + quick_cache::Equivalent<K> + ?Sized,
    {
        let fresh = self.entries.get(key).filter(|found| found.until > Instant::now());
        crate::observe::cache_lookup(self.name, fresh.is_some());
        if fresh.is_none() {
            self.entries.remove(key);
        }
        fresh.map(|found| found.value)
    }

    pub fn keep(&self, key: K, value: V) {
        self.entries.insert(key, Fresh { value, until: Instant::now() + FRESH_FOR });
    }

    pub fn forget<Q>(&self, key: &Q)
    where
        Q: Hash + quick_cache::Equivalent<K> + ?Sized,
    {
        self.entries.remove(key);
    }

    pub fn clear(&self) {
        self.entries.clear();
    }
}

/// The read path's lookups (cheap to clone: shared).
#[derive(Clone)]
pub struct Lookups(Arc<Tables>);

pub struct Tables {
    /// By the SHA-256 of the token (never the token itself).
    pub tokens: Recent<String, Principal>,
    /// By the SHA-256 of the session cookie.
    pub sessions: Recent<String, Principal>,
    pub projects: Recent<ProjectSlug, Project>,
    /// (project id, user id) of members.
    pub members: Recent<(i64, i64), ()>,
    /// Finished builds by (project id, build number); a running build changes and is read
    /// each time.
    pub builds: Recent<(i64, i64), Build>,
    /// Artifacts of finished builds by (build id, container, path).
    pub artifacts: Recent<(i64, i64, String), Artifact>,
    /// How many artifacts each container of a finished build holds, by (build id, listing
    /// version): a count walks the whole build's index.
    pub counts: Recent<(i64, i64), Arc<[(i64, i64)]>>,
    /// Signed download URLs by (artifact id, as an attachment): the same URL, for a few
    /// seconds of its five minutes, to everyone the artifact route lets through. Signing is
    /// the route's largest cost; a URL kept here has most of its life left when it is sent.
    pub downloads: Recent<(i64, bool), Arc<str>>,
}

impl Default for Lookups {
    fn default() -> Self {
        Lookups(Arc::new(Tables {
            tokens: Recent::new("tokens", 10_000),
            sessions: Recent::new("sessions", 10_000),
            projects: Recent::new("projects", 10_000),
            members: Recent::new("members", 100_000),
            builds: Recent::new("builds", 10_000),
            artifacts: Recent::new("artifacts", 50_000),
            counts: Recent::new("counts", 1_000),
            downloads: Recent::new("downloads", 50_000),
        }))
    }
}

impl std::ops::Deref for Lookups {
    type Target = Tables;

    fn deref(&self) -> &Tables {
        &self.0
    }
}

impl std::fmt::Debug for Lookups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookups").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_kept_until_they_go_stale_then_forgotten() {
        let recent: Recent<String, i64> = Recent::new("test", 10);
        recent.keep("a".into(), 1);
        assert_eq!(recent.get("a"), Some(1));
        recent.forget("a");
        assert_eq!(recent.get("a"), None);
        // An entry past its time is not answered, and leaves.
        recent.entries.insert("b".into(), Fresh { value: 2, until: Instant::now() - Duration::from_millis(1) });
        assert_eq!(recent.get("b"), None);
        assert_eq!(recent.entries.len(), 0);
    }
}
