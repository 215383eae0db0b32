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

use super::principal::Principal;
use crate::domain::ProjectSlug;
use vitrine_store::{Artifact, Build, BuildId, NodeCount, Project, ProjectId, UserId};

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
    counters: crate::observe::CacheCounters,
}

impl<K: Eq + Hash + Clone, V: Clone> Recent<K, V> {
    pub fn new(name: &'static str, capacity: usize) -> Self {
        Recent { entries: quick_cache::sync::Cache::new(capacity), counters: crate::observe::CacheCounters::new(name) }
    }

    /// The answer, while it is fresh.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        Q: Hash + quick_cache::Equivalent<K> + ?Sized,
    {
        let found = self.entries.get(key);
        let fresh = found.as_ref().is_some_and(|found| found.until > Instant::now());
        self.counters.lookup(fresh);
        match found {
            Some(found) if fresh => Some(found.value),
            // A stale entry leaves; an absent one costs no removal.
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
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

/// Answers made from a finished build's rows (its listings, its folders' pages), kept as made
/// until `W` says they weigh `bytes` in all. Their keys carry the build's `listing_version`,
/// so a purge or the retention makes new keys rather than stale answers. Cheap to clone:
/// shared.
pub struct Kept<K, V, W> {
    entries: Arc<quick_cache::sync::Cache<K, Arc<V>, W>>,
    counters: Arc<crate::observe::CacheCounters>,
}

impl<K, V, W> Clone for Kept<K, V, W> {
    fn clone(&self) -> Self {
        Kept { entries: self.entries.clone(), counters: self.counters.clone() }
    }
}

impl<K, V, W> std::fmt::Debug for Kept<K, V, W>
where
    K: Eq + Hash + Clone,
    W: quick_cache::Weighter<K, Arc<V>> + Clone,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept").field("name", &self.counters.name).field("bytes", &self.entries.weight()).finish()
    }
}

impl<K, V, W> Kept<K, V, W>
where
    K: Eq + Hash + Clone,
    W: quick_cache::Weighter<K, Arc<V>> + Clone,
{
    /// At most `items` answers, weighing at most `bytes`, each of them up to `largest`;
    /// `name` is the cache's in metrics.
    pub fn new(name: &'static str, items: usize, bytes: u64, largest: u64, weigher: W) -> Self {
        Self::sharded(name, items, bytes, largest, default_shards(), weigher)
    }

    /// [`Kept::new`] with at most `max_shards` shards, as a host of `max_shards / 4` cores has.
    pub fn sharded(name: &'static str, items: usize, bytes: u64, largest: u64, max_shards: usize, weigher: W) -> Self {
        let options = cache_options(items, bytes, largest, max_shards);
        Kept {
            entries: Arc::new(quick_cache::sync::Cache::with_options(
                options,
                weigher,
                Default::default(),
                Default::default(),
            )),
            counters: Arc::new(crate::observe::CacheCounters::new(name)),
        }
    }

    /// The answer for `key`, made by `make` when it is not kept yet; callers asking at the
    /// same time wait for one making. `None` when `make` finds it should not be kept (and
    /// made nothing).
    pub async fn get_or_make<E>(
        &self,
        key: K,
        make: impl Future<Output = Result<Option<V>, E>>,
    ) -> Result<Option<Arc<V>>, E> {
        let found = self.entries.get_value_or_guard_async(&key).await;
        self.counters.lookup(found.is_ok());
        match found {
            Ok(kept) => Ok(Some(kept)),
            Err(guard) => match make.await? {
                Some(made) => {
                    let made = Arc::new(made);
                    let _ = guard.insert(made.clone());
                    Ok(Some(made))
                }
                None => Ok(None),
            },
        }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> u64 {
        self.entries.weight()
    }
}

/// What was made of stored bytes, or why it could not be (in words for the reader): both are
/// kept, since the bytes never change.
pub type Refusable<T> = Result<T, String>;

/// A kept [`Refusable`] as a service's answer: the thing, or the refusal as a bad request.
pub fn answer<T: Clone>(kept: &Refusable<T>) -> super::error::ServiceResult<T> {
    kept.clone().map_err(super::error::ServiceError::BadRequest)
}

/// quick_cache's own choice: four shards a core.
fn default_shards() -> usize {
    4 * std::thread::available_parallelism().map_or(1, usize::from)
}

/// A cache of `bytes` split in shards, each of which refuses (silently) an entry larger than
/// 97% of its share: as many shards as the host would have, but few enough that an entry of
/// `largest` bytes fits in one, whatever the core count.
pub fn cache_options(items: usize, bytes: u64, largest: u64, max_shards: usize) -> quick_cache::Options {
    let mut shards = max_shards.max(1).next_power_of_two();
    while shards > 1 && (bytes / shards as u64) * 97 / 100 < largest {
        shards /= 2;
    }
    quick_cache::OptionsBuilder::new()
        .estimated_items_capacity(items)
        .weight_capacity(bytes)
        .shards(shards)
        .build()
        .expect("items, weight and shards are set")
}

/// The key of [`Tables::artifacts`] borrowed: a lookup copies no path.
#[derive(Clone, Copy)]
pub struct ArtifactAt<'a>(pub BuildId, pub i64, pub &'a str);

impl Hash for ArtifactAt<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As the owned key's tuple hashes (a `String` hashes as its `str`).
        (self.0, self.1, self.2).hash(state);
    }
}

impl quick_cache::Equivalent<(BuildId, i64, String)> for ArtifactAt<'_> {
    fn equivalent(&self, key: &(BuildId, i64, String)) -> bool {
        self.0 == key.0 && self.1 == key.1 && self.2 == key.2
    }
}

/// How many artifacts each container of a build holds, by node index.
pub type NodeCounts = Arc<[NodeCount]>;

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
    pub members: Recent<(ProjectId, UserId), ()>,
    /// Finished builds by (project id, build number); a running build changes and is read
    /// each time.
    pub builds: Recent<(ProjectId, i64), Build>,
    /// Artifacts of finished builds by (build id, container, path), looked up by
    /// [`ArtifactAt`].
    pub artifacts: Recent<(BuildId, i64, String), Arc<Artifact>>,
    /// How many artifacts each container of a finished build holds, by (build id, listing
    /// version): a count walks the whole build's index.
    pub counts: Recent<(BuildId, i64), NodeCounts>,
    /// Signed download URLs by (artifact id, as an attachment): the same URL, for a few
    /// seconds of its five minutes, to everyone the artifact route lets through. Signing is
    /// the route's largest cost; a URL kept here has most of its life left when it is sent.
    pub downloads: Recent<(i64, bool), bytes::Bytes>,
    /// Whether the holder of an artifacts-origin capability may still read its build, yes or
    /// no, by (holder, build id): a revocation reaches the links within [`FRESH_FOR`].
    pub grants: Recent<(super::capabilities::Holder, BuildId), bool>,
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
            grants: Recent::new("grants", 50_000),
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
        recent.entries.insert(
            "b".into(),
            Fresh { value: 2, until: Instant::now().checked_sub(Duration::from_millis(1)).unwrap() },
        );
        assert_eq!(recent.get("b"), None);
        assert_eq!(recent.entries.len(), 0);
    }

    #[test]
    fn artifacts_are_found_by_a_borrowed_path() {
        let recent: Recent<(BuildId, i64, String), i64> = Recent::new("test", 10);
        recent.keep((BuildId(1), 0, "reports/a.html".into()), 7);
        assert_eq!(recent.get(&ArtifactAt(BuildId(1), 0, "reports/a.html")), Some(7));
        assert_eq!(recent.get(&ArtifactAt(BuildId(1), 1, "reports/a.html")), None);
        assert_eq!(recent.get(&ArtifactAt(BuildId(2), 0, "reports/a.html")), None);
        assert_eq!(recent.get(&ArtifactAt(BuildId(1), 0, "reports/a.htm")), None);
    }

    /// quick_cache splits its capacity in shards (four a core) and refuses, silently, an
    /// entry larger than a shard: on a 16-core host, a cache of 64 MiB kept nothing over 1 MiB.
    #[tokio::test]
    async fn the_largest_entry_a_cache_is_meant_for_is_kept_whatever_the_core_count() {
        use crate::core::listings::{CACHE_BYTES, LARGEST_KEPT, Listing, ListingKey, Part, Weigh};
        let cache: Kept<ListingKey, Listing, Weigh> =
            Kept::sharded("test", 4096, CACHE_BYTES, LARGEST_KEPT as u64 + 1024, 64, Weigh);
        let key = ListingKey { build_id: BuildId(1), listing_version: 0, part: Part::Whole };
        let listing = Listing { gzip: vec![7u8; LARGEST_KEPT].into(), etag: "\"x\"".into() };
        cache.get_or_make(key.clone(), async { Ok::<_, ()>(Some(listing)) }).await.unwrap();
        let made_again = cache.get_or_make(key, async { Ok::<_, ()>(None) }).await.unwrap();
        assert_eq!(made_again.map(|l| l.gzip.len()), Some(LARGEST_KEPT), "the 8 MiB listing was kept");
        // Sharded for small entries, as quick_cache alone would be on that host (64 shards of
        // 1 MiB): the same listing is dropped.
        let options = cache_options(4096, CACHE_BYTES, 1, 64);
        let plain: quick_cache::sync::Cache<u8, Arc<Listing>, Weigh8> =
            quick_cache::sync::Cache::with_options(options, Weigh8, Default::default(), Default::default());
        plain.insert(1, Arc::new(Listing { gzip: vec![0u8; LARGEST_KEPT].into(), etag: String::new() }));
        assert!(plain.get(&1).is_none(), "a cache sharded for small entries drops a large one");
    }

    #[derive(Clone)]
    struct Weigh8;

    impl quick_cache::Weighter<u8, Arc<crate::core::listings::Listing>> for Weigh8 {
        fn weight(&self, _: &u8, listing: &Arc<crate::core::listings::Listing>) -> u64 {
            listing.gzip.len() as u64
        }
    }
}
