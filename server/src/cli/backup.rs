//! `vitrine admin backup DEST` and `vitrine admin restore SRC`, for an installation on one
//! machine (SQLite and the embedded store in its data dir). A backup is taken while the server
//! runs: first the database, as one moment of it (`VACUUM INTO`), then the store's objects
//! (each written once and never changed, so every object the database lists is there already
//! and copies whole). It is checked before it is called done: every object the copied database
//! lists must be in the copied store. A restore puts a backup into an empty data dir.
//! With PostgreSQL or another S3 service, their own tools back them up (README, Backups).

use std::path::Path;

use anyhow::Context;
use vitrine_store::{Db, StoreKind};

/// The files of a data dir besides the database and the objects: the embedded store's keys.
const KEYS: &[&str] = &["embedded-s3.env"];

/// What a backup holds.
#[derive(Debug)]
pub struct Backup {
    /// The embedded store's objects copied; `None`: they are in another S3 service.
    pub objects: Option<vitrine_s3::backup::Copied>,
    /// Objects the database lists (all of them in the backup when `objects` is there).
    pub listed: usize,
}

/// Refuses a destination that holds anything: a backup never mixes with older files.
fn empty_or_new(dir: &Path, what: &str) -> anyhow::Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => anyhow::ensure!(
            entries.next().is_none(),
            "{} is not empty: {what} goes into a new or empty folder",
            dir.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

pub async fn backup(db: &Db, data_dir: &Path, dest: &Path) -> anyhow::Result<Backup> {
    anyhow::ensure!(
        db.kind() == StoreKind::Sqlite,
        "the metadata store is PostgreSQL: back it up with pg_dump, and the S3 bucket with its service's own tools \
         (README, Backups)"
    );
    empty_or_new(dest, "a backup")?;
    db.backup_sqlite(&dest.join("vitrine.db")).await.context("copying the database")?;
    let objects = copy_store(data_dir, dest).await?;
    let listed = match objects {
        Some(_) => check(dest).await?,
        None => db.listed_objects().await?.len(),
    };
    Ok(Backup { objects, listed })
}

/// Copies the embedded store's keys and objects from one data dir (or backup) into another;
/// `None` when `from` holds no objects (they are in another S3 service).
async fn copy_store(from: &Path, to: &Path) -> anyhow::Result<Option<vitrine_s3::backup::Copied>> {
    for key in KEYS {
        match std::fs::copy(from.join(key), to.join(key)) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot copy {key}")),
        }
    }
    if !vitrine_s3::backup::has_objects(from) {
        return Ok(None);
    }
    let (from, to) = (from.to_owned(), to.to_owned());
    Ok(Some(tokio::task::spawn_blocking(move || vitrine_s3::backup::copy_objects(&from, &to)).await??))
}

/// Checks that every object a backup's database lists is in its store; answers how many.
async fn check(dir: &Path) -> anyhow::Result<usize> {
    let db = Db::open_in(dir).await.context("opening the backup's database")?;
    let keys = db.listed_objects().await?;
    let store = vitrine_s3::backup::open_idle(dir)?;
    let mut missing = Vec::new();
    for key in &keys {
        if store.facts(vitrine_s3::BUCKET, key).await?.is_none() {
            missing.push(key.as_str());
        }
    }
    anyhow::ensure!(
        missing.is_empty(),
        "the backup in {} lacks {} of the {} objects its database lists (purged while it was taken?): \
         take it again. The first: {}",
        dir.display(),
        missing.len(),
        keys.len(),
        missing.iter().take(3).copied().collect::<Vec<_>>().join(", ")
    );
    Ok(keys.len())
}

/// Puts the backup in `src` into the empty (or new) data dir `data_dir`, and checks it as a
/// backup is checked. A backup of an earlier release is brought up to date by the first start.
pub async fn restore(src: &Path, data_dir: &Path) -> anyhow::Result<usize> {
    anyhow::ensure!(
        src.join("vitrine.db").is_file(),
        "{} holds no backup (no vitrine.db): give the folder `vitrine admin backup` wrote",
        src.display()
    );
    empty_or_new(data_dir, "a restore")?;
    std::fs::copy(src.join("vitrine.db"), data_dir.join("vitrine.db")).context("copying the database")?;
    match copy_store(src, data_dir).await? {
        Some(_) => check(data_dir).await,
        None => Ok(0),
    }
}
