//! The pages people change things on: a project's settings, their account, the admin pages,
//! and the sign-in page.
//! Rendered on the server alone (Leptos views to HTML, no client bundle): every form is a
//! plain HTML form, posted to the page's own address with a `do` field naming the change,
//! answered by a redirect back with what was done, or by the page again with what was wrong
//! (in words, beside the form, with the status it deserves). Cross-site posts are refused
//! for every route by the router's same-site layer; the roles are checked in the core
//! ([`crate::core::manage`]).

pub mod account;
pub mod admin;
pub mod listings;
pub mod settings;
pub mod sign_in;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use leptos::prelude::*;

use crate::core::manage::Caller;
use crate::core::{Principal, ServiceError};
use crate::http::state::AppState;

/// A change's outcome shown at the top of the page after the redirect (`?done=`): fixed
/// sentences by code, so nothing a request carries is echoed.
pub struct Done(pub &'static [(&'static str, &'static str)]);

impl Done {
    pub fn sentence(&self, code: Option<&str>) -> Option<&'static str> {
        let code = code?;
        self.0.iter().find(|(c, _)| *c == code).map(|(_, s)| *s)
    }
}

/// What went wrong with a form: which one (its section's id) and why, in words.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub form: &'static str,
    pub message: String,
    pub status: StatusCode,
}

impl Refusal {
    pub fn of(form: &'static str, e: &ServiceError) -> Refusal {
        let (status, message) = match e {
            ServiceError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            ServiceError::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
            ServiceError::Conflict(m) => (StatusCode::CONFLICT, m.clone()),
            ServiceError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            ServiceError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m.clone()),
            ServiceError::TooManyRequests { message, .. } => (StatusCode::TOO_MANY_REQUESTS, message.clone()),
            ServiceError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m.clone()),
            ServiceError::Busy { message, .. } => (StatusCode::SERVICE_UNAVAILABLE, message.clone()),
            ServiceError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error on a settings page");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong on the server; the details are in its log.".into(),
                )
            }
        };
        Refusal { form, message, status }
    }

    pub fn bad(form: &'static str, message: impl Into<String>) -> Refusal {
        Refusal { form, message: message.into(), status: StatusCode::BAD_REQUEST }
    }

    /// The message, when it belongs to `form`.
    pub fn for_form(refusal: Option<&Refusal>, form: &str) -> impl IntoView + use<> {
        let message = refusal.filter(|r| r.form == form).map(|r| r.message.clone());
        message.map(|m| view! { <p class="form-error" role="alert">{m}</p> })
    }
}

/// Who is asking a page, by session cookie or token, with their address and session.
async fn caller(state: &AppState, parts: &mut http::request::Parts) -> Result<Caller, Response> {
    use axum::extract::FromRequestParts;
    let who = match Principal::from_request_parts(parts, state).await {
        Ok(who) => who,
        Err(e) => return Err(e.into_response()),
    };
    let crate::http::extract::ClientAddr(client) =
        crate::http::extract::ClientAddr::from_request_parts(parts, state).await.unwrap_or_else(|e| match e {});
    let session = state.policy.cookies().session_from_headers(&parts.headers);
    Ok(Caller { who, client, session })
}

/// A page's caller, by session or token, signed in: anyone else is sent to sign in first, and
/// brought back after; a token that is not valid is refused as the API refuses it.
pub struct SignedIn(pub Caller);

impl axum::extract::FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &AppState) -> Result<Self, Response> {
        let caller = caller(state, parts).await?;
        if matches!(caller.who, Principal::Anonymous) {
            let next = percent_encoding::utf8_percent_encode(parts.uri.path(), percent_encoding::NON_ALPHANUMERIC);
            return Err(Redirect::to(&format!("/login?next={next}")).into_response());
        }
        Ok(SignedIn(caller))
    }
}

/// A posted form's fields by name (the last of a repeated name), read within 64 KiB: a
/// page's forms are a few hundred bytes.
pub struct Posted(pub std::collections::HashMap<String, String>);

impl Posted {
    /// A field's value, empty when the form has none by that name.
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }
}

impl axum::extract::FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, _: &AppState) -> Result<Self, Response> {
        match axum::body::to_bytes(request.into_body(), 64 * 1024).await {
            Ok(body) => Ok(Posted(form_urlencoded::parse(&body).into_owned().collect())),
            Err(_) => Err((StatusCode::PAYLOAD_TOO_LARGE, "This form is too large.\n").into_response()),
        }
    }
}

/// After a change: back to the page (a GET, so reloading does not post again), saying what
/// was done, at the form's section.
pub fn done(path: &str, code: &str, section: &str) -> Response {
    Redirect::to(&format!("{path}?done={code}#{section}")).into_response()
}

/// The signed-in user the top bar names.
fn top_user(who: &Principal) -> Option<(String, bool)> {
    match who {
        Principal::User { username, admin, .. } => Some((username.clone(), *admin)),
        _ => None,
    }
}

/// A whole page: the document around `body`, with the app's stylesheet and top bar, its
/// script (copy buttons) under this response's nonce, never cached.
pub fn page(state: &AppState, who: &Principal, status: StatusCode, title: &str, body: AnyView) -> Response {
    let nonce = crate::core::accounts::new_token();
    let options = state.leptos_options.clone();
    let user = top_user(who);
    let title = format!("{title} · Vitrine");
    let html = Owner::new().with(|| {
        view! {
            <html lang="en">
                <head>
                    <meta charset="utf-8"/>
                    <meta name="viewport" content="width=device-width, initial-scale=1"/>
                    <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                    <leptos_meta::HashedStylesheet options id="leptos"/>
                    <title>{title}</title>
                    <script src="/vitrine.js" defer nonce=nonce.clone()></script>
                </head>
                <body>
                    <header class="topbar">
                        <a class="brand" href="/"><span class="brand-mark" aria-hidden="true">"◧"</span>" Vitrine"</a>
                        <nav class="account" aria-label="Account">
                            {match user {
                                Some((name, admin)) => view! {
                                    {admin.then(|| view! { <a href="/admin">"Admin"</a> })}
                                    <a class="who" href="/account">{name}</a>
                                    <form class="sign-out" method="post" action="/logout">
                                        <button type="submit">"Sign out"</button>
                                    </form>
                                }.into_any(),
                                None => view! { <a href="/login">"Sign in"</a> }.into_any(),
                            }}
                        </nav>
                    </header>
                    // Nothing here is hydrated: the page is ready as it comes (browser tests wait
                    // for this, as on the app's pages once the WASM took over).
                    <main data-hydrated="true">{body}</main>
                </body>
            </html>
        }
        .to_html()
    });
    let mut response = (status, format!("<!DOCTYPE html>{html}")).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(csp) = HeaderValue::from_str(&state.policy.content_security_policy(&nonce)) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

/// The page a refused caller sees: the same words as the app's error panel.
pub fn error_page(state: &AppState, who: &Principal, e: &ServiceError) -> Response {
    let refusal = Refusal::of("", e);
    let title = match refusal.status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::UNAUTHORIZED => "Sign in needed",
        _ => "Something went wrong",
    };
    let body = view! {
        <section class="panel error-panel" role="alert">
            <h1>{title}</h1>
            <p>{refusal.message.clone()}</p>
            <p><a href="/">"Back to projects"</a></p>
        </section>
    }
    .into_any();
    page(state, who, refusal.status, title, body)
}

/// A date and time for a page, in UTC, marked up for the page's script to show in the
/// reader's zone: `2026-12-08 09:30 UTC`.
pub fn time(at: i64) -> impl IntoView + use<> {
    // The API's time, shown as the app's pages show theirs.
    let iso = crate::http::v1_1::views::iso_time(at);
    let shown = vitrine_app::format::short_time(&iso);
    view! { <time datetime=iso>{shown}</time> }
}

/// A button in a list's row that posts one change about that row: `change` (the form's `do`),
/// the row's key (`name`, `value`), and a label that names the row for screen readers
/// ("Revoke ci-runners").
pub fn row_action(
    action: &str,
    change: &'static str,
    key: (&'static str, String),
    label: &'static str,
    row: &str,
    danger: bool,
) -> impl IntoView + use<> {
    view! {
        <form method="post" action=action.to_owned() class="inline">
            <input type="hidden" name="do" value=change/>
            <input type="hidden" name=key.0 value=key.1/>
            <button type="submit" class=if danger { "small danger" } else { "small" } aria-label=format!("{label} {row}")>{label}</button>
        </form>
    }
}

/// A value with a button that copies it (the page's script; where the clipboard cannot be
/// written, the button selects the text for the reader to copy).
pub fn copyable(value: String, label: &'static str) -> impl IntoView + use<> {
    view! {
        <span class="copyable">
            <code>{value.clone()}</code>
            <button type="button" class="copy" data-copy=value aria-label=label>"Copy"</button>
        </span>
    }
}
