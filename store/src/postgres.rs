//! The PostgreSQL store, for several servers on one truth: a pool of configurable size,
//! migrations on start, row locks where servers could race, advisory locks for background work.

use std::collections::{HashMap, HashSet};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, QueryBuilder};

use vitrine_wire::domain::{BuildNum, BuildStatus, NodeIndex, ProjectSlug};

use super::accounts::{AccountStore, account_store};
use super::artifacts::{ArtifactStore, artifact_store, artifacts_of_kind};
use super::audit::{AuditStore, audit_store};
use super::builds::{BuildStore, build_store};
use super::columns::{ROWS_PER_STATEMENT, UPLOAD_COLUMNS, artifact_columns, build_columns, like_pattern, now};
use super::error::{DbError, DbResult};
use super::identities::{IdentityStore, identity_store};
use super::ids::{BuildId, ProjectId, TokenId, UserId};
use super::limits::{RateLimitStore, rate_limit_store};
use super::models::{
    Artifact, ArtifactKind, AuditEvent, Build, ExpiredBuild, Grant, GrantSource, GroupRole, Identity, NewBuild,
    NewTestRun, NodeCount, NodeFinish, PendingSignIn, Pin, Project, Purged, RateWindow, Receipt, Role, Scope,
    SessionIdentity, SessionInfo, SessionOwner, TestRun, ToList, TokenFound, TokenInfo, TokenOwner, TokenTerms, Upload,
    User, UserSummary, Verified,
};
use super::projects::{ProjectStore, project_store};
use super::retention::{RetentionStore, retention_store};
use super::rows::{
    ArtifactRow, BlobRow, BuildRow, GrantRow, GroupRoleRow, IdentityRow, PendingSignInRow, ProjectRow,
    SessionIdentityRow, SessionOwnerRow, SessionRow, TestRunRow, TokenInfoRow, TokenRow, UploadRow, UserRow,
    UserSummaryRow,
};
use super::servers::{ServerStore, SweepLock, server_store};
use super::test_results::{TestResultStore, test_result_store};
use super::uploads::{UploadStore, upload_store};

/// The advisory lock key of the sweeper (any number all servers agree on: "vitrine\0").
const SWEEPER_LOCK: i64 = 0x7669_7472_696e_6500;

pub(super) struct PgStore {
    pub(super) pool: PgPool,
}

impl PgStore {
    pub(super) async fn open(url: &str, pool_size: u32) -> anyhow::Result<PgStore> {
        use anyhow::Context;
        let options: PgConnectOptions = url.parse().context("DATABASE_URL is not a valid PostgreSQL URL")?;
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(options)
            .await
            .context("cannot connect to PostgreSQL at DATABASE_URL")?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await.context("migrating the PostgreSQL database")?;
        Ok(PgStore { pool })
    }

    /// A transaction that writes (row locks are taken by its statements).
    pub(super) async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.pool.begin().await
    }
}

account_store!(PgStore, sqlx::Postgres);
project_store!(PgStore, sqlx::Postgres);
identity_store!(PgStore, sqlx::Postgres);
test_result_store!(PgStore, sqlx::Postgres);
build_store!(PgStore, sqlx::Postgres, for_update = " FOR UPDATE");

artifact_store!(PgStore, sqlx::Postgres, {
    async fn search_artifacts(&self, build_id: BuildId, needle: &str, limit: i64) -> DbResult<Vec<Artifact>> {
        // `pg_trgm`'s GIN index answers ILIKE for needles of three characters or more.
        let rows: Vec<ArtifactRow> = sqlx::query_as(concat!(
            "SELECT ",
            artifact_columns!(),
            "
             FROM artifacts a WHERE a.build_id = $1 AND a.pretty_path ILIKE $2 ESCAPE '\\'
             ORDER BY a.node_index, a.pretty_path LIMIT $3"
        ))
        .bind(build_id)
        .bind(like_pattern(needle))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Artifact::from).collect())
    }
});

upload_store!(PgStore, sqlx::Postgres);
retention_store!(PgStore, sqlx::Postgres);
audit_store!(PgStore, sqlx::Postgres);
rate_limit_store!(PgStore, sqlx::Postgres);

server_store!(PgStore, sqlx::Postgres, {
    async fn try_lock_sweeper(&self) -> DbResult<Option<SweepLock>> {
        // A transaction-scoped lock: released when the transaction ends, also when the server
        // holding it dies (its connection closes).
        let mut tx = self.pool.begin().await?;
        let locked: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)").bind(SWEEPER_LOCK).fetch_one(&mut *tx).await?;
        Ok(locked.then(|| SweepLock(Box::new(tx))))
    }
});
