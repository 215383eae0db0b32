//! `/login`, and sign-in through identity providers: the page (a "Sign in with NAME" button
//! per provider, and the password form unless `--oidc-only`), the password form's post, a
//! provider sign-in's start (`POST /auth/oidc/start`, to the provider with a cookie that ties
//! the return to this browser) and its return (`GET /auth/oidc/callback`).

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use leptos::prelude::*;

use super::{Posted, Refusal, page};
use crate::core::sign_in::{Client, Returned, SIGN_IN_LIFETIME};
use crate::core::{Principal, ServiceError};
use crate::http::extract::ClientAddr;
use crate::http::state::AppState;
use vitrine_app::api::backend::{cookie_from_headers, safe_next};

/// The cookie that ties a provider's return to the browser that started the sign-in.
const PENDING_COOKIE: &str = "vitrine_sign_in";
const SECURE_PENDING_COOKIE: &str = "__Host-vitrine_sign_in";

#[derive(Debug, serde::Deserialize)]
pub struct PageQuery {
    next: Option<String>,
}

/// `GET /login`
pub async fn show(State(state): State<AppState>, Query(q): Query<PageQuery>) -> Response {
    render(&state, q.next.as_deref(), None, None)
}

/// `POST /login`: the password form.
pub async fn password(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: axum::http::HeaderMap,
    form: Posted,
) -> Response {
    let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let next = safe_next(Some(form.get("next")));
    let signed_in = state
        .vitrine
        .sign_in()
        .with_password(form.get("username"), form.get("password"), Client { address, agent })
        .await;
    match signed_in {
        Ok(session) => signed_in_to(&state, &session, &next),
        Err(e) => render(&state, Some(&next), Some(Refusal::of("password", &e)), Some(form.get("username"))),
    }
}

/// `POST /auth/oidc/start`: to the provider, with the cookie its return is checked against.
pub async fn start(State(state): State<AppState>, ClientAddr(address): ClientAddr, form: Posted) -> Response {
    let next = safe_next(Some(form.get("next")));
    let index = form.get("provider").parse::<usize>().unwrap_or(usize::MAX);
    match state.vitrine.sign_in().start(index, &next, address).await {
        Ok(started) => {
            let mut response = Redirect::to(&started.provider_url).into_response();
            if let Ok(cookie) = HeaderValue::from_str(&pending_cookie(&state, &started.cookie, SIGN_IN_LIFETIME)) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(e) => render(&state, Some(&next), Some(Refusal::of("providers", &e)), None),
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    iss: Option<String>,
}

/// `GET /auth/oidc/callback`: the provider sends the browser back here.
pub async fn callback(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: axum::http::HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let cookie = cookie_from_headers(&headers, pending_cookie_name(&state));
    let returned =
        Returned { state: q.state, code: q.code, error: q.error, error_description: q.error_description, iss: q.iss };
    let finished = state.vitrine.sign_in().finish(cookie.as_deref(), &returned, Client { address, agent }).await;
    let mut response = match finished {
        Ok(done) => signed_in_to(&state, &done.session, &done.next),
        Err(e) => refused_page(&state, &e),
    };
    // The pending sign-in is used (or refused) either way: its cookie goes.
    if let Ok(clear) = HeaderValue::from_str(&pending_cookie(&state, "", 0)) {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

/// Signed in: the session cookie, and on to `next`.
fn signed_in_to(state: &AppState, session: &str, next: &str) -> Response {
    let mut response = Redirect::to(&safe_next(Some(next))).into_response();
    response.headers_mut().append(header::SET_COOKIE, state.policy.cookies().session_cookie(session));
    response
}

fn pending_cookie_name(state: &AppState) -> &'static str {
    if state.policy.cookies().secure { SECURE_PENDING_COOKIE } else { PENDING_COOKIE }
}

/// The pending sign-in's cookie: sent back on the provider's top-level redirect (`Lax`), never
/// to scripts, gone after `max_age` seconds.
fn pending_cookie(state: &AppState, value: &str, max_age: i64) -> String {
    state.policy.cookies().cookie(pending_cookie_name(state), value, max_age)
}

/// A refused provider sign-in: what went wrong, and the way back to the sign-in page.
fn refused_page(state: &AppState, e: &ServiceError) -> Response {
    let refusal = Refusal::of("", e);
    let body = view! {
        <section class="panel error-panel" role="alert">
            <h1>"Sign-in refused"</h1>
            <p>{refusal.message.clone()}</p>
            <p><a href="/login">"Sign in again"</a></p>
        </section>
    }
    .into_any();
    page(state, &Principal::Anonymous, refusal.status, "Sign-in refused", body)
}

/// The sign-in page: a button per provider, and the password form unless only providers may
/// be used; `refusal` beside the form it belongs to.
fn render(state: &AppState, next: Option<&str>, refusal: Option<Refusal>, username: Option<&str>) -> Response {
    let next = safe_next(next);
    let sign_in = state.vitrine.sign_in();
    let providers: Vec<(usize, String)> = sign_in.providers().iter().map(|p| p.name.clone()).enumerate().collect();
    let status = refusal.as_ref().map_or(StatusCode::OK, |r| r.status);
    let with_providers = (!providers.is_empty()).then(|| {
        let next = next.clone();
        view! {
            <div class="providers">
                {providers.into_iter().map(|(index, name)| view! {
                    <form method="post" action="/auth/oidc/start">
                        <input type="hidden" name="provider" value=index.to_string()/>
                        <input type="hidden" name="next" value=next.clone()/>
                        <button type="submit" class="provider">{format!("Sign in with {name}")}</button>
                    </form>
                }).collect_view()}
                {Refusal::for_form(refusal.as_ref(), "providers")}
            </div>
        }
    });
    let with_password = sign_in.passwords_allowed().then(|| {
        view! {
            <form method="post" action="/login" class="password">
                <label for="username">"Username"</label>
                <input id="username" name="username" type="text" autocomplete="username" required value=username.unwrap_or_default().to_owned()/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required/>
                <input type="hidden" name="next" value=next.clone()/>
                {Refusal::for_form(refusal.as_ref(), "password")}
                <button type="submit">"Sign in"</button>
            </form>
        }
    });
    let body = view! {
        <section class="panel login">
            <h1>"Sign in"</h1>
            {with_providers}
            {with_password}
        </section>
    }
    .into_any();
    let mut response = page(state, &Principal::Anonymous, status, "Sign in", body);
    response.headers_mut().insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}
