//! `/account`: one's personal API tokens, browser sessions and password, for everyone
//! signed in.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use leptos::prelude::*;

use super::{Done, Posted, Refusal, SignedIn, copyable, done, error_page, page, row_action, time};
use crate::core::accounts::NewToken;
use crate::core::manage::{AccountPage, Caller};
use crate::http::state::AppState;
use vitrine_store::{Scope, TokenTerms};

const PATH: &str = "/account";

const DONE: Done = Done(&[
    ("token-revoked", "Token revoked: it is refused from now on."),
    ("signed-out", "Your other sessions are signed out."),
    ("password", "Password changed; your other sessions are signed out."),
]);

/// The ends a new token may have, as the form offers them: (value, label, days).
const EXPIRIES: [(&str, &str, Option<i64>); 4] =
    [("30", "30 days", Some(30)), ("90", "90 days", Some(90)), ("365", "A year", Some(365)), ("never", "Never", None)];

#[derive(Debug, serde::Deserialize)]
pub struct PageQuery {
    done: Option<String>,
}

#[derive(Default)]
struct Extra {
    created: Option<(NewToken, TokenTerms)>,
    refusal: Option<Refusal>,
    done: Option<&'static str>,
}

pub async fn show(State(state): State<AppState>, SignedIn(caller): SignedIn, Query(q): Query<PageQuery>) -> Response {
    render(&state, &caller, Extra { done: DONE.sentence(q.done.as_deref()), ..Extra::default() }, StatusCode::OK).await
}

pub async fn change(State(state): State<AppState>, SignedIn(caller): SignedIn, form: Posted) -> Response {
    let get = |k: &str| form.get(k);
    let manage = state.vitrine.manage();
    let outcome = match get("do") {
        "create-token" => {
            let scope = match get("scope") {
                "read" => Scope::Read,
                "admin" => Scope::Admin,
                _ => {
                    return render(
                        &state,
                        &caller,
                        refused(Refusal::bad("tokens", "Choose a scope")),
                        StatusCode::BAD_REQUEST,
                    )
                    .await;
                }
            };
            let Some((_, _, days)) = EXPIRIES.iter().find(|(v, _, _)| *v == get("expires")) else {
                return render(
                    &state,
                    &caller,
                    refused(Refusal::bad("tokens", "Choose when the token expires")),
                    StatusCode::BAD_REQUEST,
                )
                .await;
            };
            let expires_at = days.map(|d| chrono::Utc::now().timestamp() + d * 86_400);
            let terms = TokenTerms { label: get("label").trim().to_owned(), scope, expires_at };
            match manage.create_token(&caller, &terms).await {
                Ok(made) => {
                    let extra = Extra { created: Some((made, terms)), ..Extra::default() };
                    return render(&state, &caller, extra, StatusCode::OK).await;
                }
                Err(e) => Err(Refusal::of("tokens", &e)),
            }
        }
        "revoke-token" => match get("id").parse() {
            Ok(id) => manage.revoke_token(&caller, id).await.map(|()| ("token-revoked", "tokens")),
            Err(_) => Err(crate::core::ServiceError::NotFound("No such token".into())),
        }
        .map_err(|e| Refusal::of("tokens", &e)),
        "sign-out-others" => manage
            .sign_out_others(&caller)
            .await
            .map(|_| ("signed-out", "sessions"))
            .map_err(|e| Refusal::of("sessions", &e)),
        "password" => {
            if get("new") == get("repeat") {
                (manage.change_password(&caller, get("current"), get("new")).await)
                    .map(|()| ("password", "password"))
                    .map_err(|e| Refusal::of("password", &e))
            } else {
                Err(Refusal::bad("password", "The new password and its repetition differ"))
            }
        }
        _ => Err(Refusal::bad("", "This form cannot be read: reload the page and try again")),
    };
    match outcome {
        Ok((code, section)) => done(PATH, code, section),
        Err(refusal) => {
            let status = refusal.status;
            render(&state, &caller, refused(refusal), status).await
        }
    }
}

fn refused(refusal: Refusal) -> Extra {
    Extra { refusal: Some(refusal), ..Extra::default() }
}

async fn render(state: &AppState, caller: &Caller, extra: Extra, status: StatusCode) -> Response {
    match state.vitrine.manage().account(caller).await {
        Ok(account) => page(state, &caller.who, status, "Account", body(&account, extra, caller.who.is_admin())),
        Err(e) => error_page(state, &caller.who, &e),
    }
}

fn scope_words(scope: Scope) -> &'static str {
    match scope {
        Scope::Read => "read",
        Scope::Admin => "read and admin",
    }
}

/// `Chrome 131 on Linux`, roughly, from a User-Agent; what it says when it names neither.
fn browser_of(agent: &str) -> String {
    if agent.is_empty() {
        return "A browser (not recorded)".into();
    }
    let browser = ["Edg/", "Firefox/", "Chrome/", "Safari/"]
        .iter()
        .find_map(|b| {
            agent.split(b).nth(1).map(|rest| {
                let version = rest.split(['.', ' ']).next().unwrap_or("");
                let name = match *b {
                    "Edg/" => "Edge",
                    "Firefox/" => "Firefox",
                    "Chrome/" => "Chrome",
                    _ => "Safari",
                };
                format!("{name} {version}")
            })
        })
        .unwrap_or_else(|| agent.chars().take(60).collect());
    let system = ["Windows", "Mac OS X", "Android", "iPhone", "Linux"].iter().find(|s| agent.contains(**s));
    match system {
        Some(s) => format!("{browser} on {}", s.replace("Mac OS X", "macOS")),
        None => browser,
    }
}

fn never() -> AnyView {
    view! { <span class="muted">"never"</span> }.into_any()
}

fn body(a: &AccountPage, extra: Extra, admin: bool) -> AnyView {
    let refusal = extra.refusal.as_ref();
    view! {
        <h1>"Account"</h1>
        <p>"Signed in as " <strong>{a.username.clone()}</strong>
            {admin.then(|| view! { ", an instance admin (" <a href="/admin">"admin pages"</a> ")" })}
            "."
        </p>
        {extra.done.map(|d| view! { <p class="notice" role="status">{d}</p> })}
        {Refusal::for_form(refusal, "")}
        <div class="settings">
            {tokens_section(a, extra.created, refusal)}
            {sessions_section(a, refusal)}
            {password_section(a, refusal)}
        </div>
    }
    .into_any()
}

fn token_row(t: &vitrine_store::TokenInfo, now: i64) -> impl IntoView + use<> {
    let name = if t.label.is_empty() { format!("Token {}", t.id) } else { t.label.clone() };
    let expiry = match t.expires_at {
        None => never(),
        Some(end) if end <= now => view! { <span class="expired-tag">"expired "</span>{time(end)} }.into_any(),
        Some(end) => time(end).into_any(),
    };
    view! {
        <tr>
            <td>{name.clone()}</td>
            <td>{scope_words(t.scope)}</td>
            <td class="when">{time(t.created_at)}</td>
            <td class="when">{t.last_used_at.map_or_else(never, |u| time(u).into_any())}</td>
            <td>{expiry}</td>
            <td>{row_action(PATH, "revoke-token", ("id", t.id.to_string()), "Revoke", &name, true)}</td>
        </tr>
    }
}

fn tokens_section(
    a: &AccountPage,
    created: Option<(NewToken, TokenTerms)>,
    refusal: Option<&Refusal>,
) -> impl IntoView + use<> {
    let now = chrono::Utc::now().timestamp();
    let rows = a.tokens.iter().map(|t| token_row(t, now)).collect_view();
    let list = if a.tokens.is_empty() {
        view! { <p class="empty">"No API tokens yet."</p> }.into_any()
    } else {
        view! {
            <table class="list">
                <thead><tr><th>"Name"</th><th>"Scope"</th><th class="when">"Created"</th><th class="when">"Last used"</th><th>"Expires"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any()
    };
    let created = created.map(|(made, terms)| {
        let ends = terms.expires_at.map_or_else(
            || view! { " It does not expire." }.into_any(),
            |end| view! { " It expires " {time(end)} "." }.into_any(),
        );
        view! {
            <div class="notice created" role="status">
                <p><strong>"New API token"</strong>{format!(" ({}). Copy it now: it cannot be shown again.", scope_words(terms.scope))}{ends}</p>
                <p>{copyable(made.token, "Copy the API token")}</p>
            </div>
        }
    });
    view! {
        <section class="panel" id="tokens" aria-labelledby="tokens-h">
            <h2 id="tokens-h">"API tokens"</h2>
            <p class="muted">"For CircleCI API clients and scripts: send one as the " <code>"Circle-Token"</code> " header. A read token reads what you may read; a read and admin token may also change what you may change."</p>
            {created}
            {list}
            <form method="post" action=PATH class="row">
                <input type="hidden" name="do" value="create-token"/>
                <label for="token-label">"Name"</label>
                <input id="token-label" name="label" type="text" placeholder="dashboard" maxlength="100" autocomplete="off"/>
                <label for="token-scope">"Scope"</label>
                <select id="token-scope" name="scope">
                    <option value="read" selected>"read"</option>
                    <option value="admin">"read and admin"</option>
                </select>
                <label for="token-expires">"Expires"</label>
                <select id="token-expires" name="expires">
                    {EXPIRIES.iter().map(|(value, label, _)| view! { <option value=*value selected=*value == "90">{*label}</option> }).collect_view()}
                </select>
                <button type="submit">"Create token"</button>
            </form>
            {Refusal::for_form(refusal, "tokens")}
        </section>
    }
}

fn sessions_section(a: &AccountPage, refusal: Option<&Refusal>) -> impl IntoView + use<> {
    let sessions = a
        .sessions
        .iter()
        .map(|s| {
            let since = if s.created_at > 0 {
                time(s.created_at).into_any()
            } else {
                view! { "before this was recorded" }.into_any()
            };
            view! {
                <li>
                    {browser_of(&s.agent)}
                    {s.current.then(|| view! { <strong>" (this session)"</strong> })}
                    ", signed in " {since}
                </li>
            }
        })
        .collect_view();
    let others = a.sessions.iter().filter(|s| !s.current).count();
    view! {
        <section class="panel" id="sessions" aria-labelledby="sessions-h">
            <h2 id="sessions-h">"Sessions"</h2>
            <ul class="sessions">{sessions}</ul>
            <form method="post" action=PATH>
                <input type="hidden" name="do" value="sign-out-others"/>
                <button type="submit" disabled=others == 0>{format!("Sign out the other sessions ({others})")}</button>
            </form>
            {Refusal::for_form(refusal, "sessions")}
        </section>
    }
}

fn password_section(a: &AccountPage, refusal: Option<&Refusal>) -> impl IntoView + use<> {
    if !a.password {
        return view! {
            <section class="panel" id="password" aria-labelledby="password-h">
                <h2 id="password-h">"Password"</h2>
                <p class="muted">"You sign in through your identity provider: this account has no password here."</p>
            </section>
        }
        .into_any();
    }
    view! {
        <section class="panel" id="password" aria-labelledby="password-h">
            <h2 id="password-h">"Password"</h2>
            <form method="post" action=PATH class="stack">
                <input type="hidden" name="do" value="password"/>
                <input type="text" name="username" value=a.username.clone() autocomplete="username" hidden/>
                <label for="current">"Current password"</label>
                <input id="current" name="current" type="password" autocomplete="current-password" required/>
                <label for="new">"New password (8 characters or more)"</label>
                <input id="new" name="new" type="password" autocomplete="new-password" minlength="8" required/>
                <label for="repeat">"New password again"</label>
                <input id="repeat" name="repeat" type="password" autocomplete="new-password" minlength="8" required/>
                <button type="submit">"Change password"</button>
            </form>
            {Refusal::for_form(refusal, "password")}
        </section>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::browser_of;

    #[test]
    fn browsers_are_named_from_their_user_agent() {
        let chrome =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        assert_eq!(browser_of(chrome), "Chrome 131 on Linux");
        let firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert_eq!(browser_of(firefox), "Firefox 133 on Windows");
        assert_eq!(browser_of(""), "A browser (not recorded)");
        assert_eq!(browser_of("curl/8.5.0"), "curl/8.5.0");
    }
}
