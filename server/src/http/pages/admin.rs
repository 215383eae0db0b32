//! `/admin`: the instance's users and projects, for its admins; to anyone else it does not
//! exist (404).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use leptos::prelude::*;

use super::{Done, Posted, Refusal, SignedIn, done, error_page, page, row_action, time};
use crate::core::manage::Caller;
use crate::domain::ProjectSlug;
use crate::http::state::AppState;

const PATH: &str = "/admin";

const DONE: Done = Done(&[
    ("user-added", "User added: they can sign in now."),
    ("user-disabled", "User disabled: signed out everywhere, their tokens refused."),
    ("user-enabled", "User enabled."),
    ("user-promoted", "The user is an instance admin now."),
    ("user-demoted", "The user is no longer an instance admin."),
    ("project-added", "Project added: give it members and a build token in its settings."),
    ("linked", "Identity linked: signing in through it is signing in as that user."),
    ("unlinked", "Identity unlinked: its next sign-in makes a new user."),
]);

#[derive(Debug, serde::Deserialize)]
pub struct PageQuery {
    done: Option<String>,
}

pub async fn show(State(state): State<AppState>, SignedIn(caller): SignedIn, Query(q): Query<PageQuery>) -> Response {
    render(&state, &caller, DONE.sentence(q.done.as_deref()), None).await
}

pub async fn change(State(state): State<AppState>, SignedIn(caller): SignedIn, form: Posted) -> Response {
    // Each change checks that the caller is an admin in the core; a refused one comes back
    // here as the page's error (the 404 the admin pages are to anyone else).
    let get = |k: &str| form.get(k);
    let manage = state.vitrine.manage();
    let user = get("username");
    let outcome = match get("do") {
        "add-user" => {
            if get("password") == get("repeat") {
                let admin = get("admin") == "on";
                (manage.add_user(&caller, user, get("password"), admin).await)
                    .map(|()| "user-added")
                    .map_err(|e| Refusal::of("users", &e))
            } else {
                Err(Refusal::bad("users", "The password and its repetition differ"))
            }
        }
        "disable" => users(manage.set_user_disabled(&caller, user, true).await, "user-disabled"),
        "enable" => users(manage.set_user_disabled(&caller, user, false).await, "user-enabled"),
        "promote" => users(manage.set_user_admin(&caller, user, true).await, "user-promoted"),
        "demote" => users(manage.set_user_admin(&caller, user, false).await, "user-demoted"),
        "add-project" => match get("slug").trim().parse::<ProjectSlug>() {
            Ok(slug) => manage.add_project(&caller, &slug, get("public") == "on").await.map(|()| "project-added"),
            Err(e) => Err(crate::core::ServiceError::BadRequest(format!(
                "`{}` is not a project: write it as gh/ORG/REPO ({e})",
                get("slug").trim()
            ))),
        }
        .map_err(|e| Refusal::of("projects", &e)),
        "link" => (manage.link_identity(&caller, user, get("issuer"), get("subject")).await)
            .map(|()| "linked")
            .map_err(|e| Refusal::of("identities", &e)),
        "unlink" => (manage.unlink_identity(&caller, get("issuer"), get("subject")).await)
            .map(|()| "unlinked")
            .map_err(|e| Refusal::of("identities", &e)),
        _ => Err(Refusal::bad("", "This form cannot be read: reload the page and try again")),
    };
    match outcome {
        Ok(code) => done(
            PATH,
            code,
            match code {
                "project-added" => "projects",
                "linked" | "unlinked" => "identities",
                _ => "users",
            },
        ),
        Err(refusal) => render(&state, &caller, None, Some(refusal)).await,
    }
}

/// A change to a user, said beside the users.
fn users(result: crate::core::ServiceResult<()>, code: &'static str) -> Result<&'static str, Refusal> {
    result.map(|()| code).map_err(|e| Refusal::of("users", &e))
}

async fn render(state: &AppState, caller: &Caller, done: Option<&'static str>, refusal: Option<Refusal>) -> Response {
    let manage = state.vitrine.manage();
    let (users, projects, identities) =
        match (manage.users(caller).await, manage.projects(caller).await, manage.identities(caller).await) {
            (Ok(u), Ok(p), Ok(i)) => (u, p, i),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return error_page(state, &caller.who, &e),
        };
    let providers: Vec<(String, String)> =
        state.vitrine.sign_in().providers().iter().map(|p| (p.issuer.clone(), p.name.clone())).collect();
    let with_identities = !providers.is_empty() || !identities.is_empty();
    let status = refusal.as_ref().map_or(StatusCode::OK, |r| r.status);
    let refusal = refusal.as_ref();
    let body = view! {
        <h1>"Admin"</h1>
        {done.map(|d| view! { <p class="notice" role="status">{d}</p> })}
        {Refusal::for_form(refusal, "")}
        <div class="settings">
            {users_section(&users, caller.who.user_id(), refusal)}
            {projects_section(&projects, refusal)}
            {with_identities.then(|| identities_section(&identities, &providers, refusal))}
        </div>
    }
    .into_any();
    page(state, &caller.who, status, "Admin", body)
}

fn users_section(
    users: &[vitrine_store::UserSummary],
    me: Option<vitrine_store::UserId>,
    refusal: Option<&Refusal>,
) -> impl IntoView + use<> {
    let rows = users
        .iter()
        .map(|u| {
            let name = u.username.as_str();
            let state = if u.disabled { view! { <span class="expired-tag">"disabled"</span> }.into_any() } else { view! { "enabled" }.into_any() };
            view! {
                <tr>
                    <td>{name.to_owned()}{(me == Some(u.id)).then(|| view! { <span class="muted">" (you)"</span> })}</td>
                    <td>{if u.admin { "admin" } else { "user" }}</td>
                    <td>{state}</td>
                    <td class="when">{time(u.created_at)}</td>
                    <td class="actions">
                        {if u.admin { row_action(PATH, "demote", ("username", name.to_owned()), "Demote", name, false) } else { row_action(PATH, "promote", ("username", name.to_owned()), "Make admin", name, false) }}
                        {if u.disabled { row_action(PATH, "enable", ("username", name.to_owned()), "Enable", name, false) } else { row_action(PATH, "disable", ("username", name.to_owned()), "Disable", name, true) }}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="panel" id="users" aria-labelledby="users-h">
            <h2 id="users-h">"Users"</h2>
            <table class="list">
                <thead><tr><th>"User"</th><th>"Role"</th><th>"State"</th><th class="when">"Added"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            {Refusal::for_form(refusal, "users")}
            <h3>"Add a user"</h3>
            <form method="post" action=PATH class="stack">
                <input type="hidden" name="do" value="add-user"/>
                <label for="new-username">"Username"</label>
                <input id="new-username" name="username" type="text" required autocomplete="off" aria-describedby="username-hint"/>
                <p class="muted" id="username-hint">"1 to 64 letters, digits, -, _ or ."</p>
                <label for="new-password">"Password (8 characters or more)"</label>
                <input id="new-password" name="password" type="password" autocomplete="new-password" minlength="8" required/>
                <label for="new-repeat">"Password again"</label>
                <input id="new-repeat" name="repeat" type="password" autocomplete="new-password" minlength="8" required/>
                <label class="choice"><input type="checkbox" name="admin"/>" An instance admin"</label>
                <button type="submit">"Add user"</button>
            </form>
        </section>
    }
}

fn projects_section(projects: &[vitrine_store::Project], refusal: Option<&Refusal>) -> impl IntoView + use<> {
    let rows = projects
        .iter()
        .map(|p| {
            let href = format!("/{}/{}/{}", p.vcs.short(), p.org, p.repo);
            view! {
                <tr>
                    <td><a href=href.clone()>{p.short_slug()}</a></td>
                    <td>{if p.public { "public" } else { "private" }}</td>
                    <td><a href=format!("{href}/settings") aria-label=format!("Settings of {}", p.short_slug())>"Settings"</a></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="panel" id="projects" aria-labelledby="projects-h">
            <h2 id="projects-h">"Projects"</h2>
            <table class="list">
                <thead><tr><th>"Project"</th><th>"Visibility"</th><th><span class="visually-hidden">"Settings"</span></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <h3>"Add a project"</h3>
            <form method="post" action=PATH class="row">
                <input type="hidden" name="do" value="add-project"/>
                <label for="new-slug">"Project"</label>
                <input id="new-slug" name="slug" type="text" required placeholder="gh/acme/widgets" autocomplete="off"/>
                <label class="choice"><input type="checkbox" name="public"/>" Public"</label>
                <button type="submit">"Add project"</button>
            </form>
            {Refusal::for_form(refusal, "projects")}
        </section>
    }
}

/// Who is who at the identity providers, and linking a person to an existing account.
fn identities_section(
    identities: &[vitrine_store::Identity],
    providers: &[(String, String)],
    refusal: Option<&Refusal>,
) -> impl IntoView + use<> {
    let named =
        |issuer: &str| providers.iter().find(|(i, _)| i == issuer).map_or(issuer.to_owned(), |(_, n)| n.clone());
    let rows = identities
        .iter()
        .map(|i| {
            let who = format!("{} at {}", i.subject, named(&i.issuer));
            view! {
                <tr>
                    <td>{i.username.clone()}</td>
                    <td>{named(&i.issuer)}</td>
                    <td><code>{i.subject.clone()}</code></td>
                    <td class="when">{i.last_sign_in_at.map(time)}</td>
                    <td>
                        <form method="post" action=PATH class="inline">
                            <input type="hidden" name="do" value="unlink"/>
                            <input type="hidden" name="issuer" value=i.issuer.clone()/>
                            <input type="hidden" name="subject" value=i.subject.clone()/>
                            <button type="submit" class="small danger" aria-label=format!("Unlink {who}")>"Unlink"</button>
                        </form>
                    </td>
                </tr>
            }
        })
        .collect_view();
    let options = providers
        .iter()
        .map(|(issuer, name)| view! { <option value=issuer.clone()>{format!("{name} ({issuer})")}</option> })
        .collect_view();
    view! {
        <section class="panel" id="identities" aria-labelledby="identities-h">
            <h2 id="identities-h">"Sign-in identities"</h2>
            <p class="muted">"People who sign in through an identity provider, by the provider's subject (never their email)."</p>
            <table class="list">
                <thead><tr><th>"User"</th><th>"Provider"</th><th>"Subject"</th><th class="when">"Last sign-in"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <h3>"Link an identity to an account"</h3>
            <form method="post" action=PATH class="stack">
                <input type="hidden" name="do" value="link"/>
                <label for="link-username">"Username"</label>
                <input id="link-username" name="username" type="text" required autocomplete="off"/>
                <label for="link-issuer">"Provider"</label>
                <select id="link-issuer" name="issuer">{options}</select>
                <label for="link-subject">"Subject (the provider's sub)"</label>
                <input id="link-subject" name="subject" type="text" required autocomplete="off"/>
                <button type="submit">"Link"</button>
            </form>
            {Refusal::for_form(refusal, "identities")}
        </section>
    }
}
