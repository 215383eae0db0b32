//! The application core: the business rules, free of HTTP, one module per feature. Each
//! feature is a struct with private state and a small public surface, made once at start-up
//! and cheap to clone (its state is shared); [`Vitrine`] only wires them and hands them out.
//! Handlers, the UI's backend and the CLI call the features through it.
//!
//! - `accounts`: users, passwords, API and build tokens, sessions, sign-in limits;
//! - `sign_in`: sign-in through OpenID Connect providers, group roles, sessions' re-checks;
//! - `projects`: who may see or write to a project, members, visibility, default branch;
//! - `builds`: starting, joining, finishing, listing, resolving `latest`, pinning;
//! - `manage`: what maintainers, users and admins change from the browser, checked and audited;
//! - `retention`: how long artifacts are kept, expiring what is due, purges by hand;
//! - `uploads`: plans, presigned URLs, confirmations and their verification;
//! - `artifacts` (with `folders`, `archives`, `listings`): reading artifacts, folder zips;
//! - `gallery`: screenshots against the last green build; `previews`: opened files;
//! - `test_results`: a build's test results (CircleCI's `store_test_results`);
//! - `capabilities`: the signed links of the artifacts origin; `audit`: the audit log;
//! - `sweeper`: the background work; `untrusted`: the budget of work on what builds stored.

pub mod accounts;
pub mod archives;
pub mod artifacts;
pub mod audit;
pub mod builds;
pub mod capabilities;
pub mod content;
pub mod error;
pub mod folders;
pub mod gallery;
pub mod listings;
pub mod lookups;
pub mod manage;
pub mod passwords;
pub mod previews;
pub mod principal;
pub mod projects;
pub mod retention;
pub mod settings;
pub mod sign_in;
pub mod sweeper;
pub mod test_results;
pub mod untrusted;
pub mod uploads;

use std::sync::Arc;

pub use error::{ServiceError, ServiceResult};
pub use principal::Principal;
pub use projects::DEFAULT_BRANCH;
pub use settings::{Settings, UploadSettings};

use accounts::{Accounts, PasswordChecks};
use artifacts::{ArtifactParts, Artifacts};
use audit::AuditLog;
use builds::Builds;
use capabilities::ArtifactsOrigin;
use gallery::Gallery;
use previews::Previews;
use projects::Projects;
use retention::Retention;
use sweeper::{Sweeper, SweeperParts};
use uploads::Uploads;

use crate::identity::Providers;
use crate::storage::{Storage, StorageResult, StoreGuarantees};
use sign_in::SignIn;
use vitrine_store::{Db, DbResult, ServerStore};

/// What the core is made from.
pub struct Parts {
    pub db: Db,
    pub storage: Storage,
    /// What the S3 store proved it enforces; decides how uploads are verified.
    pub guarantees: StoreGuarantees,
    pub settings: Settings,
    /// The artifacts origin's key and addresses.
    pub capabilities: ArtifactsOrigin,
    /// The identity providers people sign in with (none: passwords only).
    pub providers: Providers,
}

/// The application core, built once at start-up and shared by every caller: cloning it (as
/// each request does) costs one reference count.
#[derive(Clone)]
pub struct Vitrine(Arc<Features>);

struct Features {
    settings: Arc<Settings>,
    /// The store's health, for readiness.
    servers: Arc<dyn ServerStore>,
    storage: Storage,
    accounts: Accounts,
    sign_in: SignIn,
    projects: Projects,
    builds: Builds,
    uploads: Uploads,
    artifacts: Artifacts,
    previews: Previews,
    gallery: Gallery,
    sweeper: Sweeper,
    audit: AuditLog,
    capabilities: ArtifactsOrigin,
    manage: manage::Manage,
    retention: Retention,
    test_results: test_results::TestResults,
}

impl Vitrine {
    /// Wires the features; starts the audit log's writer (the sweeper starts with
    /// [`Sweeper::spawn`]).
    pub fn new(parts: Parts) -> Vitrine {
        let Parts { db, storage, guarantees, settings, capabilities, providers } = parts;
        let uploads_settings = Arc::new(settings.uploads.clone());
        let lookups = lookups::Lookups::default();
        let heavy = untrusted::HeavyWork::default();
        let audit = AuditLog::start(&db);
        let projects = Projects::new(&db, lookups.clone());
        let accounts = Accounts::new(&db, PasswordChecks::for_this_machine(), lookups.clone(), projects.clone());
        let builds = Builds::new(&db, lookups.clone(), projects.clone(), audit.clone(), settings.public_url.clone());
        let retention =
            Retention::new(&db, lookups.clone(), projects.clone(), builds.clone(), settings.uploads.artifact_retention);
        let uploads = Uploads::new(&db, storage.clone(), guarantees, uploads_settings.clone(), builds.clone());
        let archives = archives::Archives::new(&db, storage.clone(), heavy.clone());
        let artifacts = Artifacts::new(ArtifactParts {
            db: &db,
            storage: storage.clone(),
            lookups,
            accounts: accounts.clone(),
            projects: projects.clone(),
            builds: builds.clone(),
            audit: audit.clone(),
            capabilities: capabilities.clone(),
            trace_viewer: settings.trace_viewer,
            archives: archives.clone(),
            heavy: heavy.clone(),
        });
        let previews = Previews::new(storage.clone(), archives, heavy.clone());
        let gallery = Gallery::new(storage.clone(), projects.clone(), builds.clone(), artifacts.clone(), heavy);
        let test_results = test_results::TestResults::new(&db, builds.clone());
        let sign_in = SignIn::new(&db, providers, accounts.clone(), audit.clone());
        let manage = manage::Manage::new(manage::ManageParts {
            accounts: accounts.clone(),
            projects: projects.clone(),
            builds: builds.clone(),
            retention: retention.clone(),
            sign_in: sign_in.clone(),
            audit: audit.clone(),
        });
        let sweeper = Sweeper::new(SweeperParts {
            db: &db,
            storage: storage.clone(),
            accounts: accounts.clone(),
            sign_in: sign_in.clone(),
            builds: builds.clone(),
            uploads: uploads.clone(),
            retention: retention.clone(),
            audit: audit.clone(),
            settings: uploads_settings,
        });
        Vitrine(Arc::new(Features {
            settings: Arc::new(settings),
            servers: db.server_store(),
            storage,
            accounts,
            sign_in,
            projects,
            builds,
            uploads,
            artifacts,
            previews,
            gallery,
            sweeper,
            audit,
            capabilities,
            manage,
            retention,
            test_results,
        }))
    }

    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    pub fn retention(&self) -> &Retention {
        &self.0.retention
    }

    pub fn manage(&self) -> &manage::Manage {
        &self.0.manage
    }

    pub fn accounts(&self) -> &Accounts {
        &self.0.accounts
    }

    pub fn sign_in(&self) -> &SignIn {
        &self.0.sign_in
    }

    pub fn test_results(&self) -> &test_results::TestResults {
        &self.0.test_results
    }

    pub fn projects(&self) -> &Projects {
        &self.0.projects
    }

    pub fn builds(&self) -> &Builds {
        &self.0.builds
    }

    pub fn uploads(&self) -> &Uploads {
        &self.0.uploads
    }

    pub fn artifacts(&self) -> &Artifacts {
        &self.0.artifacts
    }

    pub fn previews(&self) -> &Previews {
        &self.0.previews
    }

    pub fn gallery(&self) -> &Gallery {
        &self.0.gallery
    }

    pub fn sweeper(&self) -> &Sweeper {
        &self.0.sweeper
    }

    pub fn audit(&self) -> &AuditLog {
        &self.0.audit
    }

    pub fn capabilities(&self) -> &ArtifactsOrigin {
        &self.0.capabilities
    }

    /// Whether the metadata store answers now.
    pub async fn metadata_answers(&self) -> DbResult<()> {
        self.0.servers.ping().await
    }

    /// Whether the S3 store answers for the bucket now.
    pub async fn objects_answer(&self) -> StorageResult<()> {
        self.0.storage.ready().await
    }
}
