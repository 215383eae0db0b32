//! `vitrine admin`: accounts and projects, straight in the data dir's database.

use std::io::Read;
use std::process::ExitCode;

use crate::core::accounts::{Accounts, PasswordChecks};
use crate::core::audit::AuditLog;
use crate::core::builds::Builds;
use crate::core::lookups::Lookups;
use crate::core::projects::Projects;
use crate::domain::ProjectSlug;

pub use super::admin_args::*;
use vitrine_store::{AuditEvent, Db, TokenOwner};

fn when(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).map_or(String::new(), |d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

pub async fn run(args: AdminArgs) -> anyhow::Result<ExitCode> {
    super::serve::private_files();
    let change = super::admin_changes::change_of(&args.command);
    // A restore fills a data dir that must be empty: nothing is opened in it before.
    if let AdminCommand::Restore { src } = &args.command {
        anyhow::ensure!(args.database_url.is_none(), "restore fills a data dir's SQLite database: unset DATABASE_URL");
        restore(src, &args.data_dir).await?;
    }
    std::fs::create_dir_all(&args.data_dir)?;
    let db = Db::open(&args.data_dir, args.database_url.as_deref(), 2).await?;
    execute(&db, &args.data_dir, args.command).await?;
    if let Some((action, project, build_num, detail)) = change {
        let event = AuditEvent {
            at: chrono::Utc::now().timestamp(),
            actor: super::admin_changes::admin_actor(),
            user_id: None,
            token_id: None,
            action: action.as_str().to_owned(),
            project,
            build_num,
            detail,
            client: None,
            repeats: 1,
        };
        db.insert_audit(&[event]).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The features admin commands use: those of the metadata store alone (no S3 is reached).
struct Admin {
    accounts: Accounts,
    projects: Projects,
    builds: Builds,
    retention: crate::core::retention::Retention,
    sign_in: crate::core::sign_in::SignIn,
}

impl Admin {
    fn new(db: &Db) -> Admin {
        let lookups = Lookups::default();
        let projects = Projects::new(db, lookups.clone());
        let accounts = Accounts::new(db, PasswordChecks::new(1), lookups.clone(), projects.clone());
        // Build page links and the default retention are the server's business; commands
        // here neither link to pages nor expire builds.
        let builds = Builds::new(db, lookups.clone(), projects.clone(), AuditLog::start(db), String::new());
        let default_retention = crate::core::UploadSettings::default().artifact_retention;
        let retention =
            crate::core::retention::Retention::new(db, lookups, projects.clone(), builds.clone(), default_retention);
        // Identities and group roles are kept in the store; which providers the server signs in
        // with is the server's business.
        let sign_in = crate::core::sign_in::SignIn::new(
            db,
            crate::identity::Providers::none(),
            accounts.clone(),
            AuditLog::start(db),
        );
        Admin { accounts, projects, builds, retention, sign_in }
    }
}

async fn execute(db: &Db, data_dir: &std::path::Path, command: AdminCommand) -> anyhow::Result<()> {
    let admin = Admin::new(db);
    match command {
        AdminCommand::Backup { dest } => backup(db, data_dir, &dest).await?,
        // Done before the data dir's store was opened (`run`).
        AdminCommand::Restore { .. } => {}
        AdminCommand::Audit { project, since, limit } => audit_log(db, project, since, limit).await?,
        AdminCommand::Capabilities(CapabilitiesCommand::Rotate) => {
            db.replace_shared_key(crate::serve::ARTIFACTS_ORIGIN_KEY, &crate::serve::fresh_key()).await?;
            println!(
                "The artifacts-origin key is replaced: links to reports and traces handed out before stop \
                 working within {} s on every server.",
                crate::serve::KEY_REFRESH.as_secs()
            );
        }
        AdminCommand::Migrate { to } => {
            let copied = db.copy_to_postgres(&to).await?;
            for (table, rows) in copied {
                println!("{table:>16}: {rows} row(s)");
            }
            println!("Copied into PostgreSQL. Serve with DATABASE_URL set to it; the S3 store stays as it is.");
        }
        AdminCommand::User(command) => users(&admin, command).await?,
        AdminCommand::Token(command) => tokens(&admin, command).await?,
        AdminCommand::Session(SessionCommand::Revoke { name }) => {
            let ended = admin.accounts.revoke_sessions(&name).await?;
            println!("Ended {ended} session(s) of {name}");
        }
        AdminCommand::Purge { project, build, path } => {
            let purged = admin.retention.purge(&project, build, path.as_deref()).await?;
            println!("Removed {} artifact(s) from listings.", purged.artifacts);
            println!(
                "{} object(s) leave the store at the server's next sweep (within a minute).",
                purged.doomed_objects
            );
            if purged.shared_objects > 0 {
                println!(
                    "{} object(s) stay: other artifacts list the same content (purge those too to remove it).",
                    purged.shared_objects
                );
            }
        }
        AdminCommand::Project(command) => projects(&admin, command).await?,
        AdminCommand::Build(command) => builds(&admin, command).await?,
        AdminCommand::Member(command) => members(&admin, command).await?,
    }
    Ok(())
}

/// `admin audit`: the log as a table.
async fn audit_log(db: &Db, project: Option<ProjectSlug>, since: Option<i64>, limit: i64) -> anyhow::Result<()> {
    let project = project.map(|p| p.short());
    let events = db.audit_events(project.as_deref(), since.unwrap_or(0), limit).await?;
    println!(
        "{:<23}  {:<24}  {:<22}  {:<24}  {:>6}  {:<15}  DETAIL",
        "TIME", "WHO", "ACTION", "PROJECT", "BUILD", "FROM"
    );
    for e in events {
        println!(
            "{:<23}  {:<24}  {:<22}  {:<24}  {:>6}  {:<15}  {}",
            when(e.at),
            e.actor,
            e.action,
            e.project.unwrap_or_default(),
            e.build_num.map_or(String::new(), |b| b.to_string()),
            e.client.unwrap_or_default(),
            if e.repeats > 1 { format!("{} ({} times)", e.detail, e.repeats) } else { e.detail }
        );
    }
    Ok(())
}

async fn users(admin: &Admin, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add { name, admin: is_admin, .. } => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\n', '\r']);
            admin.accounts.add_user(&name, password, is_admin).await?;
            println!("Added user {name}{}", if is_admin { ", an instance admin" } else { "" });
        }
        UserCommand::Promote { name } => {
            admin.accounts.set_admin(&name, true).await?;
            println!("{name} is an instance admin");
        }
        UserCommand::Demote { name } => {
            admin.accounts.set_admin(&name, false).await?;
            println!("{name} is no longer an instance admin");
        }
        UserCommand::Disable { name } => {
            admin.accounts.set_user_disabled(&name, true).await?;
            println!("{name} is disabled: signed out everywhere; their tokens are refused");
        }
        UserCommand::Enable { name } => {
            admin.accounts.set_user_disabled(&name, false).await?;
            println!("{name} is enabled");
        }
        UserCommand::Link { name, issuer, subject } => {
            admin.sign_in.link(&name, &issuer, &subject).await?;
            println!("Signing in as {subject} at {issuer} is signing in as {name}");
        }
        UserCommand::Unlink { issuer, subject } => {
            admin.sign_in.unlink(&issuer, &subject).await?;
            println!("{subject} at {issuer} belongs to nobody now: their next sign-in makes a new user");
        }
        UserCommand::Identities { name } => {
            for identity in admin.sign_in.identities(name.as_deref()).await? {
                let last = identity.last_sign_in_at.map_or("never".to_owned(), crate::http::v1_1::views::iso_time);
                println!("{}\t{}\t{}\tlast sign-in {last}", identity.username, identity.issuer, identity.subject);
            }
        }
    }
    Ok(())
}

async fn tokens(admin: &Admin, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create { name, scope, expires_in, label } => {
            let user = admin.accounts.user(&name).await?;
            let expires_at = expires_in.map(|d| chrono::Utc::now().timestamp() + d.as_secs() as i64);
            let terms = vitrine_store::TokenTerms { label, scope, expires_at };
            let made = admin.accounts.create_user_token(user.id, &terms).await?;
            let ends = expires_at.map_or("it does not expire".to_owned(), |t| format!("it expires {}", when(t)));
            println!(
                "API token {} for {name}, scope {} ({ends}; shown once; keep it secret):",
                made.id,
                scope.as_str()
            );
            println!("{}", made.token);
        }
        TokenCommand::List { owner } => {
            let tokens = admin.accounts.tokens(owner.as_deref()).await?;
            println!("{:>6}  {:<7}  {:<32}  {:<23}  LAST USED", "ID", "KIND", "OWNER", "CREATED");
            for t in tokens {
                let kind = match t.owner {
                    TokenOwner::User(_) => "user",
                    TokenOwner::Project(_) => "build",
                    TokenOwner::Build { .. } => "running",
                };
                let used = t.last_used_at.map_or("never".to_owned(), when);
                println!("{:>6}  {kind:<7}  {:<32}  {:<23}  {used}", t.id, t.owner_name, when(t.created_at));
            }
        }
        TokenCommand::Revoke { token } => {
            match token_id(&token) {
                Some(id) => admin.accounts.revoke_token_by_id(id).await?,
                None => admin.accounts.revoke_token(&token).await?,
            }
            println!("Token revoked");
        }
    }
    Ok(())
}

async fn projects(admin: &Admin, command: ProjectCommand) -> anyhow::Result<()> {
    match command {
        ProjectCommand::Add { slug, public } => {
            admin.projects.add_project(&slug, public).await?;
            let visibility = if public { "public" } else { "private" };
            println!("Project {} is {visibility}", slug.short());
        }
        ProjectCommand::Token { slug } => {
            let made = admin.accounts.create_build_token(&slug).await?;
            println!("Build token {} for {} (shown once; keep it secret):", made.id, slug.short());
            println!("{}", made.token);
        }
        ProjectCommand::Retention { slug, retention } => {
            match retention {
                Retention::Default => {
                    admin.retention.set_retention(&slug, None).await?;
                    println!("{} keeps artifacts as long as the server's --artifact-retention", slug.short());
                }
                Retention::Keep(d) => {
                    admin.retention.set_retention(&slug, Some(d)).await?;
                    println!("{} keeps artifacts {} day(s)", slug.short(), d.as_secs() / 86400);
                }
            }
            println!("The latest successful build of each branch and pinned builds are always kept.");
        }
        ProjectCommand::MapGroup { slug, group, role } => {
            let project = admin.projects.project_for_admin(&slug).await?;
            admin.sign_in.map_group(&project, &group, role).await?;
            println!("Members of the group {group} are {}s of {} from their next sign-in", role.as_str(), slug.short());
        }
        ProjectCommand::UnmapGroup { slug, group } => {
            let project = admin.projects.project_for_admin(&slug).await?;
            admin.sign_in.unmap_group(&project, &group).await?;
            println!("The group {group} gives no role in {} any more", slug.short());
        }
        ProjectCommand::Groups { slug } => {
            let project = admin.projects.project_for_admin(&slug).await?;
            for mapped in admin.sign_in.group_roles(&project).await? {
                println!("{}\t{}", mapped.group, mapped.role.as_str());
            }
        }
        ProjectCommand::DefaultBranch { slug, branch } => {
            let branch = Some(branch.as_str()).filter(|b| *b != "default");
            admin.projects.set_default_branch(&slug, branch).await?;
            let shown = branch.unwrap_or(crate::core::DEFAULT_BRANCH);
            println!("{} compares screenshots with the last green build of `{shown}` by default", slug.short());
        }
    }
    Ok(())
}

async fn builds(admin: &Admin, command: BuildCommand) -> anyhow::Result<()> {
    match command {
        BuildCommand::Pin { slug, build } => {
            admin.builds.pin_as_admin(&slug, build, true).await?;
            println!("Build {build} of {} is pinned: its artifacts are kept past the retention", slug.short());
        }
        BuildCommand::Unpin { slug, build } => {
            admin.builds.pin_as_admin(&slug, build, false).await?;
            println!("Build {build} of {} is no longer pinned", slug.short());
        }
    }
    Ok(())
}

async fn members(admin: &Admin, command: MemberCommand) -> anyhow::Result<()> {
    match command {
        MemberCommand::Add { slug, name, role } => {
            // The project first: when neither exists, the error names the project.
            admin.projects.project_for_admin(&slug).await?;
            let user = admin.accounts.user(&name).await?;
            admin.projects.add_member(&slug, &user, role).await?;
            match role {
                vitrine_store::Role::Member => println!("{name} can now see {}", slug.short()),
                vitrine_store::Role::Maintainer => {
                    println!("{name} can now see {} and change its settings", slug.short());
                }
            }
        }
        MemberCommand::Remove { slug, name } => {
            let project = admin.projects.project_for_admin(&slug).await?;
            let user = admin.accounts.user(&name).await?;
            admin.projects.remove_member(&project, &user).await?;
            println!("{name} can no longer see {} (unless it is public)", slug.short());
        }
    }
    Ok(())
}

async fn backup(db: &Db, data_dir: &std::path::Path, dest: &std::path::Path) -> anyhow::Result<()> {
    let made = super::backup::backup(db, data_dir, dest).await?;
    match made.objects {
        None => println!(
            "Backed up the database into {}. Its {} listed object(s) are in your S3 service: back up the \
             bucket with that service's own tools (README, Backups).",
            dest.display(),
            made.listed
        ),
        Some(copied) => println!(
            "Backed up the database and {} object(s) ({} bytes) into {}; all {} object(s) the database \
             lists are in it.",
            copied.objects,
            copied.bytes,
            dest.display(),
            made.listed
        ),
    }
    Ok(())
}

async fn restore(src: &std::path::Path, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let listed = super::backup::restore(src, data_dir).await?;
    println!(
        "Restored {} into {}: {listed} listed object(s), every one present. Serve it with \
         `vitrine serve --data-dir {}`.",
        src.display(),
        data_dir.display(),
        data_dir.display()
    );
    Ok(())
}
