//! `/:vcs/:org/:repo/settings`: a project's members, build tokens, visibility, retention,
//! default branch and purges, for its maintainers and the instance's admins; to anyone else
//! it is the same 404 as a private project they cannot see.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use leptos::prelude::*;

use super::{Done, Posted, Refusal, SignedIn, copyable, done, error_page, page, row_action, time};
use crate::core::accounts::NewToken;
use crate::core::manage::{Caller, ProjectSettings};
use crate::domain::{BuildNum, ProjectSlug};
use crate::http::extract::RouteParams;
use crate::http::state::AppState;
use vitrine_store::{GrantSource, Role, TokenOwner};

const DONE: Done = Done(&[
    ("member-added", "Member added."),
    ("member-changed", "Role changed."),
    ("member-removed", "Member removed."),
    ("group-mapped", "Group saved: its members get the role at their next sign-in."),
    ("group-unmapped", "Group removed: the roles it gave are taken back."),
    ("token-revoked", "Build token revoked: builds using it are refused from now on."),
    ("visibility", "Visibility saved."),
    ("retention", "Retention saved."),
    ("default-branch", "Default branch saved."),
    ("purged", "Purged: the artifacts left the listings, and their bytes leave the store within a minute."),
]);

#[derive(Debug, serde::Deserialize)]
pub struct PageQuery {
    done: Option<String>,
}

/// What the page shows beside its settings: a token just made, a purge to confirm.
#[derive(Default)]
struct Extra {
    created: Option<NewToken>,
    confirm_purge: Option<(BuildNum, Option<String>)>,
    refusal: Option<Refusal>,
    done: Option<&'static str>,
}

fn slug_of(params: &RouteParams) -> Result<ProjectSlug, crate::core::ServiceError> {
    let get = |k: &str| params.get(k).map(str::to_owned).unwrap_or_default();
    ProjectSlug::new(&get("vcs"), &get("org"), &get("repo")).map_err(|_| crate::core::ServiceError::project_not_found())
}

pub async fn show(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    params: RouteParams,
    Query(q): Query<PageQuery>,
) -> Response {
    let slug = match slug_of(&params) {
        Ok(s) => s,
        Err(e) => return error_page(&state, &caller.who, &e),
    };
    let extra = Extra { done: DONE.sentence(q.done.as_deref()), ..Extra::default() };
    render(&state, &caller, &slug, extra, StatusCode::OK).await
}

pub async fn change(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    params: RouteParams,
    form: Posted,
) -> Response {
    // Each change checks the caller's role in the core; a refused one comes back here as the
    // page's error (a non-maintainer's: the 404 of a hidden project).
    let slug = match slug_of(&params) {
        Ok(slug) => slug,
        Err(e) => return error_page(&state, &caller.who, &e),
    };
    match apply(&state, &caller, &slug, &form).await {
        Ok(Applied::Done(code, section)) => done(&format!("/{}/settings", slug.short()), code, section),
        Ok(Applied::Show(extra)) => render(&state, &caller, &slug, extra, StatusCode::OK).await,
        Err(refusal) => {
            let status = refusal.status;
            render(&state, &caller, &slug, Extra { refusal: Some(refusal), ..Extra::default() }, status).await
        }
    }
}

enum Applied {
    Done(&'static str, &'static str),
    Show(Extra),
}

fn role_field(form: &Posted, section: &'static str) -> Result<Role, Refusal> {
    match form.get("role") {
        "" => Ok(Role::Member),
        role => role.parse().map_err(|e: String| Refusal::bad(section, e)),
    }
}

async fn apply(state: &AppState, caller: &Caller, slug: &ProjectSlug, form: &Posted) -> Result<Applied, Refusal> {
    let get = |k: &str| form.get(k);
    let manage = state.vitrine.manage();
    let on = |form: &'static str| move |e: crate::core::ServiceError| Refusal::of(form, &e);
    match get("do") {
        "add-member" => {
            let role = role_field(form, "members")?;
            if get("username").trim().is_empty() {
                return Err(Refusal::bad("members", "Give the username of the person to add"));
            }
            manage.add_member(caller, slug, get("username"), role).await.map_err(on("members"))?;
            Ok(Applied::Done("member-added", "members"))
        }
        "set-role" => {
            let role = role_field(form, "members")?;
            manage.set_member_role(caller, slug, get("username"), role).await.map_err(on("members"))?;
            Ok(Applied::Done("member-changed", "members"))
        }
        "remove-member" => {
            manage.remove_member(caller, slug, get("username")).await.map_err(on("members"))?;
            Ok(Applied::Done("member-removed", "members"))
        }
        "map-group" => {
            let role = role_field(form, "groups")?;
            if get("group").trim().is_empty() {
                return Err(Refusal::bad("groups", "Give the group's name, as the identity provider sends it"));
            }
            manage.map_group(caller, slug, get("group"), role).await.map_err(on("groups"))?;
            Ok(Applied::Done("group-mapped", "groups"))
        }
        "unmap-group" => {
            manage.unmap_group(caller, slug, get("group")).await.map_err(on("groups"))?;
            Ok(Applied::Done("group-unmapped", "groups"))
        }
        "create-token" => {
            let made = manage.create_build_token(caller, slug, get("label")).await.map_err(on("tokens"))?;
            Ok(Applied::Show(Extra { created: Some(made), ..Extra::default() }))
        }
        "revoke-token" => {
            let id = get("id").parse().map_err(|_| Refusal::bad("tokens", "No such token"))?;
            manage.revoke_build_token(caller, slug, id).await.map_err(on("tokens"))?;
            Ok(Applied::Done("token-revoked", "tokens"))
        }
        "visibility" => {
            let public = match get("visibility") {
                "public" => true,
                "private" => false,
                _ => return Err(Refusal::bad("visibility", "Choose public or private")),
            };
            manage.set_visibility(caller, slug, public).await.map_err(on("visibility"))?;
            Ok(Applied::Done("visibility", "visibility"))
        }
        "retention" => {
            manage.set_retention(caller, slug, retention_field(get("retention"))?).await.map_err(on("retention"))?;
            Ok(Applied::Done("retention", "retention"))
        }
        "default-branch" => {
            let branch = Some(get("branch").trim()).filter(|b| !b.is_empty());
            manage.set_default_branch(caller, slug, branch).await.map_err(on("default-branch"))?;
            Ok(Applied::Done("default-branch", "default-branch"))
        }
        "purge" => ask_purge(state, caller, slug, get("build"), get("path")).await,
        "confirm-purge" => {
            let (build, path) = purge_fields(get("build"), get("path"))?;
            manage.purge(caller, slug, build, path.as_deref()).await.map_err(on("purge"))?;
            Ok(Applied::Done("purged", "purge"))
        }
        _ => Err(Refusal::bad("", "This form cannot be read: reload the page and try again")),
    }
}

/// `30d`, `52w`; empty or `default` for the server's.
fn retention_field(text: &str) -> Result<Option<std::time::Duration>, Refusal> {
    let text = text.trim();
    if text.is_empty() || text == "default" {
        return Ok(None);
    }
    vitrine_agent::duration::parse_duration(text)
        .map(Some)
        .map_err(|_| Refusal::bad("retention", format!("`{text}` is not a duration: write it as 30d, 90d or 52w")))
}

fn purge_fields(build: &str, path: &str) -> Result<(BuildNum, Option<String>), Refusal> {
    let build = build.trim();
    let num = build
        .trim_start_matches('#')
        .parse()
        .map_err(|_| Refusal::bad("purge", format!("`{build}` is not a build number")))?;
    Ok((num, Some(path.trim().to_owned()).filter(|p| !p.is_empty())))
}

/// A purge asked for: the page says what goes, and nothing is removed before the second post.
async fn ask_purge(
    state: &AppState,
    caller: &Caller,
    slug: &ProjectSlug,
    build: &str,
    path: &str,
) -> Result<Applied, Refusal> {
    let (build, path) = purge_fields(build, path)?;
    let target = state.vitrine.manage().purge_target(caller, slug, build).await;
    target.map_err(|e| Refusal::of("purge", &e))?;
    Ok(Applied::Show(Extra { confirm_purge: Some((build, path)), ..Extra::default() }))
}

async fn render(state: &AppState, caller: &Caller, slug: &ProjectSlug, extra: Extra, status: StatusCode) -> Response {
    let settings = match state.vitrine.manage().project_settings(caller, slug).await {
        Ok(s) => s,
        Err(e) => return error_page(state, &caller.who, &e),
    };
    let title = format!("Settings · {}/{}", settings.project.org, settings.project.repo);
    let agents = crate::http::downloads::installed_agent(state).await;
    let public = state.vitrine.settings().public_url.clone();
    let with_groups = !state.vitrine.sign_in().providers().is_empty() || !settings.groups.is_empty();
    let body = body(&settings, extra, &public, agents.as_deref(), with_groups);
    page(state, &caller.who, status, &title, body)
}

/// The parts of the page every section needs: the form's address and what was refused.
struct Ctx<'a> {
    action: String,
    refusal: Option<&'a Refusal>,
}

impl Ctx<'_> {
    fn err(&self, form: &str) -> impl IntoView + use<> {
        Refusal::for_form(self.refusal, form)
    }
}

fn body(s: &ProjectSettings, extra: Extra, public: &str, agent: Option<&str>, with_groups: bool) -> AnyView {
    let p = &s.project;
    let href = format!("/{}/{}/{}", p.vcs.short(), p.org, p.repo);
    let ctx = Ctx { action: format!("{href}/settings"), refusal: extra.refusal.as_ref() };
    view! {
        <nav class="crumbs" aria-label="Breadcrumb">
            <a href="/">"Projects"</a>" / "<a href=href.clone()>{format!("{}/{}", p.org, p.repo)}</a>" / "
        </nav>
        <h1>"Settings"</h1>
        {extra.done.map(|d| view! { <p class="notice" role="status">{d}</p> })}
        {ctx.err("")}
        <div class="settings">
            {agent_section(public, agent, &p.short_slug())}
            {members_section(s, &ctx)}
            {with_groups.then(|| groups_section(s, &ctx))}
            {tokens_section(s, &ctx, extra.created)}
            {visibility_section(s, &ctx)}
            {retention_section(s, &ctx)}
            {branch_section(s, &ctx)}
            {purge_section(s, &ctx, extra.confirm_purge)}
        </div>
    }
    .into_any()
}

fn agent_section(public: &str, agent: Option<&str>, short: &str) -> impl IntoView + use<> {
    // The run line names the project even where no agent binary is installed beside the server.
    let [get, run] = crate::http::downloads::install_lines(public, agent.unwrap_or("vitrine-agent-TARGET"), short);
    let get = agent.is_some().then_some(get);
    view! {
        <section class="panel" id="agent" aria-labelledby="agent-h">
            <h2 id="agent-h">"Store builds"</h2>
            {match get {
                Some(get) => view! {
                    <p>"On a build machine, install the agent:"</p>
                    <pre class="command">{copyable(get, "Copy the install command")}</pre>
                }.into_any(),
                None => view! {
                    <p>"No agent binary is installed beside this server (see " <a href="/downloads/">"/downloads/"</a>"): build one with scripts/build.sh."</p>
                }.into_any(),
            }}
            <p>"Store a build's artifacts with a build token of this project (below):"</p>
            <pre class="command">{copyable(run, "Copy the run command")}</pre>
        </section>
    }
}

fn member_row(g: &vitrine_store::Grant, action: &str) -> impl IntoView + use<> {
    let by_hand = g.source == GrantSource::Hand;
    let how = match &g.source {
        GrantSource::Hand => "by hand".to_owned(),
        GrantSource::Group(name) => format!("group {name}"),
    };
    let user = g.username.clone();
    let select_id = format!("role-{}-{}", g.user_id, how.replace(' ', "-"));
    let action = action.to_owned();
    let role = if by_hand {
        view! {
            <form method="post" action=action.clone() class="inline">
                <input type="hidden" name="do" value="set-role"/>
                <input type="hidden" name="username" value=user.clone()/>
                <label class="visually-hidden" for=select_id.clone()>{format!("Role of {user}")}</label>
                <select id=select_id name="role">
                    <option value="member" selected=g.role == Role::Member>"member"</option>
                    <option value="maintainer" selected=g.role == Role::Maintainer>"maintainer"</option>
                </select>
                <button type="submit" class="small">"Change"</button>
            </form>
        }
        .into_any()
    } else {
        view! { <span>{g.role.as_str()}</span> }.into_any()
    };
    let remove =
        by_hand.then(|| row_action(&action, "remove-member", ("username", user.clone()), "Remove", &user, true));
    view! {
        <tr>
            <td>{g.username.clone()}</td>
            <td>{role}</td>
            <td class="muted when">{how}</td>
            <td>{remove}</td>
        </tr>
    }
}

/// A form that gives a role: `change` (the form's `do`, and its fields' id prefix), who to
/// give it to (`field`: its name and label), and the button's words.
fn grant_form(
    action: &str,
    change: (&'static str, &'static str),
    field: (&'static str, &'static str),
    button: &'static str,
) -> impl IntoView + use<> {
    let (who, role) = (format!("{}-{}", change.1, field.0), format!("{}-role", change.1));
    view! {
        <form method="post" action=action.to_owned() class="row">
            <input type="hidden" name="do" value=change.0/>
            <label for=who.clone()>{field.1}</label>
            <input id=who name=field.0 type="text" required autocomplete="off"/>
            <label for=role.clone()>"Role"</label>
            <select id=role name="role">
                <option value="member" selected>"member"</option>
                <option value="maintainer">"maintainer"</option>
            </select>
            <button type="submit">{button}</button>
        </form>
    }
}

/// The identity provider's groups that give roles here, at each sign-in.
fn groups_section(s: &ProjectSettings, ctx: &Ctx) -> impl IntoView + use<> {
    let rows = s
        .groups
        .iter()
        .map(|g| {
            let remove =
                row_action(&ctx.action, "unmap-group", ("group", g.group.clone()), "Remove group", &g.group, true);
            view! { <tr><td>{g.group.clone()}</td><td>{g.role.as_str()}</td><td>{remove}</td></tr> }
        })
        .collect_view();
    let list = if s.groups.is_empty() {
        view! { <p class="empty">"No group gives a role here."</p> }.into_any()
    } else {
        view! {
            <table class="list">
                <thead><tr><th>"Group"</th><th>"Role"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <section class="panel" id="groups" aria-labelledby="groups-h">
            <h2 id="groups-h">"Identity provider groups"</h2>
            <p class="muted">"Members of these groups at the identity provider get the role at each sign-in, and lose it when they leave the group (at their next sign-in or session check). Grants by hand stay."</p>
            {list}
            {grant_form(&ctx.action, ("map-group", "map"), ("group", "Group"), "Add group")}
            {ctx.err("groups")}
        </section>
    }
}

fn members_section(s: &ProjectSettings, ctx: &Ctx) -> impl IntoView + use<> {
    let rows = s.grants.iter().map(|g| member_row(g, &ctx.action)).collect_view();
    let list = if s.grants.is_empty() {
        view! { <p class="empty">"No members yet."</p> }.into_any()
    } else {
        view! {
            <table class="list">
                <thead><tr><th>"User"</th><th>"Role"</th><th class="when">"Granted"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <section class="panel" id="members" aria-labelledby="members-h">
            <h2 id="members-h">"Members"</h2>
            <p class="muted">"Members see the project when it is private; maintainers also change these settings. Instance admins can do both everywhere."</p>
            {list}
            {grant_form(&ctx.action, ("add-member", "add"), ("username", "Username"), "Add member")}
            {ctx.err("members")}
        </section>
    }
}

fn tokens_section(s: &ProjectSettings, ctx: &Ctx, created: Option<NewToken>) -> impl IntoView + use<> {
    let build_tokens: Vec<_> = s.tokens.iter().filter(|t| matches!(t.owner, TokenOwner::Project(_))).collect();
    let rows = build_tokens
        .iter()
        .map(|t| {
            let name = if t.label.is_empty() { format!("Token {}", t.id) } else { t.label.clone() };
            let used = t
                .last_used_at
                .map_or_else(|| view! { <span class="muted">"never"</span> }.into_any(), |u| time(u).into_any());
            view! {
                <tr>
                    <td>{name.clone()}</td>
                    <td class="when">{time(t.created_at)}</td>
                    <td>{used}</td>
                    <td>{row_action(&ctx.action, "revoke-token", ("id", t.id.to_string()), "Revoke", &name, true)}</td>
                </tr>
            }
        })
        .collect_view();
    let list = if build_tokens.is_empty() {
        view! { <p class="empty">"No build tokens yet."</p> }.into_any()
    } else {
        view! {
            <table class="list">
                <thead><tr><th>"Name"</th><th class="when">"Created"</th><th>"Last used"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any()
    };
    let created = created.map(|made| {
        view! {
            <div class="notice created" role="status">
                <p><strong>"New build token"</strong>" (shown once: copy it now, it cannot be shown again):"</p>
                <p>{copyable(made.token, "Copy the build token")}</p>
            </div>
        }
    });
    view! {
        <section class="panel" id="tokens" aria-labelledby="tokens-h">
            <h2 id="tokens-h">"Build tokens"</h2>
            <p class="muted">"A build token starts builds and stores artifacts for this project alone."</p>
            {created}
            {list}
            <form method="post" action=ctx.action.clone() class="row">
                <input type="hidden" name="do" value="create-token"/>
                <label for="token-label">"Name"</label>
                <input id="token-label" name="label" type="text" placeholder="ci-runners" maxlength="100" autocomplete="off"/>
                <button type="submit">"Create build token"</button>
            </form>
            {ctx.err("tokens")}
        </section>
    }
}

fn visibility_section(s: &ProjectSettings, ctx: &Ctx) -> impl IntoView + use<> {
    let public = s.project.public;
    view! {
        <section class="panel" id="visibility" aria-labelledby="visibility-h">
            <h2 id="visibility-h">"Visibility"</h2>
            <form method="post" action=ctx.action.clone()>
                <input type="hidden" name="do" value="visibility"/>
                <fieldset>
                    <legend class="visually-hidden">"Who may see this project"</legend>
                    <label class="choice"><input type="radio" name="visibility" value="private" checked=!public/>" Private: members only"</label>
                    <label class="choice"><input type="radio" name="visibility" value="public" checked=public/>" Public: anyone, signed in or not"</label>
                </fieldset>
                <button type="submit">"Save visibility"</button>
            </form>
            {ctx.err("visibility")}
        </section>
    }
}

fn retention_section(s: &ProjectSettings, ctx: &Ctx) -> impl IntoView + use<> {
    let now = match s.retention {
        Some(d) => format!("{} days (this project's own)", d.as_secs() / 86_400),
        None => format!("{} days (the server's default)", s.default_retention.as_secs() / 86_400),
    };
    let value = s.retention.map(|d| format!("{}d", d.as_secs() / 86_400)).unwrap_or_default();
    view! {
        <section class="panel" id="retention" aria-labelledby="retention-h">
            <h2 id="retention-h">"Retention"</h2>
            <p>"Artifacts are kept " {now} ". The latest successful build of each branch and pinned builds are always kept."</p>
            <form method="post" action=ctx.action.clone() class="row">
                <input type="hidden" name="do" value="retention"/>
                <label for="retention-value">"Keep artifacts for"</label>
                <input id="retention-value" name="retention" type="text" value=value placeholder="default" aria-describedby="retention-hint"/>
                <button type="submit">"Save retention"</button>
            </form>
            <p class="muted" id="retention-hint">"A day or more: 30d, 90d, 52w; empty for the server's default."</p>
            {ctx.err("retention")}
        </section>
    }
}

fn branch_section(s: &ProjectSettings, ctx: &Ctx) -> impl IntoView + use<> {
    let value = s.default_branch.clone().unwrap_or_default();
    view! {
        <section class="panel" id="default-branch" aria-labelledby="branch-h">
            <h2 id="branch-h">"Default branch"</h2>
            <p>"Other branches compare their screenshots with this branch's last green build when they have none of their own."</p>
            <form method="post" action=ctx.action.clone() class="row">
                <input type="hidden" name="do" value="default-branch"/>
                <label for="branch-value">"Branch"</label>
                <input id="branch-value" name="branch" type="text" value=value placeholder=crate::core::DEFAULT_BRANCH/>
                <button type="submit">"Save default branch"</button>
            </form>
            {ctx.err("default-branch")}
        </section>
    }
}

fn purge_section(s: &ProjectSettings, ctx: &Ctx, confirm: Option<(BuildNum, Option<String>)>) -> impl IntoView + use<> {
    let short = s.project.short_slug();
    let action = ctx.action.clone();
    let confirm = confirm.map(|(build, path)| {
        let what = match &path {
            Some(path) => format!("the artifact `{path}` of build #{build} of {short}"),
            None => format!("every artifact of build #{build} of {short}"),
        };
        let button = format!("Purge {}", if path.is_some() { "this artifact" } else { "these artifacts" });
        view! {
            <div class="notice confirm" role="alert">
                <p>{format!("This removes {what}, for good: links to it stop working, and its bytes leave the store within a minute.")}</p>
                <form method="post" action=action.clone() class="inline">
                    <input type="hidden" name="do" value="confirm-purge"/>
                    <input type="hidden" name="build" value=build.to_string()/>
                    <input type="hidden" name="path" value=path.clone().unwrap_or_default()/>
                    <button type="submit" class="danger">{button}</button>
                </form>
                " "
                <a href=format!("{action}#purge")>"Keep them"</a>
            </div>
        }
    });
    view! {
        <section class="panel" id="purge" aria-labelledby="purge-h">
            <h2 id="purge-h">"Purge artifacts"</h2>
            <p>"Remove a build's artifacts now, or one of them (a secret that leaked into a log). You are asked to confirm first."</p>
            {confirm}
            <form method="post" action=ctx.action.clone() class="row">
                <input type="hidden" name="do" value="purge"/>
                <label for="purge-build">"Build"</label>
                <input id="purge-build" name="build" type="text" inputmode="numeric" required size="6"/>
                <label for="purge-path">"Path (optional)"</label>
                <input id="purge-path" name="path" type="text" placeholder="$CIRCLE_ARTIFACTS/build.log"/>
                <button type="submit" class="danger">"Purge…"</button>
            </form>
            {ctx.err("purge")}
        </section>
    }
}
